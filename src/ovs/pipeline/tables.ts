/**
 * The integration bridge's OpenFlow 1.3 pipeline (see README.md in this folder).
 *
 * Registers:
 *   metadata        switch key of the packet's logical switch (hash of the switch id)
 *   xreg3 (reg6-7)  source port key (hash of the lport id), set for packets from local ports
 *   xreg2 (reg4-5)  destination port key, set by the L2 lookup / service classification
 *   reg0            1 when the packet entered from another chassis (tunnel or provider network)
 *
 *  0 INGRESS    in_port (+ dl_vlan for trunk sub-ports) → metadata, xreg3, goto 10;
 *               tunnel port + tun_id, or provider patch port + VLAN → metadata, reg0=1, goto 20
 *               (packets from other chassis skip the local responders); default drop.
 * 10 SERVICES   ARP requests for a distributed router interface IP are answered here
 *               (reply built in place, goto 35); DHCP requests (udp 68→67) → the switch's
 *               DHCP port in xreg2, goto 40; default goto 20.
 * 20 L2         metadata + dl_dst → xreg2 = destination port, goto 30;
 *               broadcast / multicast → flood within the switch: from another chassis (reg0=1)
 *               to local ports only (split horizon), from a local port to local ports, every
 *               remote chassis of the switch by tunnel and the provider network; unknown
 *               unicast is dropped (locus knows every MAC; PipelineOptions.floodUnknownUnicast
 *               floods it too); default drop.
 * 30 EGRESS     by xreg2: local → output (push VLAN for a trunk sub-port); remote over a tunnel
 *               → tun_id = VNI, tun_dst = owner's tunnel IP, output tunnel port; remote over a
 *               provider network → push VLAN (unless flat), output patch port. Remote egress
 *               requires reg0=0, so nothing received from another chassis is sent back out.
 *               Distributed and interface-less local ports → goto 40. Default drop.
 * 35 REPLY      a locally built answer back to its asker: by xreg3, a trunk sub-port's reply is
 *               VLAN-tagged again; default output IN_PORT.
 * 40 LOCAL      the local service path. DHCP port → CONTROLLER (the DHCP service is the
 *               controller's job, not locus'); everything else (routing behind a router port,
 *               DNAT of a floating IP port) is a documented stub: default drop.
 */
export const tables = {
  ingress: 0,
  services: 10,
  l2: 20,
  egress: 30,
  reply: 35,
  local: 40,
} as const;

export const priorities = {
  /** Tagged frames of a trunk sub-port win over the parent's untagged flow. */
  subport: 110,
  exact: 100,
  /** Flood of packets received from another chassis: local ports only. */
  floodFromRemote: 60,
  flood: 50,
  default: 0,
} as const;

/** Ethernet type and UDP ports the service table matches. */
export const arpRequest = 1;
export const arpReply = 2;
export const dhcpClientPort = 68;
export const dhcpServerPort = 67;
