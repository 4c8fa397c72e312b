/** How events and localities read on the page. */
import type { HistoryEntry } from './api.js';

export const LOCALITY_LABEL: Record<string, string> = {
  local: 'local',
  remote: 'remote',
  distributed: 'distributed',
  unbound: 'pending',
  deleted: 'deleted',
};

const str = (value: unknown): string => (typeof value === 'string' ? value : String(value));

/** One line saying what an event of a port's stream means. */
export function describe(entry: Pick<HistoryEntry, 'type' | 'data'>): string {
  const data = (entry.data ?? {}) as Record<string, unknown>;
  switch (entry.type) {
    case 'LogicalPortCreated':
      return `created on switch ${str(data.switchId)} (${str(data.deviceOwner)})${
        data.requestedChassis ? `, requested on ${str(data.requestedChassis)}` : ''
      }`;
    case 'LogicalPortUpdated':
      return `updated${data.requestedChassis ? `: requested on ${str(data.requestedChassis)}` : ''}`;
    case 'LogicalPortDeleted':
      return 'deleted';
    case 'LocalCreated':
      return `${str(data.chassis)} claims the port: local there`;
    case 'LocalDeleted':
      return `${str(data.chassis)} releases its claim`;
    case 'RemoteCreated':
      return `${str(data.chassis)} reaches it on ${str(data.owner)}: remote`;
    case 'RemotesCreated':
      return `${Array.isArray(data.chassis) ? data.chassis.map(str).join(', ') : str(data.chassis)} reach it on ${str(data.owner)}: remote`;
    case 'RemoteDeleted':
      return `${str(data.chassis)} withdraws its flows toward it`;
    case 'DistributedCreated':
      return `distributed: ${str(data.reason)}`;
    case 'DistributedDeleted':
      return `reason gone: ${str(data.reason)}`;
    default:
      return JSON.stringify(entry.data);
  }
}

export const shortId = (id: string): string => (id.length > 8 ? id.slice(0, 8) : id);
