/** GET /v1/events: the live feed of locality changes as server-sent events (see ../sse.ts). */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { EventStore } from '../../store/event-store.js';
import { ProblemError } from '../problem.js';
import { EventsQuery, Position, problemsFor } from '../schemas.js';
import type { EventFeed } from '../sse.js';

export interface EventRoutesOptions {
  readonly store: EventStore;
  readonly feed: EventFeed;
}

const POSITION = new RegExp(Position.pattern ?? '');

export const eventRoutes: FastifyPluginAsyncTypebox<EventRoutesOptions> = async (
  app,
  { store, feed },
) => {
  app.get(
    '/v1/events',
    {
      config: { access: 'read' },
      schema: {
        tags: ['events'],
        summary: 'Live feed of locality changes (text/event-stream)',
        description:
          'Each event: `id` = log position, `event` = type (LocalCreated, RemoteCreated, …), ' +
          '`data` = JSON. Resume with the Last-Event-ID header; `: heartbeat` comments keep ' +
          'the connection alive.',
        querystring: EventsQuery,
        response: { ...problemsFor(400, 401, 403, 503) },
      },
    },
    async (request, reply) => {
      const lastEventId = request.headers['last-event-id'];
      let after: bigint;
      if (typeof lastEventId === 'string' && lastEventId !== '') {
        if (!POSITION.test(lastEventId)) {
          throw new ProblemError('validation', 'Last-Event-ID must be a log position', {
            errors: [{ field: 'Last-Event-ID', in: 'header', reason: 'not a log position' }],
          });
        }
        after = BigInt(lastEventId);
      } else if (request.query.after !== undefined) {
        after = BigInt(request.query.after);
      } else {
        after = await store.headPosition();
      }
      if (feed.full) {
        throw new ProblemError(
          'too-many-clients',
          'the event feed has no room for another client',
          {
            retryAfterSeconds: 5,
          },
        );
      }
      feed.open(reply, after);
    },
  );
};
