/**
 * A wire-level EventStoreDB/KurrentDB test server: the gRPC services the official client calls,
 * served by @grpc/grpc-js over real HTTP/2 with the client package's own generated service
 * definitions and protobuf classes, on top of the in-memory LogModel. It exists to run the real
 * client (its grpc-js appends and subscriptions and its native Rust bridge for reads) without a
 * server; it is not an EventStoreDB.
 *
 * Implemented: Streams.Read (stream reads, $all reads, $all catch-up subscriptions with stream
 * or event-type filters, prefixes or regex, checkpoints, caught_up), Streams.Append,
 * Streams.Tombstone, Streams.Delete (soft) and Gossip.Read (a single leader). Not registered, so
 * answered UNIMPLEMENTED by grpc-js: ServerFeatures (as a pre-21.10 node answers, which makes
 * the client use Append rather than BatchAppend), BatchAppend, stream subscriptions, persistent
 * subscriptions, projections, operations, users.
 */
import { randomUUID } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import gossipGrpc from '@kurrent/kurrentdb-client/generated/kurrentdb/protocols/v1/gossip_grpc_pb.js';
import gossipPb from '@kurrent/kurrentdb-client/generated/kurrentdb/protocols/v1/gossip_pb.js';
import sharedPb from '@kurrent/kurrentdb-client/generated/kurrentdb/protocols/v1/shared_pb.js';
import streamsGrpc from '@kurrent/kurrentdb-client/generated/kurrentdb/protocols/v1/streams_grpc_pb.js';
import streamsPb from '@kurrent/kurrentdb-client/generated/kurrentdb/protocols/v1/streams_pb.js';
import { type Expected, LogModel, type LogModelOptions, type StoredEvent } from './model.js';

const { AppendReq, AppendResp, DeleteResp, ReadReq, ReadResp, TombstoneResp } = streamsPb;
type ReadReq = InstanceType<typeof ReadReq>;
type AppendReq = InstanceType<typeof AppendReq>;
type FilterOptions = InstanceType<typeof ReadReq.Options.FilterOptions>;

/** A filter as the server received it, for tests asserting that filtering is server-side. */
export interface ReceivedFilter {
  readonly on: 'stream' | 'event-type';
  readonly prefixes: readonly string[];
  readonly regex: string;
  readonly checkpointInterval: number;
  readonly window: number | 'count';
}

export interface ReceivedRead {
  readonly target: 'stream' | '$all';
  readonly subscription: boolean;
  readonly stream?: string;
  readonly filter?: ReceivedFilter;
  /** Where a $all read or subscription starts: a commit position, `start` or `end`. */
  readonly from?: bigint | 'start' | 'end';
  readonly direction?: 'forwards' | 'backwards';
}

export interface EsdbTestServerOptions extends LogModelOptions {
  /** Share a model between server instances (restarts keep the log). */
  readonly model?: LogModel;
}

export class EsdbTestServer {
  readonly model: LogModel;
  /** Every Read request received, newest last. */
  readonly reads: ReceivedRead[] = [];
  /** Method paths of every call received. */
  readonly calls: string[] = [];
  private server: grpc.Server | undefined;
  private boundPort = 0;
  private readonly live = new Set<() => void>();

  constructor(options: EsdbTestServerOptions = {}) {
    this.model = options.model ?? new LogModel(options);
  }

  get port(): number {
    return this.boundPort;
  }

  /** Connection string for a single node, plaintext (the test server has no TLS). */
  get url(): string {
    return `kurrentdb://127.0.0.1:${this.boundPort}?tls=false`;
  }

