/* xredir_abi.h owns the contract between the XDP program (xredir.bpf.c) and user space: map
 * names, sizes, and the plain structs used as map keys and values. It is the one header both
 * sides include (xdp-tools' *_kern_user.h pattern), so the layouts cannot drift apart. Only
 * fixed-width kernel types, explicit padding, no bitfields or pointers; network byte order is
 * spelled in the field name (_be). The C++ side static_asserts the sizes (xdp_abi_check.h). */
#ifndef XREDIR_XDP_ABI_H
#define XREDIR_XDP_ABI_H

#include <linux/types.h>

/* Map names as the BPF object names them; user space finds maps through the skeleton, the
 * names are here so that tools (bpftool map show name ...) and tests agree with the program. */
#define XREDIR_MAP_XSKS xsks
#define XREDIR_MAP_IFACES xr_ifaces
#define XREDIR_MAP_FILTER xr_filter
#define XREDIR_MAP_PASS xr_pass
#define XREDIR_MAP_XLAT xr_xlat
#define XREDIR_MAP_STATS xr_stats
#define XREDIR_MAP_FAST xr_fast
#define XREDIR_PROG_MAIN xredir_xdp
#define XREDIR_PROG_REINJECT xredir_reinject
/* The OUTPUT hook's tc program (output.bpf.c) and its map. */
#define XREDIR_MAP_SOCKCTX xr_sockctx
#define XREDIR_PROG_OUTPUT xredir_tc_output
/* reply_fast.bpf.c: the fast path of the proxy's side at tc egress of xr1 */
#define XREDIR_PROG_REPLY_FAST xredir_tc_reply_fast

/* XSKMAP key = iface slot * XREDIR_MAX_QUEUES + rx queue. 16 interfaces x 64 queues covers the
 * capture interfaces plus the injection pair of one node; more slots cost only map memory. */
#define XREDIR_MAX_IFACES 16
#define XREDIR_MAX_QUEUES 64
#define XREDIR_XSKS_SIZE (XREDIR_MAX_IFACES * XREDIR_MAX_QUEUES)

/* Steering filter entries: a conservative superset of what any translation rule can match.
 * 64 entries hold the per-(family, proto, dst prefix, dport range) summary of real rule sets
 * (Istio's sidecar set summarises to "all TCP"); a larger summary is widened by user space. */
#define XREDIR_FILTER_MAX 64
/* Pass-through flows: LRU, so a flood of untranslated flows evicts the oldest decisions (an
 * evicted flow's next packet is steered again and re-decided, never lost). */
#define XREDIR_PASS_MAX 65536
/* Translated flows (original direction, as they arrive): steered even when a narrower filter
 * after a rule reload no longer matches them, so a reload never strands a live translation.
 * LRU: an evicted entry only matters if the filter also stopped matching that flow. */
#define XREDIR_XLAT_MAX 131072

/* Fast-path entries (established translated TCP flows the program rewrites and redirects
 * itself): two per connection, one per direction. A full map only means more connections stay
 * on the AF_XDP path. */
#define XREDIR_FAST_MAX 131072

/* Socket context of locally generated flows, recorded by the tc egress program on the proxy
 * side of the injection pair for each TCP SYN and UDP datagram. LRU: the engine reads an entry
 * once, on the flow's first packet, microseconds after it was written. */
#define XREDIR_SOCKCTX_MAX 65536

#define XREDIR_FAMILY_V4 4
#define XREDIR_FAMILY_V6 6

/* Role of an interface: capture interfaces steer only filter matches; the injection interface
 * (xr0) sees only what the kernel routes towards the injection pair (the proxy's replies), so
 * it steers every TCP/UDP packet. */
enum xredir_iface_role {
  XREDIR_ROLE_CAPTURE = 1,
  XREDIR_ROLE_INJECTION = 2,
};

/* Value of XREDIR_MAP_IFACES (hash, key: __u32 ifindex). */
struct xredir_iface {
  __u32 slot; /* index into the XSKMAP's slot dimension, < XREDIR_MAX_IFACES */
  __u32 role; /* enum xredir_iface_role */
};

/* One steering filter entry (XREDIR_MAP_FILTER, array indexed 0..XREDIR_FILTER_MAX-1). An entry
 * with family 0 is unused; entries are scanned in order until the first unused one. */
