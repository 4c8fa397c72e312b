/**
 * One test per row of the lport transition table and per refusal rule
 * (docs/lport-machine.md), each run through all five engines in lockstep: XState's
 * `transition()`, the compiled fold, the reducer, the port aggregate and the port-wide fold.
 */
import { describe, expect, it } from 'vitest';
import type { LportEvent, LportStateName, RefusalCode } from '../../machines/lport.rules.js';
import { refusalCodes, TransitionRefusedError } from '../../machines/lport.rules.js';
import {
  created,
  dist,
  type Facts,
  Lockstep,
  local,
  portDeleted,
  remote,
  undist,
  unlocal,
  unremote,
  updated,
} from './support.js';

interface Row {
  readonly name: string;
  readonly view: string;
  readonly given: readonly LportEvent[];
  readonly when: LportEvent;
  readonly state: LportStateName;
  readonly owner: string | null;
  readonly facts?: Partial<Facts>;
}

const ack = (chassis: string, owner: string) => ({ chassis, owner });

const transitions: readonly Row[] = [
  // unbound
  {
    name: 'unbound —LogicalPortCreated→ unbound (the port exists)',
    view: 'a',
    given: [],
    when: created('b'),
    state: 'unbound',
    owner: null,
    facts: { exists: true, requestedChassis: 'b', claims: [] },
  },
  {
    name: 'unbound —LocalCreated on me→ local',
    view: 'a',
    given: [created()],
    when: local('a'),
    state: 'local',
    owner: 'a',
    facts: { claims: ['a'] },
  },
  {
    name: 'unbound —LocalCreated elsewhere→ unbound',
    view: 'a',
    given: [created()],
    when: local('b'),
    state: 'unbound',
    owner: 'b',
    facts: { claims: ['b'] },
  },
  {
    name: 'unbound —LocalDeleted elsewhere→ unbound',
    view: 'c',
    given: [created(), local('a'), local('b')],
    when: unlocal('a'),
    state: 'unbound',
    owner: 'b',
    facts: { claims: ['b'] },
  },
  {
    name: 'unbound —RemoteCreated by me→ remote (the port is local elsewhere)',
    view: 'b',
    given: [created(), local('a')],
    when: remote('b', 'a'),
    state: 'remote',
    owner: 'a',
    facts: { acks: [ack('b', 'a')] },
  },
  {
    name: 'unbound —RemoteCreated elsewhere→ unbound',
    view: 'c',
    given: [created(), local('a')],
    when: remote('b', 'a'),
    state: 'unbound',
    owner: 'a',
    facts: { acks: [ack('b', 'a')] },
  },
  {
    name: 'unbound —RemoteDeleted elsewhere→ unbound',
    view: 'c',
    given: [created(), local('a'), remote('b', 'a')],
    when: unremote('b'),
    state: 'unbound',
    owner: 'a',
    facts: { acks: [] },
  },
  {
    name: 'unbound —LogicalPortUpdated→ unbound',
    view: 'c',
    given: [created(), local('a'), local('b')],
    when: updated('b'),
    state: 'unbound',
    owner: 'b',
    facts: { requestedChassis: 'b', claims: ['a', 'b'] },
  },
  {
    name: 'unbound —DistributedCreated→ distributed',
    view: 'a',
    given: [created()],
    when: dist('dhcp:s1'),
    state: 'distributed',
    owner: null,
    facts: { reasons: ['dhcp:s1'] },
  },
  // local
  {
    name: 'local —LocalDeleted on me→ unbound (no ack)',
    view: 'a',
    given: [created(), local('a')],
    when: unlocal('a'),
    state: 'unbound',
    owner: null,
    facts: { claims: [] },
  },
  {
    name: 'local —LocalDeleted on me→ remote (I still hold a valid ack)',
    view: 'b',
    given: [created(), local('a'), local('b'), remote('b', 'a')],
    when: unlocal('b'),
    state: 'remote',
    owner: 'a',
    facts: { claims: ['a'], acks: [ack('b', 'a')] },
  },
  {
    name: 'local —LocalDeleted on me (the owner)→ unbound, others keep acks only for the new owner',
    view: 'a',
    given: [created(), local('a'), local('b'), remote('c', 'a')],
    when: unlocal('a'),
    state: 'unbound',
    owner: 'b',
    facts: { claims: ['b'], acks: [] },
  },
  {
    name: 'local —LocalCreated elsewhere→ local (live migration, earliest claim owns)',
    view: 'a',
    given: [created(), local('a')],
    when: local('b'),
    state: 'local',
    owner: 'a',
    facts: { claims: ['a', 'b'] },
  },
  {
    name: 'local —LocalCreated elsewhere→ local (live migration, the requested chassis owns)',
    view: 'a',
    given: [created('b'), local('a'), remote('c', 'a')],
    when: local('b'),
    state: 'local',
    owner: 'b',
    facts: { claims: ['a', 'b'], acks: [] },
  },
  {
    name: 'local —LocalDeleted elsewhere→ local (I become the owner)',
    view: 'b',
    given: [created(), local('a'), local('b')],
    when: unlocal('a'),
    state: 'local',
    owner: 'b',
    facts: { claims: ['b'] },
  },
  {
    name: 'local —RemoteCreated by me (not the owner)→ local, ack recorded',
    view: 'b',
    given: [created(), local('a'), local('b')],
    when: remote('b', 'a'),
    state: 'local',
    owner: 'a',
    facts: { claims: ['a', 'b'], acks: [ack('b', 'a')] },
  },
  {
    name: 'local —RemoteCreated elsewhere→ local',
    view: 'a',
    given: [created(), local('a')],
    when: remote('b', 'a'),
    state: 'local',
    owner: 'a',
    facts: { acks: [ack('b', 'a')] },
  },
  {
    name: 'local —RemoteDeleted by me→ local (my ack dropped)',
    view: 'b',
    given: [created(), local('a'), local('b'), remote('b', 'a')],
    when: unremote('b'),
    state: 'local',
    owner: 'a',
    facts: { acks: [] },
  },
  {
    name: 'local —LogicalPortUpdated (owner moves)→ local, stale acks dropped',
    view: 'a',
    given: [created(), local('a'), local('b'), remote('c', 'a')],
    when: updated('b'),
    state: 'local',
    owner: 'b',
    facts: { requestedChassis: 'b', acks: [] },
  },
  {
    name: 'local —LogicalPortUpdated (owner moves to me)→ local, my own ack dropped',
    view: 'b',
    given: [created(), local('a'), local('b'), remote('b', 'a')],
    when: updated('b'),
    state: 'local',
    owner: 'b',
    facts: { acks: [] },
  },
  // remote
  {
    name: 'remote —LocalCreated on me→ local (the port moved here)',
    view: 'b',
    given: [created(), local('a'), remote('b', 'a')],
    when: local('b'),
    state: 'local',
    owner: 'a',
    facts: { claims: ['a', 'b'], acks: [ack('b', 'a')] },
  },
  {
    name: 'remote —LocalCreated on me (requested here)→ local, my ack is stale',
    view: 'b',
    given: [created('b'), local('a'), remote('b', 'a')],
    when: local('b'),
    state: 'local',
    owner: 'b',
    facts: { acks: [] },
  },
  {
    name: 'remote —RemoteDeleted by me→ unbound',
    view: 'b',
    given: [created(), local('a'), remote('b', 'a')],
    when: unremote('b'),
    state: 'unbound',
    owner: 'a',
    facts: { acks: [] },
  },
  {
    name: 'remote —owner changes (requested chassis moved)→ unbound',
    view: 'b',
    given: [created(), local('a'), local('c'), remote('b', 'a')],
    when: updated('c'),
    state: 'unbound',
    owner: 'c',
    facts: { acks: [] },
  },
  {
    name: "remote —owner changes (owner's claim deleted)→ unbound",
    view: 'b',
    given: [created(), local('a'), local('c'), remote('b', 'a')],
    when: unlocal('a'),
    state: 'unbound',
    owner: 'c',
    facts: { claims: ['c'], acks: [] },
  },
  {
    name: 'remote —owner changes (the requested chassis claims)→ unbound',
    view: 'b',
    given: [created('c'), local('a'), remote('b', 'a')],
    when: local('c'),
    state: 'unbound',
    owner: 'c',
    facts: { acks: [] },
  },
  {
    name: 'remote —no claim is left→ unbound',
    view: 'b',
    given: [created(), local('a'), remote('b', 'a')],
    when: unlocal('a'),
    state: 'unbound',
    owner: null,
    facts: { claims: [], acks: [] },
  },
  {
    name: 'remote —LocalCreated elsewhere (owner unchanged)→ remote',
    view: 'b',
    given: [created(), local('a'), remote('b', 'a')],
    when: local('c'),
    state: 'remote',
    owner: 'a',
    facts: { claims: ['a', 'c'], acks: [ack('b', 'a')] },
  },
  {
    name: 'remote —LocalDeleted elsewhere (owner unchanged)→ remote',
    view: 'b',
    given: [created(), local('a'), local('c'), remote('b', 'a')],
    when: unlocal('c'),
    state: 'remote',
    owner: 'a',
    facts: { claims: ['a'] },
  },
  {
    name: 'remote —RemoteCreated elsewhere→ remote',
    view: 'b',
    given: [created(), local('a'), remote('b', 'a')],
    when: remote('c', 'a'),
    state: 'remote',
    owner: 'a',
    facts: { acks: [ack('b', 'a'), ack('c', 'a')] },
  },
  {
    name: 'remote —RemoteDeleted elsewhere→ remote',
    view: 'b',
    given: [created(), local('a'), remote('c', 'a'), remote('b', 'a')],
    when: unremote('c'),
    state: 'remote',
    owner: 'a',
    facts: { acks: [ack('b', 'a')] },
  },
  {
    name: 'remote —LogicalPortUpdated (owner unchanged)→ remote',
    view: 'b',
    given: [created(), local('a'), remote('b', 'a')],
    when: updated('c'),
    state: 'remote',
    owner: 'a',
    facts: { requestedChassis: 'c', acks: [ack('b', 'a')] },
  },
  // distributed
  {
    name: 'distributed —DistributedCreated (another reason)→ distributed',
    view: 'a',
    given: [created(), dist('router-interface:r1')],
    when: dist('dhcp:s1'),
    state: 'distributed',
    owner: null,
    facts: { reasons: ['dhcp:s1', 'router-interface:r1'] },
  },
  {
    name: 'distributed —DistributedDeleted (other reasons left)→ distributed',
    view: 'a',
    given: [created(), dist('dhcp:s1'), dist('router-interface:r1')],
    when: undist('dhcp:s1'),
    state: 'distributed',
    owner: null,
    facts: { reasons: ['router-interface:r1'] },
  },
  {
    name: 'distributed —DistributedDeleted (last reason)→ unbound',
    view: 'a',
    given: [created(), dist('dhcp:s1')],
    when: undist('dhcp:s1'),
    state: 'unbound',
    owner: null,
    facts: { reasons: [] },
  },
  {
    name: 'distributed —LogicalPortUpdated→ distributed',
    view: 'a',
    given: [created(), dist('dhcp:s1')],
    when: updated('a'),
    state: 'distributed',
    owner: null,
    facts: { requestedChassis: 'a' },
  },
  // any → deleted
  ...(
    [
      ['unbound', 'c', [created(), local('a')]],
      ['local', 'a', [created(), local('a')]],
      ['remote', 'b', [created(), local('a'), remote('b', 'a')]],
      ['distributed', 'a', [created(), dist('dhcp:s1')]],
    ] as const
  ).map(
    ([from, view, given]): Row => ({
      name: `${from} —LogicalPortDeleted→ deleted (final)`,
      view,
      given,
      when: portDeleted(),
      state: 'deleted',
      owner: null,
      facts: { deleted: true, claims: [], acks: [], reasons: [] },
    }),
  ),
];

