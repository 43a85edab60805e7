// SPDX-License-Identifier: Apache-2.0
/* xredir.bpf.c is the XDP half of the datapath. It decides, per frame, whether user space must
 * see it (steer into the AF_XDP socket of this interface and queue) or the kernel keeps it
 * (XDP_PASS, untouched). It never rewrites or drops: every failure below fails OPEN (XDP_PASS),
 * because a redirector that black-holes traffic when its daemon dies is worse than one that
 * stops redirecting. There is no XDP_DROP anywhere in this file.
 *
 * Candidates: TCP/UDP over IPv4/IPv6 on a capture interface whose destination matches the
 * steering filter (a superset of what the rule set can translate) or whose flow user space
 * recorded as translated, and whose flow user space has not marked pass-through; every TCP/UDP
 * frame on the injection interface (the proxy's replies, and local connections that the OUTPUT
 * hook's policy routing sends there) that is not marked pass-through. ARP, NDP/ICMP, fragments,
 * IPv6 with extension headers and other ethertypes always pass.
 *
 * The one exception to "never rewrites": established translated TCP flows whose rewrite user
 * space installed in XREDIR_MAP_FAST (fast path). Their plain data/ACK segments (untagged IPv4,
 * no SYN/FIN/RST) are rewritten here (addresses, ports, RFC 1624 incremental checksums, MACs)
 * and sent with bpf_redirect straight to the egress user space chose; SYN/FIN/RST and
 * everything else still goes to user space, whose conntrack stays the source of truth. */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "fast_maps.bpf.h"
#include "xredir_abi.h"

#define VLAN_HLEN 4
#define MAX_VLAN_TAGS 2 /* 802.1Q and 802.1ad (QinQ), like the user-space parser */

struct {
  __uint(type, BPF_MAP_TYPE_XSKMAP);
  __uint(max_entries, XREDIR_XSKS_SIZE);
  __type(key, __u32);
  __type(value, __u32);
} XREDIR_MAP_XSKS SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, XREDIR_MAX_IFACES);
  __type(key, __u32);
  __type(value, struct xredir_iface);
} XREDIR_MAP_IFACES SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, XREDIR_FILTER_MAX);
  __type(key, __u32);
  __type(value, struct xredir_filter_entry);
} XREDIR_MAP_FILTER SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_LRU_HASH);
  __uint(max_entries, XREDIR_PASS_MAX);
  __type(key, struct xredir_flow_key);
  __type(value, __u8);
} XREDIR_MAP_PASS SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_LRU_HASH);
  __uint(max_entries, XREDIR_XLAT_MAX);
  __type(key, struct xredir_flow_key);
  __type(value, __u8);
} XREDIR_MAP_XLAT SEC(".maps");

static __always_inline int prefix_matches(const __u8* addr, const struct xredir_filter_entry* e) {
  __u32 bits = e->prefix_len;
  if (bits > 128) return 0;
  for (int i = 0; i < 16; i++) {
    if (bits == 0) return 1;
    __u8 mask = bits >= 8 ? 0xff : (__u8)(0xff << (8 - bits));
    if ((addr[i] & mask) != e->dst_be[i]) return 0;
    bits = bits >= 8 ? bits - 8 : 0;
  }
  return 1;
}

/* filter_matches scans the steering filter in order; the first unused entry ends the list. */
static __always_inline int filter_matches(const struct xredir_flow_key* flow) {
  __u16 dport = bpf_ntohs(flow->dport_be);
  for (__u32 i = 0; i < XREDIR_FILTER_MAX; i++) {
    __u32 key = i;
    struct xredir_filter_entry* e = bpf_map_lookup_elem(&XREDIR_MAP_FILTER, &key);
    if (!e || e->family == 0) return 0;
    if (e->family != flow->family || e->proto != flow->proto) continue;
    if (dport < e->dport_lo || dport > e->dport_hi) continue;
    if (prefix_matches(flow->dst_be, e)) return 1;
  }
  return 0;
}

/* parse_flow fills the flow key of a TCP/UDP frame. Returns the stat explaining why the frame
 * is not one (all of them fail open), or XREDIR_STAT_COUNT when flow was filled. */
