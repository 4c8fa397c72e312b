/**
 * The server's side for the agent benches: a folded topology and the chassis feed hub over
 * plain HTTP, with no store behind it — what an agent talks to, so that only the agent is
 * measured. Each bench answers its own routes (`handle`); `fold` moves the topology on and the
 * hub sends the diffs.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { FastifyReply } from 'fastify';
import type { Logger } from 'pino';
import { PortLocalityFold } from '../../src/apps/port-locality.js';
import { Topology } from '../../src/domain/topology.js';
import type { DomainEvent } from '../../src/events/index.js';
import { ChassisFeedHub, type FoldedTopology } from '../../src/http/chassis-feeds.js';

export abstract class StubFeedServer implements FoldedTopology {
  readonly topology = new Topology(new PortLocalityFold());
  headPosition = 0n;
  readonly hub: ChassisFeedHub;
  private readonly server = createServer((request, response) => this.handle(request, response));

  constructor(logger: Logger) {
    this.hub = new ChassisFeedHub(
      this,
      { heartbeatMs: 15_000, drainTimeoutMs: 30_000, coalesceMs: 5 },
      logger,
    );
  }

  /** Folds `events` (the hub sends the diffs once the turn ends). */
  fold(events: Iterable<DomainEvent>): void {
    for (const event of events) {
      this.topology.apply(event);
      this.headPosition++;
    }
  }

  async listen(): Promise<string> {
    await new Promise<void>((done) => this.server.listen(0, '127.0.0.1', done));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async close(): Promise<void> {
    this.hub.closeAll();
    this.server.closeAllConnections();
    await new Promise((done) => this.server.close(done));
  }

  /** Hands the request to the hub as GET …/feed: resumed from its Last-Event-ID when it has one. */
  protected openFeed(chassis: string, request: IncomingMessage, response: ServerResponse): void {
    const lastEventId = request.headers['last-event-id'];
    this.hub.open(
      { hijack: () => undefined, raw: response } as unknown as FastifyReply,
      chassis,
      typeof lastEventId === 'string' && /^[0-9]+$/.test(lastEventId)
        ? BigInt(lastEventId)
        : undefined,
    );
  }

  protected abstract handle(request: IncomingMessage, response: ServerResponse): void;
}

/** A field of /proc/<pid>/status in bytes (VmRSS, RssAnon…), undefined when not there. */
export function statusBytes(pid: number, field: string): number | undefined {
  try {
    const match = readFileSync(`/proc/${pid}/status`, 'utf8').match(
      new RegExp(`^${field}:\\s+(\\d+) kB`, 'm'),
    );
    return match?.[1] === undefined ? undefined : Number(match[1]) * 1024;
  } catch {
    return undefined;
  }
}

/** VmRSS of a bare, idle Node with these flags and environment: what any Node agent starts from. */
export async function bareNodeRss(
  nodeFlags: readonly string[],
  env: Readonly<Record<string, string>>,
): Promise<number> {
  const child = spawn(process.execPath, [...nodeFlags, '-e', 'setTimeout(() => {}, 60_000)'], {
    stdio: 'ignore',
    env: { ...process.env, ...env },
  });
  await new Promise((done) => setTimeout(done, 500));
  const rss = statusBytes(child.pid as number, 'VmRSS') ?? 0;
  child.kill();
  return rss;
}
