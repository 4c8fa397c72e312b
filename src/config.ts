/**
 * Configuration from the environment, validated once at start-up. Defaults are the embedded,
 * zero-setup ones; production points LOCUS_STORE_URL at PostgreSQL (or EventStoreDB).
 */
import { resolve } from 'node:path';
import { type Partition, parsePartition } from './apps/partitions.js';

export interface Config {
  /** Event store: a folder (embedded PGlite), `memory://`, or `postgres://…`. */
  readonly storeUrl: string;
  /** Read model database; defaults to the event store's database when that is SQL. */
  readonly readModelUrl: string;
  readonly httpHost: string;
  readonly httpPort: number;
  readonly logLevel: string;
  /** Chassis agents hosted in this process: real OVS, dry run (flows recorded), or none. */
  readonly agents: 'ovs' | 'dry-run' | 'none' | 'auto';
  /** The chassis those agents serve (JSON, see ops/chassis.json). */
  readonly chassisFile: string;
  /** Where the agents' private Open vSwitch instances live (short: unix socket paths). */
  readonly ovsDir: string;
  /**
   * A static share of the apps' work, `index/count` (LOCUS_PARTITION). Unset (0/1, the
   * default), the instances sharing the database spread the work by lease (docs/cluster.md).
   */
  readonly partition: Partition;
  /**
   * An OVN to follow as the model source (LOCUS_FOLLOW_OVN_NB, LOCUS_FOLLOW_OVN_SB: OVSDB
   * endpoints), or undefined (docs/ovn.md).
   */
  readonly followOvn?: { readonly nb: string; readonly sb?: string };
  /**
   * Acks of one port that meet in one append are one RemotesCreated (LOCUS_GROUP_ACKS, on by
   * default). Off while instances of a version that cannot read it share the log (a rolling
   * upgrade from before 2026-12-02): they would skip it.
   */
  readonly groupAcks: boolean;
  /**
   * Bounds of the command handler's kept stream states (LOCUS_STATE_CACHE_STREAMS, default
   * 100,000; LOCUS_STATE_CACHE_EVENTS, default 1,000,000): raise them for a cloud whose binds
   * keep more ports in play at once (src/commands/state-cache.ts; `/metrics` shows evictions).
   */
  readonly stateCache: { readonly streams?: number; readonly events?: number };
}

export class ConfigError extends Error {
  override name = 'ConfigError';
}

function port(name: string, value: string | undefined, fallback: number): number {
  if (value === undefined || value === '') return fallback;
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed < 0 || parsed > 65_535)
    throw new ConfigError(`${name} must be a TCP port (0-65535), got ${JSON.stringify(value)}`);
  return parsed;
}

function partitionOf(value: string | undefined): Partition {
  try {
    return parsePartition(value);
  } catch (error) {
    throw new ConfigError(`LOCUS_PARTITION: ${(error as Error).message}`);
  }
}

const OVSDB_ENDPOINT = /^(unix:.+|tcp:.+:\d+)$/;

function followOvnOf(env: NodeJS.ProcessEnv): Config['followOvn'] {
  const nb = env.LOCUS_FOLLOW_OVN_NB || undefined;
  const sb = env.LOCUS_FOLLOW_OVN_SB || undefined;
  for (const [name, value] of [
    ['LOCUS_FOLLOW_OVN_NB', nb],
    ['LOCUS_FOLLOW_OVN_SB', sb],
  ] as const)
    if (value !== undefined && !OVSDB_ENDPOINT.test(value))
      throw new ConfigError(
        `${name} must be unix:<socket> or tcp:<host>:<port>, got ${JSON.stringify(value)}`,
      );
  if (nb === undefined) {
    if (sb !== undefined) throw new ConfigError('LOCUS_FOLLOW_OVN_SB needs LOCUS_FOLLOW_OVN_NB');
    return undefined;
  }
  return sb === undefined ? { nb } : { nb, sb };
}

function agentMode(value: string | undefined): Config['agents'] {
  if (value === undefined || value === '') return 'auto';
  if (value === 'ovs' || value === 'dry-run' || value === 'none' || value === 'auto') return value;
  throw new ConfigError(
    `LOCUS_AGENTS must be ovs, dry-run, none or auto, got ${JSON.stringify(value)}`,
  );
}

function onOff(name: string, value: string | undefined, fallback: boolean): boolean {
  if (value === undefined || value === '') return fallback;
  if (value === 'on' || value === '1' || value === 'true') return true;
  if (value === 'off' || value === '0' || value === 'false') return false;
  throw new ConfigError(`${name} must be on or off, got ${JSON.stringify(value)}`);
}

function positiveInteger(name: string, value: string | undefined): number | undefined {
  if (value === undefined || value === '') return undefined;
  const parsed = Number(value);
  if (!Number.isSafeInteger(parsed) || parsed < 1)
    throw new ConfigError(`${name} must be a positive integer, got ${JSON.stringify(value)}`);
  return parsed;
}

function stateCacheOf(env: NodeJS.ProcessEnv): Config['stateCache'] {
  const streams = positiveInteger('LOCUS_STATE_CACHE_STREAMS', env.LOCUS_STATE_CACHE_STREAMS);
  const events = positiveInteger('LOCUS_STATE_CACHE_EVENTS', env.LOCUS_STATE_CACHE_EVENTS);
  return {
    ...(streams === undefined ? {} : { streams }),
    ...(events === undefined ? {} : { events }),
  };
}

const levels = new Set(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']);

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const storeUrl = env.LOCUS_STORE_URL || resolve('data', 'locus');
  const logLevel = env.LOCUS_LOG_LEVEL || 'info';
  if (!levels.has(logLevel))
    throw new ConfigError(`LOCUS_LOG_LEVEL must be one of ${[...levels].join(', ')}`);
  return {
    storeUrl,
    readModelUrl: env.LOCUS_READ_MODEL_URL || storeUrl,
    httpHost: env.LOCUS_HTTP_HOST || '127.0.0.1',
    httpPort: port('LOCUS_HTTP_PORT', env.LOCUS_HTTP_PORT, 7480),
    logLevel,
    agents: agentMode(env.LOCUS_AGENTS),
    chassisFile: env.LOCUS_CHASSIS_FILE || resolve('ops', 'chassis.json'),
    ovsDir: env.LOCUS_OVS_DIR || resolve('data', 'ovs'),
    partition: partitionOf(env.LOCUS_PARTITION),
    groupAcks: onOff('LOCUS_GROUP_ACKS', env.LOCUS_GROUP_ACKS, true),
    stateCache: stateCacheOf(env),
    ...(followOvnOf(env) === undefined ? {} : { followOvn: followOvnOf(env) }),
  };
}
