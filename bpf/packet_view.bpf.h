/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * cgroup_skb: what packets show that no socket state does (DNS, incoming SYNs, FIN/RST of sockets
 * sock_ops does not follow). Included by flowsentry.bpf.c only: one compilation unit, one object.
 */
#ifndef FLOWSENTRY_PACKET_VIEW_BPF_H
#define FLOWSENTRY_PACKET_VIEW_BPF_H

static __always_inline int is_dns_port(__u16 port)
{
#pragma unroll
	for (int i = 0; i < FS_DNS_PORTS_MAX; i++)
		if (fs_dns_ports[i] && fs_dns_ports[i] == port)
			return 1;
	return 0;
}

/*
 * Copies a DNS message that starts at payload_offset. message_length is its size on the wire;
 * available is how many of its bytes this packet holds.
 */
static __always_inline void emit_dns(struct __sk_buff *skb, __u8 hook, const struct packet_location *where,
				     __u16 source_port, __u16 destination_port, __u32 payload_offset,
				     __u32 message_length, __u32 available)
{
	if (available == 0 || message_length == 0)
		return;
	struct fs_dns_record *record = bpf_ringbuf_reserve(&fs_records, sizeof(*record), 0);
	if (!record) {
		count(FS_COUNTER_RINGBUF_FULL);
		return;
	}
	fill_header(skb, hook, where, FS_RECORD_DNS, source_port, destination_port, &record->header);
	record->transport = where->protocol;
	record->reserved[0] = record->reserved[1] = record->reserved[2] = 0;
	record->message_length = message_length > 0xffff ? 0xffff : message_length;
	__u32 copy = available < message_length ? available : message_length;
	if (copy > FS_DNS_MAX_PAYLOAD) {
		copy = FS_DNS_MAX_PAYLOAD;
		count(FS_COUNTER_DNS_CUT);
	}
	/* copy is in [1, FS_DNS_MAX_PAYLOAD] already (available and message_length are not 0); the barrier
	 * keeps the compiler from dropping the tests that let the verifier prove it. */
	asm volatile("" : "+r"(copy));
	if (copy == 0)
		copy = 1;
	if (copy > FS_DNS_MAX_PAYLOAD)
		copy = FS_DNS_MAX_PAYLOAD;
	if (bpf_skb_load_bytes(skb, payload_offset, record->payload, copy) < 0)
		copy = 0;
	record->payload_length = copy;
	bpf_ringbuf_submit(record, wakeup_flags());
}

/* Answers come from a DNS port; questions go to one. User space matches the two. */
static __always_inline int is_dns_traffic(__u16 source_port, __u16 destination_port)
{
	return is_dns_port(source_port) || is_dns_port(destination_port);
}

static __always_inline int inspect_udp(struct __sk_buff *skb, __u8 hook, const struct packet_location *where)
{
	__be16 ports[2];
	if (bpf_skb_load_bytes(skb, where->transport_offset, ports, sizeof(ports)) < 0) {
		count(FS_COUNTER_SHORT_PACKET);
		return 1;
	}
	__u16 source_port = bpf_ntohs(ports[0]);
	__u16 destination_port = bpf_ntohs(ports[1]);
	if (!is_dns_traffic(source_port, destination_port))
		return 1;
	__u32 payload_offset = where->transport_offset + 8;
	__u32 available = skb->len > payload_offset ? skb->len - payload_offset : 0;
	emit_dns(skb, hook, where, source_port, destination_port, payload_offset, available, available);
	return 1;
}

/* A TCP segment to or from a DNS port that starts a message: a 2-byte length, then the message. */
static __always_inline void inspect_tcp_dns(struct __sk_buff *skb, __u8 hook, const struct packet_location *where,
					    const struct tcp_prefix *tcp)
{
	__u32 payload_offset = where->transport_offset + (__u32)(tcp->data_offset >> 4) * 4;
	if (skb->len <= payload_offset + 2)
		return;
	__be16 prefix;
	if (bpf_skb_load_bytes(skb, payload_offset, &prefix, sizeof(prefix)) < 0)
		return;
	emit_dns(skb, hook, where, bpf_ntohs(tcp->source), bpf_ntohs(tcp->dest), payload_offset + 2,
		 bpf_ntohs(prefix), skb->len - payload_offset - 2);
}

