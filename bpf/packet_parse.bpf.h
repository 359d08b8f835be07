/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Finding the transport header of a packet (IPv4 options, IPv6 extension headers) and filling a record
 * header from it. Included by flowsentry.bpf.c only: one compilation unit, one object.
 */
#ifndef FLOWSENTRY_PACKET_PARSE_BPF_H
#define FLOWSENTRY_PACKET_PARSE_BPF_H

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
			if (next != IPPROTO_ICMPV6 && next != IPV6_NO_NEXT_HEADER && next != IPPROTO_ESP)
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

/* The largest IPv4 header (with options), and the IPv6 header with as many 40-byte extension
 * headers as the parser follows: transport headers up to here are read in place. The verifier needs
 * the offset of a direct read bounded; one beyond it (long extension headers) is copied instead. */
#define IPV4_MAX_HEADER_BYTES 60
#define IPV6_HEADER_BYTES 40
#define DIRECT_READ_MAX_OFFSET (IPV4_MAX_HEADER_BYTES + IPV6_HEADER_BYTES * FS_IPV6_MAX_EXTENSION_HEADERS)

/* The TCP header's first 16 bytes: directly from the packet when linear, else copied. */
static __always_inline int load_tcp_prefix(struct __sk_buff *skb, __u32 offset, struct tcp_prefix *tcp)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	if (offset <= DIRECT_READ_MAX_OFFSET) {
		void *start = data + offset;
		if (start + sizeof(*tcp) <= data_end) {
			__builtin_memcpy(tcp, start, sizeof(*tcp));
			return 0;
		}
	}
	return bpf_skb_load_bytes(skb, offset, tcp, sizeof(*tcp));
}

enum packet_end {
	PACKET_SOURCE = 0,
	PACKET_DESTINATION = 1,
};

/* One address of the packet's IP header: 4 bytes for IPv4, 16 for IPv6 (the destination follows the
 * source in both). A failed load (< 0) leaves `to` as it was: zeroed, by every caller. */
static __always_inline int load_packet_address(struct __sk_buff *skb, __u8 family, enum packet_end end, void *to)
{
	if (family == AF_INET)
		return bpf_skb_load_bytes(skb, offsetof(struct iphdr, saddr) + end * 4, to, 4);
	return bpf_skb_load_bytes(skb, offsetof(struct ipv6hdr, saddr) + end * 16, to, 16);
}

static __always_inline void copy_addresses(struct __sk_buff *skb, const struct packet_location *where,
					   struct fs_record_header *header)
{
	load_packet_address(skb, where->family, PACKET_SOURCE, header->source_address);
	load_packet_address(skb, where->family, PACKET_DESTINATION, header->destination_address);
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

#endif /* FLOWSENTRY_PACKET_PARSE_BPF_H */
