/**
 * Reading `ovs-appctl ofproto/trace` output: the outputs a traced packet performs, each with the
 * tunnel, VLAN and ARP fields set at that point; the trace and multi-host tests read them.
 */

export interface TraceOutput {
  readonly port: number | 'IN_PORT' | 'CONTROLLER';
  readonly tunId?: string;
  readonly tunDst?: string;
  readonly vlan?: number;
  readonly arpOp?: string;
}

/** The outputs an ofproto/trace performs, in order (an output to the input port is skipped). */
export function outputsOf(trace: string): TraceOutput[] {
  const outputs: TraceOutput[] = [];
  let state: Omit<TraceOutput, 'port'> = {};
  const lines = trace.split('\n').map((line) => line.trim());
  for (const [i, line] of lines.entries()) {
    const set = /^set_field:(.+)->(\w+)$/.exec(line);
    if (set) {
      const [, value, field] = set;
      if (field === 'tun_id') state = { ...state, tunId: value };
      if (field === 'tun_dst') state = { ...state, tunDst: value };
      if (field === 'vlan_vid') state = { ...state, vlan: Number(value) - 4096 };
      if (field === 'arp_op') state = { ...state, arpOp: value };
    } else if (line === 'pop_vlan') {
      const { vlan: _, ...rest } = state;
      state = rest;
    } else if (/^output:\d+$/.test(line)) {
      if (!lines[i + 1]?.includes('skipping output to input port'))
        outputs.push({ port: Number(line.slice('output:'.length)), ...state });
    } else if (line === 'IN_PORT') outputs.push({ port: 'IN_PORT', ...state });
    else if (/^CONTROLLER:\d+$/.test(line)) outputs.push({ port: 'CONTROLLER', ...state });
  }
  return outputs;
}
