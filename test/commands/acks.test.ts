/**
 * An agent's acks through the command table, given/when/then: the lport machine decides
 * (stale owner, the owner itself, a distributed port are its refusals), repeats append
 * nothing, and the events are recorded as the tunnel or provider app by the port's switch.
 */
import { describe, expect, it } from 'vitest';
import type { DomainEvent, LogicalPort, LogicalSwitch } from '../../src/events/index.js';
import { decide } from '../support/given-when-then.js';

const geneve: LogicalSwitch = { id: 's1', networkType: 'geneve', segmentationId: 100 };
const vlan: LogicalSwitch = {
  id: 's1',
  networkType: 'vlan',
  segmentationId: 42,
  physicalNetwork: 'physnet1',
};
const port: LogicalPort = {
  id: 'p1',
  switchId: 's1',
  macs: ['fa:16:3e:00:00:01'],
  ips: [],
  deviceOwner: 'compute',
  requestedChassis: null,
};

const created: DomainEvent = { type: 'LogicalPortCreated', data: port };
const local = (chassis: string): DomainEvent => ({
  type: 'LocalCreated',
  data: { portId: 'p1', chassis },
});
const localGone = (chassis: string): DomainEvent => ({
  type: 'LocalDeleted',
  data: { portId: 'p1', chassis },
});
const acked = (chassis: string, owner: string): DomainEvent => ({
  type: 'RemoteCreated',
  data: { portId: 'p1', chassis, owner },
});
const withdrawn = (chassis: string): DomainEvent => ({
  type: 'RemoteDeleted',
  data: { portId: 'p1', chassis },
});

describe('ackRemote', () => {
  it("appends RemoteCreated for the port's owner, as the tunnel app on a geneve switch", () => {
    const decision = decide('ackRemote')
      .given(created, local('A'))
      .when({ chassis: 'B', portId: 'p1', owner: 'A' }, { lswitch: geneve })
      .then([acked('B', 'A')]);
    expect(decision.ok && decision.app).toBe('tunnel');
    expect(decision.ok && decision.result).toEqual({ portId: 'p1', chassis: 'B', owner: 'A' });
  });

  it('is recorded as the provider app on a vlan switch, as the issuer when the switch is gone', () => {
    const on = (lswitch: LogicalSwitch | undefined) =>
      decide('ackRemote')
        .given(created, local('A'))
        .when({ chassis: 'B', portId: 'p1', owner: 'A' }, { lswitch })
        .then([acked('B', 'A')]);
    const provider = on(vlan);
    expect(provider.ok && provider.app).toBe('provider');
    const gone = on(undefined);
    expect(gone.ok && gone.app).toBeUndefined();
  });

  it('appends nothing when the chassis already acks that owner', () => {
    decide('ackRemote')
      .given(created, local('A'), acked('B', 'A'))
      .when({ chassis: 'B', portId: 'p1', owner: 'A' }, { lswitch: undefined })
      .then([]);
  });

  it("refuses a stale owner with the machine's words, naming /owner", () => {
    decide('ackRemote')
      .given(created, local('A'), local('C'), localGone('A'))
      .when({ chassis: 'B', portId: 'p1', owner: 'A' }, { lswitch: geneve })
      .then({
        kind: 'refused',
        code: 'stale-ack',
        detail:
          'port p1: view B in state unbound refuses RemoteCreated{chassis=B, owner=A}: stale ack (owner is C)',
        errors: [{ field: '/owner', reason: 'stale ack (owner is C)' }],
      });
  });

  it('refuses an ack by the owner itself, and on a port local nowhere', () => {
    decide('ackRemote')
      .given(created, local('A'))
      .when({ chassis: 'A', portId: 'p1', owner: 'A' }, { lswitch: geneve })
      .then({ kind: 'refused', code: 'owner-ack' });
    decide('ackRemote')
      .given(created)
      .when({ chassis: 'B', portId: 'p1', owner: 'A' }, { lswitch: geneve })
      .then({ kind: 'refused', code: 'local-nowhere' });
  });

  it('is 404 for an unknown or deleted port, naming portId', () => {
    const notFound = {
      kind: 'not-found',
      errors: [{ field: 'portId', in: 'path', reason: 'no port p1' }],
    } as const;
    decide('ackRemote')
      .given()
      .when({ chassis: 'B', portId: 'p1', owner: 'A' }, { lswitch: undefined })
      .then(notFound);
    decide('ackRemote')
      .given(created, local('A'), { type: 'LogicalPortDeleted', data: { id: 'p1' } })
      .when({ chassis: 'B', portId: 'p1', owner: 'A' }, { lswitch: undefined })
      .then(notFound);
  });
});

describe('withdrawAck', () => {
  it('appends RemoteDeleted for an ack held, as the tunnel app', () => {
    const decision = decide('withdrawAck')
      .given(created, local('A'), acked('B', 'A'))
      .when({ chassis: 'B', portId: 'p1' }, { lswitch: geneve })
      .then([withdrawn('B')]);
    expect(decision.ok && decision.app).toBe('tunnel');
    expect(decision.ok && decision.result).toEqual({ portId: 'p1', chassis: 'B', owner: null });
  });

  it('appends nothing when the chassis holds no ack (withdrawn, or dropped with its owner)', () => {
    decide('withdrawAck')
      .given(created, local('A'))
      .when({ chassis: 'B', portId: 'p1' }, { lswitch: undefined })
      .then([]);
    // The owner moved: the machine dropped B's ack for the old owner by itself.
    decide('withdrawAck')
      .given(created, local('A'), acked('B', 'A'), local('C'), localGone('A'))
      .when({ chassis: 'B', portId: 'p1' }, { lswitch: undefined })
      .then([]);
  });

  it('is 404 for an unknown port', () => {
    decide('withdrawAck')
      .given()
      .when({ chassis: 'B', portId: 'p1' }, { lswitch: undefined })
      .then({ kind: 'not-found' });
  });
});
