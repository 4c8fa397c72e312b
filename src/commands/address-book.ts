/**
 * The addresses of every live port and the networks of every live subnet, by switch, as the
 * log has them: what a port command needs to refuse a MAC or IP another port of its switch
 * holds, or an IP outside the switch's subnets.
 *
 * Kept in memory and brought up to the log's head before every answer, by reading only the
 * port and subnet model events appended since the previous answer (the first answer reads
 * them all, once). An answer is therefore as fresh as the log when it is asked — the same
 * freshness as the command's own stream read.
 */
import { decodeEvent, type LogicalPort, type Subnet } from '../events/index.js';
import type { EventStore } from '../store/event-store.js';
import { entities, isModelEventOf } from './lifecycle.js';

/** What one switch's ports and subnets hold. */
export interface SwitchAddressing {
  /** The live subnets of the switch (id and network). */
  readonly subnets: readonly Pick<Subnet, 'id' | 'cidr'>[];
  /** The live ports of the switch, by id, with their addresses. */
  readonly ports: ReadonlyMap<string, Pick<LogicalPort, 'macs' | 'ips'>>;
}

/** Events read per page while catching up. */
const PAGE = 5000;

const portModel = entities.port;
const subnetModel = entities.subnet;

export class AddressBook {
  private after = 0n;
  private readonly ports = new Map<string, LogicalPort>();
  private readonly portsBySwitch = new Map<string, Set<string>>();
  private readonly subnets = new Map<string, Subnet>();
  private readonly subnetsBySwitch = new Map<string, Set<string>>();
  /** Catch-ups run one after another: each reads from where the previous one stopped. */
  private tail: Promise<void> = Promise.resolve();

  constructor(private readonly store: EventStore) {}

  /** The switch's ports and subnets as of the log's head now. */
  async ofSwitch(switchId: string): Promise<SwitchAddressing> {
    const caughtUp = this.tail.then(() => this.catchUp());
    this.tail = caughtUp.catch(() => undefined);
    await caughtUp;
    const ports = new Map<string, Pick<LogicalPort, 'macs' | 'ips'>>();
    for (const id of this.portsBySwitch.get(switchId) ?? []) {
      const port = this.ports.get(id);
      if (port) ports.set(id, { macs: port.macs, ips: port.ips });
    }
    const subnets = [...(this.subnetsBySwitch.get(switchId) ?? [])].flatMap((id) => {
      const subnet = this.subnets.get(id);
      return subnet ? [{ id: subnet.id, cidr: subnet.cidr }] : [];
    });
    return { subnets, ports };
  }

  private async catchUp(): Promise<void> {
    for (;;) {
      const page = await this.store.readAll({
        after: this.after,
        maxCount: PAGE,
        filter: {
          streamPrefixes: [`${portModel.category}-`, `${subnetModel.category}-`],
          eventTypePrefixes: [portModel.model, subnetModel.model],
        },
      });
      for (const recorded of page) {
        this.after = recorded.position;
        const isPort = isModelEventOf('port', recorded);
        if (!isPort && !isModelEventOf('subnet', recorded)) continue;
        const decoded = decodeEvent(recorded.type, recorded.data, recorded.metadata.schemaVersion);
        // An event this version cannot read (a newer writer's) is left out of the index: the
        // command's own stream read refuses to decide on such a stream anyway.
        if (!decoded.ok) continue;
        const event = decoded.event;
        if (isPort) this.applyPort(event.type, event.data as LogicalPort);
        else this.applySubnet(event.type, event.data as Subnet);
      }
      if (page.length < PAGE) return;
    }
  }

  private applyPort(type: string, data: LogicalPort | { id: string }): void {
    const previous = this.ports.get(data.id);
    if (previous) this.portsBySwitch.get(previous.switchId)?.delete(data.id);
    if (type.endsWith('Deleted')) {
      this.ports.delete(data.id);
      return;
    }
    const port = data as LogicalPort;
    this.ports.set(port.id, port);
    setOf(this.portsBySwitch, port.switchId).add(port.id);
  }

  private applySubnet(type: string, data: Subnet | { id: string }): void {
    const previous = this.subnets.get(data.id);
    if (previous) this.subnetsBySwitch.get(previous.switchId)?.delete(data.id);
    if (type.endsWith('Deleted')) {
      this.subnets.delete(data.id);
      return;
    }
    const subnet = data as Subnet;
    this.subnets.set(subnet.id, subnet);
    setOf(this.subnetsBySwitch, subnet.switchId).add(subnet.id);
  }
}

function setOf(map: Map<string, Set<string>>, key: string): Set<string> {
  let set = map.get(key);
  if (set === undefined) {
    set = new Set();
    map.set(key, set);
  }
  return set;
}
