/**
 * The machine decides commands end to end: the command handler running a table whose port
 * update folds and decides with a variant machine (one transition removed) refuses the update
 * the production machine accepts, with the machine's refusal, and appends nothing.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  CommandHandler,
  CommandRejectedError,
  type CommandTable,
  commandTable,
} from '../../src/commands/index.js';
import { portFoldOf, updatePort } from '../../src/commands/ports.js';
import { lportStream } from '../../src/events/index.js';
import type { EventStore } from '../../src/store/event-store.js';
import { openEventStore } from '../../src/store/open-event-store.js';
import { withoutUnboundUpdate } from '../machines/variants.js';

const issuer = { app: 'api', actor: 'test' };

let store: EventStore;
beforeEach(async () => {
  store = await openEventStore('memory://');
});
afterEach(async () => {
  await store.close();
});

async function createPort(handler: CommandHandler): Promise<void> {
  await handler.execute(
    'createSwitch',
    { id: 's1', networkType: 'geneve', segmentationId: 100 },
    issuer,
  );
  await handler.execute(
    'createPort',
    {
      id: 'p1',
      switchId: 's1',
      macs: ['fa:16:3e:00:00:01'],
      ips: ['10.0.0.5'],
      deviceOwner: 'compute',
      requestedChassis: null,
    },
    issuer,
  );
}

describe('the command handler under a variant machine', () => {
  it('accepts the update under the production machine', async () => {
    const handler = new CommandHandler(store);
    await createPort(handler);
    const result = await handler.execute(
      'updatePort',
      { id: 'p1', changes: { requestedChassis: 'A' } },
      issuer,
    );
    expect(result.result).toMatchObject({ id: 'p1', requestedChassis: 'A' });
  });

  it('refuses it with the machine refusal when the machine lacks the transition', async () => {
    const variant = withoutUnboundUpdate();
    const table: CommandTable = {
      ...commandTable,
      updatePort: {
        ...commandTable.updatePort,
        fold: portFoldOf(variant),
        decide: ({ id, changes }, state) => updatePort(id, changes, state, variant),
      },
    };
    const handler = new CommandHandler(store, { table });
    await createPort(handler);
    const before = await store.readStream(lportStream('p1'));

    const refused = await handler
      .execute('updatePort', { id: 'p1', changes: { requestedChassis: 'A' } }, issuer)
      .then(
        () => undefined,
        (error: unknown) => error,
      );
    expect(refused).toBeInstanceOf(CommandRejectedError);
    expect((refused as CommandRejectedError).rejection).toMatchObject({
      kind: 'refused',
      code: 'no-transition',
    });
    expect(await store.readStream(lportStream('p1'))).toHaveLength(before.length);
  });
});