/* Whether sock_ops follows (or followed) the socket: then its state changes, not packets, end it. */
static __always_inline int followed_by_sock_ops(struct bpf_sock *full)
{
	struct tcp_sock *tp = bpf_skc_to_tcp_sock(full);
	return tp && (tp->bpf_sock_ops_cb_flags & (FS_FOLLOWED_OUTGOING | FS_FOLLOWED_INCOMING));
}

/* The remote address of an incoming packet, as the half-open map keys it. */
static __always_inline void half_open_key_of_packet(struct __sk_buff *skb, const struct packet_location *where,
						    struct fs_half_open_key *key)
{
	key->family = where->family;
	key->netns_cookie = bpf_get_netns_cookie(skb);
	load_packet_address(skb, where->family, PACKET_SOURCE, key->address);
}

/*
 * An incoming SYN that reached a listening socket: counted per remote. The handshakes that complete
 * are counted too (fs_sock_ops), so user space reports the difference as half-open attempts without a
 * flow ever being created for them.
 */
static __always_inline void count_syn(struct __sk_buff *skb, const struct packet_location *where, __u16 local_port,
				      __u16 remote_port)
{
	struct bpf_sock *sk = skb->sk;
	if (!sk)
		return;
	struct bpf_sock *full = bpf_sk_fullsock(sk);
	if (!full || full->state != TCP_LISTEN)
		return;
	count(FS_COUNTER_HALF_OPEN_SYN);
	struct fs_half_open_key key = {};
	half_open_key_of_packet(skb, where, &key);
	struct fs_half_open_value *value = bpf_map_lookup_elem(&fs_half_open, &key);
	if (!value) {
		struct fs_half_open_value fresh = {};
		bpf_map_update_elem(&fs_half_open, &key, &fresh, BPF_NOEXIST);
		value = bpf_map_lookup_elem(&fs_half_open, &key);
		if (!value)
			return;
	}
	__sync_fetch_and_add(&value->syns, 1);
	value->last_syn_ns = bpf_ktime_get_boot_ns();
	value->last_port = local_port;
	value->last_remote_port = remote_port;
	load_packet_address(skb, where->family, PACKET_DESTINATION, value->last_local_address);
}

/*
 * Whether a socket listens on the local end of a packet, in the network namespace the packet is in
 * (the socket's own, for cgroup hooks): it orients a flow that began before the monitor. The lookup
 * leaves the remote end empty, so no established socket matches and only a listener can.
 */
static __always_inline __u8 local_listening(struct __sk_buff *skb, __u8 hook, const struct packet_location *where,
					    const struct tcp_prefix *tcp)
{
	struct bpf_sock_tuple tuple = {};
	__u32 size;
	__be16 port = hook == FS_HOOK_EGRESS ? tcp->source : tcp->dest;
	enum packet_end local = hook == FS_HOOK_EGRESS ? PACKET_SOURCE : PACKET_DESTINATION;
	if (where->family == AF_INET) {
		if (load_packet_address(skb, AF_INET, local, &tuple.ipv4.daddr) < 0)
			return FS_LISTENING_UNKNOWN;
		tuple.ipv4.dport = port;
		size = sizeof(tuple.ipv4);
	} else {
		if (load_packet_address(skb, AF_INET6, local, tuple.ipv6.daddr) < 0)
			return FS_LISTENING_UNKNOWN;
		tuple.ipv6.dport = port;
		size = sizeof(tuple.ipv6);
	}
	struct bpf_sock *listener = bpf_sk_lookup_tcp(skb, &tuple, size, BPF_F_CURRENT_NETNS, 0);
	if (!listener)
		return FS_LISTENING_NO;
	__u8 listening = listener->state == TCP_LISTEN ? FS_LISTENING_YES : FS_LISTENING_NO;
	bpf_sk_release(listener);
	return listening;
}