  async start(port = this.boundPort): Promise<number> {
    const server = new grpc.Server();
    server.addService(streamsGrpc.StreamsService, {
      read: (call: grpc.ServerWritableStream<ReadReq, unknown>) => this.read(call),
      append: (
        call: grpc.ServerReadableStream<AppendReq, unknown>,
        callback: grpc.sendUnaryData<unknown>,
      ) => this.append(call, callback),
      tombstone: (call: grpc.ServerUnaryCall<unknown, unknown>, cb: grpc.sendUnaryData<unknown>) =>
        this.delete(call, cb, 'tombstone'),
      delete: (call: grpc.ServerUnaryCall<unknown, unknown>, cb: grpc.sendUnaryData<unknown>) =>
        this.delete(call, cb, 'soft'),
    } as grpc.UntypedServiceImplementation);
    server.addService(gossipGrpc.GossipService, {
      read: (_call: unknown, callback: grpc.sendUnaryData<unknown>) => {
        this.calls.push('/event_store.client.gossip.Gossip/Read');
        callback(null, this.clusterInfo());
      },
    } as grpc.UntypedServiceImplementation);
    this.boundPort = await new Promise<number>((resolve, reject) =>
      server.bindAsync(`127.0.0.1:${port}`, grpc.ServerCredentials.createInsecure(), (error, p) =>
        error ? reject(error) : resolve(p),
      ),
    );
    this.server = server;
    return this.boundPort;
  }

  /** Drops every connection and call at once, like a node that dies. */
  async stop(): Promise<void> {
    for (const end of this.live) end();
    this.live.clear();
    this.server?.forceShutdown();
    this.server = undefined;
  }

  /** Dies and comes back on the same port with the same log, after `downMs`. */
  async restart(downMs = 0): Promise<void> {
    await this.stop();
    if (downMs > 0) await new Promise((resolve) => setTimeout(resolve, downMs));
    await this.start(this.boundPort);
  }

  // ---- Streams.Read ------------------------------------------------------------------------

  private read(call: grpc.ServerWritableStream<ReadReq, unknown>): void {
    this.calls.push('/event_store.client.streams.Streams/Read');
    const options = call.request.getOptions();
    if (options === undefined) {
      fail(call, invalid('missing options'));
      return;
    }
    const structured = options.getUuidOption()?.hasStructured() ?? false;
    const backwards = options.getReadDirection() === ReadReq.Options.ReadDirection.BACKWARDS;
    const subscription = options.hasSubscription();
    const count = options.hasCount() ? BigInt(options.getCount()) : 2n ** 64n;
    const filter = options.hasFilter() ? receivedFilter(options.getFilter()) : undefined;

    if (options.hasStream()) {
      const streamOptions = options.getStream();
      const name = streamName(streamOptions?.getStreamIdentifier());
      this.reads.push({ target: 'stream', subscription, stream: name });
      if (subscription) {
        fail(call, unimplemented('stream subscriptions are not in the test server'));
        return;
      }
      const from = streamOptions?.hasRevision()
        ? BigInt(streamOptions.getRevision())
        : streamOptions?.hasEnd()
          ? 'end'
          : 'start';
      const outcome = this.model.readStream(
        name,
        from,
        backwards ? 'backwards' : 'forwards',
        count,
      );
      if (outcome.kind === 'deleted') {
        fail(call, streamDeleted(name));
        return;
      }
      if (outcome.kind === 'not_found') {
        const notFound = new ReadResp.StreamNotFound();
        notFound.setStreamIdentifier(streamIdentifier(name));
        call.write(new ReadResp().setStreamNotFound(notFound));
      } else {
        for (const event of outcome.events) call.write(readEvent(event, structured));
      }
      call.end();
      return;
    }

    const all = options.getAll();
    this.reads.push({
      target: '$all',
      subscription,
      direction: backwards ? 'backwards' : 'forwards',
      from: all?.hasPosition()
        ? BigInt(all.getPosition()?.getCommitPosition() ?? '0')
        : all?.hasEnd()
          ? 'end'
          : 'start',
      ...(filter ? { filter } : {}),
    });
    const matches = filter ? matcher(filter) : () => true;
    const log = this.model.log;
    if (!subscription) {
      const events: StoredEvent[] = [];
      if (!backwards) {
        let index = all?.hasPosition()
          ? this.model.indexAtOrAfter(BigInt(all.getPosition()?.getCommitPosition() ?? '0'))
          : all?.hasEnd()
            ? log.length
            : 0;
        for (; index < log.length && BigInt(events.length) < count; index++) {
          const event = log[index] as StoredEvent;
          if (matches(event)) events.push(event);
        }
      } else {
        let index = all?.hasPosition()
          ? this.model.indexAtOrAfter(BigInt(all.getPosition()?.getCommitPosition() ?? '0')) - 1
          : all?.hasStart()
            ? -1
            : log.length - 1;
        for (; index >= 0 && BigInt(events.length) < count; index--) {
          const event = log[index] as StoredEvent;
          if (matches(event)) events.push(event);
        }
      }
      for (const event of events) call.write(readEvent(event, structured));
      call.end();
      return;
    }

    // A catch-up subscription: confirmation, the past, caught_up, then live.
    let next = all?.hasPosition()
      ? this.model.indexAtOrAfter(BigInt(all.getPosition()?.getCommitPosition() ?? '0') + 1n)
      : all?.hasEnd()
        ? log.length
        : 0;
    const interval =
      filter === undefined
        ? 0
        : (filter.window === 'count' ? 1 : filter.window) * filter.checkpointInterval;
    let considered = 0;
    let caughtUp = false;
    call.write(
      new ReadResp().setConfirmation(
        new ReadResp.SubscriptionConfirmation().setSubscriptionId(randomUUID()),
      ),
    );
    const pump = () => {
      for (; next < log.length; next++) {
        const event = log[next] as StoredEvent;
        if (matches(event)) call.write(readEvent(event, structured));
        considered += 1;
        if (interval > 0 && considered >= interval) {
          considered = 0;
          const checkpoint = new ReadResp.Checkpoint()
            .setCommitPosition(event.position.toString())
            .setPreparePosition(event.position.toString());
          call.write(new ReadResp().setCheckpoint(checkpoint));
        }
      }
      if (!caughtUp) {
        caughtUp = true;
        call.write(new ReadResp().setCaughtUp(new ReadResp.CaughtUp()));
      }
    };
    const unsubscribe = this.model.onCommit(pump);
    const end = () => {
      unsubscribe();
      this.live.delete(end);
    };
    this.live.add(end);
    call.on('cancelled', end);
    call.on('close', end);
    call.on('error', end);
    pump();
  }

