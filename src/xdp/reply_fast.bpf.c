// SPDX-License-Identifier: Apache-2.0
/* reply_fast.bpf.c carries the proxy's side of fast-path flows at tc egress of the proxy-side
 * veth (xr1), before the packet reaches the XDP program on xr0. Why here and not in XDP: the
 * kernel clears TSO on a veth whose peer runs XDP, but TCP on xr1 still builds 64 KB GSO packets
 * (software GSO) and segments them only after tc egress. Rewritten and redirected here, such a
 * packet leaves the capture interface whole, as the kernel's own REDIRECT path sends it, instead
 * of as 45 MSS-sized frames each crossing the XDP program.
 *
 * It shares XREDIR_MAP_FAST and XREDIR_MAP_STATS with xredir.bpf.c (user space reuses their fds
 * before loading), so the entries and their life cycle are the XDP fast path's: user space
 * installs them at ESTABLISHED and removes them on FIN/RST; a SYN/FIN/RST deletes this
 * direction's entry here and goes on to xr0, where user space sees it. Entries that lead back to
 * the injection interface (a local connection of the OUTPUT hook) are left to the XDP program.
 *
 * The rewrite uses the skb checksum helpers, which keep a CHECKSUM_PARTIAL packet (GSO or not)
 * correct: the pseudo-header fields (addresses) with BPF_F_PSEUDO_HDR, the ports as plain
 * fields. Anything it does not carry continues unchanged (TC_ACT_UNSPEC: the next filter on the
 * hook, e.g. the OUTPUT hook's probe, still runs). The one drop: a packet whose rewrite a helper
 * refused halfway (not expected: the header was read from the linear part), which must not
 * leave with mixed addresses. */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/pkt_cls.h>
#include <linux/tcp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include <stddef.h>

#include "fast_maps.bpf.h"
#include "xredir_abi.h"

/* Set by user space before load: the injection interface (xr0). */
const volatile __u32 inject_ifindex = 0;

#define IP_OFF ETH_HLEN
#define IP_CSUM_OFF (IP_OFF + offsetof(struct iphdr, check))
#define IP_SRC_OFF (IP_OFF + offsetof(struct iphdr, saddr))
#define IP_DST_OFF (IP_OFF + offsetof(struct iphdr, daddr))

SEC("tc")
int XREDIR_PROG_REPLY_FAST(struct __sk_buff* skb) {
  void* data = (void*)(long)skb->data;
  void* data_end = (void*)(long)skb->data_end;
  struct ethhdr* eth = data;
  if ((void*)(eth + 1) > data_end || eth->h_proto != bpf_htons(ETH_P_IP)) return TC_ACT_UNSPEC;
  struct iphdr* ip = (void*)(eth + 1);
  /* Only option-less IPv4 headers: the checksum offsets below are fixed. */
  if ((void*)(ip + 1) > data_end || ip->ihl != 5 || ip->protocol != IPPROTO_TCP) {
    return TC_ACT_UNSPEC;
  }
  if (ip->frag_off & bpf_htons(0x3fff)) return TC_ACT_UNSPEC;
  struct tcphdr* tcp = (void*)(ip + 1);
  if ((void*)(tcp + 1) > data_end) return TC_ACT_UNSPEC;

  struct xredir_flow_key flow = {};
  flow.family = XREDIR_FAMILY_V4;
  flow.proto = IPPROTO_TCP;
  flow.sport_be = tcp->source;
  flow.dport_be = tcp->dest;
  __builtin_memcpy(flow.src_be, &ip->saddr, 4);
  __builtin_memcpy(flow.dst_be, &ip->daddr, 4);
  struct xredir_fast_entry* e = bpf_map_lookup_elem(&XREDIR_MAP_FAST, &flow);
  if (!e || e->ifindex == inject_ifindex) return TC_ACT_UNSPEC;
  if (tcp->syn || tcp->fin || tcp->rst) {
    bpf_map_delete_elem(&XREDIR_MAP_FAST, &flow);
    count(XREDIR_STAT_FAST_SLOW);
    return TC_ACT_UNSPEC;
  }

  __u32 old_src = ip->saddr, old_dst = ip->daddr;
  __u16 old_sport = tcp->source, old_dport = tcp->dest;
  __u32 new_src, new_dst;
  __builtin_memcpy(&new_src, e->src_be, 4);
  __builtin_memcpy(&new_dst, e->dst_be, 4);
  const __u16 new_sport = e->sport_be, new_dport = e->dport_be;
  __u8 macs[2 * ETH_ALEN];
  __builtin_memcpy(macs, e->dst_mac, ETH_ALEN);
  __builtin_memcpy(macs + ETH_ALEN, e->src_mac, ETH_ALEN);
  const __u32 egress = e->ifindex;
  e->last_seen_ns = bpf_ktime_get_ns();

  /* The helpers below may move the packet: no pointer into it is used after this point. */
  const __u32 tcp_csum_off = IP_OFF + sizeof(struct iphdr) + offsetof(struct tcphdr, check);
  const __u32 tcp_sport_off = IP_OFF + sizeof(struct iphdr) + offsetof(struct tcphdr, source);
  const __u32 tcp_dport_off = IP_OFF + sizeof(struct iphdr) + offsetof(struct tcphdr, dest);
  if (bpf_l4_csum_replace(skb, tcp_csum_off, old_src, new_src, BPF_F_PSEUDO_HDR | 4) ||
      bpf_l4_csum_replace(skb, tcp_csum_off, old_dst, new_dst, BPF_F_PSEUDO_HDR | 4) ||
      bpf_l4_csum_replace(skb, tcp_csum_off, old_sport, new_sport, 2) ||
      bpf_l4_csum_replace(skb, tcp_csum_off, old_dport, new_dport, 2) ||
      bpf_l3_csum_replace(skb, IP_CSUM_OFF, old_src, new_src, 4) ||
      bpf_l3_csum_replace(skb, IP_CSUM_OFF, old_dst, new_dst, 4) ||
      bpf_skb_store_bytes(skb, IP_SRC_OFF, &new_src, 4, 0) ||
      bpf_skb_store_bytes(skb, IP_DST_OFF, &new_dst, 4, 0) ||
      bpf_skb_store_bytes(skb, tcp_sport_off, &new_sport, 2, 0) ||
      bpf_skb_store_bytes(skb, tcp_dport_off, &new_dport, 2, 0) ||
      bpf_skb_store_bytes(skb, 0, macs, sizeof(macs), 0)) {
    /* Not expected with a linear header; a half-rewritten packet must not go on as it is. */
    count(XREDIR_STAT_FAST_SLOW);
    return TC_ACT_SHOT;
  }
  count(XREDIR_STAT_FAST_PATH);
  return bpf_redirect(egress, 0);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