static __always_inline __u32 parse_flow(struct xdp_md* ctx, struct xredir_flow_key* flow) {
  void* data = (void*)(long)ctx->data;
  void* data_end = (void*)(long)ctx->data_end;
  struct ethhdr* eth = data;
  if ((void*)(eth + 1) > data_end) return XREDIR_STAT_PASS_TRUNCATED;
  void* cursor = eth + 1;
  __u16 proto = eth->h_proto;
  for (int i = 0; i < MAX_VLAN_TAGS; i++) {
    if (proto != bpf_htons(ETH_P_8021Q) && proto != bpf_htons(ETH_P_8021AD)) break;
    if (cursor + VLAN_HLEN > data_end) return XREDIR_STAT_PASS_TRUNCATED;
    proto = *(__u16*)(cursor + 2);
    cursor += VLAN_HLEN;
  }

  __u8 l4proto;
  if (proto == bpf_htons(ETH_P_IP)) {
    struct iphdr* ip = cursor;
    if ((void*)(ip + 1) > data_end) return XREDIR_STAT_PASS_TRUNCATED;
    if (ip->ihl < 5) return XREDIR_STAT_PASS_TRUNCATED;
    /* Fragments pass: only the first carries ports, and reassembly is the kernel's. */
    if (ip->frag_off & bpf_htons(0x3fff)) return XREDIR_STAT_PASS_NOT_L4;
    l4proto = ip->protocol;
    flow->family = XREDIR_FAMILY_V4;
    __builtin_memcpy(flow->src_be, &ip->saddr, 4);
    __builtin_memcpy(flow->dst_be, &ip->daddr, 4);
    cursor += ip->ihl * 4;
  } else if (proto == bpf_htons(ETH_P_IPV6)) {
    struct ipv6hdr* ip6 = cursor;
    if ((void*)(ip6 + 1) > data_end) return XREDIR_STAT_PASS_TRUNCATED;
    /* Extension headers are not walked here: such packets pass (fail open). */
    l4proto = ip6->nexthdr;
    flow->family = XREDIR_FAMILY_V6;
    __builtin_memcpy(flow->src_be, &ip6->saddr, 16);
    __builtin_memcpy(flow->dst_be, &ip6->daddr, 16);
    cursor = ip6 + 1;
  } else {
    return XREDIR_STAT_PASS_NOT_IP;
  }

  if (l4proto != IPPROTO_TCP && l4proto != IPPROTO_UDP) return XREDIR_STAT_PASS_NOT_L4;
  /* Ports are the first 4 bytes of both TCP and UDP headers. */
  if (cursor + 4 > data_end) return XREDIR_STAT_PASS_TRUNCATED;
  flow->proto = l4proto;
  flow->sport_be = *(__u16*)cursor;
  flow->dport_be = *(__u16*)(cursor + 2);
  return XREDIR_STAT_COUNT;
}

/* RFC 1624 eqn. 3, HC' = ~(~HC + ~m + m'): csum_diff32/16 accumulate ~m + m' for one replaced
 * field (in network order, as stored: the one's-complement sum is byte-order independent) and
 * csum_apply folds the sum into the old checksum. */
static __always_inline __u32 csum_diff32(__u32 sum, __u32 from, __u32 to) {
  __u32 nfrom = ~from;
  return sum + (nfrom & 0xffff) + (nfrom >> 16) + (to & 0xffff) + (to >> 16);
}
static __always_inline __u32 csum_diff16(__u32 sum, __u16 from, __u16 to) {
  return sum + (__u16)~from + to;
}
static __always_inline __u16 csum_apply(__u16 check, __u32 sum) {
  sum += (__u16)~check;
  sum = (sum & 0xffff) + (sum >> 16);
  sum = (sum & 0xffff) + (sum >> 16);
  return (__u16)~sum;
}

/* fast_path carries a packet of an installed flow: returns the XDP action, or -1 when the
 * packet must take the normal way (no entry, or not a plain data/ACK segment). A hit with
 * SYN/FIN/RST deletes this direction's entry: a SYN means the 4-tuple is being reused by a new
 * connection (whose translation may differ), FIN/RST end the established phase; user space
 * removes the other direction when conntrack sees the FIN/RST. */
