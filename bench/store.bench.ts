/**
 * Event store throughput: appends of one event, appends of 100-event batches, appends from
 * four concurrent writers (a store each) and from eight sharing one store (group commit),
 * appendToStreams to 5,000 streams × 2 events per call (a bulk bind's page of locality
 * events), readAll in pages and a subscription's catch-up, on embedded PGlite
 * (persisted to a temp folder) and on PostgreSQL (a private durable cluster: fsync on). The
 * embedded records carry the PostgreSQL record of the same measurement as their baseline.
 */
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { NewEvent } from '../src/events/metadata.js';
import type { EventStore } from '../src/store/event-store.js';
import { openEventStore } from '../src/store/open-event-store.js';
import { createDatabase, findPostgresBinaries, startPostgres } from '../test/support/postgres.js';
import {
  type Benchmark,
  type BenchOptions,
  type BenchRecord,
  peakRssBytes,
  percentiles,
  perSecond,
  timeIt,
} from './lib.js';

interface Sizes {
  readonly singleAppends: number;
  readonly batches: number;
  readonly batchSize: number;
  readonly concurrentAppendsPerWriter: number;
  readonly writers: number;
  /** Writers sharing one store (the HTTP commands and agents of one process). */
  readonly sharedWriters: number;
  /** appendToStreams: calls, streams per call, events per stream (a bulk bind's page). */
  readonly streamCalls: number;
  readonly streamsPerCall: number;
  readonly eventsPerStream: number;
  readonly readPage: number;
}

const FULL: Sizes = {
  singleAppends: 3_000,
  batches: 200,
  batchSize: 100,
  concurrentAppendsPerWriter: 500,
  writers: 4,
  sharedWriters: 8,
  streamCalls: 3,
  streamsPerCall: 5_000,
  eventsPerStream: 2,
  readPage: 1_000,
};
const QUICK: Sizes = {
  singleAppends: 300,
  batches: 20,
  batchSize: 100,
  concurrentAppendsPerWriter: 50,
  writers: 4,
  sharedWriters: 8,
  streamCalls: 1,
  streamsPerCall: 500,
  eventsPerStream: 2,
  readPage: 1_000,
};
const STREAMS = 100;

function event(index: number): NewEvent {
  return {
    id: randomUUID(),
    type: 'LocalCreated',
    data: { lport: `p${index % STREAMS}`, chassis: 'chassis-1', ofport: index },
    metadata: {
      correlationId: randomUUID(),
      causationId: randomUUID(),
      app: 'bench',
      schemaVersion: 1,
      time: new Date().toISOString(),
    },
  };
}

type Measure = Omit<BenchRecord, 'name' | 'params' | 'peakRssBytes'> & {
  readonly params?: BenchRecord['params'];
};

