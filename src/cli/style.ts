/**
 * Terminal output: colours (node:util styleText, only on a terminal and never with NO_COLOR
 * set; FORCE_COLOR forces them) and plain aligned tables.
 */
import { styleText } from 'node:util';

export type Colour = Parameters<typeof styleText>[0];

export interface Style {
  readonly enabled: boolean;
  paint(format: Colour, text: string): string;
}

export function styleFor(
  stream: { isTTY?: boolean },
  env: NodeJS.ProcessEnv,
  wanted: boolean | undefined,
): Style {
  const forced = env.FORCE_COLOR !== undefined && env.FORCE_COLOR !== '0';
  const enabled =
    wanted === false ? false : forced || (stream.isTTY === true && env.NO_COLOR === undefined);
  return {
    enabled,
    paint: (format, text) => (enabled && text !== '' ? styleText(format, text) : text),
  };
}

// biome-ignore lint/suspicious/noControlCharactersInRegex: ANSI escape sequences
const ANSI = /\u001b\[[0-9;]*m/g;

export const visibleLength = (text: string): number => text.replace(ANSI, '').length;

export type Align = 'left' | 'right';

/** Rows of cells as aligned columns, two spaces apart, no trailing spaces. */
export function table(
  rows: readonly (readonly string[])[],
  options: { readonly align?: readonly Align[]; readonly indent?: string } = {},
): string {
  const widths: number[] = [];
  for (const row of rows) {
    row.forEach((cell, i) => {
      widths[i] = Math.max(widths[i] ?? 0, visibleLength(cell));
    });
  }
  const indent = options.indent ?? '';
  return rows
    .map((row) => {
      const cells = row.map((cell, i) => {
        const pad = ' '.repeat((widths[i] ?? 0) - visibleLength(cell));
        if (options.align?.[i] === 'right') return pad + cell;
        return i === row.length - 1 ? cell : cell + pad;
      });
      return indent + cells.join('  ').trimEnd();
    })
    .join('\n');
}

const LOCALITY_COLOURS: Record<string, Colour> = {
  local: 'green',
  remote: 'cyan',
  distributed: 'magenta',
  unbound: 'gray',
  deleted: 'red',
};

export const localityColour = (name: string): Colour => LOCALITY_COLOURS[name] ?? 'reset';

export const locality = (style: Style, name: string): string =>
  style.paint(localityColour(name), name);

export const count = (n: number): string => n.toLocaleString('en-US');