describe('lport transition table', () => {
  it.each(transitions.map((row) => [row.name, row] as const))('%s', (_name, row) => {
    const views = new Lockstep(row.view);
    for (const event of row.given) expect(views.step(event)).toBeNull();
    expect(views.step(row.when)).toBeNull();
    const [seen] = views.observe();
    expect(seen?.state).toBe(row.state);
    expect(seen?.owner).toBe(row.owner);
    expect(seen?.facts).toMatchObject(row.facts ?? {});
  });
});

interface RefusalRow {
  readonly code: RefusalCode;
  readonly name: string;
  readonly view: string;
  readonly given: readonly LportEvent[];
  readonly when: LportEvent;
  /** The subject view and its state, as the refusal names them. */
  readonly subject: string;
  readonly state: LportStateName;
  readonly message?: string;
}

const refusals: readonly RefusalRow[] = [
  {
    code: 'port-deleted',
    name: 'anything after LogicalPortDeleted',
    view: 'a',
    given: [created(), local('a'), portDeleted()],
    when: local('a'),
    subject: 'a',
    state: 'deleted',
    message:
      'port p1: view a in state deleted refuses LocalCreated{chassis=a}: the port is deleted',
  },
  {
    code: 'port-deleted',
    name: 'LogicalPortCreated after LogicalPortDeleted',
    view: 'a',
    given: [created(), portDeleted()],
    when: created(),
    subject: 'a',
    state: 'deleted',
  },
  {
    code: 'port-exists',
    name: 'LogicalPortCreated when the port exists',
    view: 'a',
    given: [created()],
    when: created('a'),
    subject: 'a',
    state: 'unbound',
    message:
      'port p1: view a in state unbound refuses LogicalPortCreated{requestedChassis=a}: the port already exists',
  },
  {
    code: 'port-unknown',
    name: 'a locality event before LogicalPortCreated',
    view: 'a',
    given: [],
    when: local('a'),
    subject: 'a',
    state: 'unbound',
  },
  {
    code: 'port-unknown',
    name: 'LogicalPortUpdated before LogicalPortCreated',
    view: 'a',
    given: [],
    when: updated('a'),
    subject: 'a',
    state: 'unbound',
  },
  {
    code: 'port-unknown',
    name: 'LogicalPortDeleted before LogicalPortCreated',
    view: 'a',
    given: [],
    when: portDeleted(),
    subject: 'a',
    state: 'unbound',
  },
  {
    code: 'distributed',
    name: 'distributed —LocalCreated→ refused (bound nowhere)',
    view: 'a',
    given: [created(), dist('dhcp:s1')],
    when: local('a'),
    subject: 'a',
    state: 'distributed',
    message:
      'port p1: view a in state distributed refuses LocalCreated{chassis=a}: a distributed port is bound nowhere (reasons: dhcp:s1)',
  },
  {
    code: 'distributed',
    name: 'distributed —RemoteCreated→ refused',
    view: 'a',
    given: [created(), dist('dhcp:s1')],
    when: remote('b', 'a'),
    subject: 'b',
    state: 'distributed',
  },
  {
    code: 'already-claimed',
    name: 'LocalCreated by a chassis that already claims',
    view: 'c',
    given: [created(), local('a')],
    when: local('a'),
    subject: 'a',
    state: 'local',
    message:
      'port p1: view a in state local refuses LocalCreated{chassis=a}: a already claims the port',
  },
  {
    code: 'not-claimed',
    name: 'LocalDeleted by a chassis without a claim',
    view: 'a',
    given: [created(), local('a')],
    when: unlocal('b'),
    subject: 'b',
    state: 'unbound',
  },
  {
    code: 'local-nowhere',
    name: 'RemoteCreated when the port is local nowhere',
    view: 'b',
    given: [created()],
    when: remote('b', 'a'),
    subject: 'b',
    state: 'unbound',
    message:
      'port p1: view b in state unbound refuses RemoteCreated{chassis=b, owner=a}: the port is local nowhere',
  },
  {
    code: 'stale-ack',
    name: 'RemoteCreated acking an owner that is no longer the owner',
    view: 'chassis-b',
    given: [
      created('chassis-c'),
      local('chassis-a'),
      local('chassis-c'),
      remote('chassis-b', 'chassis-c'),
    ],
    when: remote('chassis-b', 'chassis-a'),
    subject: 'chassis-b',
    state: 'remote',
    message:
      'port p1: view chassis-b in state remote refuses RemoteCreated{chassis=chassis-b, owner=chassis-a}: stale ack (owner is chassis-c)',
  },
  {
    code: 'owner-ack',
    name: 'RemoteCreated by the owner itself',
    view: 'a',
    given: [created(), local('a')],
    when: remote('a', 'a'),
    subject: 'a',
    state: 'local',
  },
  {
    code: 'already-acked',
    name: 'RemoteCreated by a chassis that already acked',
    view: 'b',
    given: [created(), local('a'), remote('b', 'a')],
    when: remote('b', 'a'),
    subject: 'b',
    state: 'remote',
  },
  {
    code: 'not-acked',
    name: 'RemoteDeleted by a chassis without an ack',
    view: 'a',
    given: [created(), local('a')],
    when: unremote('b'),
    subject: 'b',
    state: 'unbound',
  },
  {
    code: 'claims-held',
    name: 'local —DistributedCreated→ refused unless the claims are released first',
    view: 'a',
    given: [created(), local('a'), remote('b', 'a')],
    when: dist('dhcp:s1'),
    subject: 'a',
    state: 'local',
    message:
      'port p1: view a in state local refuses DistributedCreated{reason=dhcp:s1}: refused unless the claims are released first (claims: a; acks: b)',
  },
  {
    code: 'claims-held',
    name: 'remote —DistributedCreated→ refused',
    view: 'b',
    given: [created(), local('a'), remote('b', 'a')],
    when: dist('dhcp:s1'),
    subject: 'b',
    state: 'remote',
  },
  {
    code: 'reason-active',
    name: 'DistributedCreated for an active reason',
    view: 'a',
    given: [created(), dist('dhcp:s1')],
    when: dist('dhcp:s1'),
    subject: 'a',
    state: 'distributed',
  },
  {
    code: 'reason-inactive',
    name: 'DistributedDeleted for an inactive reason',
    view: 'a',
    given: [created(), dist('dhcp:s1')],
    when: undist('dhcp:s2'),
    subject: 'a',
    state: 'distributed',
  },
];