struct xredir_filter_entry {
  __u8 family;     /* XREDIR_FAMILY_V4/V6; 0 = end of the list */
  __u8 proto;      /* IPPROTO_TCP or IPPROTO_UDP */
  __u8 prefix_len; /* dst prefix length; 0 matches every destination */
  __u8 pad0;
  __u16 dport_lo;  /* host order, inclusive */
  __u16 dport_hi;  /* host order, inclusive */
  __u8 dst_be[16]; /* network order, host bits cleared; IPv4 uses the first 4 bytes */
};

/* Key of XREDIR_MAP_PASS and XREDIR_MAP_XLAT: the flow as it arrives on the capture interface. IPv4
 * addresses use the first 4 bytes of the 16 and leave the rest zero. */
struct xredir_flow_key {
  __u8 family;
  __u8 proto;
  __u16 pad0;
  __u16 sport_be;
  __u16 dport_be;
  __u8 src_be[16];
  __u8 dst_be[16];
};

/* Value of XREDIR_MAP_FAST (hash, key: struct xredir_flow_key of the packet as it arrives: the
 * original tuple on the capture interface, the reply tuple on the injection interface). User
 * space writes it when conntrack holds the connection ESTABLISHED and deletes it on FIN/RST or
 * when the conntrack entry is gone; the program only writes last_seen_ns. */
struct xredir_fast_entry {
  __u8 src_be[16]; /* the packet's new source address (IPv4: first 4 bytes) */
  __u8 dst_be[16]; /* the packet's new destination address */
  __u16 sport_be;  /* new source port */
  __u16 dport_be;  /* new destination port */
  __u32 ifindex;   /* egress: bpf_redirect(ifindex, 0) */
  __u8 dst_mac[6]; /* new Ethernet destination */
  __u8 src_mac[6]; /* new Ethernet source */
  __u32 pad0;
  __u64 last_seen_ns; /* bpf_ktime_get_ns() of the last packet the program carried; 0: none */
};

/* Value of XREDIR_MAP_SOCKCTX (key: struct xredir_flow_key of the packet as it leaves the
 * proxy-side veth, which is how it arrives on the injection interface). */
enum xredir_sockctx_flags {
  XREDIR_SOCKCTX_HAS_SOCKET = 1, /* uid is the owning socket's (else no full socket) */
  XREDIR_SOCKCTX_HAS_OUT = 2,    /* out_ifindex is the main table's route for the flow */
};
struct xredir_sock_ctx {
  __u32 uid;         /* bpf_get_socket_uid: the socket's owner, as -m owner --uid-owner sees */
  __u32 mark;        /* skb->mark (SO_MARK), as -m mark sees at OUTPUT */
  __u32 out_ifindex; /* egress of the route the main table holds (what -o sees) */
  __u32 flags;       /* enum xredir_sockctx_flags */
};

/* Per-CPU counters (XREDIR_MAP_STATS, per-CPU array indexed by enum xredir_stat). */
enum xredir_stat {
  XREDIR_STAT_SEEN = 0,       /* every frame the program ran on */
  XREDIR_STAT_PASS_NOT_IP,    /* ARP, NDP's carrier ICMPv6 included below, other ethertypes */
  XREDIR_STAT_PASS_NOT_L4,    /* IP but neither TCP nor UDP (ICMP, NDP, fragments...) */
  XREDIR_STAT_PASS_TRUNCATED, /* header runs past the frame: fail open */
  XREDIR_STAT_PASS_NO_IFACE,  /* interface not configured: fail open */
  XREDIR_STAT_PASS_NO_MATCH,  /* not a candidate */
  XREDIR_STAT_PASS_FLOW,      /* flow marked pass-through by user space */
  XREDIR_STAT_STEERED,        /* handed to bpf_redirect_map (which itself passes w/o socket) */
  XREDIR_STAT_STEERED_XLAT,   /* ... of which the filter missed, the translated-flow map hit */
  XREDIR_STAT_FAST_PATH,      /* rewritten and redirected by the program (fast-path entry) */
  XREDIR_STAT_FAST_SLOW,      /* fast-path entry hit, but SYN/FIN/RST or not plain IPv4: slow */
  XREDIR_STAT_COUNT,
};

#endif /* XREDIR_XDP_ABI_H */
