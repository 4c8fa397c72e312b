/**
 * The address syntax of src/events/addresses.ts against Node's own parser (node:net), which the
 * events may not import: they agree on which texts are addresses, on which spellings are one
 * address, and containment agrees with node:net's BlockList.
 */
import { BlockList, isIPv4, isIPv6 } from 'node:net';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  cidrProblem,
  contains,
  ipKey,
  parseCidr,
  parseIp,
  unicastMacProblem,
} from '../../src/events/addresses.js';

const octet = fc.integer({ min: 0, max: 255 });
const ipv4 = fc.tuple(octet, octet, octet, octet).map((parts) => parts.join('.'));
const hextet = fc.integer({ min: 0, max: 0xffff }).map((n) => n.toString(16));
const groups = fc.array(hextet, { minLength: 8, maxLength: 8 });

/** IPv6 in every spelling: full, `::`-compressed at any run, with an IPv4 tail, any case. */
const ipv6 = fc.oneof(
  groups.map((g) => g.join(':')),
  fc.tuple(groups, fc.nat(7), fc.nat(7)).map(([g, from, length]) => {
    const to = Math.min(8, from + length + 1);
    return `${g.slice(0, from).join(':')}::${g.slice(to).join(':')}`;
  }),
  fc
    .tuple(fc.array(hextet, { minLength: 6, maxLength: 6 }), ipv4)
    .map(([g, v4]) => `${g.join(':')}:${v4}`),
  fc.tuple(hextet, ipv4).map(([g, v4]) => `::${g}:${v4}`),
  groups.map((g) => g.join(':').toUpperCase()),
);

/** Text near addresses: digits, dots, colons, hex letters and the odd stray. */
const nearly = fc
  .array(fc.constantFrom(...'0123456789abcdefABCDEF.:g '.split('')), {
    minLength: 1,
    maxLength: 40,
  })
  .map((chars) => chars.join(''));

describe('IP addresses', () => {
  it('agree with node:net on what is an address', () => {
    fc.assert(
      fc.property(fc.oneof(ipv4, ipv6, nearly), (text) => {
        const parsed = parseIp(text);
        // node accepts leading zeros in no octet either; it is the reference here.
        expect(parsed?.family ?? 0).toBe(isIPv4(text) ? 4 : isIPv6(text) ? 6 : 0);
      }),
      { numRuns: 2000 },
    );
  });

  it('give one address one key, whatever its spelling, as node:net BlockList matches them', () => {
    const spellings = fc.tuple(groups, fc.nat(7), fc.nat(3)).map(([g, from, length]) => {
      const zeroed = g.map((group, i) => (i >= from && i <= from + length ? '0' : group));
      const to = Math.min(8, from + length + 1);
      return [
        zeroed.join(':'),
        zeroed.map((group) => group.padStart(4, '0').toUpperCase()).join(':'),
        `${zeroed.slice(0, from).join(':')}::${zeroed.slice(to).join(':')}`,
      ];
    });
    fc.assert(
      fc.property(spellings, ipv6, (same, other) => {
        const keys = same.map((text) => ipKey(parseIp(text) as never));
        expect(new Set(keys).size).toBe(1);
        const list = new BlockList();
        list.addAddress(same[0] as string, 'ipv6');
        expect(ipKey(parseIp(other) as never) === keys[0]).toBe(list.check(other, 'ipv6'));
      }),
      { numRuns: 1000 },
    );
    expect(ipKey(parseIp('::ffff:1.2.3.4') as never)).toBe(
      ipKey(parseIp('::ffff:102:304') as never),
    );
  });
});

describe('CIDRs', () => {
  it('contain what node:net BlockList says they contain', () => {
    fc.assert(
      fc.property(ipv4, fc.integer({ min: 0, max: 32 }), ipv4, (base, prefix, probe) => {
        const network = parseCidr(`${base}/${prefix}`);
        const list = new BlockList();
        list.addSubnet(base, prefix, 'ipv4');
        if (network === undefined) {
          expect(cidrProblem(`${base}/${prefix}`)).toMatch(/host bits set/);
          return;
        }
        expect(contains(network, parseIp(probe) as never)).toBe(list.check(probe, 'ipv4'));
      }),
      { numRuns: 1000 },
    );
  });

  it('refuse prefixes out of range and host bits, naming the network meant', () => {
    expect(cidrProblem('10.0.0.0/33')).toBe(
      'the prefix length "33" is not a number from 0 to 32 (IPv4)',
    );
    expect(cidrProblem('2001:db8::/129')).toBe(
      'the prefix length "129" is not a number from 0 to 128 (IPv6)',
    );
    expect(cidrProblem('10.0.0.0/08')).toMatch(/prefix length "08"/);
    expect(cidrProblem('192.168.1.7/16')).toBe(
      '192.168.1.7/16 has host bits set: the network is 192.168.0.0/16',
    );
    expect(cidrProblem('0.0.0.0/0')).toBeUndefined();
    expect(cidrProblem('2001:db8::/32')).toBeUndefined();
    expect(cidrProblem('10.0.0.0')).toMatch(/not a network in CIDR notation/);
  });
});

describe('MACs', () => {
  it('a unicast MAC has an even first byte and is not zero', () => {
    fc.assert(
      fc.property(fc.array(octet, { minLength: 6, maxLength: 6 }), (bytes) => {
        const text = bytes.map((b) => b.toString(16).padStart(2, '0')).join(':');
        const unicast = ((bytes[0] as number) & 1) === 0 && bytes.some((b) => b !== 0);
        expect(unicastMacProblem(text) === undefined).toBe(unicast);
      }),
      { numRuns: 1000 },
    );
    expect(unicastMacProblem('fa:16:3e:0:0:1')).toMatch(/not a MAC address/);
  });
});