  // ---- Streams.Append, Tombstone, Delete ---------------------------------------------------

  private append(
    call: grpc.ServerReadableStream<AppendReq, unknown>,
    callback: grpc.sendUnaryData<unknown>,
  ): void {
    this.calls.push('/event_store.client.streams.Streams/Append');
    let name: string | undefined;
    let expected: Expected = { kind: 'any' };
    const events: Parameters<LogModel['append']>[2][number][] = [];
    call.on('data', (message: AppendReq) => {
      if (message.hasOptions()) {
        const options = message.getOptions();
        name = streamName(options?.getStreamIdentifier());
        expected = options?.hasRevision()
          ? { kind: 'revision', revision: BigInt(options.getRevision()) }
          : options?.hasNoStream()
            ? { kind: 'no_stream' }
            : options?.hasStreamExists()
              ? { kind: 'stream_exists' }
              : { kind: 'any' };
      } else if (message.hasProposedMessage()) {
        const proposed = message.getProposedMessage();
        if (proposed === undefined) return;
        const metadata = proposed.getMetadataMap();
        events.push({
          id: uuidOf(proposed.getId()),
          type: metadata.get('type') ?? '',
          contentType: metadata.get('content-type') ?? 'application/octet-stream',
          data: proposed.getData_asU8(),
          customMetadata: proposed.getCustomMetadata_asU8(),
        });
      }
    });
    call.on('error', () => undefined);
    call.on('end', () => {
      if (name === undefined) return callback(invalid('append without options'));
      const outcome = this.model.append(name, expected, events);
      if (outcome.kind === 'stream_deleted') return callback(streamDeleted(name));
      const response = new AppendResp();
      if (outcome.kind === 'wrong_expected_version') {
        const wrong = new AppendResp.WrongExpectedVersion();
        if (outcome.currentRevision === undefined) wrong.setCurrentNoStream(new sharedPb.Empty());
        else wrong.setCurrentRevision(outcome.currentRevision.toString());
        if (expected.kind === 'revision') wrong.setExpectedRevision(expected.revision.toString());
        else if (expected.kind === 'no_stream') wrong.setExpectedNoStream(new sharedPb.Empty());
        else if (expected.kind === 'stream_exists') {
          wrong.setExpectedStreamExists(new sharedPb.Empty());
        } else wrong.setExpectedAny(new sharedPb.Empty());
        return callback(null, response.setWrongExpectedVersion(wrong));
      }
      const success = new AppendResp.Success();
      if (outcome.currentRevision === undefined) success.setNoStream(new sharedPb.Empty());
      else success.setCurrentRevision(outcome.currentRevision.toString());
      if (outcome.position === undefined) success.setNoPosition(new sharedPb.Empty());
      else {
        const position = outcome.position.toString();
        success.setPosition(
          new AppendResp.Position().setCommitPosition(position).setPreparePosition(position),
        );
      }
      callback(null, response.setSuccess(success));
    });
  }

