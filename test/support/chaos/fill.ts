/**
 * A large log written straight to the store (no HTTP, no apps): chassis, a switch, `ports`
 * ports with a few updates each, an OVS interface and a local claim per port — what a busy
 * deployment's projector has to catch up on.
 */
import { commandCause, type DomainEvent, envelope } from '../../../src/events/index.js';
import type { EventStore } from '../../../src/store/event-store.js';

const wrap = (event: DomainEvent, app = 'api') => envelope(event, { app, cause: commandCause() });

export async function fillLog(store: EventStore, ports: number): Promise<bigint> {
  const chassis = ['c1', 'c2', 'c3'];
  for (const [index, id] of chassis.entries()) {
    await store.appendToStream(`chassis-${id}`, [
      wrap({
        type: 'ChassisCreated',
        data: {
          id,
          tunnelIp: `192.0.2.${11 + index}`,
          tunnelTypes: ['geneve'],
          bridgeMappings: {},
        },
      }),
    ]);
  }
  await store.appendToStream('lswitch-s1', [
    wrap({
      type: 'LogicalSwitchCreated',
      data: { id: 's1', networkType: 'geneve', segmentationId: 100 },
    }),
  ]);
  const interfaces = new Map<string, DomainEvent[]>(chassis.map((id) => [id, []]));
  for (let i = 0; i < ports; i++) {
    const id = `fill-${i}`;
    const on = chassis[i % chassis.length] as string;
    const document = {
      id,
      switchId: 's1',
      macs: [],
      ips: [],
      deviceOwner: 'compute' as const,
      requestedChassis: on,
    };
    await store.appendToStream(`lport-${id}`, [
      wrap({ type: 'LogicalPortCreated', data: document }),
      wrap({
        type: 'LogicalPortUpdated',
        data: { ...document, requestedChassis: chassis[(i + 1) % 3] as string },
      }),
      wrap({ type: 'LogicalPortUpdated', data: document }),
      wrap({ type: 'LocalCreated', data: { portId: id, chassis: on } }, 'classification'),
    ]);
    interfaces.get(on)?.push({
      type: 'OvsPortCreated',
      data: { chassis: on, name: `tap-${id}`, ofport: i + 1, ifaceId: id, type: '' },
    });
  }
  for (const [id, events] of interfaces)
    if (events.length > 0)
      await store.appendToStream(
        `chassis-${id}`,
        events.map((event) => wrap(event, `agent:${id}`)),
      );
  return store.headPosition();
}
