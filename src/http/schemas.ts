/**
 * The API's request and response schemas, in TypeBox. Request bodies are built from the event
 * catalogue's model schemas (src/events/model.ts), so a body the API accepts is a document the
 * log accepts; @fastify/swagger turns them into the OpenAPI document served at /docs.
 *
 * The answers to queries live in src/api/responses.ts (pure data, so the read model, the CLI and
 * the web view derive their types from them too), re-exported here.
 *
 * Log positions are bigints and travel as decimal strings.
 */
import { type TSchema, Type } from '@sinclair/typebox';
import { Locality, Position } from '../api/responses.js';
import {
  Chassis,
  ChildPortSegmentation,
  DeviceOwner,
  FloatingIp,
  Id,
  LogicalPort,
  LogicalRouter,
  LogicalSwitch,
  OvsPort,
  Subnet,
} from '../events/index.js';

export * from '../api/responses.js';

const closed = { additionalProperties: false } as const;

/** RFC 9457 problem details. */
export const Problem = Type.Object(
  {
    type: Type.String(),
    title: Type.String(),
    status: Type.Integer(),
    detail: Type.String(),
    instance: Type.String(),
    errors: Type.Optional(
      Type.Array(
        Type.Object({
          field: Type.String({ description: 'JSON pointer into the body, or a parameter name' }),
          reason: Type.String(),
          in: Type.Optional(Type.String({ enum: ['body', 'path', 'query', 'header'] })),
        }),
      ),
    ),
  },
  { additionalProperties: true, description: 'RFC 9457 problem details' },
);

const problem = (description: string) => ({ ...Problem, description });

/** The error responses a route documents, by status. */
export const problems = {
  400: problem('invalid request (the fields at fault are named in `errors`)'),
  401: problem('missing or unknown API token'),
  403: problem('the token may not use this route'),
  404: problem('unknown resource or unknown reference (named in `errors`)'),
  409: problem('duplicate id, refused transition, or conflicting state'),
  429: problem('rate limited'),
  503: problem('event store unavailable or read model behind (see Retry-After)'),
} as const;

type Status = keyof typeof problems;
export const problemsFor = (...statuses: Status[]) =>
  Object.fromEntries(statuses.map((status) => [status, problems[status]])) as Partial<
    typeof problems
  >;

/** A command's answer: the resource as it now is, and the log position to read it after. */
export const withPosition = <T extends TSchema & { properties: Record<string, TSchema> }>(
  schema: T,
  description: string,
) => Type.Object({ ...schema.properties, position: Position }, { description });

export const Deleted = Type.Object(
  { id: Id, position: Position },
  { description: 'deleted; `position` is the log position of the deletion' },
);

// --- parameters ------------------------------------------------------------------------------

export const IdParams = Type.Object({ id: Id }, closed);
export const RouterPortParams = Type.Object({ id: Id, portId: Id }, closed);
export const OvsPortParams = Type.Object(
  { id: Chassis.properties.id, name: OvsPort.properties.name },
  closed,
);

const after = Type.Optional(
  Type.String({
    ...Position,
    description: 'read-your-writes: wait until the read model has applied this log position',
  }),
);

export const AfterQuery = Type.Object({ after }, closed);

const pageFields = {
  after,
  cursor: Type.Optional(
    Type.String({ minLength: 1, maxLength: 512, description: 'from nextCursor' }),
  ),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, description: 'page size' })),
};
export const PageQuery = Type.Object(pageFields, closed);

export const ChassisPortsQuery = Type.Object(
  { ...pageFields, locality: Type.Optional(Locality) },
  closed,
);

/** ISO-8601 date-time with a zone (`Z` or an offset). */
export const Instant = Type.String({
  pattern:
    '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}(:[0-9]{2}(\\.[0-9]{1,9})?)?(Z|[+-][0-9]{2}:[0-9]{2})$',
  description: 'an ISO-8601 instant with a zone, e.g. 2025-01-31T12:00:00Z',
});

export const LocalityAtQuery = Type.Object(
  {
    at: Type.Optional({
      ...Instant,
      description: 'an ISO-8601 instant with a zone, in the past (default: now)',
    }),
  },
  closed,
);

