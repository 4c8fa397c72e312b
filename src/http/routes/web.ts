/**
 * The web view: the page built by Vite from web/ (web/dist, generated: `npm run build:web`)
 * served at `/` with its hashed assets under `/assets/`, plus the listing queries the page
 * reads (./ports-list.ts).
 *
 * The page is public and holds no secret: the user types an API token (a reader token is
 * enough) into the page, which keeps it in sessionStorage and sends it as a bearer header on
 * every API call, the event feed included (read with fetch, not EventSource, which cannot send
 * headers). A strict Content-Security-Policy allows only the page's own scripts, styles and
 * API.
 */
import { readFile } from 'node:fs/promises';
import { extname, join } from 'node:path';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { packagePath } from '../../lib/package-root.js';
import type { ReadModel } from '../../read-model/queries.js';
import type { HttpConfig } from '../config.js';
import { ProblemError, sendProblem } from '../problem.js';
import { portListRoutes } from './ports-list.js';

export interface WebRoutesOptions {
  readonly readModel: ReadModel;
  readonly config: HttpConfig;
  /** The built page (default: web/dist in the repository). */
  readonly root?: string;
}

export const defaultWebRoot = packagePath('web', 'dist');

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json',
  '.map': 'application/json',
  '.woff2': 'font/woff2',
};

const SECURITY_HEADERS = {
  'content-security-policy': [
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "connect-src 'self'",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join('; '),
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
};

/** An asset name as Vite writes them: no separators, no dot-dot, nothing to traverse with. */
const ASSET_NAME = /^[A-Za-z0-9_-][A-Za-z0-9._-]{0,200}$/;

async function readOrUndefined(path: string): Promise<Buffer | undefined> {
  try {
    return await readFile(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

export const webRoutes: FastifyPluginAsyncTypebox<WebRoutesOptions> = async (app, options) => {
  const root = options.root ?? defaultWebRoot;
  await app.register(portListRoutes, { readModel: options.readModel, config: options.config });

  const notBuilt = (request: FastifyRequest, reply: FastifyReply) =>
    sendProblem(
      request,
      reply,
      new ProblemError('not-found', 'the web view is not built: run `npm run build:web`'),
    );

  const page = { config: { access: 'public' as const }, schema: { hide: true } };

  app.get('/', page, async (request, reply) => {
    const html = await readOrUndefined(join(root, 'index.html'));
    if (html === undefined) return notBuilt(request, reply);
    return reply
      .headers({
        ...SECURITY_HEADERS,
        'content-type': CONTENT_TYPES['.html'],
        'cache-control': 'no-cache',
      })
      .send(html);
  });

  app.get<{ Params: { name: string } }>('/assets/:name', page, async (request, reply) => {
    const { name } = request.params;
    const type = CONTENT_TYPES[extname(name)];
    const body =
      ASSET_NAME.test(name) && !name.includes('..') && type !== undefined
        ? await readOrUndefined(join(root, 'assets', name))
        : undefined;
    if (body === undefined) {
      return sendProblem(request, reply, new ProblemError('not-found', `no asset ${name}`));
    }
    return reply
      .headers({
        ...SECURITY_HEADERS,
        'content-type': type,
        // Vite puts a content hash in every asset name: a name never changes content.
        'cache-control': 'public, max-age=31536000, immutable',
      })
      .send(body);
  });
};
