/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * cgroup/sock_ops: flows as the local TCP stack accepted them. Included by flowsentry.bpf.c only: one
 * compilation unit, one object.
 */
#ifndef FLOWSENTRY_SOCKET_VIEW_BPF_H
#define FLOWSENTRY_SOCKET_VIEW_BPF_H

/* One 32-bit load of a context field: the compiler must not merge neighbours into a 64-bit load,
 * which the verifier refuses for bpf_sock_ops. */
#define CTX_U32(field) (*(volatile __u32 *)&(field))

static __always_inline void copy_ip6(__u8 *to, const __u32 *words)
{
	__u32 copy[4] = {CTX_U32(words[0]), CTX_U32(words[1]), CTX_U32(words[2]), CTX_U32(words[3])};
	__builtin_memcpy(to, copy, 16);
}

enum socket_end {
	SOCKET_LOCAL,
	SOCKET_REMOTE,
};

/* One end's address of the socket: 4 bytes for IPv4, 16 for IPv6, into a 16-byte field. Its family. */
static __always_inline __u8 copy_socket_address(struct bpf_sock_ops *ops, enum socket_end end, __u8 *to)
{
	if (ops->family == AF_INET) {
		__u32 address = end == SOCKET_LOCAL ? CTX_U32(ops->local_ip4) : CTX_U32(ops->remote_ip4);
		__builtin_memcpy(to, &address, 4);
		return AF_INET;
	}
	if (end == SOCKET_LOCAL)
		copy_ip6(to, ops->local_ip6);
	else
		copy_ip6(to, ops->remote_ip6);
	return AF_INET6;
}

static __always_inline struct sock *kernel_sock(struct bpf_sock_ops *ops)
{
	struct bpf_sock *sk = ops->sk;
	if (!sk)
		return 0;
	return (struct sock *)bpf_skc_to_tcp_sock(sk);
}

static __always_inline __u64 cgroup_id_of(struct sock *sk)
{
	return sk ? sk->sk_cgrp_data.cgroup->kn->id : 0;
}

static __always_inline __u64 socket_cgroup_id(struct bpf_sock_ops *ops)
{
	return cgroup_id_of(kernel_sock(ops));
}

static __always_inline void set_callback_flags(struct bpf_sock_ops *ops, __u32 set, __u32 clear)
{
	bpf_sock_ops_cb_flags_set(ops, (ops->bpf_sock_ops_cb_flags & ~clear) | set);
}

/* connect(2) and listen(2) run in the caller's context: the one moment its identity is at hand. */
static __always_inline void current_owner(struct bpf_sock_ops *ops, struct fs_process_owner *owner)
{
	owner->pid = bpf_get_current_pid_tgid() >> 32;
	owner->uid = (__u32)bpf_get_current_uid_gid();
	bpf_get_current_comm(owner->comm, sizeof(owner->comm));
	owner->cgroup_id = socket_cgroup_id(ops);
}

static __always_inline void connecting(struct bpf_sock_ops *ops)
{
	__u64 cookie = bpf_get_socket_cookie(ops);
	struct fs_process_owner owner;
	current_owner(ops, &owner);
	bpf_map_update_elem(&fs_connecting, &cookie, &owner, BPF_ANY);
	/* Followed from SYN_SENT, so that a refused or unanswered connect ends. */
	set_callback_flags(ops, BPF_SOCK_OPS_STATE_CB_FLAG | FS_FOLLOWED_OUTGOING, 0);
}

static __always_inline void listener_key_of(struct bpf_sock_ops *ops, __u64 netns_cookie, struct fs_listener_key *key)
{
	key->netns_cookie = netns_cookie;
	key->port = (__u16)ops->local_port;
	key->family = copy_socket_address(ops, SOCKET_LOCAL, key->address);
}

static __always_inline void listening(struct bpf_sock_ops *ops)
{
	struct fs_listener_key key = {};
	struct fs_listener_value value = {};
	listener_key_of(ops, bpf_get_netns_cookie(ops), &key);
	current_owner(ops, &value.owner);
	value.socket_cookie = bpf_get_socket_cookie(ops);
	bpf_map_update_elem(&fs_listeners, &key, &value, BPF_ANY);
	/* Its close (LISTEN → CLOSE) removes the entry. The sockets it accepts inherit the flag (the kernel
	 * copies a listener's callback flags); their way to ESTABLISHED is ignored. */
	set_callback_flags(ops, BPF_SOCK_OPS_STATE_CB_FLAG, 0);
}

