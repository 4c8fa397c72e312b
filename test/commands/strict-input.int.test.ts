/**
 * Strict input at the domain edge: the command handler itself (what the API, the CLI writing
 * directly and any future follower all call) refuses a bad value of every field, and a refused
 * command appends nothing — the whole log is read before and after and compared. Valid values
 * of the same fields pass. Events already in the log are never re-judged: a port written
 * before the checks is read back and updated as it is.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CommandHandler,
  type CommandName,
  CommandRejectedError,
  type InputOf,
} from '../../src/commands/index.js';
import {
  commandCause,
  decodeEvent,
  envelope,
  type LogicalPort,
  lportStream,
} from '../../src/events/index.js';
import type { EventStore } from '../../src/store/event-store.js';
import { openEventStore } from '../../src/store/open-event-store.js';

const issuer = { app: 'api', actor: 'test' };
const RUNS = { numRuns: 40 };

let store: EventStore;
let handler: CommandHandler;
/** Fresh ids: every accepted command of a property names new entities. */
let counter = 0;
const fresh = (prefix: string) => `${prefix}-${++counter}`;

const run = <N extends CommandName>(name: N, input: InputOf<N>) =>
  handler.execute(name, input, issuer);

/** The whole log, as comparable data. */
const wholeLog = async () =>
  (await store.readAll()).map((r) => ({ position: r.position, type: r.type, data: r.data }));

/**
 * Runs a command that must be refused with `kind`, naming `field`; the log must be the same
 * before and after.
 */
async function refused<N extends CommandName>(
  name: N,
  input: InputOf<N>,
  kind: string,
  field: string,
): Promise<void> {
  const before = await wholeLog();
  const error = await run(name, input).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(CommandRejectedError);
  const rejection = (error as CommandRejectedError).rejection;
  expect(rejection.kind).toBe(kind);
  expect(rejection.errors.map((e) => e.field)).toContain(field);
  for (const e of rejection.errors) expect(e.reason).toMatch(/^[^\s].{8,}/);
  expect(await wholeLog()).toEqual(before);
}

// --- arbitraries ---------------------------------------------------------------------------

const octet = fc.integer({ min: 0, max: 255 });
const hex = (max: number) => fc.integer({ min: 0, max }).map((n) => n.toString(16));

/** Dotted text that is not an IPv4 address: a part above 255, or not four parts. */
const badIpv4 = fc.oneof(
  fc
    .tuple(octet, octet, octet, fc.integer({ min: 256, max: 99_999 }), fc.nat(3))
    .map(([a, b, c, big, at]) => {
      const parts = [a, b, c];
      parts.splice(at, 0, big);
      return parts.join('.');
    }),
  fc.array(octet, { minLength: 1, maxLength: 3 }).map((parts) => parts.join('.')),
  fc.array(octet, { minLength: 5, maxLength: 6 }).map((parts) => parts.join('.')),
);

/** Colon text that is not an IPv6 address: two `::`, nine groups, a five-digit group. */
const badIpv6 = fc.oneof(
  fc.tuple(hex(0xffff), hex(0xffff)).map(([a, b]) => `${a}::${b}::1`),
  fc.array(hex(0xffff), { minLength: 9, maxLength: 9 }).map((g) => g.join(':')),
  fc.integer({ min: 0x10000, max: 0xfffff }).map((n) => `2001:db8::${n.toString(16)}`),
);

/** Six bytes whose first is odd: multicast (broadcast among them), or all zero. */
const nonUnicastMac = fc.oneof(
  fc
    .tuple(fc.integer({ min: 0, max: 127 }), fc.array(octet, { minLength: 5, maxLength: 5 }))
    .map(([first, rest]) => macText([first * 2 + 1, ...rest])),
  fc.constant('ff:ff:ff:ff:ff:ff'),
  fc.constant('00:00:00:00:00:00'),
);

const unicastMac = fc
  .tuple(fc.integer({ min: 0, max: 127 }), fc.array(octet, { minLength: 5, maxLength: 5 }))
  .filter(([first, rest]) => first !== 0 || rest.some((b) => b !== 0))
  .map(([first, rest]) => macText([first * 2, ...rest]));

function macText(bytes: readonly number[]): string {
  return bytes.map((b) => b.toString(16).padStart(2, '0')).join(':');
}

