/**
 * Drives the scenarios through the HTTP API instead of appending model events directly: each
 * model event becomes the request a cloud controller (or a chassis agent) would send. A
 * non-2xx answer fails the scenario with the problem document.
 */
import type { DomainEvent } from '../../src/events/index.js';
import type { LocusServer } from '../../src/http/server.js';
import { type AckSink, httpAcks } from '../support/simulated-agents.js';

export const OPERATOR_TOKEN = 'scenario-operator-token-0123456789';

/** The chassis the scenarios name, each with its agent's token (acks are sent with it). */
export const AGENT_CHASSIS = ['A', 'B', 'C', 'D'] as const;
export const agentToken = (chassis: string) => `scenario-agent-${chassis}-token-0123456789`;

/** The scenario's tokens: the operator, and one agent token per chassis (named `agent:<id>`). */
export const scenarioTokens = () => [
  { name: 'scenario', role: 'operator' as const, token: OPERATOR_TOKEN },
  ...AGENT_CHASSIS.map((chassis) => ({
    name: `agent:${chassis}`,
    role: 'agent' as const,
    chassis,
    token: agentToken(chassis),
  })),
];

type Request = { method: 'POST' | 'PUT' | 'PATCH' | 'DELETE'; url: string; body?: unknown };

/** The requests that produce `event`, given the previous document of the same entity. */
function requestsFor(event: DomainEvent, previous: unknown): Request[] {
  const id = encodeURIComponent((event.data as { id?: string }).id ?? '');
  switch (event.type) {
    case 'ChassisCreated':
      return [{ method: 'POST', url: '/v1/chassis', body: event.data }];
    case 'ChassisUpdated': {
      const { id: _id, ...rest } = event.data;
      return [{ method: 'PATCH', url: `/v1/chassis/${id}`, body: rest }];
    }
    case 'ChassisDeleted':
      return [{ method: 'DELETE', url: `/v1/chassis/${id}` }];
    case 'LogicalSwitchCreated':
      return [{ method: 'POST', url: '/v1/switches', body: event.data }];
    case 'LogicalSwitchDeleted':
      return [{ method: 'DELETE', url: `/v1/switches/${id}` }];
    case 'SubnetCreated':
      return [{ method: 'POST', url: '/v1/subnets', body: event.data }];
    case 'SubnetUpdated': {
      const { id: _id, switchId: _switch, ...rest } = event.data;
      return [{ method: 'PATCH', url: `/v1/subnets/${id}`, body: rest }];
    }
    case 'SubnetDeleted':
      return [{ method: 'DELETE', url: `/v1/subnets/${id}` }];
    case 'LogicalPortCreated':
      return [{ method: 'POST', url: '/v1/ports', body: event.data }];
    case 'LogicalPortUpdated': {
      const { id: _id, switchId: _switch, ...rest } = event.data;
      return [{ method: 'PATCH', url: `/v1/ports/${id}`, body: rest }];
    }
    case 'LogicalPortDeleted':
      return [{ method: 'DELETE', url: `/v1/ports/${id}` }];
    case 'LogicalRouterCreated':
      return [{ method: 'POST', url: '/v1/routers', body: event.data }];
    case 'LogicalRouterUpdated': {
      const before = previous as { interfacePortIds: string[]; gatewayPortId: string | null };
      const after = event.data;
      const requests: Request[] = [];
      for (const portId of before.interfacePortIds)
        if (!after.interfacePortIds.includes(portId))
          requests.push({ method: 'DELETE', url: `/v1/routers/${id}/interfaces/${portId}` });
      for (const portId of after.interfacePortIds)
        if (!before.interfacePortIds.includes(portId))
          requests.push({ method: 'POST', url: `/v1/routers/${id}/interfaces`, body: { portId } });
      if (before.gatewayPortId !== after.gatewayPortId)
        requests.push(
          after.gatewayPortId === null
            ? { method: 'DELETE', url: `/v1/routers/${id}/gateway` }
            : {
                method: 'PUT',
                url: `/v1/routers/${id}/gateway`,
                body: { portId: after.gatewayPortId },
              },
        );
      return requests;
    }
    case 'LogicalRouterDeleted':
      return [{ method: 'DELETE', url: `/v1/routers/${id}` }];
    case 'FloatingIpCreated':
      return [{ method: 'POST', url: '/v1/floatingips', body: event.data }];
    case 'FloatingIpUpdated':
      return [
        {
          method: 'PUT',
          url: `/v1/floatingips/${id}/association`,
          body: { portId: event.data.fixedPortId },
        },
      ];
    case 'FloatingIpDeleted':
      return [{ method: 'DELETE', url: `/v1/floatingips/${id}` }];
    case 'ChildPortSegmentationCreated':
      return [{ method: 'POST', url: '/v1/segmentations', body: event.data }];
    case 'ChildPortSegmentationDeleted':
      return [{ method: 'DELETE', url: `/v1/segmentations/${id}` }];
    case 'OvsPortCreated':
    case 'OvsPortUpdated': {
      const { chassis, ...body } = event.data;
      return [{ method: 'POST', url: `/v1/chassis/${encodeURIComponent(chassis)}/ovsports`, body }];
    }
    case 'OvsPortDeleted':
      return [
        {
          method: 'DELETE',
          url: `/v1/chassis/${encodeURIComponent(event.data.chassis)}/ovsports/${encodeURIComponent(event.data.name)}`,
        },
      ];
    default:
      throw new Error(`the API has no command for ${event.type}`);
  }
}

export class HttpDriver {
  /** Last document of each entity, for commands expressed as differences (router updates). */
  private readonly documents = new Map<string, unknown>();

  constructor(private readonly server: LocusServer) {}

  async send(event: DomainEvent): Promise<void> {
    const key = `${event.type.replace(/(Created|Updated|Deleted)$/, '')}:${(event.data as { id?: string }).id}`;
    for (const request of requestsFor(event, this.documents.get(key))) {
      const response = await this.server.inject({
        method: request.method,
        url: request.url,
        headers: { authorization: `Bearer ${OPERATOR_TOKEN}` },
        ...(request.body === undefined ? {} : { payload: request.body as object }),
      });
      if (response.statusCode >= 300)
        throw new Error(
          `${request.method} ${request.url} → ${response.statusCode}: ${response.body}`,
        );
    }
    this.documents.set(key, event.data);
  }

  /** The agents' acks as they send them, each with its chassis' agent token. */
  acks(): AckSink {
    return httpAcks(this.server, agentToken);
  }

  async get(url: string): Promise<{ status: number; body: unknown }> {
    const response = await this.server.inject({
      method: 'GET',
      url,
      headers: { authorization: `Bearer ${OPERATOR_TOKEN}` },
    });
    return { status: response.statusCode, body: response.json() };
  }
}
