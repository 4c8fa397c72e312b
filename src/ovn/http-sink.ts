/**
 * The follower beside a locus (`locus follow-ovn`): commands go to its REST API with an
 * operator token, each with the OVN row it follows in the `locus-cause` header; what locus
 * holds is read from the topology lists (GET /v1/chassis, /v1/switches, /v1/switches/:id/ports,
 * /v1/subnets, /v1/routers, /v1/floatingips, /v1/segmentations) with `?after=` for
 * read-your-writes.
 *
 * The lists carry no port addresses: a port's MACs and IPs are known when this sink wrote or
 * checked them at the port's current position; otherwise the diff sends them (locus answers an
 * identical update as unchanged, appending nothing) and the answer is remembered.
 */
import type {
  Chassis,
  ChildPortSegmentation,
  DeviceOwner,
  FloatingIp,
  LogicalPort,
  LogicalRouter,
  LogicalSwitch,
  Subnet,
} from '../events/index.js';
import type { Fetch } from '../lib/tls-fetch.js';
import type { LocusCommand } from './diff.js';
import type { CurrentModel } from './locus-model.js';
import { CommandRefusedError, type CommandSink, type Issued } from './sink.js';

export interface HttpSinkOptions {
  /** `http://host:port` of the locus API. */
  readonly url: string;
  /** An operator token. */
  readonly token?: string;
  readonly fetch?: Fetch;
  readonly timeoutMs?: number;
}

export interface Request {
  readonly method: 'POST' | 'PATCH' | 'PUT' | 'DELETE';
  readonly path: string;
  readonly body?: unknown;
}

const seg = encodeURIComponent;

/** The REST route of each command the follower issues (src/http/routes/commands.ts). */
export function requestOf(command: LocusCommand): Request {
  switch (command.name) {
    case 'createChassis':
      return { method: 'POST', path: '/v1/chassis', body: command.input };
    case 'updateChassis':
      return {
        method: 'PATCH',
        path: `/v1/chassis/${seg(command.input.id)}`,
        body: command.input.changes,
      };
    case 'deleteChassis':
      return { method: 'DELETE', path: `/v1/chassis/${seg(command.input.id)}` };
    case 'createSwitch':
      return { method: 'POST', path: '/v1/switches', body: command.input };
    case 'deleteSwitch':
      return { method: 'DELETE', path: `/v1/switches/${seg(command.input.id)}` };
    case 'createSubnet':
      return { method: 'POST', path: '/v1/subnets', body: command.input };
    case 'updateSubnet':
      return {
        method: 'PATCH',
        path: `/v1/subnets/${seg(command.input.id)}`,
        body: command.input.changes,
      };
    case 'deleteSubnet':
      return { method: 'DELETE', path: `/v1/subnets/${seg(command.input.id)}` };
    case 'createPort':
      return { method: 'POST', path: '/v1/ports', body: command.input };
    case 'updatePort':
      return {
        method: 'PATCH',
        path: `/v1/ports/${seg(command.input.id)}`,
        body: command.input.changes,
      };
    case 'deletePort':
      return { method: 'DELETE', path: `/v1/ports/${seg(command.input.id)}` };
    case 'createRouter':
      return { method: 'POST', path: '/v1/routers', body: command.input };
    case 'deleteRouter':
      return { method: 'DELETE', path: `/v1/routers/${seg(command.input.id)}` };
    case 'addRouterInterface':
      return {
        method: 'POST',
        path: `/v1/routers/${seg(command.input.routerId)}/interfaces`,
        body: { portId: command.input.portId },
      };
    case 'removeRouterInterface':
      return {
        method: 'DELETE',
        path: `/v1/routers/${seg(command.input.routerId)}/interfaces/${seg(command.input.portId)}`,
      };
    case 'setRouterGateway':
      return {
        method: 'PUT',
        path: `/v1/routers/${seg(command.input.routerId)}/gateway`,
        body: { portId: command.input.portId },
      };
    case 'clearRouterGateway':
      return { method: 'DELETE', path: `/v1/routers/${seg(command.input.routerId)}/gateway` };
    case 'createFloatingIp':
      return { method: 'POST', path: '/v1/floatingips', body: command.input };
    case 'associateFloatingIp':
      return {
        method: 'PUT',
        path: `/v1/floatingips/${seg(command.input.id)}/association`,
        body: { portId: command.input.portId },
      };
    case 'deleteFloatingIp':
      return { method: 'DELETE', path: `/v1/floatingips/${seg(command.input.id)}` };
    case 'createSegmentation':
      return { method: 'POST', path: '/v1/segmentations', body: command.input };
    case 'deleteSegmentation':
      return { method: 'DELETE', path: `/v1/segmentations/${seg(command.input.id)}` };
    default:
      throw new Error(`the follower does not issue ${command.name}`);
  }
}

/** Locus could not be asked (unreachable, overloaded, failing): worth another try. */
export class SinkUnavailableError extends Error {
  override name = 'SinkUnavailableError';
}

interface Page<T> {
  readonly items: readonly T[];
  readonly nextCursor?: string;
}

type Listed<T> = T & { readonly position: string };

