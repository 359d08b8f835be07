/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The maps, the load-time settings, and what every program uses: counting and waking the reader.
 * Included by flowsentry.bpf.c only: one compilation unit, one object.
 */
#ifndef FLOWSENTRY_MAPS_BPF_H
#define FLOWSENTRY_MAPS_BPF_H

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4 << 20); /* user space may resize before load */
} fs_records SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, FS_COUNTER_COUNT);
	__type(key, __u32);
	__type(value, __u64);
} fs_counters SEC(".maps");

/* Ports whose UDP/TCP payloads are DNS (answers from them, questions to them); set before load. */
const volatile __u16 fs_dns_ports[FS_DNS_PORTS_MAX] = {53};

/* The layout this object was built with; user space refuses an object of another version. */
const volatile __u32 fs_record_version = FS_RECORD_VERSION;

/* Never read: they put the record types in the object's BTF, where a test checks Swift's view of
 * every field against clang's (Tests/FlowsentryCaptureTests/RecordLayoutTests.swift). */
struct fs_record_header *const volatile fs_btf_record_header = 0;
struct fs_tcp_record *const volatile fs_btf_tcp_record = 0;
struct fs_flow_record *const volatile fs_btf_flow_record = 0;
struct fs_dns_record *const volatile fs_btf_dns_record = 0;
struct fs_update_record *const volatile fs_btf_update_record = 0;

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, FS_HALF_OPEN_REMOTES);
	__type(key, struct fs_half_open_key);
	__type(value, struct fs_half_open_value);
} fs_half_open SEC(".maps");

/* The process of each socket between connect(2) and the end of its handshake, by socket cookie. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, FS_CONNECTING_SOCKETS);
	__type(key, __u64);
	__type(value, struct fs_process_owner);
} fs_connecting SEC(".maps");

/* The process of each listening socket, from listen(2) to its close; accepted sockets inherit it. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, FS_LISTENERS);
	__type(key, struct fs_listener_key);
	__type(value, struct fs_listener_value);
} fs_listeners SEC(".maps");

/*
 * Waking the reader costs more than writing a record, so records accumulate until
 * FS_WAKEUP_BYTES are pending; the reader also polls every FS_POLL_INTERVAL_MS, which
 * bounds the delay at low rates.
 */
static __always_inline __u64 wakeup_flags(void)
{
	return bpf_ringbuf_query(&fs_records, BPF_RB_AVAIL_DATA) >= FS_WAKEUP_BYTES ? BPF_RB_FORCE_WAKEUP
										    : BPF_RB_NO_WAKEUP;
}

static __always_inline void count(__u32 counter)
{
	__u64 *value = bpf_map_lookup_elem(&fs_counters, &counter);
	if (value)
		*value += 1;
}

#endif /* FLOWSENTRY_MAPS_BPF_H */
