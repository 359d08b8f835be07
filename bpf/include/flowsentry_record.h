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

#define FS_RECORD_VERSION 5

/* fs_record_header.kind */
enum fs_record_kind {
	FS_RECORD_TCP = 1,
	FS_RECORD_DNS = 2,
	FS_RECORD_FLOW = 3,
	FS_RECORD_UPDATE = 4, /* fs_update_record: written by the socket walk (iter/tcp), never to the ring buffer */
};

/* fs_record_header.family and fs_half_open_key.family: Linux's AF_INET and AF_INET6. */
enum fs_address_family {
	FS_FAMILY_IPV4 = 2,
	FS_FAMILY_IPV6 = 10,
};

/* fs_tcp_record.local_listening */
enum fs_listening {
	FS_LISTENING_NO = 0,
	FS_LISTENING_YES = 1,
	FS_LISTENING_UNKNOWN = 2, /* no socket to look from */
};

/* fs_record_header.hook: which cgroup skb hook saw the packet. */
enum fs_hook {
	FS_HOOK_INGRESS = 0,
	FS_HOOK_EGRESS = 1,
	/* A socket's own state change (cgroup/sock_ops): source is the local end, destination the remote. */
	FS_HOOK_SOCKET = 2,
};

/* fs_flow_record.transition */
enum fs_flow_transition {
	FS_FLOW_BEGIN = 1, /* the handshake completed: the local socket reached ESTABLISHED */
	FS_FLOW_END = 2,   /* the stack accepted a FIN or RST, gave up (timeout), or the socket was aborted */
};

/* fs_flow_record.direction */
enum fs_flow_direction {
	FS_DIRECTION_OUTGOING = 1, /* the local socket connected */
	FS_DIRECTION_INCOMING = 2, /* the local socket was accepted */
};

/* fs_flow_record.close_reason */
enum fs_close_reason {
	FS_CLOSE_FIN = 1,
	FS_CLOSE_RST = 2,
	FS_CLOSE_REFUSED = 3, /* the connect was answered by RST (ECONNREFUSED) */
	FS_CLOSE_TIMEOUT = 4, /* the stack gave up: retransmission, keepalive or connect timeout (or an ICMP error) */
};

/* fs_flow_record.terminated_by */
enum fs_side {
	FS_SIDE_LOCAL = 1,
	FS_SIDE_REMOTE = 2,
};

/* TCP header flag bits, as in byte 13 of the TCP header. */
enum fs_tcp_flag {
	FS_TCP_FIN = 0x01,
	FS_TCP_SYN = 0x02,
	FS_TCP_RST = 0x04,
	FS_TCP_PSH = 0x08,
	FS_TCP_ACK = 0x10,
};

/*
 * Index of each counter in the per-CPU array map fs_counters. Every early return of the programs
 * that skips a packet or a state change counts here, so nothing is ignored silently.
 */
enum fs_counter {
	FS_COUNTER_RINGBUF_FULL = 0,      /* record lost: ring buffer reservation failed */
	FS_COUNTER_DNS_CUT = 1,           /* DNS message longer than FS_DNS_MAX_PAYLOAD: copied in part */
	FS_COUNTER_END_LOST = 2,          /* of RINGBUF_FULL: an end, at the socket's close: lost */
	FS_COUNTER_SHORT_PACKET = 3,      /* a header could not be loaded (bpf_skb_load_bytes failed) */
	FS_COUNTER_IPV4_FRAGMENT = 4,     /* an IPv4 fragment after the first: no transport header to read */
	FS_COUNTER_IPV6_UNPARSED = 5,     /* IPv6: an unknown extension header, a later fragment, or more than
					   * FS_IPV6_MAX_EXTENSION_HEADERS of them */
	FS_COUNTER_NOT_IP = 6,            /* neither IPv4 nor IPv6 */
	FS_COUNTER_OWNER_UNKNOWN = 7,     /* a handshake completed with no connect(2)/listen(2) recorded: the socket
					   * is older than the monitor, or its entry was evicted (fs_connecting or
					   * fs_listeners full): the flow is followed, its process unknown */
	FS_COUNTER_UNTRACKED_IGNORED = 8, /* FIN/RST to a socket older than the monitor, out of sequence: ignored */
	FS_COUNTER_UNTRACKED_NO_SOCKET = 9, /* FIN/RST of no flow socket (none, or a listener's): ignored */
	FS_COUNTER_HALF_OPEN_SYN = 10,    /* incoming SYNs to a listener (counted per remote in fs_half_open) */
	FS_COUNTER_UNEXPECTED_SYN_ACK = 11, /* incoming SYN+ACK to a socket that was not connecting: ignored */
	FS_COUNTER_WALK_FOLLOW_FAILED = 12, /* a socket older than the monitor whose callback flags a walk could not set */
	FS_COUNTER_COUNT = 13,
};

