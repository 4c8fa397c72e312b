/**
 * Listing queries for status views (the web view at `/`), reader or operator tokens:
 *
 * - `GET /v1/ports?search=&cursor=&limit=`: live ports in id order, filtered by a substring of
 *   the id, the switch or the owner, keyset-paginated;
 * - `GET /v1/summary/switches`: port counts per chassis, switch and locality.
 *
 * Both accept `?after=<position>` (read-your-writes). They need a read model with the
 * PortDirectory capability (the SQL read model has it); with another one they are not served.
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import {
  isPortDirectory,
  type PortDirectory,
  type PortListRecord,
  type ReadModel,
} from '../../read-model/queries.js';
import { InvalidCursorError } from '../../read-model/sql-read-model.js';
import type { HttpConfig } from '../config.js';
import { awaitReadModel } from '../consistency.js';
import { ProblemError } from '../problem.js';
import {
  PageQuery,
  type PortListItem,
  PortListPage,
  problemsFor,
  SwitchSummary,
} from '../schemas.js';

export interface PortListRoutesOptions {
  readonly readModel: ReadModel;
  readonly config: HttpConfig;
}

export const PortListQuery = Type.Object(
  {
    ...PageQuery.properties,
    search: Type.Optional(
      Type.String({
        maxLength: 128,
        description: 'case-insensitive substring of the port id, its switch id or its owner',
      }),
    ),
  },
  { additionalProperties: false },
);

const errors = problemsFor(400, 401, 403, 503);

export const portListRoutes: FastifyPluginAsyncTypebox<PortListRoutesOptions> = async (
  app,
  { readModel, config },
) => {
  if (!isPortDirectory(readModel)) {
    app.log.warn(
      'the read model cannot list ports: GET /v1/ports and /v1/summary/switches are off',
    );
    return;
  }
  const directory: PortDirectory = readModel;

  app.addHook('preHandler', async (request) => {
    const after = (request.query as { after?: string } | undefined)?.after;
    await awaitReadModel(readModel, after, config.readYourWritesTimeoutMs);
  });

  app.get(
    '/v1/ports',
    {
      config: { access: 'read' },
      schema: {
        tags: ['queries'],
        summary: 'Live ports in id order, optionally searched (paginated)',
        querystring: PortListQuery,
        response: { 200: PortListPage, ...errors },
      },
    },
    async (request) => {
      const { cursor, limit, search } = request.query;
      try {
        const page = await directory.listPorts({
          limit: Math.min(limit ?? config.page.defaultLimit, config.page.maxLimit),
          ...(cursor === undefined ? {} : { cursor }),
          ...(search === undefined ? {} : { search }),
        });
        return {
          items: page.items.map(
            (port: PortListRecord): PortListItem => ({ ...port, position: String(port.position) }),
          ),
          ...(page.nextCursor === undefined ? {} : { nextCursor: page.nextCursor }),
        };
      } catch (error) {
        if (error instanceof InvalidCursorError) {
          throw new ProblemError('validation', error.message, {
            errors: [{ field: 'cursor', in: 'query', reason: error.message }],
          });
        }
        throw error;
      }
    },
  );

  app.get(
    '/v1/summary/switches',
    {
      config: { access: 'read' },
      schema: {
        tags: ['queries'],
        summary: 'Port counts per chassis, switch and locality',
        querystring: Type.Object(
          { after: PageQuery.properties.after },
          { additionalProperties: false },
        ),
        response: { 200: SwitchSummary, ...errors },
      },
    },
    async () => ({ items: await directory.switchSummary() }),
  );
};
