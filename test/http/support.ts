/**
 * Test harness for the HTTP API: an in-memory read model whose state and position the tests
 * set, API tokens for every role, and a server built on a shared embedded event store.
 */
import { pino } from 'pino';
import { CommandHandler } from '../../src/commands/handler.js';
import type { HttpConfigInput, TokenGrant } from '../../src/http/config.js';
import { createMetrics } from '../../src/http/metrics.js';
import { buildServer, type LocusServer } from '../../src/http/server.js';
import type {
  ChassisPort,
  HistoryRecord,
  Locality,
  Page,
  PortRecord,
  ReadModel,
} from '../../src/read-model/queries.js';
import type { EventStore } from '../../src/store/event-store.js';

/** A read model the test drives by hand: set rows, move the position. */
export class FakeReadModel implements ReadModel {
  readonly ports = new Map<string, PortRecord>();
  readonly histories = new Map<string, HistoryRecord[]>();
  readonly chassis = new Map<string, ChassisPort[]>();
  current = 0n;
  private waiters: { position: bigint; resolve: (reached: boolean) => void }[] = [];

  advanceTo(position: bigint): void {
    this.current = position;
    const ready = this.waiters.filter((w) => w.position <= position);
    this.waiters = this.waiters.filter((w) => w.position > position);
    for (const waiter of ready) waiter.resolve(true);
  }

  async port(id: string): Promise<PortRecord | undefined> {
    return this.ports.get(id);
  }

  async history(
    portId: string,
    page: { cursor?: string; limit: number },
  ): Promise<Page<HistoryRecord>> {
    return paginate(this.histories.get(portId) ?? [], page);
  }

  async chassisPorts(
    chassis: string,
    query: { locality?: Locality; cursor?: string; limit: number },
  ): Promise<Page<ChassisPort>> {
    const all = (this.chassis.get(chassis) ?? []).filter(
      (p) => query.locality === undefined || p.locality === query.locality,
    );
    return paginate(all, query);
  }

  async summary() {
    const counts = new Map<string, { chassis: string; locality: Locality; ports: number }>();
    for (const [chassis, ports] of this.chassis) {
      for (const port of ports) {
        const key = `${chassis}/${port.locality}`;
        const entry = counts.get(key) ?? { chassis, locality: port.locality, ports: 0 };
        counts.set(key, { ...entry, ports: entry.ports + 1 });
      }
    }
    return [...counts.values()];
  }

  async position(): Promise<bigint> {
    return this.current;
  }

  waitFor(position: bigint, timeoutMs: number): Promise<boolean> {
    if (this.current >= position) return Promise.resolve(true);
    return new Promise((resolve) => {
      const waiter = { position, resolve };
      this.waiters.push(waiter);
      setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        resolve(false);
      }, timeoutMs).unref();
    });
  }
}

function paginate<T>(items: readonly T[], page: { cursor?: string; limit: number }): Page<T> {
  const start = page.cursor === undefined ? 0 : Number(page.cursor);
  const slice = items.slice(start, start + page.limit);
  const next = start + page.limit;
  return next < items.length ? { items: slice, nextCursor: String(next) } : { items: slice };
}

export const tokens = {
  operator: 'operator-token-0123456789abcdef',
  reader: 'reader-token-0123456789abcdef',
  agentA: 'agent-a-token-0123456789abcdef',
  agentB: 'agent-b-token-0123456789abcdef',
} as const;

export const grants: TokenGrant[] = [
  { name: 'nova', role: 'operator', token: tokens.operator },
  { name: 'dashboard', role: 'reader', token: tokens.reader },
  { name: 'agent:chassis-a', role: 'agent', chassis: 'chassis-a', token: tokens.agentA },
  { name: 'agent:chassis-b', role: 'agent', chassis: 'chassis-b', token: tokens.agentB },
];

export const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
export const asOperator = bearer(tokens.operator);
export const asReader = bearer(tokens.reader);

export const silentLogger = () => pino({ level: 'silent' });

export interface Harness<R extends ReadModel = FakeReadModel> {
  readonly app: LocusServer;
  readonly readModel: R;
}

export async function startApi<R extends ReadModel = FakeReadModel>(
  store: EventStore,
  config: HttpConfigInput = {},
  readModel: R = new FakeReadModel() as ReadModel as R,
): Promise<Harness<R>> {
  const metrics = createMetrics();
  const app = await buildServer({
    store,
    readModel,
    commands: new CommandHandler(store, { observer: metrics.commandObserver }),
    metrics,
    logger: silentLogger(),
    config: { tokens: grants, logRequests: false, ...config },
  });
  await app.ready();
  return { app, readModel };
}

let counter = 0;
/** A fresh id per call, so tests sharing one store never collide. */
export const uid = (prefix: string): string => `${prefix}-${process.pid}-${++counter}`;
