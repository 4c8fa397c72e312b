/**
 * The keys that occur more than once in one object of a JSON text, read from the raw text:
 * JSON.parse keeps the last of two equal keys, so a parsed object cannot show them.
 */
export function duplicateKeys(text: string): string[] {
  const duplicates: string[] = [];
  // One set of keys per open object; null for an open array.
  const stack: (Set<string> | null)[] = [];
  let expectKey = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '{') {
      stack.push(new Set());
      expectKey = true;
    } else if (c === '[') {
      stack.push(null);
      expectKey = false;
    } else if (c === '}' || c === ']') {
      stack.pop();
      expectKey = false;
    } else if (c === ',') {
      expectKey = stack.at(-1) instanceof Set;
    } else if (c === '"') {
      let end = i + 1;
      while (text[end] !== '"') end += text[end] === '\\' ? 2 : 1;
      if (expectKey) {
        const key = JSON.parse(text.slice(i, end + 1)) as string;
        const keys = stack.at(-1) as Set<string>;
        if (keys.has(key)) duplicates.push(key);
        keys.add(key);
        expectKey = false;
      }
      i = end;
    }
  }
  return duplicates;
}
