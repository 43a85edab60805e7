// SPDX-License-Identifier: Apache-2.0
/* output.bpf.c is the socket-context half of the OUTPUT hook: a tc egress program on the
 * proxy-side veth of the injection pair (xr1), where policy routing sends the node's own
 * TCP/UDP connections. The packet still carries its socket there (skb->sk), which it no longer
 * does when it arrives on the other end as an AF_XDP frame. For each TCP SYN (without ACK) and
 * each UDP datagram it records, under the flow's 5-tuple, what `-m owner`, `-m mark` and `-o`
 * look at: the socket's uid, the packet's mark and the egress interface the main routing table
 * would have chosen. The engine reads the entry on the flow's first packet.
 *
 * It never changes or drops a packet: every path returns TC_ACT_OK (fail open). A failed map
 * update only means the engine evaluates that flow without a socket (no uid, mark 0). */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/pkt_cls.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "xredir_abi.h"

#define RT_TABLE_MAIN_ID 254 /* linux/rtnetlink.h RT_TABLE_MAIN */
#define AF_INET_ID 2
#define AF_INET6_ID 10

struct {
  __uint(type, BPF_MAP_TYPE_LRU_HASH);
  __uint(max_entries, XREDIR_SOCKCTX_MAX);
  __type(key, struct xredir_flow_key);
  __type(value, struct xredir_sock_ctx);
} XREDIR_MAP_SOCKCTX SEC(".maps");

/* main_table_egress asks the main routing table directly (the policy rules that sent the packet
 * here are skipped) for the interface the flow would leave through without xredir. */
static __always_inline __u32 main_table_egress(struct __sk_buff* skb,
                                               const struct xredir_flow_key* flow) {
  struct bpf_fib_lookup fib = {};
  fib.family = flow->family == XREDIR_FAMILY_V4 ? AF_INET_ID : AF_INET6_ID;
  fib.l4_protocol = flow->proto;
  fib.sport = flow->sport_be;
  fib.dport = flow->dport_be;
  fib.ifindex = skb->ifindex;
  fib.tbid = RT_TABLE_MAIN_ID;
  if (flow->family == XREDIR_FAMILY_V4) {
    __builtin_memcpy(&fib.ipv4_src, flow->src_be, 4);
    __builtin_memcpy(&fib.ipv4_dst, flow->dst_be, 4);
  } else {
    __builtin_memcpy(fib.ipv6_src, flow->src_be, 16);
    __builtin_memcpy(fib.ipv6_dst, flow->dst_be, 16);
  }
  long rc = bpf_fib_lookup(skb, &fib, sizeof(fib),
                           BPF_FIB_LOOKUP_DIRECT | BPF_FIB_LOOKUP_TBID | BPF_FIB_LOOKUP_SKIP_NEIGH);
  if (rc != BPF_FIB_LKUP_RET_SUCCESS && rc != BPF_FIB_LKUP_RET_NO_NEIGH) return 0;
  return fib.ifindex;
}

SEC("tc")
int XREDIR_PROG_OUTPUT(struct __sk_buff* skb) {
  void* data = (void*)(long)skb->data;
  void* data_end = (void*)(long)skb->data_end;
  struct ethhdr* eth = data;
  if ((void*)(eth + 1) > data_end) return TC_ACT_OK;
  struct xredir_flow_key flow = {};
  void* l4;
  if (eth->h_proto == bpf_htons(ETH_P_IP)) {
    struct iphdr* ip = (void*)(eth + 1);
    if ((void*)(ip + 1) > data_end || ip->ihl < 5) return TC_ACT_OK;
    if (ip->frag_off & bpf_htons(0x3fff)) return TC_ACT_OK;
    flow.family = XREDIR_FAMILY_V4;
    flow.proto = ip->protocol;
    __builtin_memcpy(flow.src_be, &ip->saddr, 4);
    __builtin_memcpy(flow.dst_be, &ip->daddr, 4);
    l4 = (void*)ip + ip->ihl * 4;
  } else if (eth->h_proto == bpf_htons(ETH_P_IPV6)) {
    struct ipv6hdr* ip6 = (void*)(eth + 1);
    if ((void*)(ip6 + 1) > data_end) return TC_ACT_OK;
    flow.family = XREDIR_FAMILY_V6;
    flow.proto = ip6->nexthdr;
    __builtin_memcpy(flow.src_be, &ip6->saddr, 16);
    __builtin_memcpy(flow.dst_be, &ip6->daddr, 16);
    l4 = ip6 + 1;
  } else {
    return TC_ACT_OK;
  }
  if (flow.proto == IPPROTO_TCP) {
    struct tcphdr* tcp = l4;
    if ((void*)(tcp + 1) > data_end) return TC_ACT_OK;
    if (!tcp->syn || tcp->ack) return TC_ACT_OK; /* only a connection's first packet */
    flow.sport_be = tcp->source;
    flow.dport_be = tcp->dest;
  } else if (flow.proto == IPPROTO_UDP) {
    struct udphdr* udp = l4;
    if ((void*)(udp + 1) > data_end) return TC_ACT_OK;
    flow.sport_be = udp->source;
    flow.dport_be = udp->dest;
  } else {
    return TC_ACT_OK;
  }
  struct xredir_sock_ctx ctx = {};
  ctx.mark = skb->mark;
  if (skb->sk) {
    ctx.uid = bpf_get_socket_uid(skb);
    ctx.flags |= XREDIR_SOCKCTX_HAS_SOCKET;
  }
  ctx.out_ifindex = main_table_egress(skb, &flow);
  if (ctx.out_ifindex != 0) ctx.flags |= XREDIR_SOCKCTX_HAS_OUT;
  bpf_map_update_elem(&XREDIR_MAP_SOCKCTX, &flow, &ctx, BPF_ANY);
  return TC_ACT_OK;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
