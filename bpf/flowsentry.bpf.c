// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * cgroup skb programs: look at every packet of the monitored cgroup, never
 * change or drop one (always return 1), and hand to user space only the TCP
 * packets that move a flow between states: SYN+ACK, FIN and RST.
 *
 * The flow state machine itself lives in user space (FlowsentryFlows), so
 * the kernel side stays a filter and the same tracker can replay captures.
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
#define IPV6_MAX_EXTENSION_HEADERS 6

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

/* Source ports whose UDP/TCP payloads are DNS responses; set by user space before load. */
const volatile __u16 fs_dns_ports[FS_DNS_PORTS_MAX] = {53};

/* BPF_F_CLONE: an accepted socket inherits its listener's owner. */
struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC | BPF_F_CLONE);
	__type(key, int);
	__type(value, struct fs_socket_owner);
} fs_socket_owners SEC(".maps");

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
	if (bpf_skb_load_bytes(skb, 0, &ip6, sizeof(ip6)) < 0)
		return -1;
	__u8 next = ip6.nexthdr;
	__u32 offset = sizeof(ip6);

#pragma unroll
	for (int i = 0; i < IPV6_MAX_EXTENSION_HEADERS; i++) {
		__u8 ext[2];
		if (next == IPPROTO_TCP || next == IPPROTO_UDP)
			break;
		if (next != IPPROTO_HOPOPTS && next != IPPROTO_ROUTING && next != IPPROTO_DSTOPTS &&
		    next != IPPROTO_FRAGMENT && next != IPPROTO_AH)
			return -1;
		if (bpf_skb_load_bytes(skb, offset, ext, sizeof(ext)) < 0)
			return -1;
		if (next == IPPROTO_FRAGMENT) {
			__be16 fragment;
			if (bpf_skb_load_bytes(skb, offset + 2, &fragment, sizeof(fragment)) < 0)
				return -1;
			/* Only the first fragment carries the transport header. */
			if (bpf_ntohs(fragment) & 0xfff8)
				return -1;
			offset += 8;
		} else if (next == IPPROTO_AH) {
			offset += ((__u32)ext[1] + 2) * 4;
		} else {
			offset += ((__u32)ext[1] + 1) * 8;
		}
		next = ext[0];
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
		else if (bpf_skb_load_bytes(skb, 0, &ip, sizeof(ip)) < 0)
			return -1;
		if (bpf_ntohs(ip.frag_off) & IPV4_FRAGMENT_OFFSET_MASK)
			return -1;
		where->family = AF_INET;
		where->protocol = ip.protocol;
		where->transport_offset = (__u32)ip.ihl * 4; /* options included */
		return 0;
	}
	if (skb->protocol == bpf_htons(ETH_P_IPV6))
		return locate_ipv6_transport(skb, where);
	return -1;
}

/* The TCP header's first 16 bytes: directly from the packet when linear, else copied. */
static __always_inline int load_tcp_prefix(struct __sk_buff *skb, __u32 offset, struct tcp_prefix *tcp)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	if (offset <= 60 + 40 * IPV6_MAX_EXTENSION_HEADERS) {
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
	header->socket_uid = bpf_get_socket_uid(skb);
	header->timestamp_ns = bpf_ktime_get_boot_ns();
	header->cgroup_id = bpf_skb_cgroup_id(skb);
	header->socket_cookie = bpf_get_socket_cookie(skb);
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

static __always_inline int inspect_udp(struct __sk_buff *skb, __u8 hook, const struct packet_location *where)
{
	__be16 ports[2];
	if (bpf_skb_load_bytes(skb, where->transport_offset, ports, sizeof(ports)) < 0)
		return 1;
	__u16 source_port = bpf_ntohs(ports[0]);
	if (!is_dns_port(source_port))
		return 1;
	__u32 payload_offset = where->transport_offset + 8;
	__u32 available = skb->len > payload_offset ? skb->len - payload_offset : 0;
	emit_dns(skb, hook, where, source_port, bpf_ntohs(ports[1]), payload_offset, available, available);
	return 1;
}

/* A TCP segment from a DNS port that starts a message: a 2-byte length, then the message. */
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

/*
 * The storage of the process that made the socket. For a request socket (the SYN+ACK of an
 * accepted connection) it is the listener's: `own` then says 0, and nothing may be written to it.
 */
static __always_inline struct fs_socket_owner *socket_owner(struct __sk_buff *skb, int *own)
{
	struct bpf_sock *sk = skb->sk;
	*own = 0;
	if (!sk)
		return 0;
	struct bpf_sock *full = bpf_sk_fullsock(sk);
	if (full) {
		/* A listener's storage is cloned into every socket it accepts: a stray RST to the
		 * listening port must not mark it, or no accepted flow would ever end. */
		*own = full->state != BPF_TCP_LISTEN;
	} else {
		full = bpf_get_listener_sock(sk);
		if (!full)
			return 0;
	}
	return bpf_sk_storage_get(&fs_socket_owners, full, 0, 0);
}

static __always_inline void fill_owner(struct __sk_buff *skb, const struct fs_socket_owner *owner,
				       struct fs_tcp_record *record)
{
	if (skb->sk)
		record->socket_state = (__u8)skb->sk->state;
	if (!owner)
		return;
	record->owner_known = 1;
	record->owner_pid = owner->pid;
	record->owner_uid = owner->uid;
	__builtin_memcpy(record->owner_comm, owner->comm, FS_COMM_LEN);
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
	if (load_tcp_prefix(skb, where.transport_offset, &tcp) < 0)
		return 1;
	/* Before the TCP record, so that an answer is always read before the flows it names. */
	if (is_dns_port(bpf_ntohs(tcp.source)))
		inspect_tcp_dns(skb, hook, &where, &tcp);
	__u8 flags = tcp.flags;
	int handshake = (flags & (FS_TCP_SYN | FS_TCP_ACK)) == (FS_TCP_SYN | FS_TCP_ACK);
	int termination = flags & (FS_TCP_FIN | FS_TCP_RST);
	if (!handshake && !termination)
		return 1;

	int own = 0;
	struct fs_socket_owner *owner = socket_owner(skb, &own);
	if (termination && !handshake && own && owner) {
		if (owner->end_sent)
			return 1;
		owner->end_sent = 1;
	}

	struct fs_tcp_record *record = bpf_ringbuf_reserve(&fs_records, sizeof(*record), 0);
	if (!record) {
		count(FS_COUNTER_RINGBUF_FULL);
		return 1;
	}
	__builtin_memset(record, 0, sizeof(*record));
	fill_header(skb, hook, &where, FS_RECORD_TCP, bpf_ntohs(tcp.source), bpf_ntohs(tcp.dest), &record->header);
	record->sequence = bpf_ntohl(tcp.seq);
	record->acknowledgment = bpf_ntohl(tcp.ack_seq);
	record->tcp_flags = flags;
	fill_owner(skb, owner, record);
	bpf_ringbuf_submit(record, wakeup_flags());
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

/* Runs in the creating task's context, the one moment its identity is at hand. */
SEC("cgroup/sock_create")
int fs_sock_create(struct bpf_sock *sk)
{
	if (sk->protocol != IPPROTO_TCP)
		return 1;
	struct fs_socket_owner *owner =
		bpf_sk_storage_get(&fs_socket_owners, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
	if (!owner)
		return 1;
	owner->end_sent = 0;
	owner->pid = bpf_get_current_pid_tgid() >> 32;
	owner->uid = (__u32)bpf_get_current_uid_gid();
	bpf_get_current_comm(owner->comm, sizeof(owner->comm));
	return 1;
}