/** Runs every measurement on one store; returns them keyed by measurement name. */
async function measureStore(
  open: () => Promise<EventStore>,
  sizes: Sizes,
  progress: (message: string) => void,
): Promise<Map<string, Measure>> {
  const results = new Map<string, Measure>();
  const store = await open();
  const extraStores: EventStore[] = [];
  try {
    progress(`  append, 1 event each (${sizes.singleAppends})`);
    const latencies: number[] = [];
    const single = await timeIt(async () => {
      for (let i = 0; i < sizes.singleAppends; i += 1) {
        latencies.push(
          await timeIt(() => store.appendToStream(`lport-${i % STREAMS}`, [event(i)])),
        );
      }
    });
    results.set('append-single', {
      throughput: perSecond(sizes.singleAppends, single),
      unit: 'events',
      latencyMs: percentiles(latencies),
    });

    progress(`  append, ${sizes.batchSize} events each (${sizes.batches})`);
    const batchLatencies: number[] = [];
    const batched = await timeIt(async () => {
      for (let i = 0; i < sizes.batches; i += 1) {
        const events = Array.from({ length: sizes.batchSize }, (_, j) => event(j));
        batchLatencies.push(await timeIt(() => store.appendToStream(`batch-${i}`, events)));
      }
    });
    results.set('append-batch', {
      throughput: perSecond(sizes.batches * sizes.batchSize, batched),
      unit: 'events',
      latencyMs: percentiles(batchLatencies),
      params: { batchSize: sizes.batchSize },
    });

    progress(`  append, ${sizes.writers} concurrent writers`);
    const writers = await Promise.all(
      Array.from({ length: sizes.writers }, async () => {
        const writer = await open();
        extraStores.push(writer);
        return writer;
      }),
    );
    const concurrent = await timeIt(() =>
      Promise.all(
        writers.map(async (writer, w) => {
          for (let i = 0; i < sizes.concurrentAppendsPerWriter; i += 1) {
            await writer.appendToStream(`writer-${w}-${i % STREAMS}`, [event(i)]);
          }
        }),
      ),
    );
    results.set('append-concurrent', {
      throughput: perSecond(sizes.writers * sizes.concurrentAppendsPerWriter, concurrent),
      unit: 'events',
      params: { writers: sizes.writers },
    });

    progress(`  append, ${sizes.sharedWriters} concurrent writers sharing one store`);
    const shared = await timeIt(() =>
      Promise.all(
        Array.from({ length: sizes.sharedWriters }, async (_, w) => {
          for (let i = 0; i < sizes.concurrentAppendsPerWriter; i += 1) {
            await store.appendToStream(`shared-${w}-${i % STREAMS}`, [event(i)]);
          }
        }),
      ),
    );
    results.set('append-concurrent-shared', {
      throughput: perSecond(sizes.sharedWriters * sizes.concurrentAppendsPerWriter, shared),
      unit: 'events',
      params: { writers: sizes.sharedWriters },
    });

    progress(
      `  appendToStreams, ${sizes.streamsPerCall} streams × ${sizes.eventsPerStream} events (${sizes.streamCalls})`,
    );
    const callLatencies: number[] = [];
    const streams = await timeIt(async () => {
      for (let call = 0; call < sizes.streamCalls; call += 1) {
        const appends = Array.from({ length: sizes.streamsPerCall }, (_, s) => ({
          streamName: `lport-bulk-${call}-${s}`,
          events: Array.from({ length: sizes.eventsPerStream }, (_, e) => event(s + e)),
          expectedRevision: 'no_stream' as const,
        }));
        callLatencies.push(await timeIt(() => store.appendToStreams(appends)));
      }
    });
    results.set('append-streams', {
      throughput: perSecond(
        sizes.streamCalls * sizes.streamsPerCall * sizes.eventsPerStream,
        streams,
      ),
      unit: 'events',
      latencyMs: percentiles(callLatencies),
      params: { streams: sizes.streamsPerCall, eventsPerStream: sizes.eventsPerStream },
    });

    const total = Number(await store.headPosition());
    progress(`  readAll, pages of ${sizes.readPage} (${total} events)`);
    let read = 0;
    const readAll = await timeIt(async () => {
      let after = 0n;
      for (;;) {
        const page = await store.readAll({ after, maxCount: sizes.readPage });
        read += page.length;
        const last = page.at(-1);
        if (last === undefined) break;
        after = last.position;
      }
    });
    results.set('read-all', {
      throughput: perSecond(read, readAll),
      unit: 'events',
      params: { events: read, page: sizes.readPage },
    });

    progress('  subscription catch-up');
    const subscription = store.subscribeToAll({ batchSize: sizes.readPage });
    let seen = 0;
    const catchUp = await timeIt(async () => {
      for await (const _ of subscription) {
        seen += 1;
        if (seen === total) break;
      }
    });
    results.set('subscribe-catch-up', {
      throughput: perSecond(seen, catchUp),
      unit: 'events',
      params: { events: seen },
    });
  } finally {
    await Promise.all(extraStores.map((extra) => extra.close()));
    await store.close();
  }
  return results;
}

export const benchStore: Benchmark = async (options: BenchOptions) => {
  const sizes = options.quick ? QUICK : FULL;
  const records: BenchRecord[] = [];
  const record = (adapter: string, name: string, measure: Measure, baseline?: BenchRecord) => {
    const full: BenchRecord = {
      ...measure,
      name: `store/${name}/${adapter}`,
      params: { adapter, ...measure.params },
      ...(baseline === undefined
        ? {}
        : { baseline: { name: baseline.name, ratio: measure.throughput / baseline.throughput } }),
      peakRssBytes: peakRssBytes(),
    };
    records.push(full);
    return full;
  };

  const postgresResults = new Map<string, BenchRecord>();
  if (findPostgresBinaries() === undefined) {
    options.progress('store: PostgreSQL binaries not found; embedded only');
  } else {
    options.progress('store: PostgreSQL (private cluster, fsync on)');
    const server = await startPostgres({ durable: true });
    try {
      const url = await createDatabase(server.url, 'bench');
      const measured = await measureStore(() => openEventStore(url), sizes, options.progress);
      for (const [name, measure] of measured) {
        postgresResults.set(name, record('postgres', name, measure));
      }
    } finally {
      await server.stop();
    }
  }

  options.progress('store: embedded PGlite (data folder)');
  const folder = await mkdtemp(join(tmpdir(), 'locus-bench-'));
  try {
    // PGlite is one connection per folder: "concurrent writers" share the one store.
    const shared = await openEventStore(folder);
    const measured = await measureStore(async () => sharedHandle(shared), sizes, options.progress);
    await shared.close();
    for (const [name, measure] of measured) {
      record('embedded', name, measure, postgresResults.get(name));
    }
  } finally {
    await rm(folder, { recursive: true, force: true });
  }
  return records;
};

/** The shared store behind a handle whose close() does nothing (the owner closes it). */
function sharedHandle(store: EventStore): EventStore {
  return new Proxy(store, {
    get(target, property, receiver) {
      if (property === 'close') return async () => {};
      const value = Reflect.get(target, property, receiver);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}