interface SwitchPortItem {
  readonly id: string;
  readonly deviceOwner: DeviceOwner;
  readonly requestedChassis: string | null;
  readonly position: string;
}

const strip = <T extends { position: string }>({ position: _, ...rest }: T) => rest;

export class HttpSink implements CommandSink {
  readonly describe: string;
  private readonly fetch: Fetch;
  /** Port id → the addresses it had at a position (written or checked by this sink). */
  private readonly addresses = new Map<
    string,
    { position: string; macs: string[]; ips: string[] }
  >();

  constructor(private readonly options: HttpSinkOptions) {
    this.describe = options.url;
    this.fetch = options.fetch ?? globalThis.fetch;
  }

  async read(after: bigint): Promise<CurrentModel> {
    const list = async <T>(path: string): Promise<T[]> =>
      (await this.list<T>(path, after)).map((item) => strip(item) as unknown as T);
    const [chassis, switches, subnets, routers, fips, segmentations] = await Promise.all([
      list<Chassis>('/v1/chassis'),
      list<LogicalSwitch>('/v1/switches'),
      list<Subnet>('/v1/subnets'),
      list<LogicalRouter>('/v1/routers'),
      list<FloatingIp>('/v1/floatingips'),
      list<ChildPortSegmentation>('/v1/segmentations'),
    ]);
    const ports = new Map<string, LogicalPort>();
    const unknownAddresses = new Set<string>();
    for (const lswitch of switches) {
      const items = await this.list<SwitchPortItem>(`/v1/switches/${seg(lswitch.id)}/ports`, after);
      for (const item of items) {
        const known = this.addresses.get(item.id);
        const current = known?.position === item.position ? known : undefined;
        if (current === undefined) unknownAddresses.add(item.id);
        ports.set(item.id, {
          id: item.id,
          switchId: lswitch.id,
          macs: current?.macs ?? [],
          ips: current?.ips ?? [],
          deviceOwner: item.deviceOwner,
          requestedChassis: item.requestedChassis,
        });
      }
    }
    const byId = <T extends { id: string }>(items: readonly T[]) =>
      new Map(items.map((item) => [item.id, item]));
    return {
      chassis: byId(chassis),
      switches: byId(switches),
      subnets: byId(subnets),
      ports,
      routers: byId(routers),
      fips: byId(fips),
      segmentations: byId(segmentations),
      unknownAddresses,
    };
  }

  async issue(command: LocusCommand): Promise<Issued> {
    const request = requestOf(command);
    const cause = command.cause;
    const response = await this.send(request.method, request.path, request.body, {
      ...(cause === undefined
        ? {}
        : { 'locus-cause': `${cause.source}/${cause.table}/${cause.uuid}` }),
    });
    const text = await response.text();
    if (!response.ok) {
      if (response.status >= 400 && response.status < 500 && response.status !== 429)
        throw new CommandRefusedError(command.name, response.status, detailOf(text));
      throw new SinkUnavailableError(
        `${request.method} ${request.path}: ${response.status} ${detailOf(text)}`,
      );
    }
    const body = JSON.parse(text) as Partial<LogicalPort> & { position: string };
    if (
      (command.name === 'createPort' || command.name === 'updatePort') &&
      Array.isArray(body.macs) &&
      Array.isArray(body.ips)
    )
      this.addresses.set(command.input.id, {
        position: body.position,
        macs: body.macs,
        ips: body.ips,
      });
    if (command.name === 'deletePort') this.addresses.delete(command.input.id);
    return { position: BigInt(body.position) };
  }

  private async list<T>(path: string, after: bigint): Promise<Listed<T>[]> {
    const items: Listed<T>[] = [];
    let cursor: string | undefined;
    do {
      const query = new URLSearchParams({ limit: '1000', after: String(after) });
      if (cursor !== undefined) query.set('cursor', cursor);
      const response = await this.send('GET', `${path}?${query}`);
      const text = await response.text();
      if (!response.ok)
        throw new SinkUnavailableError(`GET ${path}: ${response.status} ${detailOf(text)}`);
      const page = JSON.parse(text) as Page<Listed<T>>;
      items.push(...page.items);
      cursor = page.nextCursor;
    } while (cursor !== undefined);
    return items;
  }

  private async send(
    method: string,
    path: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ): Promise<Response> {
    try {
      return await this.fetch(new URL(path, this.options.url), {
        method,
        headers: {
          accept: 'application/json',
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
          ...(this.options.token === undefined
            ? {}
            : { authorization: `Bearer ${this.options.token}` }),
          ...headers,
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        signal: AbortSignal.timeout(this.options.timeoutMs ?? 30_000),
      });
    } catch (error) {
      throw new SinkUnavailableError(
        `cannot reach locus at ${this.options.url}: ${error instanceof Error ? error.message : String(error)}`,
        { cause: error },
      );
    }
  }
}

function detailOf(text: string): string {
  try {
    const problem = JSON.parse(text) as { detail?: string; title?: string };
    return problem.detail ?? problem.title ?? text.slice(0, 200);
  } catch {
    return text.slice(0, 200);
  }
}