/* How many IPv6 extension headers the packet parser follows before it counts the packet as unparsed. */
#define FS_IPV6_MAX_EXTENSION_HEADERS 8

/* Connecting sockets (connect(2) called, handshake not yet complete) whose process is kept (LRU). */
#define FS_CONNECTING_SOCKETS 16384
/* Listening sockets whose process is kept (LRU). */
#define FS_LISTENERS 4096
/* Listening ports a socket walk remembers (LRU), to tell which sockets older than the monitor were accepted. */
#define FS_WALK_LISTENERS 4096

/* Remotes whose incoming SYNs are counted at once (LRU: the least recent is forgotten beyond it). */
#define FS_HALF_OPEN_REMOTES 16384

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
	__u8 family;          /* enum fs_address_family */
	__u16 source_port;    /* host byte order */
	__u16 destination_port; /* host byte order */
	__u16 reserved0;
	__u32 reserved1;
	__u64 timestamp_ns;   /* CLOCK_BOOTTIME */
	__u64 cgroup_id;      /* cgroup v2 id of the socket that owns the packet */
	__u64 socket_cookie;  /* bpf_get_socket_cookie(): the socket of the packet or state change */
	__u8 source_address[16];
	__u8 destination_address[16];
	__u64 netns_cookie;   /* bpf_get_netns_cookie(): the network namespace of the socket or packet */
};

/*
 * A FIN or RST packet that no socket state change accounts for: the end of a flow older than the
 * monitor (accepted only in sequence), or the kernel's RST refusing a SYN to a closed port.
 */
struct fs_tcp_record {
	struct fs_record_header header;
	__u32 sequence;       /* host byte order */
	__u32 acknowledgment; /* host byte order */
	__u8 tcp_flags;       /* enum fs_tcp_flag bits */
	__u8 socket_state;    /* kernel TCP state (TCP_SYN_SENT = 2, ...), 0 when unknown */
	__u8 owner_known;     /* 1 when owner_* below were recorded at connect(2)/listen(2) */
	__u8 local_listening; /* enum fs_listening: whether a socket listens on the local address and port,
			       * in the socket's own network namespace */
	__u32 owner_pid;      /* thread group id of the process that connected or listened */
	__u32 owner_uid;
	char owner_comm[FS_COMM_LEN];
	__u32 reserved1;
};

/*
 * A local socket's flow began or ended, from cgroup/sock_ops: the begin when the handshake
 * completed, the end when the socket reached TCP_CLOSE (after FINs, an RST accepted or sent, a
 * timeout), with its counters then. What the stack accepted, never a raw packet.
 */
struct fs_flow_record {
	struct fs_record_header header; /* source = local end, destination = remote end */
	__u8 transition;    /* enum fs_flow_transition */
	__u8 direction;     /* enum fs_flow_direction */
	__u8 close_reason;  /* enum fs_close_reason, ends only */
	__u8 terminated_by; /* enum fs_side, ends only */
	__u8 old_state;     /* kernel TCP states of the change (TCP_ESTABLISHED = 1, ...) */
	__u8 new_state;
	__u8 owner_known;
	__u8 reserved0;
	__u32 owner_pid;
	__u32 owner_uid;
	char owner_comm[FS_COMM_LEN];
	__s32 socket_error; /* sk_err at the change: ECONNRESET, ETIMEDOUT, ... or 0 */
	__u32 reserved1;
	/*
	 * Ends only (volume_known = 1): the socket's own counters when it reached TCP_CLOSE, from the
	 * local socket's side. Payload bytes: the kernel's bytes_acked less the SYN (outgoing sockets:
	 * its acknowledgment advances snd_una by one) and our FIN once acknowledged; bytes_received less
	 * the peer's FIN once accepted (neither counter ever includes the peer's SYN).
	 */
	__u64 bytes_sent;          /* payload bytes the peer acknowledged */
	__u64 bytes_received;      /* payload bytes received in order */
	__u32 data_segments_sent;  /* data_segs_out: segments that carried payload, retransmissions included */
	__u32 data_segments_received; /* data_segs_in: segments received that carried payload */
	__u32 retransmits;         /* total_retrans: segments retransmitted */
	__u32 rtt_us;              /* srtt_us >> 3: the smoothed round-trip time */
	__u8 volume_known;         /* 1 on ends from sock_ops; 0 on begins */
	__u8 reserved2[7];
};

