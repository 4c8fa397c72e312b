/**
 * Every migration, by name. A static list (rather than a folder scan) works the same under
 * tsx, vitest and a bundle. Names sort in the order they must run; append new ones below.
 */
import type { Migration } from 'kysely';
import * as eventStore from './0001_event_store.js';
import * as readModel from './0002_read_model.js';
import * as reachability from './0003_reachability.js';
import * as topology from './0004_topology.js';
import * as cluster from './0005_cluster.js';
import * as historyFromLog from './0006_history_from_log.js';

export const migrations: Readonly<Record<string, Migration>> = {
  '0001_event_store': eventStore,
  '0002_read_model': readModel,
  '0003_reachability': reachability,
  '0004_topology': topology,
  '0005_cluster': cluster,
  '0006_history_from_log': historyFromLog,
};