export const EventsQuery = Type.Object(
  {
    after: Type.Optional(
      Type.String({
        ...Position,
        description:
          'start after this log position (0: the whole history); default: now. Last-Event-ID wins.',
      }),
    ),
  },
  closed,
);

// --- command bodies --------------------------------------------------------------------------

export const ChassisBody = Chassis;

export const ChassisPatch = Type.Object(
  {
    tunnelIp: Type.Optional(Chassis.properties.tunnelIp),
    tunnelTypes: Type.Optional(Chassis.properties.tunnelTypes),
    bridgeMappings: Type.Optional(Chassis.properties.bridgeMappings),
  },
  { ...closed, minProperties: 1 },
);

export const SwitchBody = LogicalSwitch;

export const SubnetBody = Subnet;

export const SubnetPatch = Type.Object(
  {
    cidr: Type.Optional(Subnet.properties.cidr),
    gatewayIp: Type.Optional(
      Type.Union([Subnet.properties.gatewayIp, Type.Null()], { description: 'null removes it' }),
    ),
    dhcpEnabled: Type.Optional(Subnet.properties.dhcpEnabled),
  },
  { ...closed, minProperties: 1 },
);

const portFields = LogicalPort.properties;

export const PortBody = Type.Object(
  {
    id: portFields.id,
    switchId: portFields.switchId,
    macs: Type.Optional({ ...portFields.macs, description: 'default []' }),
    ips: Type.Optional({ ...portFields.ips, description: 'default []' }),
    deviceOwner: DeviceOwner,
    requestedChassis: Type.Optional({
      ...portFields.requestedChassis,
      description: 'default null',
    }),
  },
  closed,
);

export const PortPatch = Type.Object(
  {
    macs: Type.Optional(portFields.macs),
    ips: Type.Optional(portFields.ips),
    deviceOwner: Type.Optional(DeviceOwner),
    requestedChassis: Type.Optional({
      ...portFields.requestedChassis,
      description:
        'the chassis the port should live on; moving it is a live migration. A hint, not a ' +
        'reference: the owner rule uses it only once that chassis claims the port.',
    }),
  },
  { ...closed, minProperties: 1, description: 'merged into the current port (switchId is fixed)' },
);

export const RouterBody = Type.Object(
  {
    id: LogicalRouter.properties.id,
    interfacePortIds: Type.Optional({
      ...LogicalRouter.properties.interfacePortIds,
      description: 'default []',
    }),
    gatewayPortId: Type.Optional({
      ...LogicalRouter.properties.gatewayPortId,
      description: 'default null',
    }),
  },
  closed,
);

export const PortRefBody = Type.Object({ portId: Id }, closed);

export const FloatingIpBody = Type.Object(
  {
    id: FloatingIp.properties.id,
    floatingPortId: FloatingIp.properties.floatingPortId,
    fixedPortId: Type.Optional({
      ...FloatingIp.properties.fixedPortId,
      description: 'default null',
    }),
  },
  closed,
);

export const AssociationBody = Type.Object(
  {
    portId: Type.Union([Id, Type.Null()], {
      description: 'the fixed port, or null to disassociate',
    }),
  },
  closed,
);

export const SegmentationBody = ChildPortSegmentation;

export const OvsPortBody = Type.Object(
  {
    name: OvsPort.properties.name,
    ofport: OvsPort.properties.ofport,
    ifaceId: OvsPort.properties.ifaceId,
    type: Type.Optional({ ...OvsPort.properties.type, description: 'default "" (system)' }),
  },
  closed,
);

// --- command answers -------------------------------------------------------------------------

export const ChassisResource = withPosition(Chassis, 'the chassis');
export const SwitchResource = withPosition(LogicalSwitch, 'the switch');
export const SubnetResource = withPosition(Subnet, 'the subnet');
export const PortResource = withPosition(LogicalPort, 'the port');
export const RouterResource = withPosition(LogicalRouter, 'the router');
export const FloatingIpResource = withPosition(FloatingIp, 'the floating IP');
export const SegmentationResource = withPosition(ChildPortSegmentation, 'the segmentation');
export const OvsPortResource = withPosition(OvsPort, 'the observed interface');
export const OvsPortDeleted = Type.Object(
  { chassis: OvsPort.properties.chassis, name: OvsPort.properties.name, position: Position },
  { description: 'deleted; `position` is the log position of the deletion' },
);