/* fs_update_record.follow */
enum fs_follow {
	FS_FOLLOW_ALREADY = 1, /* sock_ops followed the socket before this walk (it saw its handshake) */
	FS_FOLLOW_STARTED = 2, /* older than the monitor: the walk set its callback flags, its end comes from sock_ops */
	FS_FOLLOW_FAILED = 3,  /* older than the monitor, and bpf_setsockopt refused (follow_error): its end comes
				* from its FIN/RST packets, without counters */
};

/*
 * An open socket of the watched cgroup as one walk (iter/tcp) found it: its counters so far, the same
 * definitions as fs_flow_record's (payload bytes, from the local socket's side).
 */
struct fs_update_record {
	struct fs_record_header header; /* hook FS_HOOK_SOCKET; source = local end, destination = remote end */
	__u8 direction;      /* enum fs_flow_direction: from the callback flags; for a socket older than the
			      * monitor, incoming when a socket listens on its local port in its namespace */
	__u8 follow;         /* enum fs_follow */
	__u8 state;          /* kernel TCP state */
	__u8 reserved0;
	__s32 follow_error;  /* bpf_setsockopt's result when follow is FS_FOLLOW_FAILED, else 0 */
	__u64 bytes_sent;
	__u64 bytes_received;
	__u32 data_segments_sent;
	__u32 data_segments_received;
	__u32 retransmits;
	__u32 rtt_us;
};

/* A DNS message to or from a DNS port (a question or an answer), UDP or TCP. */
struct fs_dns_record {
	struct fs_record_header header;
	__u16 message_length; /* the message's size on the wire (TCP: from its length prefix) */
	__u16 payload_length; /* bytes in payload: at most FS_DNS_MAX_PAYLOAD */
	__u8 transport;       /* IPPROTO_UDP (17) or IPPROTO_TCP (6) */
	__u8 reserved[3];
	__u8 payload[FS_DNS_MAX_PAYLOAD];
};

/*
 * The process that connected or listened, recorded at connect(2)/listen(2) in its own context
 * (the handshake completes later, in softirq context, where the current task is unrelated).
 */
struct fs_process_owner {
	__u32 pid;
	__u32 uid;
	char comm[FS_COMM_LEN];
	__u64 cgroup_id; /* the socket's cgroup, read (through BTF) once at connect(2)/listen(2) */
};

/* A listening socket, by what an accepted socket can name of it: its namespace, local address and port. */
struct fs_listener_key {
	__u64 netns_cookie;
	__u8 family;
	__u8 reserved;
	__u16 port;               /* host byte order */
	__u8 address[16];         /* as bound, network order; all zero for a wildcard listener */
	__u32 reserved1;
};

struct fs_listener_value {
	struct fs_process_owner owner;
	__u64 socket_cookie; /* the listener's: only its own close removes the entry */
};

/* A listening port, as a socket walk found it: a socket older than the monitor on that port was accepted. */
struct fs_walk_listener_key {
	__u64 netns_cookie;
	__u16 port; /* host byte order */
	__u8 reserved[6];
};

/* Incoming SYNs and completed handshakes per remote address, for half-open counting. */
struct fs_half_open_key {
	__u8 family;
	__u8 reserved[7];
	__u8 address[16];
	__u64 netns_cookie;
};

struct fs_half_open_value {
	__u64 syns;        /* SYNs (without ACK) that reached a listening socket */
	__u64 established; /* handshakes from this remote that completed */
	__u64 last_syn_ns; /* CLOCK_BOOTTIME of the latest SYN */
	__u16 last_port;   /* the local port of the latest SYN */
	__u16 last_remote_port;
	__u32 reserved;
	__u8 last_local_address[16]; /* network order; IPv4 in the first 4 bytes */
};

#define FS_ASSERT_LAYOUT(what, expected) _Static_assert((what) == (expected), #what " changed: update Swift's view and the layout test")

