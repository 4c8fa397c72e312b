/**
 * A command's abort signal: aborted before its turn in the lane, the command is not run (no
 * read, no append) and rejects with an AbortError; not aborted, it runs as any other.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CommandAbortedError, CommandHandler, commandTable } from '../../src/commands/index.js';
import { streamOfEntity } from '../../src/commands/lifecycle.js';
import type { EventStore } from '../../src/store/event-store.js';
import { openEventStore } from '../../src/store/open-event-store.js';

const issuer = { app: 'api', actor: 'test' };
const lswitch = (id: string) => ({ id, networkType: 'geneve' as const, segmentationId: 7 });

let store: EventStore;
beforeEach(async () => {
  store = await openEventStore('memory://');
});
afterEach(async () => {
  await store.close();
});

describe('CommandHandler.run with a signal', () => {
  it('an already aborted signal: rejects with AbortError, appends nothing', async () => {
    const handler = new CommandHandler(store);
    const controller = new AbortController();
    controller.abort();
    const outcome = handler.execute('createSwitch', lswitch('s1'), issuer, {
      signal: controller.signal,
    });
    await expect(outcome).rejects.toBeInstanceOf(CommandAbortedError);
    await expect(outcome).rejects.toMatchObject({ name: 'AbortError' });
    expect(await store.streamRevision(streamOfEntity('switch', 's1'))).toBeUndefined();
  });

  it('aborted while queued behind another command of its lane: skipped, the lane goes on', async () => {
    const handler = new CommandHandler(store);
    let release = () => {};
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    // The first command holds the lane until released (it waits in its reference reads).
    const held = { ...commandTable.createSwitch, references: () => gate.then(() => undefined) };
    const first = handler.run(held, lswitch('s1'), issuer);
    const controller = new AbortController();
    const queued = handler.run(commandTable.createSwitch, lswitch('s1'), issuer, {
      signal: controller.signal,
    });
    const after = handler.execute('deleteSwitch', { id: 's1' }, issuer);
    controller.abort(new Error('client gone'));
    release();

    await expect(first).resolves.toMatchObject({ created: true, appended: 1 });
    const error = await queued.then(
      () => undefined,
      (reason: unknown) => reason,
    );
    expect(error).toBeInstanceOf(CommandAbortedError);
    expect((error as Error).cause).toEqual(new Error('client gone'));
    await expect(after).resolves.toMatchObject({ appended: 1 });
    const types = (await store.readStream(streamOfEntity('switch', 's1'))).map((e) => e.type);
    expect(types).toEqual(['LogicalSwitchCreated', 'LogicalSwitchDeleted']);
  });

  it('a signal not aborted: the command runs as without one', async () => {
    const handler = new CommandHandler(store);
    const outcome = await handler.execute('createSwitch', lswitch('s2'), issuer, {
      signal: new AbortController().signal,
    });
    expect(outcome).toMatchObject({ created: true, appended: 1 });
  });
});
