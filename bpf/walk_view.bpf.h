/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * iter/tcp: a walk over the TCP sockets of the network namespace the iterator is opened in. For each
 * open socket of the watched cgroup (or one below it) it writes an fs_update_record (its counters so
 * far) to the iterator's own output, which user space reads with read(2): no ring buffer, nothing
 * lost to a full one. A socket that sock_ops does not follow is older than the monitor: the walk sets
 * its callback flags (bpf_setsockopt(TCP_BPF_SOCK_OPS_CB_FLAGS), Linux 6.14), so that its end comes
 * from sock_ops with counters. Included by flowsentry.bpf.c only: one compilation unit, one object.
 */
#ifndef FLOWSENTRY_WALK_VIEW_BPF_H
#define FLOWSENTRY_WALK_VIEW_BPF_H

#include <bpf/bpf_core_read.h>

/* The watched cgroup (its id and depth below the root), set before load; depth 0 is the whole host. */
const volatile __u64 fs_watched_cgroup_id = 0;
const volatile __u32 fs_watched_cgroup_level = 0;

/* When the walk began (CLOCK_BOOTTIME): every record of one walk carries it, one clock read per walk
 * rather than one per socket. Only the reader thread opens iterators, one at a time. */
__u64 fs_walk_started_ns = 0;

/* The deepest cgroup level the walk looks up: cgroups nest far less deep in practice. */
#define FS_MAX_CGROUP_LEVEL 256

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, FS_WALK_LISTENERS);
	__type(key, struct fs_walk_listener_key);
	__type(value, __u8);
} fs_walk_listeners SEC(".maps");

static __always_inline __u64 walked_netns_cookie(struct sock_common *common)
{
	struct net *net = common->skc_net.net;
	return net ? net->net_cookie : 0;
}

/* Whether the socket was opened in the watched cgroup or one below it. The ancestor at the watched
 * depth is read with bpf_probe_read_kernel: the verifier refuses a variable index into a BTF pointer. */
static __always_inline int in_watched_cgroup(struct cgroup *cgroup, __u64 cgroup_id)
{
	__u32 level = fs_watched_cgroup_level;
	if (level == 0)
		return 1;
	if (!cgroup)
		return 0;
	/* The common case, a socket of the watched cgroup itself, without the probe reads below. */
	if (cgroup_id == fs_watched_cgroup_id)
		return 1;
	if (level > FS_MAX_CGROUP_LEVEL || (__u32)cgroup->level <= level)
		return 0;
	struct cgroup *ancestor = 0;
	__u64 slot = (__u64)cgroup + bpf_core_field_offset(struct cgroup, ancestors) + (__u64)level * sizeof(ancestor);
	if (bpf_probe_read_kernel(&ancestor, sizeof(ancestor), (const void *)slot) != 0 || !ancestor)
		return 0;
	struct kernfs_node *node = 0;
	__u64 id = 0;
	if (bpf_probe_read_kernel(&node, sizeof(node), &ancestor->kn) != 0 || !node ||
	    bpf_probe_read_kernel(&id, sizeof(id), &node->id) != 0)
		return 0;
	return id == fs_watched_cgroup_id;
}

static __always_inline int reportable_state(__u8 state)
{
	return state == TCP_ESTABLISHED || state == TCP_CLOSE_WAIT || fin_sent_state(state);
}

/* The socket's counters, as they are: read before anything else of the record, since the walk
 * meets most sockets out of cache and loads issued together wait for memory together. */
static __always_inline void read_walk_counters(struct tcp_sock *tp, struct fs_update_record *record)
{
	record->bytes_sent = tp->bytes_acked;
	record->bytes_received = tp->bytes_received;
	record->data_segments_sent = tp->data_segs_out;
	record->data_segments_received = tp->data_segs_in;
	record->retransmits = tp->total_retrans;
	record->rtt_us = tp->srtt_us >> 3;
}

/* The same payload definitions as fill_volume's: the SYN and FINs taken out of the counters. */
static __always_inline void walk_counters_as_payload(struct tcp_sock *tp, struct sock *sk, __u8 state,
						     struct fs_update_record *record)
{
	__u64 sent_overhead = record->direction == FS_DIRECTION_OUTGOING ? 1 : 0;
	if (fin_sent_state(state) && tp->snd_una == tp->snd_nxt)
		sent_overhead += 1;
	__u64 received_overhead = 0;
	if (state == TCP_CLOSE_WAIT || state == TCP_LAST_ACK || state == TCP_CLOSING ||
	    ((state == TCP_FIN_WAIT1 || state == TCP_FIN_WAIT2) && (sk->sk_shutdown & RCV_SHUTDOWN)))
		received_overhead = 1;
	record->bytes_sent = payload_of(record->bytes_sent, sent_overhead);
	record->bytes_received = payload_of(record->bytes_received, received_overhead);
}

