/**
 * Model commands for the cloud controller (operator tokens): chassis, switches, subnets, ports,
 * routers, floating IPs and trunk segmentations. Each route validates its body against the
 * catalogue's schema, lets the command handler decide and append, and answers the resource
 * with the log position of the change.
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { CommandHandler } from '../../commands/index.js';
import type { HttpConfig } from '../config.js';
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

export const commandRoutes: FastifyPluginAsyncTypebox<CommandRoutesOptions> = async (
  app,
  { commands, config },
) => {
  const routeConfig = commandConfig(config);

  // --- chassis --------------------------------------------------------------------------------

  app.post(
    '/v1/chassis',
    {
      config: routeConfig,
      schema: {
        tags: ['chassis'],
        summary: 'Register a chassis (hypervisor)',
        description:
          'A chassis id that was deleted may register again; it starts with no interfaces.',
        body: ChassisBody,
        response: { 201: ChassisResource, ...errors },
      },
    },
    async (request, reply) =>
      answer(reply, await commands.createChassis(request.body, issuerOf(request))),
  );

  app.patch(
    '/v1/chassis/:id',
    {
      config: routeConfig,
      schema: {
        tags: ['chassis'],
        summary: 'Change a chassis (tunnel IP, tunnel types, bridge mappings)',
        params: IdParams,
        body: ChassisPatch,
        response: { 200: ChassisResource, ...errors },
      },
    },
    async (request, reply) =>
      answer(
        reply,
        await commands.updateChassis(request.params.id, request.body, issuerOf(request)),
      ),
  );

  app.delete(
    '/v1/chassis/:id',
    {
      config: routeConfig,
      schema: {
        tags: ['chassis'],
        summary: 'Delete a chassis and the interfaces observed on it',
        params: IdParams,
        response: { 200: Deleted, ...errors },
      },
    },
    async (request, reply) =>
      answer(reply, await commands.deleteChassis(request.params.id, issuerOf(request))),
  );

  // --- switches and subnets -------------------------------------------------------------------

  app.post(
    '/v1/switches',
    {
      config: routeConfig,
      schema: {
        tags: ['switches'],
        summary: 'Create a logical switch (network)',
        body: SwitchBody,
        response: { 201: SwitchResource, ...errors },
      },
    },
    async (request, reply) =>
      answer(reply, await commands.createSwitch(request.body, issuerOf(request))),
  );

  app.delete(
    '/v1/switches/:id',
    {
      config: routeConfig,
      schema: {
        tags: ['switches'],
        summary: 'Delete a logical switch',
        description: '409 while live ports or subnets are on it.',
        params: IdParams,
        response: { 200: Deleted, ...errors },
      },
    },
    async (request, reply) =>
      answer(reply, await commands.deleteSwitch(request.params.id, issuerOf(request))),
  );

  app.post(
    '/v1/subnets',
    {
      config: routeConfig,
      schema: {
        tags: ['subnets'],
        summary: 'Create a subnet on a switch',
        body: SubnetBody,
        response: { 201: SubnetResource, ...errors },
      },
    },
    async (request, reply) =>
      answer(reply, await commands.createSubnet(request.body, issuerOf(request))),
  );

  app.patch(
    '/v1/subnets/:id',
    {
      config: routeConfig,
      schema: {
        tags: ['subnets'],
        summary: 'Change a subnet (CIDR, gateway, DHCP)',
        params: IdParams,
        body: SubnetPatch,
        response: { 200: SubnetResource, ...errors },
      },
    },
    async (request, reply) =>
      answer(
        reply,
        await commands.updateSubnet(request.params.id, request.body, issuerOf(request)),
      ),
  );

  app.delete(
    '/v1/subnets/:id',
    {
      config: routeConfig,
      schema: {
        tags: ['subnets'],
        summary: 'Delete a subnet',
        params: IdParams,
        response: { 200: Deleted, ...errors },
      },
    },
    async (request, reply) =>
      answer(reply, await commands.deleteSubnet(request.params.id, issuerOf(request))),
  );

  // --- ports ----------------------------------------------------------------------------------

  app.post(
    '/v1/ports',
    {
      config: routeConfig,
      schema: {
        tags: ['ports'],
        summary: 'Create a logical port on a switch',
        description: 'A deleted port id is final: creating it again is refused (409).',
        body: PortBody,
        response: { 201: PortResource, ...errors },
      },
    },
    async (request, reply) => {
      const { macs = [], ips = [], requestedChassis = null, ...rest } = request.body;
      const port = { ...rest, macs, ips, requestedChassis };
      return answer(
        reply,
        await commands.createPort(port, issuerOf(request)),
        `/v1/ports/${encodeURIComponent(port.id)}`,
      );
    },
  );

  app.patch(
    '/v1/ports/:id',
    {
      config: routeConfig,
      schema: {
        tags: ['ports'],
        summary: 'Change a port; a new requestedChassis is a live migration',
        description:
          'The fields given are merged into the current port and the whole new version is recorded.',
        params: IdParams,
        body: PortPatch,
        response: { 200: PortResource, ...errors },
      },
    },
    async (request, reply) =>
      answer(reply, await commands.updatePort(request.params.id, request.body, issuerOf(request))),
  );

  app.delete(
    '/v1/ports/:id',
    {
      config: routeConfig,
      schema: {
        tags: ['ports'],
        summary: 'Delete a port (final)',
        params: IdParams,
        response: { 200: Deleted, ...errors },
      },
    },
    async (request, reply) =>
      answer(reply, await commands.deletePort(request.params.id, issuerOf(request))),
  );

  // --- routers --------------------------------------------------------------------------------

  app.post(
    '/v1/routers',
    {
      config: routeConfig,
      schema: {
        tags: ['routers'],
        summary: 'Create a logical router',
        body: RouterBody,
        response: { 201: RouterResource, ...errors },
      },
    },
    async (request, reply) => {
      const { interfacePortIds = [], gatewayPortId = null, id } = request.body;
      return answer(
        reply,
        await commands.createRouter({ id, interfacePortIds, gatewayPortId }, issuerOf(request)),
      );
    },
  );

  app.delete(
    '/v1/routers/:id',
    {
      config: routeConfig,
      schema: {
        tags: ['routers'],
        summary: 'Delete a logical router',
        params: IdParams,
        response: { 200: Deleted, ...errors },
      },
    },
    async (request, reply) =>
      answer(reply, await commands.deleteRouter(request.params.id, issuerOf(request))),
  );

  app.post(
    '/v1/routers/:id/interfaces',
    {
      config: routeConfig,
      schema: {
        tags: ['routers'],
        summary: 'Attach a port to a router as an interface',
        params: IdParams,
        body: PortRefBody,
        response: { 201: RouterResource, ...errors },
      },
    },
    async (request, reply) =>
      answer(
        reply,
        await commands.addRouterInterface(
          request.params.id,
          request.body.portId,
          issuerOf(request),
        ),
      ),
  );

  app.delete(
    '/v1/routers/:id/interfaces/:portId',
    {
      config: routeConfig,
      schema: {
        tags: ['routers'],
        summary: 'Detach an interface port from a router',
        params: RouterPortParams,
        response: { 200: RouterResource, ...errors },
      },
    },
    async (request, reply) =>
      answer(
        reply,
        await commands.removeRouterInterface(
          request.params.id,
          request.params.portId,
          issuerOf(request),
        ),
      ),
  );

  app.put(
    '/v1/routers/:id/gateway',
    {
      config: routeConfig,
      schema: {
        tags: ['routers'],
        summary: "Set a router's gateway port",
        params: IdParams,
        body: PortRefBody,
        response: { 200: RouterResource, ...errors },
      },
    },
    async (request, reply) =>
      answer(
        reply,
        await commands.setRouterGateway(request.params.id, request.body.portId, issuerOf(request)),
      ),
  );

  app.delete(
    '/v1/routers/:id/gateway',
    {
      config: routeConfig,
      schema: {
        tags: ['routers'],
        summary: "Clear a router's gateway port",
        params: IdParams,
        response: { 200: RouterResource, ...errors },
      },
    },
    async (request, reply) =>
      answer(reply, await commands.clearRouterGateway(request.params.id, issuerOf(request))),
  );

  // --- floating IPs ---------------------------------------------------------------------------

  app.post(
    '/v1/floatingips',
    {
      config: routeConfig,
      schema: {
        tags: ['floating IPs'],
        summary: 'Create a floating IP on its floating port',
        body: FloatingIpBody,
        response: { 201: FloatingIpResource, ...errors },
      },
    },
    async (request, reply) => {
      const { fixedPortId = null, ...rest } = request.body;
      return answer(
        reply,
        await commands.createFloatingIp({ ...rest, fixedPortId }, issuerOf(request)),
      );
    },
  );

  app.put(
    '/v1/floatingips/:id/association',
    {
      config: routeConfig,
      schema: {
        tags: ['floating IPs'],
        summary: 'Associate a floating IP with a fixed port, or disassociate it (null)',
        params: IdParams,
        body: AssociationBody,
        response: { 200: FloatingIpResource, ...errors },
      },
    },
    async (request, reply) =>
      answer(
        reply,
        await commands.associateFloatingIp(
          request.params.id,
          request.body.portId,
          issuerOf(request),
        ),
      ),
  );

  app.delete(
    '/v1/floatingips/:id',
    {
      config: routeConfig,
      schema: {
        tags: ['floating IPs'],
        summary: 'Delete a floating IP',
        params: IdParams,
        response: { 200: Deleted, ...errors },
      },
    },
    async (request, reply) =>
      answer(reply, await commands.deleteFloatingIp(request.params.id, issuerOf(request))),
  );

  // --- trunk segmentations --------------------------------------------------------------------

  app.post(
    '/v1/segmentations',
    {
      config: routeConfig,
      schema: {
        tags: ['trunks'],
        summary: 'Carry a child port on a parent (trunk) port, on a VLAN',
        body: SegmentationBody,
        response: { 201: SegmentationResource, ...errors },
      },
    },
    async (request, reply) =>
      answer(reply, await commands.createSegmentation(request.body, issuerOf(request))),
  );

  app.delete(
    '/v1/segmentations/:id',
    {
      config: routeConfig,
      schema: {
        tags: ['trunks'],
        summary: 'Delete a trunk segmentation',
        params: IdParams,
        response: { 200: Deleted, ...errors },
      },
    },
    async (request, reply) =>
      answer(reply, await commands.deleteSegmentation(request.params.id, issuerOf(request))),
  );
};