  private delete(
    call: grpc.ServerUnaryCall<unknown, unknown>,
    callback: grpc.sendUnaryData<unknown>,
    kind: 'tombstone' | 'soft',
  ): void {
    this.calls.push(
      `/event_store.client.streams.Streams/${kind === 'soft' ? 'Delete' : 'Tombstone'}`,
    );
    type DeleteOptions = InstanceType<typeof streamsPb.TombstoneReq.Options>;
    const options = (call.request as { getOptions(): DeleteOptions | undefined }).getOptions();
    const name = streamName(options?.getStreamIdentifier());
    const expected: Expected = options?.hasRevision()
      ? { kind: 'revision', revision: BigInt(options.getRevision()) }
      : options?.hasNoStream()
        ? { kind: 'no_stream' }
        : options?.hasStreamExists()
          ? { kind: 'stream_exists' }
          : { kind: 'any' };
    const outcome =
      kind === 'tombstone'
        ? this.model.tombstone(name, expected)
        : this.model.softDelete(name, expected);
    if (outcome.kind === 'stream_deleted') {
      callback(streamDeleted(name));
      return;
    }
    if (outcome.kind === 'wrong_expected_version') {
      callback(wrongExpectedVersion(name, expected, outcome.currentRevision));
      return;
    }
    const position = (outcome.position ?? 0n).toString();
    const Response = kind === 'soft' ? DeleteResp : TombstoneResp;
    const response = new Response();
    response.setPosition(
      new Response.Position().setCommitPosition(position).setPreparePosition(position),
    );
    callback(null, response);
  }

  private clusterInfo(): unknown {
    const member = new gossipPb.MemberInfo()
      .setInstanceId(new sharedPb.UUID().setString(randomUUID()))
      .setTimeStamp(String(BigInt(Date.now()) * 10_000n))
      .setState(gossipPb.MemberInfo.VNodeState.LEADER)
      .setIsAlive(true)
      .setHttpEndPoint(new gossipPb.EndPoint().setAddress('127.0.0.1').setPort(this.boundPort));
    return new gossipPb.ClusterInfo().setMembersList([member]);
  }
}

// ---- messages and errors --------------------------------------------------------------------

function streamName(identifier: InstanceType<typeof sharedPb.StreamIdentifier> | undefined) {
  return Buffer.from(identifier?.getStreamName_asU8() ?? new Uint8Array()).toString('utf8');
}

function streamIdentifier(name: string) {
  return new sharedPb.StreamIdentifier().setStreamName(Buffer.from(name, 'utf8'));
}

function uuidOf(uuid: InstanceType<typeof sharedPb.UUID> | undefined): string {
  if (uuid === undefined) return '';
  if (!uuid.hasStructured()) return uuid.getString();
  const hex = (value: string) => (BigInt(value) & (2n ** 64n - 1n)).toString(16).padStart(16, '0');
  const structured = uuid.getStructured();
  const most = hex(structured?.getMostSignificantBits() ?? '0');
  const least = hex(structured?.getLeastSignificantBits() ?? '0');
  return `${most.slice(0, 8)}-${most.slice(8, 12)}-${most.slice(12)}-${least.slice(0, 4)}-${least.slice(4)}`;
}