/* The listener that accepted a socket: bound to the socket's local address, or to the wildcard. */
static __always_inline struct fs_process_owner *accepting_listener(struct bpf_sock_ops *ops, __u64 netns_cookie)
{
	struct fs_listener_key key = {};
	listener_key_of(ops, netns_cookie, &key);
	struct fs_listener_value *value = bpf_map_lookup_elem(&fs_listeners, &key);
	if (!value) {
		__builtin_memset(key.address, 0, sizeof(key.address));
		value = bpf_map_lookup_elem(&fs_listeners, &key);
	}
	return value ? &value->owner : 0;
}

static __always_inline void listener_closed(struct bpf_sock_ops *ops)
{
	struct fs_listener_key key = {};
	listener_key_of(ops, bpf_get_netns_cookie(ops), &key);
	struct fs_listener_value *value = bpf_map_lookup_elem(&fs_listeners, &key);
	/* SO_REUSEPORT: another listener may hold the entry now. */
	if (value && value->socket_cookie == bpf_get_socket_cookie(ops))
		bpf_map_delete_elem(&fs_listeners, &key);
	set_callback_flags(ops, 0, BPF_SOCK_OPS_STATE_CB_FLAG);
}

/* sk: the kernel socket when the caller has it already (0: looked up when needed). */
static __always_inline void fill_flow_header(struct bpf_sock_ops *ops, const struct fs_process_owner *owner,
					     __u64 netns_cookie, struct sock *sk, struct fs_record_header *header)
{
	header->kind = FS_RECORD_FLOW;
	header->hook = FS_HOOK_SOCKET;
	header->reserved0 = 0;
	header->reserved1 = 0;
	header->timestamp_ns = bpf_ktime_get_boot_ns();
	header->socket_cookie = bpf_get_socket_cookie(ops);
	header->netns_cookie = netns_cookie;
	header->source_port = (__u16)ops->local_port;
	header->destination_port = (__u16)bpf_ntohl(ops->remote_port);
	__builtin_memset(header->source_address, 0, 16);
	__builtin_memset(header->destination_address, 0, 16);
	header->family = copy_socket_address(ops, SOCKET_LOCAL, header->source_address);
	copy_socket_address(ops, SOCKET_REMOTE, header->destination_address);
	header->cgroup_id = owner ? owner->cgroup_id : cgroup_id_of(sk ? sk : kernel_sock(ops));
}

/* What a flow record says beside its socket and owner; a begin leaves the end's fields zero. */
struct flow_change {
	__u8 transition;   /* enum fs_flow_transition */
	__u8 direction;    /* enum fs_flow_direction */
	__u8 reason;       /* enum fs_close_reason, ends only */
	__u8 side;         /* enum fs_side, ends only */
	__u32 old_state;   /* kernel TCP states */
	__u32 new_state;
	int socket_error;  /* sk_err, ends only */
};

static __always_inline int fin_sent_state(__u32 state)
{
	return state == TCP_FIN_WAIT1 || state == TCP_FIN_WAIT2 || state == TCP_CLOSING || state == TCP_LAST_ACK;
}

/* `total` less `overhead`, never below zero. */
static __always_inline __u64 payload_of(__u64 total, __u64 overhead)
{
	return total > overhead ? total - overhead : 0;
}

/*
 * The socket's own counters at its close, as payload: bytes_acked counts the SYN of an outgoing
 * socket (its acknowledgment moves snd_una past the ISN; an accepted socket starts past its
 * SYN+ACK) and our FIN once acknowledged (sent, and snd_una caught up with snd_nxt);
 * bytes_received counts the peer's FIN once accepted (the receive side shut: the FIN, or in
 * CLOSE_WAIT, LAST_ACK or CLOSING certainly), never the peer's SYN.
 */
