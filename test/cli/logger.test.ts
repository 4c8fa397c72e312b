/** The log format (src/logger.ts): pretty on a terminal, JSON otherwise, LOCUS_LOG_FORMAT wins. */
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger, logFormat } from '../../src/logger.js';

function sink(isTTY: boolean) {
  const lines: string[] = [];
  const stream = Object.assign(
    new Writable({
      write(chunk, _encoding, done) {
        lines.push(String(chunk));
        done();
      },
    }),
    { isTTY },
  );
  return { stream, lines };
}

describe('logger', () => {
  it('guesses from the terminal, and LOCUS_LOG_FORMAT overrides', () => {
    expect(logFormat({}, true)).toBe('pretty');
    expect(logFormat({}, false)).toBe('json');
    expect(logFormat({ LOCUS_LOG_FORMAT: 'json' }, true)).toBe('json');
    expect(logFormat({ LOCUS_LOG_FORMAT: 'pretty' }, false)).toBe('pretty');
    expect(() => logFormat({ LOCUS_LOG_FORMAT: 'xml' }, false)).toThrow(/json or pretty/);
  });

  it('writes JSON lines, or readable ones, to the destination', () => {
    const json = sink(false);
    createLogger({ level: 'info', name: 't', format: 'json', destination: json.stream })
      .child({ component: 'http' })
      .info({ n: 1 }, 'hello');
    expect(JSON.parse(json.lines.join(''))).toMatchObject({
      level: 30,
      component: 'http',
      n: 1,
      msg: 'hello',
    });

    const pretty = sink(false);
    createLogger({ level: 'info', name: 't', format: 'pretty', destination: pretty.stream })
      .child({ component: 'http' })
      .warn({ n: 1 }, 'hello');
    const line = pretty.lines.join('');
    expect(line).toMatch(/WARN.*hello/);
    expect(line).toMatch(/^\[\d\d:\d\d:\d\d\.\d{3}\] WARN: hello {"component":"http","n":1}\n$/);
    expect(() => JSON.parse(line)).toThrow();
  });
});
