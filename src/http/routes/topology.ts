/**
 * The topology, read (reader or operator tokens): paged, filtered lists of chassis, switches,
 * subnets, routers, floating IPs and trunk segmentations, each live one by id (404
 * problem+json for an unknown or deleted one), and a switch's ports with their locality per
 * chassis. What `locus show` prints. Every route accepts `?after=<position>`
 * (read-your-writes). The paths are the command routes' (./commands.ts).
 *
 * A chassis by id is the agents' route (./agents.ts), read from the log for its agent.
 * Served only with a read model that lists the topology (the SQL one).
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { type TSchema, Type } from '@sinclair/typebox';
import type { Page } from '../../api/responses.js';
import {
  ChassisList,
  FloatingIpItem,
  FloatingIpList,
  RouterItem,
  RouterList,
  SegmentationItem,
  SegmentationList,
  SubnetItem,
  SubnetList,
  SwitchItem,
  SwitchList,
  SwitchPortList,
} from '../../api/topology.js';
import { DeviceOwner, Id, NetworkType, PhysicalNetwork, TunnelType } from '../../events/index.js';
import type { ReadModel } from '../../read-model/queries.js';
import {
  InvalidListCursorError,
  type TopologyDirectory,
  topologyOf,
} from '../../read-model/topology-queries.js';
import type { HttpConfig } from '../config.js';
import { awaitReadModel } from '../consistency.js';
import { ProblemError } from '../problem.js';
import { AfterQuery, IdParams, PageQuery, problemsFor } from '../schemas.js';

export interface TopologyRoutesOptions {
  readonly readModel: ReadModel;
  readonly config: HttpConfig;
}

const closed = { additionalProperties: false } as const;
const listQuery = <P extends Record<string, TSchema>>(filters: P) =>
  Type.Object({ ...PageQuery.properties, ...filters }, closed);

export const ChassisListQuery = listQuery({
  tunnelType: Type.Optional(TunnelType),
  physicalNetwork: Type.Optional({
    ...PhysicalNetwork,
    description: 'only chassis that map this physical network to a bridge',
  }),
});
export const SwitchListQuery = listQuery({
  networkType: Type.Optional(NetworkType),
  physicalNetwork: Type.Optional(PhysicalNetwork),
});
export const SwitchPortsQuery = listQuery({ deviceOwner: Type.Optional(DeviceOwner) });
export const SubnetListQuery = listQuery({
  switchId: Type.Optional({ ...Id, description: 'only the subnets of this switch' }),
});
export const PortFilterQuery = (description: string) =>
  listQuery({ portId: Type.Optional({ ...Id, description }) });

const errors = problemsFor(400, 401, 403, 503);
const byIdErrors = problemsFor(400, 401, 403, 404, 503);

/** A log position goes out as a decimal string. */
const json = <T extends { position: bigint }>(item: T) => ({
  ...item,
  position: String(item.position),
});
const pageJson = <T extends { position: bigint }>(page: Page<T>) => ({
  items: page.items.map(json),
  ...(page.nextCursor === undefined ? {} : { nextCursor: page.nextCursor }),
});

export const notFound = (what: string, id: string) => {
  const reason = `no ${what} ${id}`;
  return new ProblemError('not-found', reason, {
    errors: [{ field: 'id', in: 'path', reason }],
  });
};

/** Drops undefined filters (exactOptionalPropertyTypes) and bounds the page size. */
function request<Q extends { limit?: number; after?: string }>(
  query: Q,
  config: HttpConfig,
): Omit<Q, 'after' | 'limit'> & { limit: number } {
  const { after: _after, limit, ...rest } = query;
  const defined = Object.fromEntries(Object.entries(rest).filter(([, v]) => v !== undefined));
  return {
    ...(defined as Omit<Q, 'after' | 'limit'>),
    limit: Math.min(limit ?? config.page.defaultLimit, config.page.maxLimit),
  };
}

/** A cursor these lists did not issue is the caller's mistake (400), naming the field. */
async function listing<T>(read: () => Promise<T>): Promise<T> {
  try {
    return await read();
  } catch (error) {
    if (error instanceof InvalidListCursorError) {
      throw new ProblemError('validation', error.message, {
        errors: [{ field: 'cursor', in: 'query', reason: error.message }],
      });
    }
    throw error;
  }
}