const ipv4Text = (value: number) =>
  [24, 16, 8, 0].map((shift) => (value >>> shift) & 255).join('.');

/** An IPv4 network (prefix 8–30, host bits clear) and an address inside it. */
const networkAndHost = fc
  .tuple(fc.integer({ min: 8, max: 30 }), fc.nat(0xffffffff), fc.nat(0xffffffff))
  .map(([prefix, base, offset]) => {
    const mask = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
    const network = (base & mask) >>> 0;
    const hostBits = (offset & ~mask) >>> 0;
    return {
      cidr: `${ipv4Text(network)}/${prefix}`,
      network,
      mask,
      host: ipv4Text(network + hostBits),
    };
  });

/** A CIDR with a prefix too long for its family, or with host bits set. */
const badCidr = fc.oneof(
  fc.tuple(octet, fc.integer({ min: 33, max: 999 })).map(([a, prefix]) => `10.${a}.0.0/${prefix}`),
  fc.integer({ min: 129, max: 999 }).map((prefix) => `2001:db8::/${prefix}`),
  networkAndHost
    .filter(({ mask }) => mask !== 0xffffffff)
    .map(({ cidr }) => {
      const [address, prefix] = cidr.split('/') as [string, string];
      const parts = address.split('.').map(Number);
      parts[3] = (parts[3] as number) | 1;
      return `${parts.join('.')}/${prefix}`;
    })
    .filter((cidr) => Number(cidr.split('/')[1]) < 32),
);

/** A network type and a segmentation id outside its range (or any, for flat). */
const badSegmentation = fc.oneof(
  fc.tuple(fc.constantFrom('geneve' as const, 'vxlan' as const), fc.constant(0)),
  fc.tuple(
    fc.constant('vlan' as const),
    fc.oneof(fc.constant(0), fc.integer({ min: 4095, max: 16_777_215 })),
  ),
  fc.tuple(fc.constant('flat' as const), fc.integer({ min: 0, max: 16_777_215 })),
);

const goodSegmentation = fc.oneof(
  fc.tuple(
    fc.constantFrom('geneve' as const, 'vxlan' as const),
    fc.integer({ min: 1, max: 16_777_215 }),
  ),
  fc.tuple(fc.constant('vlan' as const), fc.integer({ min: 1, max: 4094 })),
);

/** IPv4 addresses no tunnel can end at: 0/8, multicast, reserved and broadcast. */
const badTunnelIp = fc.oneof(
  badIpv4,
  fc.tuple(fc.constantFrom(0, 224, 239, 240, 255), octet, octet, octet).map((p) => p.join('.')),
);

// --- the world the commands act on -----------------------------------------------------------

const port = (over: Partial<LogicalPort> & Pick<LogicalPort, 'switchId'>): LogicalPort => ({
  id: fresh('p'),
  macs: [],
  ips: [],
  deviceOwner: 'compute',
  requestedChassis: null,
  ...over,
});

/** A switch with an IPv4 and an IPv6 subnet, and one port holding a MAC and two IPs. */
async function subnettedSwitch() {
  const switchId = fresh('s');
  await run('createSwitch', { id: switchId, networkType: 'geneve', segmentationId: 100 });
  await run('createSubnet', { id: fresh('v4'), switchId, cidr: '10.0.0.0/24', dhcpEnabled: true });
  await run('createSubnet', {
    id: fresh('v6'),
    switchId,
    cidr: '2001:db8::/64',
    dhcpEnabled: false,
  });
  const holder = port({
    switchId,
    macs: ['fa:16:3e:00:00:01'],
    ips: ['10.0.0.10', '2001:db8::10'],
  });
  await run('createPort', holder);
  return { switchId, holder };
}

let world: Awaited<ReturnType<typeof subnettedSwitch>>;

beforeAll(async () => {
  store = await openEventStore('memory://');
  handler = new CommandHandler(store);
  world = await subnettedSwitch();
});

afterAll(async () => {
  await store.close();
});

