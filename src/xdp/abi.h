// abi.h is the C++ view of xredir_abi.h, the header shared with the XDP program: it includes it
// and pins the layouts with static_asserts, so a field added on one side without the other
// fails the build instead of corrupting map entries.
#pragma once

#include <cstddef>

#include "xdp/xredir_abi.h"

static_assert(sizeof(xredir_iface) == 8);
static_assert(sizeof(xredir_filter_entry) == 24);
static_assert(offsetof(xredir_filter_entry, dport_lo) == 4);
static_assert(offsetof(xredir_filter_entry, dst_be) == 8);
static_assert(sizeof(xredir_flow_key) == 40);
static_assert(offsetof(xredir_flow_key, sport_be) == 4);
static_assert(offsetof(xredir_flow_key, src_be) == 8);
static_assert(offsetof(xredir_flow_key, dst_be) == 24);
static_assert(XREDIR_XSKS_SIZE == XREDIR_MAX_IFACES * XREDIR_MAX_QUEUES);
static_assert(sizeof(xredir_sock_ctx) == 16);
static_assert(offsetof(xredir_sock_ctx, out_ifindex) == 8);
static_assert(sizeof(xredir_fast_entry) == 64);
static_assert(offsetof(xredir_fast_entry, sport_be) == 32);
static_assert(offsetof(xredir_fast_entry, ifindex) == 36);
static_assert(offsetof(xredir_fast_entry, dst_mac) == 40);
static_assert(offsetof(xredir_fast_entry, src_mac) == 46);
static_assert(offsetof(xredir_fast_entry, last_seen_ns) == 56);