function uuidMessage(id: string, structured: boolean) {
  const uuid = new sharedPb.UUID();
  if (!structured) return uuid.setString(id);
  const hex = id.replace(/-/g, '');
  const signed = (part: string) => BigInt.asIntN(64, BigInt(`0x${part}`)).toString();
  return uuid.setStructured(
    new sharedPb.UUID.Structured()
      .setMostSignificantBits(signed(hex.slice(0, 16)))
      .setLeastSignificantBits(signed(hex.slice(16))),
  );
}

function readEvent(event: StoredEvent, structured: boolean) {
  const position = event.position.toString();
  const recorded = new ReadResp.ReadEvent.RecordedEvent()
    .setId(uuidMessage(event.id, structured))
    .setStreamIdentifier(streamIdentifier(event.stream))
    .setStreamRevision(event.revision.toString())
    .setPreparePosition(position)
    .setCommitPosition(position)
    .setCustomMetadata(event.customMetadata)
    .setData(event.data);
  const metadata = recorded.getMetadataMap();
  metadata.set('type', event.type);
  metadata.set('content-type', event.contentType);
  metadata.set('created', event.created.toString());
  return new ReadResp().setEvent(
    new ReadResp.ReadEvent().setEvent(recorded).setCommitPosition(position),
  );
}

function receivedFilter(options: FilterOptions | undefined): ReceivedFilter | undefined {
  if (options === undefined) return undefined;
  const on = options.hasEventType() ? 'event-type' : 'stream';
  const expression = on === 'stream' ? options.getStreamIdentifier() : options.getEventType();
  return {
    on,
    prefixes: expression?.getPrefixList() ?? [],
    regex: expression?.getRegex() ?? '',
    checkpointInterval: options.getCheckpointintervalmultiplier(),
    window: options.hasMax() ? options.getMax() : 'count',
  };
}

function matcher(filter: ReceivedFilter): (event: StoredEvent) => boolean {
  const regex = filter.regex === '' ? undefined : new RegExp(filter.regex);
  return (event) => {
    const subject = filter.on === 'stream' ? event.stream : event.type;
    if (regex !== undefined) return regex.test(subject);
    return filter.prefixes.some((prefix) => subject.startsWith(prefix));
  };
}

function serviceError(code: grpc.status, details: string, entries: Record<string, string>) {
  const metadata = new grpc.Metadata();
  for (const [key, value] of Object.entries(entries)) metadata.set(key, value);
  return Object.assign(new Error(details), { code, details, metadata });
}

function streamDeleted(name: string) {
  return serviceError(grpc.status.FAILED_PRECONDITION, `Event stream '${name}' is deleted.`, {
    exception: 'stream-deleted',
    'stream-name': name,
  });
}

function wrongExpectedVersion(name: string, expected: Expected, actual: bigint | undefined) {
  const expectedVersion =
    expected.kind === 'revision'
      ? expected.revision.toString()
      : { any: '-2', no_stream: '-1', stream_exists: '-4' }[expected.kind];
  return serviceError(
    grpc.status.FAILED_PRECONDITION,
    `Append failed due to WrongExpectedVersion. Stream: ${name}`,
    {
      exception: 'wrong-expected-version',
      'stream-name': name,
      'expected-version': expectedVersion,
      'actual-version': (actual ?? -1n).toString(),
    },
  );
}

/** Ends a server-streaming call with an error status (grpc-js sends it from 'error'). */
function fail(call: grpc.ServerWritableStream<ReadReq, unknown>, error: Error): void {
  call.emit('error', error);
}

function invalid(details: string) {
  return serviceError(grpc.status.INVALID_ARGUMENT, details, {});
}

function unimplemented(details: string) {
  return serviceError(grpc.status.UNIMPLEMENTED, details, {});
}