static __always_inline void fill_walk_header(struct sock *sk, __u64 cgroup_id, struct fs_update_record *record)
{
	struct fs_record_header *header = &record->header;
	header->kind = FS_RECORD_UPDATE;
	header->hook = FS_HOOK_SOCKET;
	header->timestamp_ns = fs_walk_started_ns;
	header->socket_cookie = bpf_get_socket_cookie(sk);
	header->netns_cookie = walked_netns_cookie(&sk->__sk_common);
	header->source_port = sk->__sk_common.skc_num;
	header->destination_port = bpf_ntohs(sk->__sk_common.skc_dport);
	header->cgroup_id = cgroup_id;
	if (sk->__sk_common.skc_family == AF_INET) {
		header->family = AF_INET;
		__u32 local = sk->__sk_common.skc_rcv_saddr, remote = sk->__sk_common.skc_daddr;
		__builtin_memcpy(header->source_address, &local, 4);
		__builtin_memcpy(header->destination_address, &remote, 4);
	} else {
		header->family = AF_INET6;
		BPF_CORE_READ_INTO(&header->source_address, sk, __sk_common.skc_v6_rcv_saddr);
		BPF_CORE_READ_INTO(&header->destination_address, sk, __sk_common.skc_v6_daddr);
	}
}

/* Starts following a socket older than the monitor; the direction is a guess: accepted when a socket
 * listens on its local port in its namespace (the walk meets listeners first). */
static __always_inline void start_following(struct tcp_sock *tp, struct sock *sk, __u8 flags,
					    struct fs_update_record *record)
{
	struct fs_walk_listener_key key = {.netns_cookie = record->header.netns_cookie,
					   .port = record->header.source_port};
	int incoming = bpf_map_lookup_elem(&fs_walk_listeners, &key) != 0;
	record->direction = incoming ? FS_DIRECTION_INCOMING : FS_DIRECTION_OUTGOING;
	int value = flags | BPF_SOCK_OPS_STATE_CB_FLAG | (incoming ? FS_FOLLOWED_INCOMING : FS_FOLLOWED_OUTGOING);
	long error = bpf_setsockopt(tp, SOL_TCP, TCP_BPF_SOCK_OPS_CB_FLAGS, &value, sizeof(value));
	if (error) {
		record->follow = FS_FOLLOW_FAILED;
		record->follow_error = (__s32)error;
		count(FS_COUNTER_WALK_FOLLOW_FAILED);
	} else {
		record->follow = FS_FOLLOW_STARTED;
	}
}

SEC("iter/tcp")
int fs_walk_tcp(struct bpf_iter__tcp *ctx)
{
	if (ctx->meta->seq_num == 0)
		fs_walk_started_ns = bpf_ktime_get_boot_ns();
	struct sock_common *common = ctx->sk_common;
	if (!common)
		return 0;
	/* The cheapest rejection first: the state, in the line the iterator has just read. Time-wait
	 * and request sockets (no full sockets) and closed ones go without a helper call. */
	__u8 state = common->skc_state;
	if (state == TCP_LISTEN) {
		struct fs_walk_listener_key key = {.netns_cookie = walked_netns_cookie(common), .port = common->skc_num};
		__u8 seen = 1;
		bpf_map_update_elem(&fs_walk_listeners, &key, &seen, BPF_ANY);
		return 0;
	}
	if (!reportable_state(state))
		return 0;
	struct tcp_sock *tp = bpf_skc_to_tcp_sock(common);
	if (!tp)
		return 0;
	struct sock *sk = (struct sock *)tp;
	struct cgroup *cgroup = sk->sk_cgrp_data.cgroup;
	__u64 cgroup_id = cgroup ? cgroup->kn->id : 0;
	if (!in_watched_cgroup(cgroup, cgroup_id))
		return 0;
	struct fs_update_record record;
	__builtin_memset(&record, 0, sizeof(record));
	__u8 flags = tp->bpf_sock_ops_cb_flags;
	read_walk_counters(tp, &record);
	fill_walk_header(sk, cgroup_id, &record);
	record.state = state;
	if (flags & (FS_FOLLOWED_OUTGOING | FS_FOLLOWED_INCOMING)) {
		record.follow = FS_FOLLOW_ALREADY;
		record.direction = flags & FS_FOLLOWED_INCOMING ? FS_DIRECTION_INCOMING : FS_DIRECTION_OUTGOING;
	} else {
		start_following(tp, sk, flags, &record);
	}
	walk_counters_as_payload(tp, sk, state, &record);
	bpf_seq_write(ctx->meta->seq, &record, sizeof(record));
	return 0;
}

#endif /* FLOWSENTRY_WALK_VIEW_BPF_H */