describe('a refused command appends nothing; a valid one passes', () => {
  it('port IPs: not IPv4 or IPv6', async () => {
    await fc.assert(
      fc.asyncProperty(fc.oneof(badIpv4, badIpv6), async (ip) => {
        await refused(
          'createPort',
          port({ switchId: world.switchId, ips: [ip] }),
          'invalid',
          '/ips/0',
        );
        await refused(
          'updatePort',
          { id: world.holder.id, changes: { ips: ['10.0.0.10', ip] } },
          'invalid',
          '/ips/1',
        );
      }),
      RUNS,
    );
  });

  it('port IPs: inside one of the switch subnets, and only there', async () => {
    await fc.assert(
      fc.asyncProperty(
        networkAndHost,
        fc.nat(0xffffffff),
        async ({ cidr, host, network, mask }, other) => {
          const switchId = fresh('s');
          await run('createSwitch', { id: switchId, networkType: 'vxlan', segmentationId: 7 });
          await run('createSubnet', { id: fresh('n'), switchId, cidr, dhcpEnabled: false });
          const outside = (other & mask) >>> 0 === network ? undefined : ipv4Text(other);
          if (outside !== undefined)
            await refused('createPort', port({ switchId, ips: [outside] }), 'invalid', '/ips/0');
          const accepted = await run('createPort', port({ switchId, ips: [host] }));
          expect(accepted.created).toBe(true);
        },
      ),
      RUNS,
    );
  });

  it('MACs: multicast, broadcast and zero are refused, unicast ones pass', async () => {
    await fc.assert(
      fc.asyncProperty(nonUnicastMac, unicastMac, async (bad, good) => {
        await refused(
          'createPort',
          port({ switchId: world.switchId, macs: [bad] }),
          'invalid',
          '/macs/0',
        );
        const switchId = fresh('s');
        await run('createSwitch', { id: switchId, networkType: 'geneve', segmentationId: 5 });
        expect((await run('createPort', port({ switchId, macs: [good] }))).created).toBe(true);
      }),
      RUNS,
    );
  });

  it('a second port with the MAC or an IP of another on the switch: 409, nothing appended', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom('FA:16:3E:00:00:01', 'fa:16:3e:00:00:01'),
        fc.constantFrom('10.0.0.10', '2001:db8::10', '2001:db8:0:0:0:0:0:10', '2001:DB8::10'),
        async (mac, ip) => {
          await refused(
            'createPort',
            port({ switchId: world.switchId, macs: [mac] }),
            'conflict',
            '/macs/0',
          );
          await refused(
            'createPort',
            port({ switchId: world.switchId, ips: [ip] }),
            'conflict',
            '/ips/0',
          );
        },
      ),
      { numRuns: 8 },
    );
    // The same addresses on another switch are another network's: they pass.
    const other = fresh('s');
    await run('createSwitch', { id: other, networkType: 'geneve', segmentationId: 101 });
    const twin = port({ switchId: other, macs: ['fa:16:3e:00:00:01'], ips: ['10.0.0.10'] });
    expect((await run('createPort', twin)).created).toBe(true);
    // A port keeps its own addresses through an update.
    const kept = await run('updatePort', {
      id: world.holder.id,
      changes: { ips: ['2001:db8::10', '10.0.0.10'], requestedChassis: 'c1' },
    });
    expect(kept.appended).toBe(1);
  });

  it('a port listing one address twice is refused', async () => {
    await refused(
      'createPort',
      port({ switchId: world.switchId, ips: ['2001:db8::20', '2001:db8:0::20'] }),
      'invalid',
      '/ips/1',
    );
    await refused(
      'createPort',
      port({ switchId: world.switchId, macs: ['fa:16:3e:00:00:99', 'FA:16:3E:00:00:99'] }),
      'invalid',
      '/macs/1',
    );
  });

  it('subnets: prefix in range, no host bits; valid networks pass', async () => {
    await fc.assert(
      fc.asyncProperty(badCidr, networkAndHost, async (bad, good) => {
        const subnet = { id: fresh('n'), switchId: world.switchId, dhcpEnabled: false };
        await refused('createSubnet', { ...subnet, cidr: bad }, 'invalid', '/cidr');
        const created = await run('createSubnet', {
          ...subnet,
          cidr: good.cidr,
          gatewayIp: good.host,
        });
        expect(created.created).toBe(true);
        await refused(
          'updateSubnet',
          { id: subnet.id, changes: { cidr: bad } },
          'invalid',
          '/cidr',
        );
      }),
      RUNS,
    );
  });

  it("subnets: the gateway inside the subnet's network", async () => {
    await fc.assert(
      fc.asyncProperty(
        networkAndHost,
        fc.nat(0xffffffff),
        async ({ cidr, network, mask }, other) => {
          fc.pre((other & mask) >>> 0 !== network);
          const subnet = { id: fresh('n'), switchId: world.switchId, cidr, dhcpEnabled: true };
          await refused(
            'createSubnet',
            { ...subnet, gatewayIp: ipv4Text(other) },
            'invalid',
            '/gatewayIp',
          );
        },
      ),
      RUNS,
    );
  });

  it('switches: the segmentation id within its network type (VNI 24 bits, VLAN 1–4094, flat none)', async () => {
    await fc.assert(
      fc.asyncProperty(
        badSegmentation,
        goodSegmentation,
        async ([badType, badId], [goodType, goodId]) => {
          await refused(
            'createSwitch',
            {
              id: fresh('s'),
              networkType: badType,
              segmentationId: badId,
              physicalNetwork: 'physnet1',
            },
            'invalid',
            '/segmentationId',
          );
          const created = await run('createSwitch', {
            id: fresh('s'),
            networkType: goodType,
            segmentationId: goodId,
            ...(goodType === 'vlan' ? { physicalNetwork: 'physnet1' } : {}),
          });
          expect(created.created).toBe(true);
        },
      ),
      RUNS,
    );
    await refused(
      'createSwitch',
      { id: fresh('s'), networkType: 'geneve', segmentationId: 16_777_216 },
      'invalid',
      '/segmentationId',
    );
  });

  it('chassis: the tunnel IP a unicast IPv4 address', async () => {
    await fc.assert(
      fc.asyncProperty(badTunnelIp, async (tunnelIp) => {
        const chassis = {
          id: fresh('c'),
          tunnelIp,
          tunnelTypes: ['geneve' as const],
          bridgeMappings: {},
        };
        await refused('createChassis', chassis, 'invalid', '/tunnelIp');
      }),
      RUNS,
    );
    const id = fresh('c');
    await run('createChassis', {
      id,
      tunnelIp: '192.0.2.7',
      tunnelTypes: ['geneve'],
      bridgeMappings: {},
    });
    await refused(
      'updateChassis',
      { id, changes: { tunnelIp: '224.0.0.1' } },
      'invalid',
      '/tunnelIp',
    );
  });

  it('trunk segmentations: the VLAN id within 1–4094', async () => {
    const parent = port({ switchId: world.switchId });
    const child = port({ switchId: world.switchId });
    await run('createPort', parent);
    await run('createPort', child);
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(fc.integer({ max: 0 }), fc.integer({ min: 4095 })),
        async (vlan) => {
          await refused(
            'createSegmentation',
            {
              id: fresh('seg'),
              parentPortId: parent.id,
              childPortId: child.id,
              segmentationType: 'vlan',
              segmentationId: vlan,
            },
            'invalid',
            '/segmentationId',
          );
        },
      ),
      RUNS,
    );
  });
});

describe('what the log already holds is not judged again', () => {
  it('a port written before the checks is read back, and updated through other fields', async () => {
    const legacy: LogicalPort = port({
      switchId: world.switchId,
      macs: ['01:00:5e:00:00:01'],
      ips: ['10.0.0'],
    });
    const written = envelope(
      { type: 'LogicalPortCreated', data: legacy },
      { app: 'api', cause: commandCause(), time: new Date() },
    );
    await store.appendToStream(lportStream(legacy.id), [written], {
      expectedRevision: 'no_stream',
    });
    const [read] = await store.readStream(lportStream(legacy.id));
    expect(decodeEvent('LogicalPortCreated', read?.data, 1).ok).toBe(true);
    const moved = await run('updatePort', { id: legacy.id, changes: { requestedChassis: 'c9' } });
    expect(moved.result).toEqual({ ...legacy, requestedChassis: 'c9' });
    // A new bad value is still refused.
    await refused(
      'updatePort',
      { id: legacy.id, changes: { ips: ['10.0.0.300'] } },
      'invalid',
      '/ips/0',
    );
  });
});