/*
 * A FIN or RST that no socket state change will report: the end of a socket older than the monitor
 * (sock_ops never saw its handshake) or a packet the kernel sent without a socket of ours (its RST
 * refusing a closed port). Egress packets are what the stack sent; an incoming one counts only when
 * it is exactly in sequence, as the stack would accept it.
 */
static __always_inline int inspect_termination(struct __sk_buff *skb, __u8 hook, const struct packet_location *where,
					       const struct tcp_prefix *tcp)
{
	struct bpf_sock *sk = skb->sk;
	struct bpf_sock *full = sk ? bpf_sk_fullsock(sk) : 0;
	/* A listener has no flow to end: an RST it sends answers a stray segment (a forged SYN+ACK, an
	 * unknown ACK), and one it receives is dropped by the stack. */
	if ((hook == FS_HOOK_INGRESS && !full) || (full && full->state == TCP_LISTEN)) {
		count(FS_COUNTER_UNTRACKED_NO_SOCKET);
		return 1;
	}
	if (full) {
		if (followed_by_sock_ops(full))
			return 1;
		if (hook == FS_HOOK_INGRESS) {
			struct bpf_tcp_sock *tp = bpf_tcp_sock(full);
			if (!tp || bpf_ntohl(tcp->seq) != tp->rcv_nxt) {
				count(FS_COUNTER_UNTRACKED_IGNORED);
				return 1;
			}
		}
	}

	struct fs_tcp_record *record = bpf_ringbuf_reserve(&fs_records, sizeof(*record), 0);
	if (!record) {
		count(FS_COUNTER_RINGBUF_FULL);
		count(FS_COUNTER_END_LOST);
		return 1;
	}
	__builtin_memset(record, 0, sizeof(*record));
	fill_header(skb, hook, where, FS_RECORD_TCP, bpf_ntohs(tcp->source), bpf_ntohs(tcp->dest), &record->header);
	record->sequence = bpf_ntohl(tcp->seq);
	record->acknowledgment = bpf_ntohl(tcp->ack_seq);
	record->tcp_flags = tcp->flags;
	record->local_listening = FS_LISTENING_UNKNOWN;
	if (full) {
		record->socket_state = (__u8)full->state;
		record->local_listening = local_listening(skb, hook, where, tcp);
	}
	bpf_ringbuf_submit(record, wakeup_flags());
	return 1;
}

static __always_inline int inspect(struct __sk_buff *skb, __u8 hook)
{
	struct packet_location where = {};
	if (locate_transport(skb, &where) < 0)
		return 1;
	if (where.protocol == IPPROTO_UDP)
		return inspect_udp(skb, hook, &where);
	if (where.protocol != IPPROTO_TCP)
		return 1;

	struct tcp_prefix tcp;
	if (load_tcp_prefix(skb, where.transport_offset, &tcp) < 0) {
		count(FS_COUNTER_SHORT_PACKET);
		return 1;
	}
	__u16 source_port = bpf_ntohs(tcp.source);
	__u16 destination_port = bpf_ntohs(tcp.dest);
	/* Before any flow record, so that an answer is always read before the flows it names. */
	if (is_dns_traffic(source_port, destination_port))
		inspect_tcp_dns(skb, hook, &where, &tcp);
	__u8 flags = tcp.flags;
	if (flags & FS_TCP_SYN) {
		if (hook == FS_HOOK_INGRESS) {
			if (!(flags & FS_TCP_ACK))
				count_syn(skb, &where, destination_port, source_port);
			else if (!skb->sk || skb->sk->state != TCP_SYN_SENT)
				count(FS_COUNTER_UNEXPECTED_SYN_ACK);
		}
		return 1;
	}
	if (flags & (FS_TCP_FIN | FS_TCP_RST))
		return inspect_termination(skb, hook, &where, &tcp);
	return 1;
}

#endif /* FLOWSENTRY_PACKET_VIEW_BPF_H */
