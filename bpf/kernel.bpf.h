/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The kernel constants and structures the programs read, and the per-socket marks. Included by
 * flowsentry.bpf.c only: one compilation unit, one object.
 */
#ifndef FLOWSENTRY_KERNEL_BPF_H
#define FLOWSENTRY_KERNEL_BPF_H

#define AF_INET 2
#define AF_INET6 10
#define IPV4_FRAGMENT_OFFSET_MASK 0x1fff
/* IPv6's "no next header" (IPPROTO_NONE, RFC 8200). */
#define IPV6_NO_NEXT_HEADER 59
/* Kernel TCP states (include/net/tcp_states.h). */
#define TCP_ESTABLISHED 1
#define TCP_SYN_SENT 2
#define TCP_SYN_RECV 3
#define TCP_FIN_WAIT1 4
#define TCP_FIN_WAIT2 5
#define TCP_CLOSE 7
#define TCP_CLOSE_WAIT 8
#define TCP_LAST_ACK 9
#define TCP_LISTEN 10
#define TCP_CLOSING 11
#define TCP_TIME_WAIT 6
/* sk_shutdown: the receive side was shut down (a FIN accepted, or shutdown(SHUT_RD)). */
#define RCV_SHUTDOWN 1
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
	int level;
	struct cgroup *ancestors[]; /* ancestors[0] the root ... ancestors[level] this cgroup */
} __attribute__((preserve_access_index));
struct sock_cgroup_data {
	struct cgroup *cgroup;
} __attribute__((preserve_access_index));
struct net {
	__u64 net_cookie;
} __attribute__((preserve_access_index));
struct fs_possible_net {
	struct net *net;
};
struct sock_common {
	__be32 skc_daddr;
	__be32 skc_rcv_saddr;
	__be16 skc_dport;
	__u16 skc_num;
	unsigned short skc_family;
	volatile unsigned char skc_state;
	struct fs_possible_net skc_net;
	struct in6_addr skc_v6_daddr;
	struct in6_addr skc_v6_rcv_saddr;
} __attribute__((preserve_access_index));
struct sock {
	struct sock_common __sk_common;
	int sk_err;
	__u8 sk_shutdown;
	struct sock_cgroup_data sk_cgrp_data;
} __attribute__((preserve_access_index));
struct tcp_sock {
	__u8 bpf_sock_ops_cb_flags;
	__u64 bytes_received;
	__u64 bytes_acked;
	__u32 data_segs_in;
	__u32 data_segs_out;
	__u32 total_retrans;
	__u32 srtt_us;
	__u32 snd_una;
	__u32 snd_nxt;
} __attribute__((preserve_access_index));

/* The context of an iter/tcp program. */
struct seq_file;
struct bpf_iter_meta {
	struct seq_file *seq;
	__u64 session_id;
	__u64 seq_num;
} __attribute__((preserve_access_index));
struct bpf_iter__tcp {
	struct bpf_iter_meta *meta;
	struct sock_common *sk_common;
	__u32 uid;
} __attribute__((preserve_access_index));

/* bpf_setsockopt(SOL_TCP) option that sets a socket's sock_ops callback flags (Linux 6.14;
 * older uapi headers lack it). */
#define SOL_TCP 6
#define TCP_BPF_SOCK_OPS_CB_FLAGS 1008

/*
 * Per-socket marks, kept in the socket's own sock_ops callback flags: socket storage would cost an
 * allocation per socket (and a clone per accepted one), the largest part of the programs' cost when
 * it was used. The state-change flag is on while the socket's end is still to be sent; the flag of
 * a callback that fires only on retransmissions says that sock_ops follows the socket, and which
 * way it was opened. Those callbacks reach fs_sock_ops, which ignores them.
 */
#define FS_FOLLOWED_OUTGOING BPF_SOCK_OPS_RTO_CB_FLAG
#define FS_FOLLOWED_INCOMING BPF_SOCK_OPS_RETRANS_CB_FLAG

#endif /* FLOWSENTRY_KERNEL_BPF_H */
