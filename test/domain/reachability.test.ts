/**
 * The reachability rule (src/domain/reachability.ts), exhaustively: every network type, every
 * combination of the two chassis' tunnel types and bridge mappings, and the switch's own gaps.
 */
import { describe, expect, it } from 'vitest';
import {
  type ChassisFacts,
  reachability,
  type SwitchFacts,
} from '../../src/domain/reachability.js';
import type { NetworkType, TunnelType } from '../../src/events/index.js';

const tunnelSets: readonly TunnelType[][] = [[], ['geneve'], ['vxlan'], ['geneve', 'vxlan']];
const mappingSets: readonly Record<string, string>[] = [
  {},
  { physnet1: 'br-ex' },
  { physnet2: 'br-other' },
];
const switches: readonly SwitchFacts[] = [
  { id: 'g', networkType: 'geneve', segmentationId: 100 },
  { id: 'x', networkType: 'vxlan', segmentationId: 200 },
  { id: 'v', networkType: 'vlan', segmentationId: 42, physicalNetwork: 'physnet1' },
  { id: 'f', networkType: 'flat', physicalNetwork: 'physnet1' },
];

const chassisWith = (
  id: string,
  tunnelTypes: readonly TunnelType[],
  bridgeMappings: Record<string, string>,
): ChassisFacts => ({ id, tunnelTypes: [...tunnelTypes], bridgeMappings });

/** The rule, stated directly: what the brief says, case by case. */
function expected(ls: SwitchFacts, a: ChassisFacts, b: ChassisFacts): boolean {
  const type: NetworkType = ls.networkType;
  if (type === 'geneve' || type === 'vxlan')
    return a.tunnelTypes.includes(type) && b.tunnelTypes.includes(type);
  return 'physnet1' in a.bridgeMappings && 'physnet1' in b.bridgeMappings;
}

describe('reachability', () => {
  it('is a shared tunnel type on tunnel networks, a shared physnet mapping on provider ones', () => {
    let cases = 0;
    for (const ls of switches)
      for (const aTunnels of tunnelSets)
        for (const bTunnels of tunnelSets)
          for (const aMappings of mappingSets)
            for (const bMappings of mappingSets) {
              const a = chassisWith('A', aTunnels, aMappings);
              const b = chassisWith('B', bTunnels, bMappings);
              const result = reachability(ls, a, b);
              const label = `${ls.networkType} A${JSON.stringify([aTunnels, aMappings])} → B${JSON.stringify([bTunnels, bMappings])}`;
              expect(result.ok, label).toBe(expected(ls, a, b));
              if (!result.ok) expect(result.reason, label).toMatch(/^(chassis A|owner B) has no /);
              cases++;
            }
    expect(cases).toBe(4 * 4 * 4 * 3 * 3);
  });

  it('never lets a vxlan-only chassis reach a geneve switch’s owner, and says why', () => {
    const geneve = switches[0] as SwitchFacts;
    const vxlanOnly = chassisWith('C', ['vxlan'], {});
    const owner = chassisWith('A', ['geneve', 'vxlan'], {});
    expect(reachability(geneve, vxlanOnly, owner)).toEqual({
      ok: false,
      reason: 'chassis C has no geneve tunnel (switch g is geneve)',
    });
    // Nor the other way round: the owner is the one without the type.
    expect(reachability(geneve, owner, vxlanOnly)).toEqual({
      ok: false,
      reason: 'owner C has no geneve tunnel (switch g is geneve)',
    });
  });

  it('names the missing bridge mapping of a provider network', () => {
    const vlan = switches[2] as SwitchFacts;
    const mapped = chassisWith('A', [], { physnet1: 'br-ex' });
    const unmapped = chassisWith('D', ['geneve'], { physnet2: 'br-other' });
    expect(reachability(vlan, unmapped, mapped)).toEqual({
      ok: false,
      reason: 'chassis D has no bridge mapping for physnet1',
    });
    expect(reachability(vlan, mapped, unmapped)).toEqual({
      ok: false,
      reason: 'owner D has no bridge mapping for physnet1',
    });
  });

  it('reaches no one on a switch that lacks its segment or physical network', () => {
    const both = chassisWith('A', ['geneve', 'vxlan'], { physnet1: 'br-ex' });
    const other = chassisWith('B', ['geneve', 'vxlan'], { physnet1: 'br-ex' });
    const cases: [SwitchFacts, string][] = [
      [{ id: 'g', networkType: 'geneve' }, 'switch g has no segmentation id'],
      [{ id: 'x', networkType: 'vxlan', segmentationId: null }, 'switch x has no segmentation id'],
      [{ id: 'v', networkType: 'vlan', physicalNetwork: 'physnet1' }, 'switch v has no VLAN id'],
      [{ id: 'v', networkType: 'vlan', segmentationId: 42 }, 'switch v has no physical network'],
      [{ id: 'f', networkType: 'flat', physicalNetwork: null }, 'switch f has no physical network'],
    ];
    for (const [ls, reason] of cases)
      expect(reachability(ls, both, other), reason).toEqual({ ok: false, reason });
    // A flat network needs no segment.
    expect(
      reachability({ id: 'f', networkType: 'flat', physicalNetwork: 'physnet1' }, both, other),
    ).toEqual({ ok: true });
  });
});
