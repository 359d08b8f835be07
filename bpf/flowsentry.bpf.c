// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Two views of one cgroup, neither of which ever changes or drops anything:
 *
 * - cgroup/sock_ops sees what the local TCP stack accepted: a begin when a
 *   socket's handshake completes (so a forged SYN+ACK or a half-open SYN makes
 *   none) and an end at the socket's first state change out of ESTABLISHED or
 *   into CLOSE (so an out-of-window RST or FIN, which the stack drops, ends
 *   nothing). The close reason is the stack's own verdict, sk_err.
 * - cgroup_skb sees packets: DNS questions and answers, incoming SYNs counted
 *   per remote (half-open attempts), the kernel's RSTs refusing a closed port,
 *   and the FIN/RST of sockets older than the monitor (which sock_ops cannot
 *   follow), accepted only in sequence (RFC 5961's exact rule for RST).
 *
 * The flow state machine lives in user space (FlowsentryFlows), so the same
 * tracker can replay captures.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/tcp.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "flowsentry_record.h"

#define AF_INET 2
#define AF_INET6 10
#define IPV4_FRAGMENT_OFFSET_MASK 0x1fff
/* Kernel TCP states (include/net/tcp_states.h). */
#define TCP_ESTABLISHED 1
#define TCP_SYN_SENT 2
#define TCP_SYN_RECV 3
#define TCP_FIN_WAIT1 4
#define TCP_CLOSE 7
#define TCP_CLOSE_WAIT 8
#define TCP_LAST_ACK 9
#define TCP_LISTEN 10
#define ECONNREFUSED 111
#define ECONNRESET 104
#define EPIPE 32

/*
 * The kernel's struct sock, reduced to the fields read here; libbpf relocates each access against
 * the running kernel's BTF (CO-RE), so no offset is hard-coded.
 */
struct kernfs_node {
	__u64 id;
} __attribute__((preserve_access_index));
struct cgroup {
	struct kernfs_node *kn;
} __attribute__((preserve_access_index));
struct sock_cgroup_data {
	struct cgroup *cgroup;
} __attribute__((preserve_access_index));
struct sock {
	int sk_err;
	struct sock_cgroup_data sk_cgrp_data;
} __attribute__((preserve_access_index));
struct tcp_sock {
	__u8 bpf_sock_ops_cb_flags;
} __attribute__((preserve_access_index));

/*
 * Per-socket marks, kept in the socket's own sock_ops callback flags: socket storage would cost an
 * allocation per socket (and a clone per accepted one), the largest part of the programs' cost when
 * it was used. The state-change flag is on while the socket's end is still to be sent; the flag of
 * a callback that fires only on retransmissions says that sock_ops follows the socket, and which
 * way it was opened. Those callbacks reach fs_sock_ops, which ignores them.
 */
#define FS_FOLLOWED_OUTGOING BPF_SOCK_OPS_RTO_CB_FLAG
#define FS_FOLLOWED_INCOMING BPF_SOCK_OPS_RETRANS_CB_FLAG

char LICENSE[] SEC("license") = "Dual BSD/GPL";

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

struct packet_location {
	__u32 transport_offset;
	__u8 family;
	__u8 protocol;
};

/* The first 16 bytes of a TCP header: ports, sequence, acknowledgment, offset and flags. */
struct tcp_prefix {
	__be16 source;
	__be16 dest;
	__be32 seq;
	__be32 ack_seq;
	__u8 data_offset;
	__u8 flags;
	__be16 window;
};

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

static __always_inline int locate_ipv6_transport(struct __sk_buff *skb, struct packet_location *where)
{
	struct ipv6hdr ip6;
	if (bpf_skb_load_bytes(skb, 0, &ip6, sizeof(ip6)) < 0) {
		count(FS_COUNTER_SHORT_PACKET);
		return -1;
	}
	__u8 next = ip6.nexthdr;
	__u32 offset = sizeof(ip6);

#pragma unroll
	for (int i = 0; i < FS_IPV6_MAX_EXTENSION_HEADERS; i++) {
		__u8 ext[2];
		if (next == IPPROTO_TCP || next == IPPROTO_UDP)
			break;
		if (next != IPPROTO_HOPOPTS && next != IPPROTO_ROUTING && next != IPPROTO_DSTOPTS &&
		    next != IPPROTO_FRAGMENT && next != IPPROTO_AH) {
			/* ICMPv6, no next header, ESP...: nothing of ours behind it. */
			if (next != IPPROTO_ICMPV6 && next != 59 && next != IPPROTO_ESP)
				count(FS_COUNTER_IPV6_UNPARSED);
			return -1;
		}
		if (bpf_skb_load_bytes(skb, offset, ext, sizeof(ext)) < 0) {
			count(FS_COUNTER_SHORT_PACKET);
			return -1;
		}
		if (next == IPPROTO_FRAGMENT) {
			__be16 fragment;
			if (bpf_skb_load_bytes(skb, offset + 2, &fragment, sizeof(fragment)) < 0) {
				count(FS_COUNTER_SHORT_PACKET);
				return -1;
			}
			/* Only the first fragment carries the transport header. */
			if (bpf_ntohs(fragment) & 0xfff8) {
				count(FS_COUNTER_IPV6_UNPARSED);
				return -1;
			}
			offset += 8;
		} else if (next == IPPROTO_AH) {
			offset += ((__u32)ext[1] + 2) * 4;
		} else {
			offset += ((__u32)ext[1] + 1) * 8;
		}
		next = ext[0];
	}
	if (next != IPPROTO_TCP && next != IPPROTO_UDP) {
		/* More extension headers than followed: counted, never skipped silently. */
		count(FS_COUNTER_IPV6_UNPARSED);
		return -1;
	}
	where->family = AF_INET6;
	where->protocol = next;
	where->transport_offset = offset;
	return 0;
}

static __always_inline int locate_transport(struct __sk_buff *skb, struct packet_location *where)
{
	if (skb->protocol == bpf_htons(ETH_P_IP)) {
		struct iphdr ip;
		void *data = (void *)(long)skb->data;
		void *data_end = (void *)(long)skb->data_end;
		/* Direct access when the header is in the linear area (nearly always), a copy otherwise. */
		if (data + sizeof(ip) <= data_end)
			__builtin_memcpy(&ip, data, sizeof(ip));
		else if (bpf_skb_load_bytes(skb, 0, &ip, sizeof(ip)) < 0) {
			count(FS_COUNTER_SHORT_PACKET);
			return -1;
		}
		if (bpf_ntohs(ip.frag_off) & IPV4_FRAGMENT_OFFSET_MASK) {
			count(FS_COUNTER_IPV4_FRAGMENT);
			return -1;
		}
		where->family = AF_INET;
		where->protocol = ip.protocol;
		where->transport_offset = (__u32)ip.ihl * 4; /* options included */
		return 0;
	}
	if (skb->protocol == bpf_htons(ETH_P_IPV6))
		return locate_ipv6_transport(skb, where);
	count(FS_COUNTER_NOT_IP);
	return -1;
}

/* The TCP header's first 16 bytes: directly from the packet when linear, else copied. */
static __always_inline int load_tcp_prefix(struct __sk_buff *skb, __u32 offset, struct tcp_prefix *tcp)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	if (offset <= 60 + 40 * FS_IPV6_MAX_EXTENSION_HEADERS) {
		void *start = data + offset;
		if (start + sizeof(*tcp) <= data_end) {
			__builtin_memcpy(tcp, start, sizeof(*tcp));
			return 0;
		}
	}
	return bpf_skb_load_bytes(skb, offset, tcp, sizeof(*tcp));
}

