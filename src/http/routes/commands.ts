/**
 * Model commands for the cloud controller (operator tokens): chassis, switches, subnets, ports,
 * routers, floating IPs and trunk segmentations. One row per route: the command of the table
 * (src/commands/table.ts) it runs, the schemas it validates and documents, and how the path
 * parameters and the body make the command's input. Every route lets the command handler
 * decide and append, and answers the resource with the log position of the change.
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { Static, TSchema } from '@sinclair/typebox';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type {
  CommandHandler,
  CommandIssuer,
  CommandName,
  CommandOutcome,
  InputOf,
  ResultOf,
} from '../../commands/index.js';
import type { HttpConfig } from '../config.js';
import { throwIfClientGone, untilClientGone } from '../overload.js';
import {
  AssociationBody,
  ChassisBody,
  ChassisPatch,
  ChassisResource,
  Deleted,
  FloatingIpBody,
  FloatingIpResource,
  IdParams,
  PortBody,
  PortPatch,
  PortRefBody,
  PortResource,
  problemsFor,
  RouterBody,
  RouterPortParams,
  RouterResource,
  SegmentationBody,
  SegmentationResource,
  SubnetBody,
  SubnetPatch,
  SubnetResource,
  SwitchBody,
  SwitchResource,
} from '../schemas.js';
import { answer, commandConfig, issuerOf } from './shared.js';

export interface CommandRoutesOptions {
  readonly commands: CommandHandler;
  readonly config: HttpConfig;
}

/** Every command may meet each of these. */
const errors = problemsFor(400, 401, 403, 404, 409, 429, 503);

/** A route's row, typed by its command and its parameter and body schemas. */
interface RouteSpec<N extends CommandName, P extends TSchema, B extends TSchema> {
  readonly method: 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  readonly url: string;
  readonly command: N;
  readonly tags: readonly [string];
  readonly summary: string;
  readonly description?: string;
  readonly params?: P;
  readonly body?: B;
  /** The command's input from the validated path parameters and body. */
  readonly input: (request: { params: Static<P>; body: Static<B> }) => InputOf<N>;
  /** The documented success: 201 for routes that make a resource, else 200. */
  readonly status: 200 | 201;
  readonly response: TSchema;
  /** Where a new resource can be read back (sent as Location with a 201). */
  readonly location?: (result: ResultOf<N>) => string;
}

/** A row with its types closed over: what the plugin registers. */
interface CommandRoute {
  readonly spec: RouteSpec<CommandName, TSchema, TSchema>;
  run(
    commands: CommandHandler,
    request: FastifyRequest,
    reply: FastifyReply,
    issuer: CommandIssuer,
  ): Promise<FastifyReply>;
}

function route<N extends CommandName, P extends TSchema = TSchema, B extends TSchema = TSchema>(
  spec: RouteSpec<N, P, B>,
): CommandRoute {
  return {
    spec: spec as unknown as RouteSpec<CommandName, TSchema, TSchema>,
    async run(commands, request, reply, issuer) {
      // Fastify validated both against the schemas below before the handler runs.
      const input = spec.input({
        params: request.params as Static<P>,
        body: request.body as Static<B>,
      });
      throwIfClientGone(request);
      const outcome = await commands.execute(spec.command, input, issuer, untilClientGone(request));
      // Every command answers with a resource (an object); the generic name hides it.
      const resource = outcome as CommandOutcome<ResultOf<N> & object>;
      return answer(reply, resource, spec.location?.(outcome.result));
    },
  };
}

const byId = ({ params }: { params: Static<typeof IdParams> }) => ({ id: params.id });

