/**
 * GET /v1/chassis/:id/feed: the chassis' slice of the log as server-sent events, for its agent
 * (see ../chassis-feeds.ts and docs/agent-feed.md). Readable with that chassis' agent token or
 * an operator token; the auth hook refuses anyone else before anything is read.
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { EventStore } from '../../store/event-store.js';
import type { ChassisFeedHub } from '../chassis-feeds.js';
import type { HttpConfig } from '../config.js';
import { ProblemError } from '../problem.js';
import { IdParams, Position, problemsFor } from '../schemas.js';

export interface ChassisFeedRoutesOptions {
  readonly store: EventStore;
  readonly config: HttpConfig;
  /** Undefined on a server that folds no topology (an API-only test server): 503. */
  readonly hub: ChassisFeedHub | undefined;
}

const POSITION = new RegExp(Position.pattern ?? '');

/** Seconds an agent waits before retrying a feed this server cannot serve yet. */
const RETRY_AFTER_SECONDS = 2;

const FeedHeaders = Type.Object({
  'last-event-id': Type.Optional(
    Type.String({
      description:
        'the id of the last frame the agent applied: resumes with a diff when the server ' +
        'still holds that slice, else a snapshot',
    }),
  ),
});

export const chassisFeedRoutes: FastifyPluginAsyncTypebox<ChassisFeedRoutesOptions> = async (
  app,
  { store, config, hub },
) => {
  app.get(
    '/v1/chassis/:id/feed',
    {
      config: { access: 'agent' },
      schema: {
        tags: ['agents'],
        summary: "The chassis' slice of the log, live (text/event-stream), for its agent",
        description:
          'Frames: `event: snapshot` (`{position, entries}`: the whole slice, replacing what ' +
          'the agent held), then `event: diff` (`{position, upserts, removes}`) whenever the ' +
          'slice changes. `id` = the log position the slice is at (decimal). Entries are ' +
          '`{kind, value}`: chassis, switch, port (with its claims, acks and reasons), ' +
          'segmentation, interface; a key is `<kind>/<id>` (`port/<port.id>`, ' +
          '`interface/<name>`). Reconnect with Last-Event-ID: a diff from that frame when the ' +
          'server still holds its slice, else a snapshot. `: heartbeat` comments keep the ' +
          "connection alive. Readable with the chassis' agent token or an operator token. " +
          'See docs/agent-feed.md.',
        params: IdParams,
        headers: FeedHeaders,
        response: {
          200: {
            description:
              'the stream: `snapshot` then `diff` frames whose `data` is a FeedSnapshot or a ' +
              'FeedDiff (src/api/chassis-feed.ts)',
            content: { 'text/event-stream': { schema: Type.String() } },
          },
          ...problemsFor(400, 401, 403, 404, 503),
        },
      },
    },
    async (request, reply) => {
      const chassis = request.params.id;
      const lastEventId = request.headers['last-event-id'];
      let resumeFrom: bigint | undefined;
      if (lastEventId !== undefined && lastEventId !== '') {
        if (!POSITION.test(lastEventId)) {
          throw new ProblemError('validation', 'Last-Event-ID must be a log position', {
            errors: [{ field: 'Last-Event-ID', in: 'header', reason: 'not a log position' }],
          });
        }
        resumeFrom = BigInt(lastEventId);
      }
      if (hub === undefined) {
        throw new ProblemError('not-ready', 'this server does not fold the log for chassis feeds', {
          retryAfterSeconds: RETRY_AFTER_SECONDS,
        });
      }
      // The slice of a topology still catching up would tell the agent to drop flows it needs.
      const head = await store.headPosition();
      if (!(await hub.caughtUp(head, config.readYourWritesTimeoutMs))) {
        throw new ProblemError(
          'not-ready',
          `the server has folded the log up to ${hub.position}, not yet its head ${head}`,
          { retryAfterSeconds: RETRY_AFTER_SECONDS },
        );
      }
      if (!hub.knows(chassis)) {
        throw new ProblemError('not-found', `no chassis ${chassis} is registered`, {
          errors: [{ field: 'id', in: 'path', reason: `no chassis ${chassis} is registered` }],
        });
      }
      const full = hub.refusal(chassis);
      if (full !== undefined)
        throw new ProblemError('too-many-clients', full, { retryAfterSeconds: 5 });
      hub.open(reply, chassis, resumeFrom);
    },
  );
};
