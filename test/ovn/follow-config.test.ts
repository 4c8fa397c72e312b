/** LOCUS_FOLLOW_OVN_NB / _SB: the server option that starts the follower (src/config.ts). */
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config.js';

describe('LOCUS_FOLLOW_OVN_NB and LOCUS_FOLLOW_OVN_SB', () => {
  it('are off by default', () => {
    expect(loadConfig({}).followOvn).toBeUndefined();
  });

  it('take OVSDB endpoints, the Southbound optional', () => {
    expect(loadConfig({ LOCUS_FOLLOW_OVN_NB: 'unix:/run/ovn/ovnnb_db.sock' }).followOvn).toEqual({
      nb: 'unix:/run/ovn/ovnnb_db.sock',
    });
    expect(
      loadConfig({
        LOCUS_FOLLOW_OVN_NB: 'tcp:10.0.0.5:6641',
        LOCUS_FOLLOW_OVN_SB: 'tcp:10.0.0.5:6642',
      }).followOvn,
    ).toEqual({ nb: 'tcp:10.0.0.5:6641', sb: 'tcp:10.0.0.5:6642' });
  });

  it('refuse what is no endpoint, and a Southbound alone', () => {
    expect(() => loadConfig({ LOCUS_FOLLOW_OVN_NB: '/run/ovn/ovnnb_db.sock' })).toThrow(
      new ConfigError(
        'LOCUS_FOLLOW_OVN_NB must be unix:<socket> or tcp:<host>:<port>, got "/run/ovn/ovnnb_db.sock"',
      ),
    );
    expect(() => loadConfig({ LOCUS_FOLLOW_OVN_SB: 'tcp:10.0.0.5:6642' })).toThrow(
      'LOCUS_FOLLOW_OVN_SB needs LOCUS_FOLLOW_OVN_NB',
    );
  });
});
