import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config.js';

describe('LOCUS_STATE_CACHE_STREAMS / _EVENTS', () => {
  it("leave the handler's defaults unless set, and take positive integers", () => {
    expect(loadConfig({}).stateCache).toEqual({});
    expect(
      loadConfig({ LOCUS_STATE_CACHE_STREAMS: '150000', LOCUS_STATE_CACHE_EVENTS: '5000000' })
        .stateCache,
    ).toEqual({ streams: 150_000, events: 5_000_000 });
    expect(loadConfig({ LOCUS_STATE_CACHE_STREAMS: '100' }).stateCache).toEqual({ streams: 100 });
  });

  it('refuses anything else, naming the variable', () => {
    for (const bad of ['0', '-5', '1.5', 'lots'])
      expect(() => loadConfig({ LOCUS_STATE_CACHE_STREAMS: bad })).toThrow(ConfigError);
    expect(() => loadConfig({ LOCUS_STATE_CACHE_EVENTS: 'lots' })).toThrow(
      /LOCUS_STATE_CACHE_EVENTS must be a positive integer/,
    );
  });
});