static __always_inline int is_dns_port(__u16 port)
{
#pragma unroll
	for (int i = 0; i < FS_DNS_PORTS_MAX; i++)
		if (fs_dns_ports[i] && fs_dns_ports[i] == port)
			return 1;
	return 0;
}

static __always_inline void copy_addresses(struct __sk_buff *skb, const struct packet_location *where,
					   struct fs_record_header *header)
{
	if (where->family == AF_INET) {
		bpf_skb_load_bytes(skb, offsetof(struct iphdr, saddr), header->source_address, 4);
		bpf_skb_load_bytes(skb, offsetof(struct iphdr, daddr), header->destination_address, 4);
	} else {
		bpf_skb_load_bytes(skb, offsetof(struct ipv6hdr, saddr), header->source_address, 16);
		bpf_skb_load_bytes(skb, offsetof(struct ipv6hdr, daddr), header->destination_address, 16);
	}
}

static __always_inline void fill_header(struct __sk_buff *skb, __u8 hook, const struct packet_location *where,
					__u32 kind, __u16 source_port, __u16 destination_port,
					struct fs_record_header *header)
{
	header->kind = kind;
	header->reserved0 = 0;
	header->hook = hook;
	header->family = where->family;
	header->source_port = source_port;
	header->destination_port = destination_port;
	header->reserved1 = 0;
	header->timestamp_ns = bpf_ktime_get_boot_ns();
	header->cgroup_id = bpf_skb_cgroup_id(skb);
	header->socket_cookie = bpf_get_socket_cookie(skb);
	header->netns_cookie = bpf_get_netns_cookie(skb);
	copy_addresses(skb, where, header);
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
	if (where->family == AF_INET)
		bpf_skb_load_bytes(skb, offsetof(struct iphdr, saddr), key->address, 4);
	else
		bpf_skb_load_bytes(skb, offsetof(struct ipv6hdr, saddr), key->address, 16);
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
	if (where->family == AF_INET)
		bpf_skb_load_bytes(skb, offsetof(struct iphdr, daddr), value->last_local_address, 4);
	else
		bpf_skb_load_bytes(skb, offsetof(struct ipv6hdr, daddr), value->last_local_address, 16);
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
	__u32 address_offset = hook == FS_HOOK_EGRESS ? 0 : 1;
	if (where->family == AF_INET) {
		if (bpf_skb_load_bytes(skb, offsetof(struct iphdr, saddr) + address_offset * 4, &tuple.ipv4.daddr, 4) < 0)
			return 2;
		tuple.ipv4.dport = port;
		size = sizeof(tuple.ipv4);
	} else {
		if (bpf_skb_load_bytes(skb, offsetof(struct ipv6hdr, saddr) + address_offset * 16, tuple.ipv6.daddr, 16) < 0)
			return 2;
		tuple.ipv6.dport = port;
		size = sizeof(tuple.ipv6);
	}
	struct bpf_sock *listener = bpf_sk_lookup_tcp(skb, &tuple, size, BPF_F_CURRENT_NETNS, 0);
	if (!listener)
		return 0;
	__u8 listening = listener->state == TCP_LISTEN;
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
	record->local_listening = 2;
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

SEC("cgroup_skb/ingress")
int fs_ingress(struct __sk_buff *skb)
{
	return inspect(skb, FS_HOOK_INGRESS);
}

SEC("cgroup_skb/egress")
int fs_egress(struct __sk_buff *skb)
{
	return inspect(skb, FS_HOOK_EGRESS);
}

/* ---- cgroup/sock_ops: what the stack accepted ---- */

/* One 32-bit load of a context field: the compiler must not merge neighbours into a 64-bit load,
 * which the verifier refuses for bpf_sock_ops. */
#define CTX_U32(field) (*(volatile __u32 *)&(field))

static __always_inline void copy_ip6(__u8 *to, const __u32 *words)
{
	__u32 copy[4] = {CTX_U32(words[0]), CTX_U32(words[1]), CTX_U32(words[2]), CTX_U32(words[3])};
	__builtin_memcpy(to, copy, 16);
}

static __always_inline struct sock *kernel_sock(struct bpf_sock_ops *ops)
{
	struct bpf_sock *sk = ops->sk;
	if (!sk)
		return 0;
	return (struct sock *)bpf_skc_to_tcp_sock(sk);
}

static __always_inline __u64 socket_cgroup_id(struct bpf_sock_ops *ops)
{
	struct sock *sk = kernel_sock(ops);
	return sk ? sk->sk_cgrp_data.cgroup->kn->id : 0;
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

static __always_inline void listener_key_of(struct bpf_sock_ops *ops, struct fs_listener_key *key)
{
	key->netns_cookie = bpf_get_netns_cookie(ops);
	key->port = (__u16)ops->local_port;
	if (ops->family == AF_INET) {
		key->family = AF_INET;
		__u32 local = CTX_U32(ops->local_ip4);
		__builtin_memcpy(key->address, &local, 4);
	} else {
		key->family = AF_INET6;
		copy_ip6(key->address, ops->local_ip6);
	}
}

static __always_inline void listening(struct bpf_sock_ops *ops)
{
	struct fs_listener_key key = {};
	struct fs_listener_value value = {};
	listener_key_of(ops, &key);
	current_owner(ops, &value.owner);
	value.socket_cookie = bpf_get_socket_cookie(ops);
	bpf_map_update_elem(&fs_listeners, &key, &value, BPF_ANY);
	/* Its close (LISTEN → CLOSE) removes the entry. */
	set_callback_flags(ops, BPF_SOCK_OPS_STATE_CB_FLAG, 0);
}

/* The listener that accepted a socket: bound to the socket's local address, or to the wildcard. */
static __always_inline struct fs_process_owner *accepting_listener(struct bpf_sock_ops *ops)
{
	struct fs_listener_key key = {};
	listener_key_of(ops, &key);
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
	listener_key_of(ops, &key);
	struct fs_listener_value *value = bpf_map_lookup_elem(&fs_listeners, &key);
	/* SO_REUSEPORT: another listener may hold the entry now. */
	if (value && value->socket_cookie == bpf_get_socket_cookie(ops))
		bpf_map_delete_elem(&fs_listeners, &key);
	set_callback_flags(ops, 0, BPF_SOCK_OPS_STATE_CB_FLAG);
}

static __always_inline void fill_flow_header(struct bpf_sock_ops *ops, const struct fs_process_owner *owner,
					     struct fs_record_header *header)
{
	header->kind = FS_RECORD_FLOW;
	header->hook = FS_HOOK_SOCKET;
	header->reserved0 = 0;
	header->reserved1 = 0;
	header->timestamp_ns = bpf_ktime_get_boot_ns();
	header->socket_cookie = bpf_get_socket_cookie(ops);
	header->netns_cookie = bpf_get_netns_cookie(ops);
	header->source_port = (__u16)ops->local_port;
	header->destination_port = (__u16)bpf_ntohl(ops->remote_port);
	__builtin_memset(header->source_address, 0, 16);
	__builtin_memset(header->destination_address, 0, 16);
	if (ops->family == AF_INET) {
		header->family = AF_INET;
		__u32 local = CTX_U32(ops->local_ip4), remote = CTX_U32(ops->remote_ip4);
		__builtin_memcpy(header->source_address, &local, 4);
		__builtin_memcpy(header->destination_address, &remote, 4);
	} else {
		header->family = AF_INET6;
		copy_ip6(header->source_address, ops->local_ip6);
		copy_ip6(header->destination_address, ops->remote_ip6);
	}
	header->cgroup_id = owner ? owner->cgroup_id : socket_cgroup_id(ops);
}

static __always_inline int emit_flow(struct bpf_sock_ops *ops, const struct fs_process_owner *owner,
				     __u8 transition, __u8 direction, __u8 reason, __u8 side, __u32 old_state,
				     __u32 new_state, int socket_error)
{
	struct fs_flow_record *record = bpf_ringbuf_reserve(&fs_records, sizeof(*record), 0);
	if (!record) {
		count(FS_COUNTER_RINGBUF_FULL);
		if (transition == FS_FLOW_END)
			count(FS_COUNTER_END_LOST);
		return -1;
	}
	__builtin_memset(record, 0, sizeof(*record));
	fill_flow_header(ops, owner, &record->header);
	record->transition = transition;
	record->direction = direction;
	record->close_reason = reason;
	record->terminated_by = side;
	record->old_state = (__u8)old_state;
	record->new_state = (__u8)new_state;
	record->socket_error = socket_error;
	if (owner) {
		record->owner_known = 1;
		record->owner_pid = owner->pid;
		record->owner_uid = owner->uid;
		__builtin_memcpy(record->owner_comm, owner->comm, FS_COMM_LEN);
	}
	bpf_ringbuf_submit(record, wakeup_flags());
	return 0;
}

/* A handshake from this remote completed: it was not a half-open attempt. */
static __always_inline void count_established(struct bpf_sock_ops *ops)
{
	struct fs_half_open_key key = {};
	key.netns_cookie = bpf_get_netns_cookie(ops);
	if (ops->family == AF_INET) {
		key.family = AF_INET;
		__u32 remote = CTX_U32(ops->remote_ip4);
		__builtin_memcpy(key.address, &remote, 4);
	} else {
		key.family = AF_INET6;
		copy_ip6(key.address, ops->remote_ip6);
	}
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
	emit_flow(ops, owner, FS_FLOW_BEGIN, FS_DIRECTION_OUTGOING, 0, 0, 0, TCP_ESTABLISHED, 0);
	if (owner)
		bpf_map_delete_elem(&fs_connecting, &cookie);
}

static __always_inline void accept_completed(struct bpf_sock_ops *ops)
{
	count_established(ops);
	struct fs_process_owner *owner = accepting_listener(ops);
	if (!owner)
		count(FS_COUNTER_OWNER_UNKNOWN);
	set_callback_flags(ops, BPF_SOCK_OPS_STATE_CB_FLAG | FS_FOLLOWED_INCOMING, FS_FOLLOWED_OUTGOING);
	emit_flow(ops, owner, FS_FLOW_BEGIN, FS_DIRECTION_INCOMING, 0, 0, 0, TCP_ESTABLISHED, 0);
}

/*
 * The end, at the first state change that leaves the handshake behind: FIN sent (→ FIN_WAIT1),
 * FIN accepted (→ CLOSE_WAIT), or the socket closed (→ CLOSE) with the stack's reason in sk_err:
 * ECONNRESET/EPIPE an accepted RST, ECONNREFUSED a refused connect, ETIMEDOUT (or a soft ICMP
 * error) a timeout, 0 an abort by the local process (RST sent). The state-change callback stays on
 * until an end record was reserved, so an end lost to a full ring buffer goes out at the next
 * change (FIN_WAIT2, LAST_ACK, TIME_WAIT, CLOSE), its reason read from the states.
 */
static __always_inline void state_changed(struct bpf_sock_ops *ops, __u32 old_state, __u32 new_state)
{
	__u32 flags = ops->bpf_sock_ops_cb_flags;
	if (old_state == TCP_LISTEN) {
		listener_closed(ops);
		return;
	}
	if (!(flags & (FS_FOLLOWED_OUTGOING | FS_FOLLOWED_INCOMING)) || new_state == TCP_ESTABLISHED ||
	    new_state == TCP_SYN_RECV)
		return; /* an accepted socket's way to ESTABLISHED; its begin is PASSIVE_ESTABLISHED */
	__u8 direction = flags & FS_FOLLOWED_INCOMING ? FS_DIRECTION_INCOMING : FS_DIRECTION_OUTGOING;
	struct fs_process_owner *owner = 0;
	__u64 cookie = 0;
	__u8 reason = FS_CLOSE_FIN, side = FS_SIDE_LOCAL;
	int error = 0;
	if (new_state == TCP_CLOSE_WAIT || new_state == TCP_LAST_ACK ||
	    (new_state == TCP_CLOSE && (old_state == TCP_CLOSE_WAIT || old_state == TCP_LAST_ACK))) {
		side = FS_SIDE_REMOTE;
	} else if (new_state == TCP_CLOSE &&
		   (old_state == TCP_ESTABLISHED || old_state == TCP_SYN_SENT || old_state == TCP_SYN_RECV)) {
		struct sock *sk = kernel_sock(ops);
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
	/* Otherwise a FIN sent (→ FIN_WAIT1) or, late, any state after it: the local side closed. */
	if (emit_flow(ops, owner, FS_FLOW_END, direction, reason, side, old_state, new_state, error) == 0) {
		/* Nothing later ends anything: spare the socket's remaining state changes the call. */
		set_callback_flags(ops, 0, BPF_SOCK_OPS_STATE_CB_FLAG);
		if (owner)
			bpf_map_delete_elem(&fs_connecting, &cookie);
	}
}

SEC("sockops")
int fs_sock_ops(struct bpf_sock_ops *ops)
{
	switch (ops->op) {
	case BPF_SOCK_OPS_TCP_CONNECT_CB:
		connecting(ops);
		break;
	case BPF_SOCK_OPS_TCP_LISTEN_CB:
		listening(ops);
		break;
	case BPF_SOCK_OPS_ACTIVE_ESTABLISHED_CB:
		connect_completed(ops);
		break;
	case BPF_SOCK_OPS_PASSIVE_ESTABLISHED_CB:
		accept_completed(ops);
		break;
	case BPF_SOCK_OPS_STATE_CB:
		state_changed(ops, ops->args[0], ops->args[1]);
		break;
	}
	return 1;
}
