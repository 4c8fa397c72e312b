/** The text/event-stream parser of the web view and the agent (src/lib/sse-parser.ts), chunked every way. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type SseEvent, SseParser } from '../../src/lib/sse-parser.js';

const parseAll = (chunks: readonly string[]) => {
  const parser = new SseParser();
  const events: SseEvent[] = [];
  for (const chunk of chunks) events.push(...parser.push(chunk));
  return { events, parser };
};

/** What the locus feed sends (src/http/sse.ts). */
const FEED =
  'retry: 3000\n: following the log after position 41\n\n' +
  'id: 42\nevent: LocalCreated\ndata: {"portId":"vm-01","chassis":"compute-1"}\n\n' +
  ': heartbeat\n\n' +
  'id: 43\nevent: RemoteCreated\ndata: {"portId":"vm-01","chassis":"compute-2","owner":"compute-1"}\n\n';

describe('SseParser', () => {
  it('reads the locus feed: ids, types, data; comments and retry are not events', () => {
    const { events, parser } = parseAll([FEED]);
    expect(events).toEqual([
      { id: '42', type: 'LocalCreated', data: '{"portId":"vm-01","chassis":"compute-1"}' },
      {
        id: '43',
        type: 'RemoteCreated',
        data: '{"portId":"vm-01","chassis":"compute-2","owner":"compute-1"}',
      },
    ]);
    expect(parser.retry).toBe(3000);
    expect(parser.lastEventId).toBe('43');
  });

  it('gives the same events however the stream is split', () => {
    const whole = parseAll([FEED]).events;
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: FEED.length }), { maxLength: 12 }), (cuts) => {
        const points = [...new Set([0, ...cuts, FEED.length])].sort((a, b) => a - b);
        const chunks = points.slice(1).map((end, i) => FEED.slice(points[i], end));
        expect(parseAll(chunks).events).toEqual(whole);
      }),
    );
  });

  it('handles CRLF and CR line ends, even split between chunks', () => {
    const crlf = FEED.replaceAll('\n', '\r\n');
    const cr = FEED.replaceAll('\n', '\r');
    const expected = parseAll([FEED]).events;
    expect(parseAll([crlf]).events).toEqual(expected);
    expect(parseAll([cr]).events).toEqual(expected);
    for (let cut = 0; cut <= crlf.length; cut++) {
      expect(parseAll([crlf.slice(0, cut), crlf.slice(cut)]).events).toEqual(expected);
    }
  });

  it('joins multi-line data, defaults the type, keeps the last id, ignores unknown fields', () => {
    const { events } = parseAll([
      'data: first\ndata:second\nfoo: bar\n\n',
      'id: 7\ndata\n\n',
      'data: x\n\n',
      'id: 8\n\n',
      'retry: soon\nevent: only-a-type\n\n',
      'data: unterminated',
    ]);
    expect(events).toEqual([
      { id: '', type: 'message', data: 'first\nsecond' },
      { id: '7', type: 'message', data: '' },
      { id: '7', type: 'message', data: 'x' },
    ]);
  });
});
