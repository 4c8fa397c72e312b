/**
 * The step between deciding that chassis C should reach port P and acknowledging it: C installs
 * the flows toward P's owner. The chassis agent's OVS reconciler implements this for real; the
 * in-memory implementation serves tests and dry runs, for the chassis it is told have an agent.
 * A chassis without one installs nothing, so it never acks: the runner defers the ack (the
 * view stays remote-pending, `remoteReady: false`) until something that can install does.
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

/** An install for a chassis no agent serves: nothing can put its flows in, so no ack. */
export class NoAgentError extends Error {
  override name = 'NoAgentError';
  constructor(readonly chassis: string) {
    super(`no agent installs flows on chassis ${chassis}`);
  }
}

export interface InMemoryRemoteFlowsOptions {
  /**
   * The chassis with an agent, whose installs are recorded (and so acked); installs for any
   * other are refused with NoAgentError. `'all'`: every chassis has one (tests of the apps that
   * assume every chassis runs its agent).
   */
  readonly hosts: Iterable<string> | 'all';
}

export class InMemoryRemoteFlows implements RemoteFlows {
  /** chassis → port → owner the installed flows point at */
  readonly installed = new Map<string, Map<string, string>>();
  private readonly hosts: ReadonlySet<string> | 'all';

  constructor(options: InMemoryRemoteFlowsOptions) {
    this.hosts = options.hosts === 'all' ? 'all' : new Set(options.hosts);
  }

  /** Whether an agent serves `chassis` (its installs are recorded). */
  hasAgent(chassis: string): boolean {
    return this.hosts === 'all' || this.hosts.has(chassis);
  }

  async install({ chassis, portId, owner }: RemoteFlowTarget): Promise<void> {
    if (!this.hasAgent(chassis)) throw new NoAgentError(chassis);
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