FS_ASSERT_LAYOUT(sizeof(struct fs_record_header), 80);
FS_ASSERT_LAYOUT(__builtin_offsetof(struct fs_record_header, hook), 4);
FS_ASSERT_LAYOUT(__builtin_offsetof(struct fs_record_header, source_port), 6);
FS_ASSERT_LAYOUT(__builtin_offsetof(struct fs_record_header, destination_port), 8);
FS_ASSERT_LAYOUT(__builtin_offsetof(struct fs_record_header, timestamp_ns), 16);
FS_ASSERT_LAYOUT(__builtin_offsetof(struct fs_record_header, cgroup_id), 24);
FS_ASSERT_LAYOUT(__builtin_offsetof(struct fs_record_header, socket_cookie), 32);
FS_ASSERT_LAYOUT(__builtin_offsetof(struct fs_record_header, source_address), 40);
FS_ASSERT_LAYOUT(__builtin_offsetof(struct fs_record_header, destination_address), 56);
FS_ASSERT_LAYOUT(__builtin_offsetof(struct fs_record_header, netns_cookie), 72);
FS_ASSERT_LAYOUT(sizeof(struct fs_tcp_record), 120);
FS_ASSERT_LAYOUT(__builtin_offsetof(struct fs_tcp_record, sequence), 80);
FS_ASSERT_LAYOUT(__builtin_offsetof(struct fs_tcp_record, tcp_flags), 88);
FS_ASSERT_LAYOUT(__builtin_offsetof(struct fs_tcp_record, owner_pid), 92);
FS_ASSERT_LAYOUT(__builtin_offsetof(struct fs_tcp_record, owner_comm), 100);
FS_ASSERT_LAYOUT(sizeof(struct fs_flow_record), 160);
FS_ASSERT_LAYOUT(__builtin_offsetof(struct fs_flow_record, bytes_sent), 120);
FS_ASSERT_LAYOUT(__builtin_offsetof(struct fs_flow_record, bytes_received), 128);
FS_ASSERT_LAYOUT(__builtin_offsetof(struct fs_flow_record, data_segments_sent), 136);
FS_ASSERT_LAYOUT(__builtin_offsetof(struct fs_flow_record, data_segments_received), 140);
FS_ASSERT_LAYOUT(__builtin_offsetof(struct fs_flow_record, retransmits), 144);
FS_ASSERT_LAYOUT(__builtin_offsetof(struct fs_flow_record, rtt_us), 148);
FS_ASSERT_LAYOUT(__builtin_offsetof(struct fs_flow_record, volume_known), 152);
FS_ASSERT_LAYOUT(__builtin_offsetof(struct fs_flow_record, transition), 80);
FS_ASSERT_LAYOUT(__builtin_offsetof(struct fs_flow_record, owner_pid), 88);
FS_ASSERT_LAYOUT(__builtin_offsetof(struct fs_flow_record, owner_comm), 96);
FS_ASSERT_LAYOUT(__builtin_offsetof(struct fs_flow_record, socket_error), 112);
FS_ASSERT_LAYOUT(sizeof(struct fs_update_record), 120);
FS_ASSERT_LAYOUT(__builtin_offsetof(struct fs_update_record, direction), 80);
FS_ASSERT_LAYOUT(__builtin_offsetof(struct fs_update_record, follow), 81);
FS_ASSERT_LAYOUT(__builtin_offsetof(struct fs_update_record, state), 82);
FS_ASSERT_LAYOUT(__builtin_offsetof(struct fs_update_record, follow_error), 84);
FS_ASSERT_LAYOUT(__builtin_offsetof(struct fs_update_record, bytes_sent), 88);
FS_ASSERT_LAYOUT(__builtin_offsetof(struct fs_update_record, bytes_received), 96);
FS_ASSERT_LAYOUT(__builtin_offsetof(struct fs_update_record, data_segments_sent), 104);
FS_ASSERT_LAYOUT(__builtin_offsetof(struct fs_update_record, data_segments_received), 108);
FS_ASSERT_LAYOUT(__builtin_offsetof(struct fs_update_record, retransmits), 112);
FS_ASSERT_LAYOUT(__builtin_offsetof(struct fs_update_record, rtt_us), 116);
FS_ASSERT_LAYOUT(sizeof(struct fs_walk_listener_key), 16);
FS_ASSERT_LAYOUT(sizeof(struct fs_process_owner), 32);
FS_ASSERT_LAYOUT(sizeof(struct fs_listener_key), 32);
FS_ASSERT_LAYOUT(sizeof(struct fs_listener_value), 40);
FS_ASSERT_LAYOUT(sizeof(struct fs_half_open_key), 32);
FS_ASSERT_LAYOUT(sizeof(struct fs_half_open_value), 48);
FS_ASSERT_LAYOUT(__builtin_offsetof(struct fs_dns_record, message_length), 80);
FS_ASSERT_LAYOUT(__builtin_offsetof(struct fs_dns_record, payload_length), 82);
FS_ASSERT_LAYOUT(__builtin_offsetof(struct fs_dns_record, transport), 84);
FS_ASSERT_LAYOUT(__builtin_offsetof(struct fs_dns_record, payload), 88);
FS_ASSERT_LAYOUT(sizeof(struct fs_dns_record), 1320);

#endif /* FLOWSENTRY_RECORD_H */
