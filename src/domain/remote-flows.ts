/**
 * The step between deciding that chassis C should reach port P and acknowledging it: C installs
 * the flows toward P's owner. The chassis agent's OVS reconciler implements this for real; the
 * in-memory implementation serves tests and agent-less runs.
 */
export interface RemoteFlowTarget {
  readonly chassis: string;
  readonly portId: string;
  /** The chassis P is local on, which C's flows send P's traffic to. */
  readonly owner: string;
}

export interface RemoteFlows {
  /** Resolves once C's flows for P are in place; the ack is appended only after. */
  install(target: RemoteFlowTarget): Promise<void>;
  remove(chassis: string, portId: string): Promise<void>;
  /** A deleted port has no flows anywhere. */
  removeEverywhere(portId: string): Promise<void>;
}

export class InMemoryRemoteFlows implements RemoteFlows {
  /** chassis → port → owner the installed flows point at */
  readonly installed = new Map<string, Map<string, string>>();

  async install({ chassis, portId, owner }: RemoteFlowTarget): Promise<void> {
    let flows = this.installed.get(chassis);
    if (!flows) {
      flows = new Map();
      this.installed.set(chassis, flows);
    }
    flows.set(portId, owner);
  }

  async remove(chassis: string, portId: string): Promise<void> {
    this.installed.get(chassis)?.delete(portId);
  }

  async removeEverywhere(portId: string): Promise<void> {
    for (const flows of this.installed.values()) flows.delete(portId);
  }

  ownerSeenBy(chassis: string, portId: string): string | undefined {
    return this.installed.get(chassis)?.get(portId);
  }
}