export const topologyRoutes: FastifyPluginAsyncTypebox<TopologyRoutesOptions> = async (
  app,
  { readModel, config },
) => {
  const found = topologyOf(readModel);
  if (found === undefined) {
    app.log.warn('the read model cannot list the topology: GET /v1/switches and the like are off');
    return;
  }
  const topology: TopologyDirectory = found;
  const routeConfig = { access: 'read' as const };

  app.addHook('preHandler', async (req) => {
    const after = (req.query as { after?: string } | undefined)?.after;
    await awaitReadModel(readModel, after, config.readYourWritesTimeoutMs);
  });

  app.get(
    '/v1/chassis',
    {
      config: routeConfig,
      schema: {
        tags: ['chassis'],
        summary: 'Registered chassis in id order, by tunnel type or physical network (paginated)',
        querystring: ChassisListQuery,
        response: { 200: ChassisList, ...errors },
      },
    },
    async (req) => pageJson(await listing(() => topology.listChassis(request(req.query, config)))),
  );

  app.get(
    '/v1/switches',
    {
      config: routeConfig,
      schema: {
        tags: ['switches'],
        summary: 'Logical switches in id order, by network type or physical network (paginated)',
        querystring: SwitchListQuery,
        response: { 200: SwitchList, ...errors },
      },
    },
    async (req) => pageJson(await listing(() => topology.listSwitches(request(req.query, config)))),
  );

  app.get(
    '/v1/switches/:id',
    {
      config: routeConfig,
      schema: {
        tags: ['switches'],
        summary: 'A logical switch',
        params: IdParams,
        querystring: AfterQuery,
        response: { 200: SwitchItem, ...byIdErrors },
      },
    },
    async (req) => {
      const item = await topology.switch(req.params.id);
      if (item === undefined) throw notFound('switch', req.params.id);
      return json(item);
    },
  );

  app.get(
    '/v1/switches/:id/ports',
    {
      config: routeConfig,
      schema: {
        tags: ['switches'],
        summary: "A switch's live ports with their locality per chassis (paginated)",
        description:
          'Each port lists the chassis where it is local or remote; it is distributed on every ' +
          'live chassis when `distributed`, and unbound on any other chassis.',
        params: IdParams,
        querystring: SwitchPortsQuery,
        response: { 200: SwitchPortList, ...byIdErrors },
      },
    },
    async (req) => {
      const page = await listing(() =>
        topology.switchPorts(req.params.id, request(req.query, config)),
      );
      if (page.items.length === 0 && (await topology.switch(req.params.id)) === undefined) {
        throw notFound('switch', req.params.id);
      }
      return pageJson(page);
    },
  );

  app.get(
    '/v1/subnets',
    {
      config: routeConfig,
      schema: {
        tags: ['subnets'],
        summary: 'Subnets in id order, optionally of one switch (paginated)',
        querystring: SubnetListQuery,
        response: { 200: SubnetList, ...errors },
      },
    },
    async (req) => pageJson(await listing(() => topology.listSubnets(request(req.query, config)))),
  );

  app.get(
    '/v1/subnets/:id',
    {
      config: routeConfig,
      schema: {
        tags: ['subnets'],
        summary: 'A subnet',
        params: IdParams,
        querystring: AfterQuery,
        response: { 200: SubnetItem, ...byIdErrors },
      },
    },
    async (req) => {
      const item = await topology.subnet(req.params.id);
      if (item === undefined) throw notFound('subnet', req.params.id);
      return json(item);
    },
  );

  app.get(
    '/v1/routers',
    {
      config: routeConfig,
      schema: {
        tags: ['routers'],
        summary: 'Logical routers in id order, optionally those with one port (paginated)',
        querystring: PortFilterQuery('only the routers with this interface or gateway port'),
        response: { 200: RouterList, ...errors },
      },
    },
    async (req) => pageJson(await listing(() => topology.listRouters(request(req.query, config)))),
  );

  app.get(
    '/v1/routers/:id',
    {
      config: routeConfig,
      schema: {
        tags: ['routers'],
        summary: 'A logical router: its interface ports and gateway port',
        params: IdParams,
        querystring: AfterQuery,
        response: { 200: RouterItem, ...byIdErrors },
      },
    },
    async (req) => {
      const item = await topology.router(req.params.id);
      if (item === undefined) throw notFound('router', req.params.id);
      return json(item);
    },
  );

  app.get(
    '/v1/floatingips',
    {
      config: routeConfig,
      schema: {
        tags: ['floating IPs'],
        summary: 'Floating IPs in id order, optionally those of one port (paginated)',
        querystring: PortFilterQuery('only the floating IPs with this floating or fixed port'),
        response: { 200: FloatingIpList, ...errors },
      },
    },
    async (req) =>
      pageJson(await listing(() => topology.listFloatingIps(request(req.query, config)))),
  );

  app.get(
    '/v1/floatingips/:id',
    {
      config: routeConfig,
      schema: {
        tags: ['floating IPs'],
        summary: 'A floating IP: its floating port and the fixed port it is associated with',
        params: IdParams,
        querystring: AfterQuery,
        response: { 200: FloatingIpItem, ...byIdErrors },
      },
    },
    async (req) => {
      const item = await topology.floatingIp(req.params.id);
      if (item === undefined) throw notFound('floating IP', req.params.id);
      return json(item);
    },
  );

  app.get(
    '/v1/segmentations',
    {
      config: routeConfig,
      schema: {
        tags: ['trunks'],
        summary: 'Trunk segmentations in id order, optionally those of one port (paginated)',
        querystring: PortFilterQuery('only the segmentations with this parent or child port'),
        response: { 200: SegmentationList, ...errors },
      },
    },
    async (req) =>
      pageJson(await listing(() => topology.listSegmentations(request(req.query, config)))),
  );

  app.get(
    '/v1/segmentations/:id',
    {
      config: routeConfig,
      schema: {
        tags: ['trunks'],
        summary: 'A trunk segmentation: parent port, child port, VLAN',
        params: IdParams,
        querystring: AfterQuery,
        response: { 200: SegmentationItem, ...byIdErrors },
      },
    },
    async (req) => {
      const item = await topology.segmentation(req.params.id);
      if (item === undefined) throw notFound('segmentation', req.params.id);
      return json(item);
    },
  );
};
