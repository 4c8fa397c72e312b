/**
 * `locus status`'s instances table: partitions as ranges, the projector holder, the answering
 * instance marked, unheld partitions and a missing projector called out.
 */
import { describe, expect, it } from 'vitest';
import type { ClusterStatus } from '../../src/api/cluster.js';
import { clusterLines, partitionRanges } from '../../src/cli/commands/cluster.js';
import { styleFor } from '../../src/cli/style.js';

const plain = styleFor({ isTTY: false }, {}, false);

describe('locus status: instances', () => {
  it('writes partitions as ascending ranges', () => {
    expect(partitionRanges([])).toBe('');
    expect(partitionRanges([5])).toBe('5');
    expect(partitionRanges([9, 0, 1, 2, 3, 7, 10, 11, 12])).toBe('0-3,7,9-12');
  });

  it('lists every instance with its share, the projector and the heartbeat age', () => {
    const status: ClusterStatus = {
      self: { instanceId: 'b', partitions: [1, 3], partitionCount: 4, projector: false },
      projector: 'a',
      instances: [
        {
          instanceId: 'a',
          url: 'http://10.0.0.1:7480',
          partitions: [0, 2],
          projector: true,
          heartbeatAt: '2026-01-01T00:00:00.000Z',
          heartbeatAgeMs: 1_250,
          self: false,
        },
        {
          instanceId: 'b',
          url: null,
          partitions: [1, 3],
          projector: false,
          heartbeatAt: '2026-01-01T00:00:00.000Z',
          heartbeatAgeMs: 42_400,
          self: true,
        },
      ],
    };
    expect(clusterLines(plain, status).join('\n')).toBe(
      [
        'Instances 2',
        '    INSTANCE      PARTITIONS  PROJECTOR  HEARTBEAT  URL',
        '    a             2/4 0,2     yes        1.3 s ago  http://10.0.0.1:7480',
        '    b (this one)  2/4 1,3     -          42 s ago   -',
      ].join('\n'),
    );
  });

  it('calls out partitions nobody holds and a missing projector', () => {
    const status: ClusterStatus = {
      self: { instanceId: 'a', partitions: [0], partitionCount: 4, projector: false },
      projector: null,
      instances: [
        {
          instanceId: 'a',
          url: null,
          partitions: [0],
          projector: false,
          heartbeatAt: '2026-01-01T00:00:00.000Z',
          heartbeatAgeMs: 0,
          self: true,
        },
      ],
    };
    expect(clusterLines(plain, status)[0]).toBe(
      'Instances 1  no projector holder  3 partitions unheld',
    );
  });
});