static __always_inline void fill_volume(struct bpf_sock_ops *ops, struct sock *sk, const struct flow_change *change,
					struct fs_flow_record *record)
{
	__u32 old_state = change->old_state;
	__u64 sent_overhead = change->direction == FS_DIRECTION_OUTGOING ? 1 : 0;
	if (fin_sent_state(old_state) && CTX_U32(ops->snd_una) == CTX_U32(ops->snd_nxt))
		sent_overhead += 1;
	__u64 received_overhead = 0;
	if (old_state == TCP_CLOSE_WAIT || old_state == TCP_LAST_ACK || old_state == TCP_CLOSING) {
		received_overhead = 1;
	} else if (old_state == TCP_FIN_WAIT1 || old_state == TCP_FIN_WAIT2) {
		if (sk && (sk->sk_shutdown & RCV_SHUTDOWN))
			received_overhead = 1;
	}
	record->bytes_sent = payload_of(ops->bytes_acked, sent_overhead);
	record->bytes_received = payload_of(ops->bytes_received, received_overhead);
	record->data_segments_sent = CTX_U32(ops->data_segs_out);
	record->data_segments_received = CTX_U32(ops->data_segs_in);
	record->retransmits = CTX_U32(ops->total_retrans);
	record->rtt_us = CTX_U32(ops->srtt_us) >> 3;
	record->volume_known = 1;
}

static __always_inline int emit_flow(struct bpf_sock_ops *ops, const struct fs_process_owner *owner,
				     const struct flow_change *change, __u64 netns_cookie, struct sock *sk)
{
	__u8 transition = change->transition;
	struct fs_flow_record *record = bpf_ringbuf_reserve(&fs_records, sizeof(*record), 0);
	if (!record) {
		count(FS_COUNTER_RINGBUF_FULL);
		if (transition == FS_FLOW_END)
			count(FS_COUNTER_END_LOST);
		return -1;
	}
	__builtin_memset(record, 0, sizeof(*record));
	fill_flow_header(ops, owner, netns_cookie, sk, &record->header);
	record->transition = transition;
	record->direction = change->direction;
	record->close_reason = change->reason;
	record->terminated_by = change->side;
	record->old_state = (__u8)change->old_state;
	record->new_state = (__u8)change->new_state;
	record->socket_error = change->socket_error;
	if (owner) {
		record->owner_known = 1;
		record->owner_pid = owner->pid;
		record->owner_uid = owner->uid;
		__builtin_memcpy(record->owner_comm, owner->comm, FS_COMM_LEN);
	}
	if (transition == FS_FLOW_END)
		fill_volume(ops, sk, change, record);
	bpf_ringbuf_submit(record, wakeup_flags());
	return 0;
}

/* A flow began: the local socket reached ESTABLISHED. */
static __always_inline void emit_begin(struct bpf_sock_ops *ops, const struct fs_process_owner *owner,
				       __u8 direction, __u64 netns_cookie)
{
	struct flow_change begin = {.transition = FS_FLOW_BEGIN, .direction = direction, .new_state = TCP_ESTABLISHED};
	emit_flow(ops, owner, &begin, netns_cookie, 0);
}

/* A handshake from this remote completed: it was not a half-open attempt. */
static __always_inline void count_established(struct bpf_sock_ops *ops, __u64 netns_cookie)
{
	struct fs_half_open_key key = {};
	key.netns_cookie = netns_cookie;
	key.family = copy_socket_address(ops, SOCKET_REMOTE, key.address);
	struct fs_half_open_value *value = bpf_map_lookup_elem(&fs_half_open, &key);
	if (value)
		__sync_fetch_and_add(&value->established, 1);
}

static __always_inline void connect_completed(struct bpf_sock_ops *ops)
{
	__u64 cookie = bpf_get_socket_cookie(ops);
	struct fs_process_owner *owner = bpf_map_lookup_elem(&fs_connecting, &cookie);
	if (!owner)
		count(FS_COUNTER_OWNER_UNKNOWN);
	/* A connect(2) older than the monitor is followed from here on. */
	set_callback_flags(ops, BPF_SOCK_OPS_STATE_CB_FLAG | FS_FOLLOWED_OUTGOING, 0);
	emit_begin(ops, owner, FS_DIRECTION_OUTGOING, bpf_get_netns_cookie(ops));
	if (owner)
		bpf_map_delete_elem(&fs_connecting, &cookie);
}

static __always_inline void accept_completed(struct bpf_sock_ops *ops)
{
	/* One netns cookie for the three keys and the record. */
	__u64 netns_cookie = bpf_get_netns_cookie(ops);
	count_established(ops, netns_cookie);
	struct fs_process_owner *owner = accepting_listener(ops, netns_cookie);
	if (!owner)
		count(FS_COUNTER_OWNER_UNKNOWN);
	set_callback_flags(ops, BPF_SOCK_OPS_STATE_CB_FLAG | FS_FOLLOWED_INCOMING, FS_FOLLOWED_OUTGOING);
	emit_begin(ops, owner, FS_DIRECTION_INCOMING, netns_cookie);
}