static __always_inline int fast_path(struct xdp_md* ctx, const struct xredir_flow_key* flow) {
  if (flow->family != XREDIR_FAMILY_V4 || flow->proto != IPPROTO_TCP) return -1;
  struct xredir_fast_entry* e = bpf_map_lookup_elem(&XREDIR_MAP_FAST, flow);
  if (!e) return -1;
  void* data = (void*)(long)ctx->data;
  void* data_end = (void*)(long)ctx->data_end;
  struct ethhdr* eth = data;
  if ((void*)(eth + 1) > data_end) return -1;
  /* VLAN-tagged frames keep the AF_XDP path (the tag would follow the frame to the proxy). */
  if (eth->h_proto != bpf_htons(ETH_P_IP)) {
    count(XREDIR_STAT_FAST_SLOW);
    return -1;
  }
  struct iphdr* ip = (void*)(eth + 1);
  if ((void*)(ip + 1) > data_end) return -1;
  __u32 ihl = ip->ihl * 4;
  if (ihl < sizeof(*ip) || ihl > 60) return -1;
  struct tcphdr* tcp = (void*)ip + ihl;
  if ((void*)(tcp + 1) > data_end) return -1;
  if (tcp->syn || tcp->fin || tcp->rst) {
    bpf_map_delete_elem(&XREDIR_MAP_FAST, flow);
    count(XREDIR_STAT_FAST_SLOW);
    return -1;
  }
  __u32 saddr, daddr;
  __builtin_memcpy(&saddr, e->src_be, 4);
  __builtin_memcpy(&daddr, e->dst_be, 4);
  __u32 addr_sum = csum_diff32(0, ip->saddr, saddr);
  addr_sum = csum_diff32(addr_sum, ip->daddr, daddr);
  /* The TCP checksum covers the pseudo-header (addresses) and the ports. */
  __u32 tcp_sum = csum_diff16(addr_sum, tcp->source, e->sport_be);
  tcp_sum = csum_diff16(tcp_sum, tcp->dest, e->dport_be);
  ip->check = csum_apply(ip->check, addr_sum);
  ip->saddr = saddr;
  ip->daddr = daddr;
  tcp->check = csum_apply(tcp->check, tcp_sum);
  tcp->source = e->sport_be;
  tcp->dest = e->dport_be;
  __builtin_memcpy(eth->h_dest, e->dst_mac, ETH_ALEN);
  __builtin_memcpy(eth->h_source, e->src_mac, ETH_ALEN);
  e->last_seen_ns = bpf_ktime_get_ns();
  count(XREDIR_STAT_FAST_PATH);
  return bpf_redirect(e->ifindex, 0);
}

SEC("xdp")
int XREDIR_PROG_MAIN(struct xdp_md* ctx) {
  count(XREDIR_STAT_SEEN);
  struct xredir_flow_key flow = {};
  __u32 why = parse_flow(ctx, &flow);
  if (why != XREDIR_STAT_COUNT) {
    count(why);
    return XDP_PASS;
  }
  __u32 ifindex = ctx->ingress_ifindex;
  struct xredir_iface* iface = bpf_map_lookup_elem(&XREDIR_MAP_IFACES, &ifindex);
  if (!iface || iface->slot >= XREDIR_MAX_IFACES) {
    count(XREDIR_STAT_PASS_NO_IFACE); /* not ours (yet): fail open */
    return XDP_PASS;
  }
  int fast = fast_path(ctx, &flow);
  if (fast >= 0) return fast;
  if (iface->role == XREDIR_ROLE_CAPTURE) {
    if (!filter_matches(&flow)) {
      /* A flow translated under an earlier, wider filter stays steered. */
      if (!bpf_map_lookup_elem(&XREDIR_MAP_XLAT, &flow)) {
        count(XREDIR_STAT_PASS_NO_MATCH);
        return XDP_PASS;
      }
      count(XREDIR_STAT_STEERED_XLAT);
    }
  }
  /* On the injection interface too: a local connection (OUTPUT hook) that the rules left
   * untranslated is forwarded by the kernel from there, without user space. The proxy's own
   * replies are never marked pass-through. */
  if (bpf_map_lookup_elem(&XREDIR_MAP_PASS, &flow)) {
    count(XREDIR_STAT_PASS_FLOW);
    return XDP_PASS;
  }
  __u32 queue = ctx->rx_queue_index;
  if (queue >= XREDIR_MAX_QUEUES) {
    count(XREDIR_STAT_PASS_NO_IFACE);
    return XDP_PASS;
  }
  count(XREDIR_STAT_STEERED);
  /* No socket in the slot (daemon gone, queue without a worker): XDP_PASS, fail open. */
  return bpf_redirect_map(&XREDIR_MAP_XSKS, iface->slot * XREDIR_MAX_QUEUES + queue, XDP_PASS);
}

/* XREDIR_PROG_REINJECT is never attached. User space runs it through BPF_PROG_TEST_RUN with
 * BPF_F_TEST_XDP_LIVE_FRAMES to hand a frame that turned out not to be translated back to the
 * kernel as if it had just been received on its ingress interface (XDP_PASS in live-frame mode
 * builds an skb and calls the receive path of ctx.ingress_ifindex). The attached program does
 * not run again on it, so it cannot loop back into user space. */
SEC("xdp")
int XREDIR_PROG_REINJECT(struct xdp_md* ctx) {
  return XDP_PASS;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
