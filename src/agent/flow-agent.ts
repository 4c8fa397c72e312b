/**
 * The agent's flow half: the chassis feed (./feed-client.ts) keeps the slice, the chassis'
 * flows follow it (./chassis-flows.ts), and acks follow the applied flows (./acks.ts,
 * ./ack-sender.ts) — between the feed and acked flows on the chassis' own Open vSwitch.
 *
 *  - first snapshot → the first full sync (dump, compare, repair: no flow change when the
 *    bridge already holds them, e.g. after the agent's own restart);
 *  - every slice change → one batch per tick of changes (the reconciler coalesces);
 *  - every applied batch → the ack decision from the applied view and the slice's facts,
 *    skipped when the slice moved on meanwhile (the batch under way decides with both fresh);
 *  - server gone → the slice and the flows stay; acks wait in the sender's retries;
 *  - restarted ovs-vswitchd → the reconciler's probe sees it and resyncs fully.
 */
import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';
import type { BackoffPolicy } from '../lib/retry.js';
import type { Fetch } from '../lib/tls-fetch.js';
import type { ChassisPorts } from '../ovs/chassis-view.js';
import type { PipelineOptions } from '../ovs/pipeline/pipeline.js';
import type { Ofctl } from '../ovs/reconciler/ofctl.js';
import { type AckApi, AckSender, HttpAckApi } from './ack-sender.js';
import { AckDecider } from './acks.js';
import { ChassisFlows } from './chassis-flows.js';
import { FeedClient } from './feed-client.js';

export interface FlowAgentOptions {
  readonly chassis: string;
  /** The locus API, e.g. `https://locus.example:7480`. */
  readonly server: string;
  /** The chassis' agent token. */
  readonly token: string;
  readonly logger: Logger;
  /** How to reach the server (`tlsFetch(…)` for a private CA); default fetch. */
  readonly fetch?: Fetch;
  /** The chassis' tunnel and patch ports (the bridge layout), read at every batch. */
  readonly ports: () => ChassisPorts;
  /** Default `br-int`. */
  readonly bridge?: string;
  /** Environment of ovs-ofctl (OVS_RUNDIR). */
  readonly env?: Readonly<Record<string, string | undefined>>;
  readonly ofctl?: Ofctl;
  readonly antiEntropyIntervalMs?: number;
  readonly probeIntervalMs?: number;
  readonly probe?: () => Promise<string | undefined>;
  readonly pipeline?: PipelineOptions;
  /** Silence after which the feed connection counts as dead. Default 45 s. */
  readonly heartbeatTimeoutMs?: number;
  readonly feedBackoff?: BackoffPolicy;
  /** Default: the API's ack endpoints over `fetch`. */
  readonly ackApi?: AckApi;
  readonly ackBackoff?: BackoffPolicy;
  /** Told each stage's duration in seconds (the server's /metrics when hosted in-process). */
  readonly stages?: AgentStageObserver;
}

/**
 * The agent's stages of a bind: `agent_flows_applied` (the first feed change since the last
 * applied batch → the batch that includes it applied: flows computed, the bundle committed),
 * `agent_ack_answered` (an ack request sent → the server's answer: its appends committed).
 */
export type AgentStage = 'agent_flows_applied' | 'agent_ack_answered';
export type AgentStageObserver = (stage: AgentStage, seconds: number) => void;

export class FlowAgent {
  readonly feed: FeedClient;
  readonly flows: ChassisFlows;
  readonly acks: AckSender;
  /** The ack decision, re-decided only for the ports a change touched. */
  readonly decider: AckDecider;
  private readonly logger: Logger;
  private starting: Promise<void> | undefined;
  private readonly firstSync: Promise<void>;
  private firstSyncDone!: () => void;
  private stopped = false;
  /** When the first feed change not yet in an applied batch arrived (performance.now()). */
  private changedSince: number | undefined;
  /** Applied batches, and the sum and most of their diff → applied times (ms), for the logs. */
  readonly timings = { batches: 0, appliedMsTotal: 0, appliedMsMax: 0 };

