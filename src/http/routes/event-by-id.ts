/** GET /v1/events/:id: one event of the log by its id, with its envelope and cause (reader). */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { type EventStore, isEventId, type RecordedEvent } from '../../store/event-store.js';
import { ProblemError } from '../problem.js';
import { eventHref, LoggedEvent, problemsFor } from '../schemas.js';

export interface EventByIdRoutesOptions {
  readonly store: EventStore;
}

const EventIdParams = Type.Object(
  { id: Type.String({ maxLength: 128, description: 'the event id (a UUID)' }) },
  { additionalProperties: false },
);

/** The event as the API answers it: positions as decimal strings, issuer and links named. */
export function loggedEventJson(event: RecordedEvent): LoggedEvent {
  const metadata = event.metadata;
  return {
    id: event.id,
    type: event.type,
    stream: event.streamName,
    revision: String(event.revision),
    position: String(event.position),
    time: event.recordedAt,
    data: event.data,
    metadata,
    issuer: {
      app: metadata.app,
      actor: typeof metadata.actor === 'string' ? metadata.actor : null,
    },
    links: {
      self: eventHref(event.id),
      // A command correlates with itself: its id names no event.
      cause:
        metadata.causationId === metadata.correlationId ? null : eventHref(metadata.causationId),
    },
  };
}

export const eventByIdRoutes: FastifyPluginAsyncTypebox<EventByIdRoutesOptions> = async (
  app,
  { store },
) => {
  app.get(
    '/v1/events/:id',
    {
      config: { access: 'read' },
      schema: {
        tags: ['events'],
        summary: 'One event of the log by its id (the causes in a history link here)',
        params: EventIdParams,
        response: { 200: LoggedEvent, ...problemsFor(400, 401, 403, 404, 503) },
      },
    },
    async (request) => {
      const { id } = request.params;
      if (!isEventId(id)) {
        throw new ProblemError('validation', `id: ${JSON.stringify(id)} is not an event id`, {
          errors: [{ field: 'id', in: 'path', reason: 'an event id is a UUID' }],
        });
      }
      const event = await store.readEventById(id);
      if (event === undefined) {
        throw new ProblemError('not-found', `no event ${id}`, {
          errors: [{ field: 'id', in: 'path', reason: `no event ${id} in the log` }],
        });
      }
      return loggedEventJson(event);
    },
  );
};