/*
 * The end, when the socket reaches TCP_CLOSE, so that its counters are its totals: a half-closed
 * socket keeps sending after its FIN. The states it went through say who closed first: from
 * FIN_WAIT1, FIN_WAIT2 or CLOSING the local side sent the first FIN; from CLOSE_WAIT or LAST_ACK
 * the peer did; from ESTABLISHED (or the handshake) the stack's reason is in sk_err: ECONNRESET/EPIPE
 * an accepted RST, ECONNREFUSED a refused connect, ETIMEDOUT (or a soft ICMP error) a timeout, 0 an
 * abort by the local process (RST sent). A full socket reaches TCP_CLOSE on its way to TIME_WAIT
 * too (the time-wait socket that replaces it is no full socket), so an end is not held for the
 * time-wait period.
 */
static __always_inline void state_changed(struct bpf_sock_ops *ops, __u32 old_state, __u32 new_state)
{
	/* Most calls: a way to ESTABLISHED (its begin is the ESTABLISHED callback) or towards CLOSE;
	 * CLOSE again (the end went out at the first) ends nothing either. */
	if (new_state != TCP_CLOSE || old_state == TCP_CLOSE)
		return;
	if (old_state == TCP_LISTEN) {
		listener_closed(ops);
		return;
	}
	__u32 flags = ops->bpf_sock_ops_cb_flags;
	if (!(flags & (FS_FOLLOWED_OUTGOING | FS_FOLLOWED_INCOMING)))
		return;
	__u8 direction = flags & FS_FOLLOWED_INCOMING ? FS_DIRECTION_INCOMING : FS_DIRECTION_OUTGOING;
	/* Once for sk_err, sk_shutdown and the cgroup. */
	struct sock *sk = kernel_sock(ops);
	struct fs_process_owner *owner = 0;
	__u64 cookie = 0;
	__u8 reason = FS_CLOSE_FIN, side = FS_SIDE_LOCAL;
	int error = 0;
	if (old_state == TCP_CLOSE_WAIT || old_state == TCP_LAST_ACK) {
		side = FS_SIDE_REMOTE;
	} else if (old_state == TCP_ESTABLISHED || old_state == TCP_SYN_SENT || old_state == TCP_SYN_RECV) {
		if (sk)
			error = sk->sk_err;
		if (error == ECONNREFUSED) {
			reason = FS_CLOSE_REFUSED;
			side = FS_SIDE_REMOTE;
		} else if (error == ECONNRESET || error == EPIPE) {
			reason = FS_CLOSE_RST;
			side = FS_SIDE_REMOTE;
		} else if (error != 0) {
			reason = FS_CLOSE_TIMEOUT;
		} else if (old_state == TCP_SYN_SENT) {
			/* The process gave up on its own connect: no flow began, none ends. */
			cookie = bpf_get_socket_cookie(ops);
			bpf_map_delete_elem(&fs_connecting, &cookie);
			set_callback_flags(ops, 0, BPF_SOCK_OPS_STATE_CB_FLAG);
			return;
		} else {
			reason = FS_CLOSE_RST;
		}
		if (old_state == TCP_SYN_SENT) {
			/* No begin carried the process: the end does. */
			cookie = bpf_get_socket_cookie(ops);
			owner = bpf_map_lookup_elem(&fs_connecting, &cookie);
		}
	}
	/* Otherwise from FIN_WAIT1, FIN_WAIT2 or CLOSING: the local side sent the first FIN. */
	struct flow_change end = {.transition = FS_FLOW_END, .direction = direction, .reason = reason, .side = side,
				  .old_state = old_state, .new_state = new_state, .socket_error = error};
	/* TCP_CLOSE is the socket's last change: an end lost to a full ring buffer has no later one to
	 * go out at, and is counted (FS_COUNTER_END_LOST). */
	emit_flow(ops, owner, &end, bpf_get_netns_cookie(ops), sk);
	/* The state-change flag stays: a closed socket changes state again only when connect(2) or
	 * listen(2) reuses it, whose callback sets the flags anew; clearing it costs a helper call. */
	if (owner)
		bpf_map_delete_elem(&fs_connecting, &cookie);
}

#endif /* FLOWSENTRY_SOCKET_VIEW_BPF_H */
