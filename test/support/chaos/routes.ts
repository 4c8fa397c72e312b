/**
 * Every route a Fastify instance serves, read from `printRoutes({ commonPrefix: false })` (the
 * instance's own router, so routes hidden from the OpenAPI document are included too).
 */
import type { FastifyInstance } from 'fastify';

export interface RouteEntry {
  readonly method: string;
  /** As registered, with `:params` and `*`. */
  readonly url: string;
}

/** Parses the router tree: each line is a path segment under its parent, with its methods. */
export function listRoutes(app: Pick<FastifyInstance, 'printRoutes'>): RouteEntry[] {
  const tree = app.printRoutes({ commonPrefix: false });
  const stack: { depth: number; path: string }[] = [];
  const routes: RouteEntry[] = [];
  for (const line of tree.split('\n')) {
    const match = /^([\s│]*)[├└]── (.*?) \(([A-Z, ]+)\)$/.exec(line);
    if (!match) continue;
    const depth = (match[1] as string).length / 4;
    const segment = match[2] as string;
    while (stack.length > 0 && (stack.at(-1) as { depth: number }).depth >= depth) stack.pop();
    const parent = stack.at(-1)?.path ?? '';
    // The root is `/`; its children print without their leading slash, deeper ones with it.
    const path = parent === '' ? segment : parent === '/' ? `/${segment}` : parent + segment;
    stack.push({ depth, path });
    for (const method of (match[3] as string).split(',').map((m) => m.trim()))
      routes.push({ method, url: path });
  }
  return routes;
}

/**
 * Percent-encodes any string, lone surrogates included (encodeURIComponent throws on those: they
 * go as the UTF-8 bytes of U+FFFD, as a browser would send them). `%`-sequences that are already
 * raw (`%ff`, `%zz`) can be passed through with `raw`.
 */
export function percentEncode(value: string): string {
  try {
    return encodeURIComponent(value);
  } catch {
    return [...Buffer.from(value, 'utf8')]
      .map((byte) => `%${byte.toString(16).toUpperCase().padStart(2, '0')}`)
      .join('');
  }
}

/** A concrete URL for a route: parameters filled in (`:id` → `values.id` or `x1`). */
export function concreteUrl(
  url: string,
  values: Readonly<Record<string, string>> = {},
  options: { readonly raw?: boolean } = {},
): string {
  const encode = options.raw ? (value: string) => value : percentEncode;
  return url
    .replace(/:([A-Za-z]+)/g, (_, name: string) => encode(values[name] ?? 'x1'))
    .replace(/\*$/, 'anything');
}
