/**
 * A logical port as the topology keeps it. Almost every port has one MAC and one IP; an array
 * around each costs ~56 bytes, ~110 per port, times 10^6 ports. A single address is kept as the
 * string, and `macs`/`ips` read as the document's arrays (a fresh one-element array per read:
 * readers are the chassis views, once per port per flow sync). `toJSON` gives the document.
 */
import type { DeviceOwner, LogicalPort } from '../events/index.js';

type Addresses = string | string[];

const packed = (addresses: string[]): Addresses =>
  addresses.length === 1 ? (addresses[0] as string) : addresses;
const unpacked = (addresses: Addresses): string[] =>
  typeof addresses === 'string' ? [addresses] : addresses;

export class CompactPort implements LogicalPort {
  readonly #macs: Addresses;
  readonly #ips: Addresses;

  constructor(
    readonly id: string,
    readonly switchId: string,
    macs: string[],
    ips: string[],
    readonly deviceOwner: DeviceOwner,
    readonly requestedChassis: string | null,
  ) {
    this.#macs = packed(macs);
    this.#ips = packed(ips);
  }

  get macs(): string[] {
    return unpacked(this.#macs);
  }

  get ips(): string[] {
    return unpacked(this.#ips);
  }

  toJSON(): LogicalPort {
    return {
      id: this.id,
      switchId: this.switchId,
      macs: this.macs,
      ips: this.ips,
      deviceOwner: this.deviceOwner,
      requestedChassis: this.requestedChassis,
    };
  }
}
