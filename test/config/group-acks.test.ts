import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config.js';

describe('LOCUS_GROUP_ACKS', () => {
  it('is on by default, and takes on/off, 1/0, true/false', () => {
    expect(loadConfig({}).groupAcks).toBe(true);
    for (const on of ['on', '1', 'true'])
      expect(loadConfig({ LOCUS_GROUP_ACKS: on }).groupAcks).toBe(true);
    for (const off of ['off', '0', 'false'])
      expect(loadConfig({ LOCUS_GROUP_ACKS: off }).groupAcks).toBe(false);
  });

  it('refuses anything else, naming the variable', () => {
    expect(() => loadConfig({ LOCUS_GROUP_ACKS: 'maybe' })).toThrow(ConfigError);
    expect(() => loadConfig({ LOCUS_GROUP_ACKS: 'maybe' })).toThrow(
      /LOCUS_GROUP_ACKS must be on or off/,
    );
  });
});
