/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The one definition of what the kernel programs hand to user space.
 *
 * Compiled twice: by clang -target bpf for bpf/flowsentry.bpf.c, and by the
 * host compiler for the Swift module CFlowsentryRecord. Both targets are
 * 64-bit little-endian with natural alignment, and every field below sits at
 * an offset that is a multiple of its size, so the two layouts are identical;
 * the static asserts make either compiler refuse a change that breaks that,
 * and a Swift test compares Swift's view with these numbers.
 */
#ifndef FLOWSENTRY_RECORD_H
#define FLOWSENTRY_RECORD_H

#include <linux/types.h>

#define FS_RECORD_VERSION 1

/* fs_record_header.kind */
enum fs_record_kind {
	FS_RECORD_TCP = 1,
	FS_RECORD_DNS = 2,
};

/* fs_record_header.hook: which cgroup skb hook saw the packet. */
enum fs_hook {
	FS_HOOK_INGRESS = 0,
	FS_HOOK_EGRESS = 1,
};

/* TCP header flag bits, as in byte 13 of the TCP header. */
enum fs_tcp_flag {
	FS_TCP_FIN = 0x01,
	FS_TCP_SYN = 0x02,
	FS_TCP_RST = 0x04,
	FS_TCP_PSH = 0x08,
	FS_TCP_ACK = 0x10,
};

/* Index of each counter in the per-CPU array map fs_counters. */
enum fs_counter {
	FS_COUNTER_RINGBUF_FULL = 0, /* record lost: ring buffer reservation failed */
	FS_COUNTER_DNS_CUT = 1,      /* DNS message longer than FS_DNS_MAX_PAYLOAD: copied in part */
	FS_COUNTER_COUNT = 2,
};

/*
 * DNS messages are copied up to this many bytes (the EDNS0 size DNS Flag Day 2020 recommends, so
 * nearly every UDP answer fits whole). Longer ones are cut here, counted (FS_COUNTER_DNS_CUT) and
 * parsed as far as the copy goes. Over TCP, only the segment that carries the message's
 * length prefix is copied.
 */
#define FS_DNS_MAX_PAYLOAD 1232
/* How many source ports can be declared DNS ports (53 by default). */
#define FS_DNS_PORTS_MAX 8

#define FS_COMM_LEN 16

/* Pending bytes that make the kernel wake the reader; below it, the reader's poll interval rules. */
#define FS_WAKEUP_BYTES (64 * 1024)
#define FS_POLL_INTERVAL_MS 20

/* Common start of every record. Addresses are network byte order; IPv4 uses the first 4 bytes. */
struct fs_record_header {
	__u32 kind;           /* enum fs_record_kind */
	__u8 hook;            /* enum fs_hook */
	__u8 family;          /* AF_INET (2) or AF_INET6 (10) */
	__u16 source_port;    /* host byte order */
	__u16 destination_port; /* host byte order */
	__u16 reserved0;
	__u32 socket_uid;     /* bpf_get_socket_uid(); overflow uid when there is no socket */
	__u64 timestamp_ns;   /* CLOCK_BOOTTIME */
	__u64 cgroup_id;      /* cgroup v2 id of the socket that owns the packet */
	__u64 socket_cookie;  /* bpf_get_socket_cookie() */
	__u8 source_address[16];
	__u8 destination_address[16];
};

/* A TCP packet with SYN+ACK, FIN or RST set: all that flow tracking needs. */
struct fs_tcp_record {
	struct fs_record_header header;
	__u32 sequence;       /* host byte order */
	__u32 acknowledgment; /* host byte order */
	__u8 tcp_flags;       /* enum fs_tcp_flag bits */
	__u8 socket_state;    /* kernel TCP state (TCP_SYN_SENT = 2, ...), 0 when unknown */
	__u8 owner_known;     /* 1 when owner_* below were recorded at socket creation */
	__u8 reserved0;
	__u32 owner_pid;      /* thread group id of the process that created the socket */
	__u32 owner_uid;
	char owner_comm[FS_COMM_LEN];
	__u32 reserved1;
};

/* A DNS message from a DNS port (a response), UDP or TCP. */
struct fs_dns_record {
	struct fs_record_header header;
	__u16 message_length; /* the message's size on the wire (TCP: from its length prefix) */
	__u16 payload_length; /* bytes in payload: at most FS_DNS_MAX_PAYLOAD */
	__u8 transport;       /* IPPROTO_UDP (17) or IPPROTO_TCP (6) */
	__u8 reserved[3];
	__u8 payload[FS_DNS_MAX_PAYLOAD];
};

/* The process that created a socket, kept in socket-local storage (cloned to accepted sockets). */
struct fs_socket_owner {
	__u32 pid;
	__u32 uid;
	char comm[FS_COMM_LEN];
	/* Set at the socket's first FIN or RST: later ones (the peer's FIN, retransmissions, RST
	 * after FIN) end nothing new, so they are not sent to user space at all. */
	__u32 end_sent;
};

#define FS_ASSERT_LAYOUT(what, expected) _Static_assert((what) == (expected), #what " changed: update Swift's view and the layout test")

FS_ASSERT_LAYOUT(sizeof(struct fs_record_header), 72);
FS_ASSERT_LAYOUT(__builtin_offsetof(struct fs_record_header, hook), 4);
FS_ASSERT_LAYOUT(__builtin_offsetof(struct fs_record_header, source_port), 6);
FS_ASSERT_LAYOUT(__builtin_offsetof(struct fs_record_header, destination_port), 8);
FS_ASSERT_LAYOUT(__builtin_offsetof(struct fs_record_header, socket_uid), 12);
FS_ASSERT_LAYOUT(__builtin_offsetof(struct fs_record_header, timestamp_ns), 16);
FS_ASSERT_LAYOUT(__builtin_offsetof(struct fs_record_header, cgroup_id), 24);
FS_ASSERT_LAYOUT(__builtin_offsetof(struct fs_record_header, socket_cookie), 32);
FS_ASSERT_LAYOUT(__builtin_offsetof(struct fs_record_header, source_address), 40);
FS_ASSERT_LAYOUT(__builtin_offsetof(struct fs_record_header, destination_address), 56);
FS_ASSERT_LAYOUT(sizeof(struct fs_tcp_record), 112);
FS_ASSERT_LAYOUT(__builtin_offsetof(struct fs_tcp_record, sequence), 72);
FS_ASSERT_LAYOUT(__builtin_offsetof(struct fs_tcp_record, tcp_flags), 80);
FS_ASSERT_LAYOUT(__builtin_offsetof(struct fs_tcp_record, owner_pid), 84);
FS_ASSERT_LAYOUT(__builtin_offsetof(struct fs_tcp_record, owner_comm), 92);
FS_ASSERT_LAYOUT(sizeof(struct fs_socket_owner), 28);
FS_ASSERT_LAYOUT(__builtin_offsetof(struct fs_dns_record, message_length), 72);
FS_ASSERT_LAYOUT(__builtin_offsetof(struct fs_dns_record, payload_length), 74);
FS_ASSERT_LAYOUT(__builtin_offsetof(struct fs_dns_record, transport), 76);
FS_ASSERT_LAYOUT(__builtin_offsetof(struct fs_dns_record, payload), 80);
FS_ASSERT_LAYOUT(sizeof(struct fs_dns_record), 1312);

#endif /* FLOWSENTRY_RECORD_H */