describe('lport refusals', () => {
  it.each(refusals.map((row) => [`${row.code}: ${row.name}`, row] as const))('%s', (_name, row) => {
    const views = new Lockstep(row.view);
    for (const event of row.given) expect(views.step(event)).toBeNull();
    const before = views.observe();
    const refusal = views.step(row.when);
    expect(refusal).not.toBeNull();
    expect(refusal?.code).toBe(row.code);
    expect(refusal?.portId).toBe('p1');
    expect(refusal?.view).toBe(row.subject);
    expect(refusal?.state).toBe(row.state);
    expect(refusal?.event).toEqual(row.when);
    if (row.message !== undefined) expect(refusal?.message).toBe(row.message);
    expect(refusal?.message).toContain(`port p1: view ${row.subject} in state ${row.state}`);
    // never silently applied
    expect(views.observe()).toEqual(before);
    if (refusal) {
      const error = new TransitionRefusedError(refusal);
      expect(error).toBeInstanceOf(Error);
      expect(error.name).toBe('TransitionRefusedError');
      expect(error.message).toBe(refusal.message);
      expect(error.code).toBe(row.code);
    }
  });

  it('has a row for every refusal rule', () => {
    expect(new Set(refusals.map((row) => row.code))).toEqual(new Set(refusalCodes));
  });
});
