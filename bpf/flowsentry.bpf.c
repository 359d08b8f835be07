// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Two views of one cgroup, neither of which ever changes or drops anything:
 *
 * - cgroup/sock_ops sees what the local TCP stack accepted: a begin when a
 *   socket's handshake completes (so a forged SYN+ACK or a half-open SYN makes
 *   none) and an end when the socket reaches CLOSE, with its own counters (so
 *   an out-of-window RST or FIN, which the stack drops, ends nothing). The
 *   close reason comes from the states it closed through and sk_err.
 * - cgroup_skb sees packets: DNS questions and answers, incoming SYNs counted
 *   per remote (half-open attempts), the kernel's RSTs refusing a closed port,
 *   and the FIN/RST of sockets older than the monitor (which sock_ops cannot
 *   follow), accepted only in sequence (RFC 5961's exact rule for RST).
 * - iter/tcp (walk_view.bpf.h) walks the open sockets of the cgroup on demand: their counters so far
 *   (net_flow_tcp_update), and sock_ops made to follow those older than the monitor.
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
#include "kernel.bpf.h"
#include "maps.bpf.h"
#include "packet_parse.bpf.h"
#include "packet_view.bpf.h"
#include "socket_view.bpf.h"
#include "walk_view.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

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