export const commandRoutesTable: readonly CommandRoute[] = [
  // --- chassis ------------------------------------------------------------------------------
  route({
    method: 'POST',
    url: '/v1/chassis',
    command: 'createChassis',
    tags: ['chassis'],
    summary: 'Register a chassis (hypervisor)',
    description: 'A chassis id that was deleted may register again; it starts with no interfaces.',
    body: ChassisBody,
    input: ({ body }) => body,
    status: 201,
    response: ChassisResource,
  }),
  route({
    method: 'PATCH',
    url: '/v1/chassis/:id',
    command: 'updateChassis',
    tags: ['chassis'],
    summary: 'Change a chassis (tunnel IP, tunnel types, bridge mappings)',
    params: IdParams,
    body: ChassisPatch,
    input: ({ params, body }) => ({ id: params.id, changes: body }),
    status: 200,
    response: ChassisResource,
  }),
  route({
    method: 'DELETE',
    url: '/v1/chassis/:id',
    command: 'deleteChassis',
    tags: ['chassis'],
    summary: 'Delete a chassis and the interfaces observed on it',
    params: IdParams,
    input: byId,
    status: 200,
    response: Deleted,
  }),

  // --- switches and subnets -----------------------------------------------------------------
  route({
    method: 'POST',
    url: '/v1/switches',
    command: 'createSwitch',
    tags: ['switches'],
    summary: 'Create a logical switch (network)',
    body: SwitchBody,
    input: ({ body }) => body,
    status: 201,
    response: SwitchResource,
  }),
  route({
    method: 'DELETE',
    url: '/v1/switches/:id',
    command: 'deleteSwitch',
    tags: ['switches'],
    summary: 'Delete a logical switch',
    description: '409 while live ports or subnets are on it.',
    params: IdParams,
    input: byId,
    status: 200,
    response: Deleted,
  }),
  route({
    method: 'POST',
    url: '/v1/subnets',
    command: 'createSubnet',
    tags: ['subnets'],
    summary: 'Create a subnet on a switch',
    body: SubnetBody,
    input: ({ body }) => body,
    status: 201,
    response: SubnetResource,
  }),
  route({
    method: 'PATCH',
    url: '/v1/subnets/:id',
    command: 'updateSubnet',
    tags: ['subnets'],
    summary: 'Change a subnet (CIDR, gateway, DHCP)',
    params: IdParams,
    body: SubnetPatch,
    input: ({ params, body }) => ({ id: params.id, changes: body }),
    status: 200,
    response: SubnetResource,
  }),
  route({
    method: 'DELETE',
    url: '/v1/subnets/:id',
    command: 'deleteSubnet',
    tags: ['subnets'],
    summary: 'Delete a subnet',
    params: IdParams,
    input: byId,
    status: 200,
    response: Deleted,
  }),

  // --- ports --------------------------------------------------------------------------------
  route({
    method: 'POST',
    url: '/v1/ports',
    command: 'createPort',
    tags: ['ports'],
    summary: 'Create a logical port on a switch',
    description: 'A deleted port id is final: creating it again is refused (409).',
    body: PortBody,
    input: ({ body: { macs = [], ips = [], requestedChassis = null, ...rest } }) => ({
      ...rest,
      macs,
      ips,
      requestedChassis,
    }),
    status: 201,
    response: PortResource,
    location: (port) => `/v1/ports/${encodeURIComponent(port.id)}`,
  }),
  route({
    method: 'PATCH',
    url: '/v1/ports/:id',
    command: 'updatePort',
    tags: ['ports'],
    summary: 'Change a port; a new requestedChassis is a live migration',
    description:
      'The fields given are merged into the current port and the whole new version is recorded.',
    params: IdParams,
    body: PortPatch,
    input: ({ params, body }) => ({ id: params.id, changes: body }),
    status: 200,
    response: PortResource,
  }),
  route({
    method: 'DELETE',
    url: '/v1/ports/:id',
    command: 'deletePort',
    tags: ['ports'],
    summary: 'Delete a port (final)',
    params: IdParams,
    input: byId,
    status: 200,
    response: Deleted,
  }),

  // --- routers ------------------------------------------------------------------------------
  route({
    method: 'POST',
    url: '/v1/routers',
    command: 'createRouter',
    tags: ['routers'],
    summary: 'Create a logical router',
    body: RouterBody,
    input: ({ body: { id, interfacePortIds = [], gatewayPortId = null } }) => ({
      id,
      interfacePortIds,
      gatewayPortId,
    }),
    status: 201,
    response: RouterResource,
  }),
  route({
    method: 'DELETE',
    url: '/v1/routers/:id',
    command: 'deleteRouter',
    tags: ['routers'],
    summary: 'Delete a logical router',
    params: IdParams,
    input: byId,
    status: 200,
    response: Deleted,
  }),
  route({
    method: 'POST',
    url: '/v1/routers/:id/interfaces',
    command: 'addRouterInterface',
    tags: ['routers'],
    summary: 'Attach a port to a router as an interface',
    params: IdParams,
    body: PortRefBody,
    input: ({ params, body }) => ({ routerId: params.id, portId: body.portId }),
    status: 201,
    response: RouterResource,
  }),
  route({
    method: 'DELETE',
    url: '/v1/routers/:id/interfaces/:portId',
    command: 'removeRouterInterface',
    tags: ['routers'],
    summary: 'Detach an interface port from a router',
    params: RouterPortParams,
    input: ({ params }) => ({ routerId: params.id, portId: params.portId }),
    status: 200,
    response: RouterResource,
  }),
  route({
    method: 'PUT',
    url: '/v1/routers/:id/gateway',
    command: 'setRouterGateway',
    tags: ['routers'],
    summary: "Set a router's gateway port",
    params: IdParams,
    body: PortRefBody,
    input: ({ params, body }) => ({ routerId: params.id, portId: body.portId }),
    status: 200,
    response: RouterResource,
  }),
  route({
    method: 'DELETE',
    url: '/v1/routers/:id/gateway',
    command: 'clearRouterGateway',
    tags: ['routers'],
    summary: "Clear a router's gateway port",
    params: IdParams,
    input: ({ params }) => ({ routerId: params.id }),
    status: 200,
    response: RouterResource,
  }),

  // --- floating IPs -------------------------------------------------------------------------
  route({
    method: 'POST',
    url: '/v1/floatingips',
    command: 'createFloatingIp',
    tags: ['floating IPs'],
    summary: 'Create a floating IP on its floating port',
    body: FloatingIpBody,
    input: ({ body: { fixedPortId = null, ...rest } }) => ({ ...rest, fixedPortId }),
    status: 201,
    response: FloatingIpResource,
  }),
  route({
    method: 'PUT',
    url: '/v1/floatingips/:id/association',
    command: 'associateFloatingIp',
    tags: ['floating IPs'],
    summary: 'Associate a floating IP with a fixed port, or disassociate it (null)',
    params: IdParams,
    body: AssociationBody,
    input: ({ params, body }) => ({ id: params.id, portId: body.portId }),
    status: 200,
    response: FloatingIpResource,
  }),
  route({
    method: 'DELETE',
    url: '/v1/floatingips/:id',
    command: 'deleteFloatingIp',
    tags: ['floating IPs'],
    summary: 'Delete a floating IP',
    params: IdParams,
    input: byId,
    status: 200,
    response: Deleted,
  }),

  // --- trunk segmentations ------------------------------------------------------------------
  route({
    method: 'POST',
    url: '/v1/segmentations',
    command: 'createSegmentation',
    tags: ['trunks'],
    summary: 'Carry a child port on a parent (trunk) port, on a VLAN',
    body: SegmentationBody,
    input: ({ body }) => body,
    status: 201,
    response: SegmentationResource,
  }),
  route({
    method: 'DELETE',
    url: '/v1/segmentations/:id',
    command: 'deleteSegmentation',
    tags: ['trunks'],
    summary: 'Delete a trunk segmentation',
    params: IdParams,
    input: byId,
    status: 200,
    response: Deleted,
  }),
];

export const commandRoutes: FastifyPluginAsyncTypebox<CommandRoutesOptions> = async (
  app,
  { commands, config },
) => {
  const routeConfig = commandConfig(config);
  for (const { spec, run } of commandRoutesTable) {
    app.route({
      method: spec.method,
      url: spec.url,
      config: routeConfig,
      schema: {
        tags: [...spec.tags],
        summary: spec.summary,
        ...(spec.description === undefined ? {} : { description: spec.description }),
        ...(spec.params === undefined ? {} : { params: spec.params }),
        ...(spec.body === undefined ? {} : { body: spec.body }),
        response: { [spec.status]: spec.response, ...errors },
      },
      handler: (request, reply) => run(commands, request, reply, issuerOf(request)),
    });
  }
};