  constructor(private readonly options: FlowAgentOptions) {
    this.logger = options.logger.child({ part: 'flows' });
    this.decider = new AckDecider(options.chassis);
    this.firstSync = new Promise((resolve) => {
      this.firstSyncDone = resolve;
    });
    const fetch = options.fetch === undefined ? {} : { fetch: options.fetch };
    this.feed = new FeedClient({
      server: options.server,
      chassis: options.chassis,
      token: options.token,
      logger: this.logger.child({ stage: 'feed' }),
      ...fetch,
      ...(options.heartbeatTimeoutMs === undefined
        ? {}
        : { heartbeatTimeoutMs: options.heartbeatTimeoutMs }),
      ...(options.feedBackoff === undefined ? {} : { backoff: options.feedBackoff }),
    });
    this.flows = new ChassisFlows({
      chassis: options.chassis,
      slice: this.feed.state,
      ports: options.ports,
      logger: this.logger,
      ...(options.bridge === undefined ? {} : { bridge: options.bridge }),
      ...(options.env === undefined ? {} : { env: options.env }),
      ...(options.ofctl === undefined ? {} : { ofctl: options.ofctl }),
      ...(options.antiEntropyIntervalMs === undefined
        ? {}
        : { antiEntropyIntervalMs: options.antiEntropyIntervalMs }),
      ...(options.probeIntervalMs === undefined
        ? {}
        : { probeIntervalMs: options.probeIntervalMs }),
      ...(options.probe === undefined ? {} : { probe: options.probe }),
      ...(options.pipeline === undefined ? {} : { pipeline: options.pipeline }),
      onApplied: () => this.decideAcks(),
    });
    this.acks = new AckSender({
      api:
        options.ackApi ??
        new HttpAckApi({
          server: options.server,
          chassis: options.chassis,
          token: options.token,
          ...fetch,
        }),
      logger: this.logger.child({ stage: 'acks' }),
      ...(options.ackBackoff === undefined ? {} : { backoff: options.ackBackoff }),
      ...(options.stages === undefined
        ? {}
        : {
            answered: (seconds: number) => options.stages?.('agent_ack_answered', seconds),
          }),
    });
    this.feed.on('connected', () => this.startFlows());
    this.feed.on('changed', () => {
      this.changedSince ??= performance.now();
      if (this.flows.running) void this.flows.changed();
      else this.startFlows();
    });
  }

  /** Starts following the feed; flows start with the first snapshot. */
  start(): void {
    this.feed.start();
  }

  /** Resolves once the first full sync from a snapshot is done (or has failed and retries). */
  ready(): Promise<void> {
    return this.firstSync;
  }

  /** The chassis' tunnel or patch ports changed (a new bridge layout): sync to them. */
  portsChanged(): void {
    // Tunnel and patch ports decide whether remote ports are reachable at all.
    this.decider.touchAll();
    void this.flows.sync();
  }

  /** Stops following and syncing; the flows stay on the bridge. */
  async stop(): Promise<void> {
    this.stopped = true;
    const { batches, appliedMsTotal, appliedMsMax } = this.timings;
    if (batches > 0)
      this.logger.info(
        {
          batches,
          appliedMsMean: Number((appliedMsTotal / batches).toFixed(2)),
          appliedMsMax: Number(appliedMsMax.toFixed(2)),
          acks: this.decider.stats,
        },
        'flow agent stopping: feed change → flows applied',
      );
    await this.feed.stop();
    this.acks.stop();
    await this.starting?.catch(() => undefined);
    await this.flows.stop();
  }

  private startFlows(): void {
    if (this.stopped || this.starting || !this.feed.state.ready) return;
    this.starting = this.flows
      .start()
      .catch((error: unknown) => {
        // The reconciler retries the full sync in the background (FLOW_SYNC_RETRY).
        this.logger.warn({ err: error }, 'first flow sync failed; retrying in the background');
      })
      .finally(() => this.firstSyncDone());
  }

  /** After an applied batch: the acks the applied view warrants, given the slice's facts. */
  private decideAcks(): void {
    if (this.stopped) return;
    const slice = this.feed.state;
    // The slice moved on while the batch ran: the next batch decides with both fresh.
    if (this.flows.computedFrom !== slice.version) return;
    this.timeApplied();
    // The applied view is the slice's at this version: the ports whose facts or view may have
    // changed since the last decision are the ones the slice changed meanwhile.
    const changes = slice.takePortChanges();
    if (changes.all) this.decider.touchAll();
    else this.decider.touch(changes.ports);
    this.acks.want(this.decider.decide(this.flows.applied.ports, slice.facts));
  }

  /** The slice's changes up to now are on the bridge: how long since the first arrived. */
  private timeApplied(): void {
    if (this.changedSince === undefined) return;
    const ms = performance.now() - this.changedSince;
    this.changedSince = undefined;
    this.timings.batches++;
    this.timings.appliedMsTotal += ms;
    if (ms > this.timings.appliedMsMax) this.timings.appliedMsMax = ms;
    this.options.stages?.('agent_flows_applied', ms / 1000);
    this.logger.debug({ appliedMs: Number(ms.toFixed(2)) }, 'slice change applied to the bridge');
  }
}
