/* SPDX-License-Identifier: Apache-2.0 */
/* fast_maps.bpf.h defines the maps that the XDP program (xredir.bpf.c) and the proxy side's tc
 * program (reply_fast.bpf.c) share: the fast-path entries and the statistics. User space loads
 * the tc program with the XDP program's map fds (bpf_map__reuse_fd), which requires the very
 * same definitions, hence one header. */
#ifndef XREDIR_FAST_MAPS_BPF_H
#define XREDIR_FAST_MAPS_BPF_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include "xredir_abi.h"

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, XREDIR_STAT_COUNT);
  __type(key, __u32);
  __type(value, __u64);
} XREDIR_MAP_STATS SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, XREDIR_FAST_MAX);
  __type(key, struct xredir_flow_key);
  __type(value, struct xredir_fast_entry);
} XREDIR_MAP_FAST SEC(".maps");

static __always_inline void count(__u32 stat) {
  __u64* value = bpf_map_lookup_elem(&XREDIR_MAP_STATS, &stat);
  if (value) *value += 1;
}

#endif
