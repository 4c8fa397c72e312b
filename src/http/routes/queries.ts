/**
 * Queries (reader or operator tokens). Current state comes from the read model; every query
 * accepts `?after=<position>` (read-your-writes, see ../consistency.ts). A port's locality at a
 * past instant comes from the log itself.
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { HistoryRecord, PortRecord, ReadModel } from '../../read-model/queries.js';
import { topologyOf } from '../../read-model/topology-queries.js';
import type { EventStore } from '../../store/event-store.js';
import type { HttpConfig } from '../config.js';
import { awaitReadModel } from '../consistency.js';
import { ProblemError } from '../problem.js';
import {
  AfterQuery,
  ChassisPortsPage,
  ChassisPortsQuery,
  eventHref,
  type HistoryEntry,
  HistoryPage,
  IdParams,
  LocalityAt,
  LocalityAtQuery,
  type Page,
  PageQuery,
  PortLocality,
  problemsFor,
  Summary,
} from '../schemas.js';
import { type LocalityAt as HeldLocalityAt, localityAt } from '../time-travel.js';

export interface QueryRoutesOptions {
  readonly store: EventStore;
  readonly readModel: ReadModel;
  readonly config: HttpConfig;
}

const errors = problemsFor(400, 401, 403, 404, 503);
const JSON_TYPE = 'application/json; charset=utf-8';

const unknownPort = (id: string) =>
  new ProblemError('not-found', `no port ${id}`, {
    errors: [{ field: 'id', in: 'path', reason: `no port ${id}` }],
  });

// The answers, typed by their schemas (src/api/responses.ts): positions become decimal strings.

const portJson = (port: PortRecord): PortLocality => ({
  ...port,
  position: String(port.position),
});

const historyJson = (entry: HistoryRecord): HistoryEntry => ({
  ...entry,
  position: String(entry.position),
  revision: String(entry.revision),
  links: {
    event: eventHref(entry.eventId),
    // A command correlates with itself: its id names no event.
    cause: entry.causationId === entry.correlationId ? null : eventHref(entry.causationId),
  },
});

const localityAtJson = (state: HeldLocalityAt): LocalityAt => ({
  ...state,
  position: String(state.position),
  revision: String(state.revision),
});

const pageJson = <T, J>(page: Page<T>, item: (t: T) => J): Page<J> => ({
  items: page.items.map(item),
  ...(page.nextCursor === undefined ? {} : { nextCursor: page.nextCursor }),
});

export const queryRoutes: FastifyPluginAsyncTypebox<QueryRoutesOptions> = async (
  app,
  { store, readModel, config },
) => {
  const routeConfig = { access: 'read' as const };
  const limitOf = (limit: number | undefined) =>
    Math.min(limit ?? config.page.defaultLimit, config.page.maxLimit);

  // Read-your-writes for every query in this plugin that carries `?after=`.
  app.addHook('preHandler', async (request) => {
    const after = (request.query as { after?: string } | undefined)?.after;
    await awaitReadModel(readModel, after, config.readYourWritesTimeoutMs);
  });

  app.get(
    '/v1/ports/:id',
    {
      config: routeConfig,
      schema: {
        tags: ['queries'],
        summary: "A port's owner and its locality on every chassis",
        params: IdParams,
        querystring: AfterQuery,
        response: { 200: PortLocality, ...errors },
      },
    },
    async (request, reply) => {
      const id = request.params.id;
      if (readModel.renderedPort !== undefined) {
        // The body as this route's serializer writes it, kept with the cached record: a hit
        // neither decodes nor serialises (a string with a JSON type is sent as it is).
        const body = await readModel.renderedPort(id, (port) => {
          const json = reply.serialize(portJson(port));
          return typeof json === 'string'
            ? json
            : Buffer.from(json as ArrayBuffer).toString('utf8');
        });
        if (body === undefined) throw unknownPort(id);
        return reply.type(JSON_TYPE).send(body);
      }
      const port = await readModel.port(id);
      if (port === undefined) throw unknownPort(id);
      return portJson(port);
    },
  );

  app.get(
    '/v1/ports/:id/history',
    {
      config: routeConfig,
      schema: {
        tags: ['queries'],
        summary: "A port's history (every event of its stream, with app and cause)",
        params: IdParams,
        querystring: PageQuery,
        response: { 200: HistoryPage, ...errors },
      },
    },
    async (request) => {
      const { cursor, limit } = request.query;
      const page = await readModel.history(request.params.id, {
        limit: limitOf(limit),
        ...(cursor === undefined ? {} : { cursor }),
      });
      if (page.items.length === 0 && cursor === undefined) {
        if ((await readModel.port(request.params.id)) === undefined) {
          throw unknownPort(request.params.id);
        }
      }
      return pageJson(page, historyJson);
    },
  );

  app.get(
    '/v1/ports/:id/locality',
    {
      config: routeConfig,
      schema: {
        tags: ['queries'],
        summary: "Time travel: a port's owner and localities at a past instant",
        description:
          'Folds the port stream from the event store up to `at` with the lport machine.',
        params: IdParams,
        querystring: LocalityAtQuery,
        response: { 200: LocalityAt, ...errors },
      },
    },
    async (request) => {
      const { id } = request.params;
      const text = request.query.at;
      const at = text === undefined ? new Date() : new Date(text);
      if (Number.isNaN(at.getTime())) {
        throw new ProblemError('validation', `at: ${text} is not a valid instant`, {
          errors: [{ field: 'at', in: 'query', reason: 'not a valid instant' }],
        });
      }
      const state = await localityAt(store, id, at);
      if (state === undefined) {
        const reason = `port ${id} did not exist at ${at.toISOString()}`;
        throw new ProblemError('not-found', reason, {
          errors: [{ field: 'id', in: 'path', reason }],
        });
      }
      return localityAtJson(state);
    },
  );

  app.get(
    '/v1/chassis/:id/ports',
    {
      config: routeConfig,
      schema: {
        tags: ['queries'],
        summary: "A chassis' ports, optionally of one locality (paginated)",
        params: IdParams,
        querystring: ChassisPortsQuery,
        response: { 200: ChassisPortsPage, ...errors },
      },
    },
    async (request) => {
      const { cursor, limit, locality } = request.query;
      const page = await readModel.chassisPorts(request.params.id, {
        limit: limitOf(limit),
        ...(cursor === undefined ? {} : { cursor }),
        ...(locality === undefined ? {} : { locality }),
      });
      // An empty first page of a chassis that is not registered: 404, not an empty list.
      if (page.items.length === 0 && cursor === undefined) {
        const topology = topologyOf(readModel);
        if (topology !== undefined && (await topology.chassis(request.params.id)) === undefined) {
          const reason = `no chassis ${request.params.id} is registered`;
          throw new ProblemError('not-found', reason, {
            errors: [{ field: 'id', in: 'path', reason }],
          });
        }
      }
      return page;
    },
  );

  app.get(
    '/v1/summary',
    {
      config: routeConfig,
      schema: {
        tags: ['queries'],
        summary: 'Port counts per chassis and locality',
        querystring: AfterQuery,
        response: { 200: Summary, ...errors },
      },
    },
    async () => ({ items: await readModel.summary() }),
  );
};
