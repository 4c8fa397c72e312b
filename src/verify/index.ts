/**
 * `locus verify`: replays the log in memory and checks that the read model and, given chassis'
 * Open vSwitch instances, their flow tables agree with it.
 */
import { type FlowReport, type OvsTarget, type VerifyFlowsOptions, verifyFlows } from './flows.js';
import {
  type ReadModelReport,
  type VerifyReadModelOptions,
  verifyReadModel,
} from './read-model.js';
import { replayLog } from './replay.js';

export * from './flows.js';
export * from './read-model.js';
export * from './replay.js';

export interface VerifyOptions extends Omit<VerifyReadModelOptions, 'withTopology'> {
  readonly ovs?: readonly OvsTarget[];
  readonly flows?: VerifyFlowsOptions;
}

export interface VerifyReport {
  readonly readModel: ReadModelReport;
  readonly flows: readonly FlowReport[];
  /** True when the read model and every flow table agree with the log. */
  readonly agree: boolean;
}

export async function verify(options: VerifyOptions): Promise<VerifyReport> {
  const targets = options.ovs ?? [];
  const readModel = await verifyReadModel({ ...options, withTopology: targets.length > 0 });
  let topology = readModel.topology;
  // Flows follow the log, not the read model: a lagging read model's replay stops short.
  if (targets.length > 0 && readModel.comparedAt < readModel.head) {
    topology = (await replayLog(options.store, { until: readModel.head, withTopology: true }))
      .topology;
  }
  const flows =
    targets.length > 0 && topology !== undefined
      ? await verifyFlows(topology, targets, options.flows)
      : [];
  const agree =
    readModel.differenceCount === 0 &&
    flows.every((report) => report.missing.length === 0 && report.unexpected.length === 0);
  return { readModel, flows, agree };
}
