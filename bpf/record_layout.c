// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* The host compiler's view of the shared record, for the layout test (Tests/FlowsentryCaptureTests). */
#include <stddef.h>
#include "flowsentry_record.h"
#include "flowsentry_record_layout.h"

static const struct fs_layout_entry fs_record_layout[] = {
#define FS_FIELD(type, field) {#type "." #field, offsetof(struct type, field), sizeof(((struct type *)0)->field)}
	FS_FIELD(fs_record_header, kind),
	FS_FIELD(fs_record_header, hook),
	FS_FIELD(fs_record_header, family),
	FS_FIELD(fs_record_header, source_port),
	FS_FIELD(fs_record_header, destination_port),
	FS_FIELD(fs_record_header, timestamp_ns),
	FS_FIELD(fs_record_header, cgroup_id),
	FS_FIELD(fs_record_header, socket_cookie),
	FS_FIELD(fs_record_header, source_address),
	FS_FIELD(fs_record_header, destination_address),
	FS_FIELD(fs_record_header, netns_cookie),
	FS_FIELD(fs_tcp_record, header),
	FS_FIELD(fs_tcp_record, sequence),
	FS_FIELD(fs_tcp_record, acknowledgment),
	FS_FIELD(fs_tcp_record, tcp_flags),
	FS_FIELD(fs_tcp_record, socket_state),
	FS_FIELD(fs_tcp_record, owner_known),
	FS_FIELD(fs_tcp_record, local_listening),
	FS_FIELD(fs_tcp_record, owner_pid),
	FS_FIELD(fs_tcp_record, owner_uid),
	FS_FIELD(fs_tcp_record, owner_comm),
	FS_FIELD(fs_flow_record, header),
	FS_FIELD(fs_flow_record, transition),
	FS_FIELD(fs_flow_record, direction),
	FS_FIELD(fs_flow_record, close_reason),
	FS_FIELD(fs_flow_record, terminated_by),
	FS_FIELD(fs_flow_record, old_state),
	FS_FIELD(fs_flow_record, new_state),
	FS_FIELD(fs_flow_record, owner_known),
	FS_FIELD(fs_flow_record, owner_pid),
	FS_FIELD(fs_flow_record, owner_uid),
	FS_FIELD(fs_flow_record, owner_comm),
	FS_FIELD(fs_flow_record, socket_error),
	FS_FIELD(fs_flow_record, bytes_sent),
	FS_FIELD(fs_flow_record, bytes_received),
	FS_FIELD(fs_flow_record, data_segments_sent),
	FS_FIELD(fs_flow_record, data_segments_received),
	FS_FIELD(fs_flow_record, retransmits),
	FS_FIELD(fs_flow_record, rtt_us),
	FS_FIELD(fs_flow_record, volume_known),
	FS_FIELD(fs_update_record, header),
	FS_FIELD(fs_update_record, direction),
	FS_FIELD(fs_update_record, follow),
	FS_FIELD(fs_update_record, state),
	FS_FIELD(fs_update_record, follow_error),
	FS_FIELD(fs_update_record, bytes_sent),
	FS_FIELD(fs_update_record, bytes_received),
	FS_FIELD(fs_update_record, data_segments_sent),
	FS_FIELD(fs_update_record, data_segments_received),
	FS_FIELD(fs_update_record, retransmits),
	FS_FIELD(fs_update_record, rtt_us),
	FS_FIELD(fs_walk_listener_key, netns_cookie),
	FS_FIELD(fs_walk_listener_key, port),
	FS_FIELD(fs_dns_record, header),
	FS_FIELD(fs_dns_record, message_length),
	FS_FIELD(fs_dns_record, payload_length),
	FS_FIELD(fs_dns_record, transport),
	FS_FIELD(fs_dns_record, payload),
	FS_FIELD(fs_half_open_key, family),
	FS_FIELD(fs_half_open_key, address),
	FS_FIELD(fs_half_open_key, netns_cookie),
	FS_FIELD(fs_half_open_value, syns),
	FS_FIELD(fs_half_open_value, established),
	FS_FIELD(fs_half_open_value, last_syn_ns),
	FS_FIELD(fs_half_open_value, last_port),
	FS_FIELD(fs_half_open_value, last_remote_port),
	FS_FIELD(fs_half_open_value, last_local_address),
	FS_FIELD(fs_process_owner, pid),
	FS_FIELD(fs_process_owner, uid),
	FS_FIELD(fs_process_owner, comm),
	FS_FIELD(fs_process_owner, cgroup_id),
	FS_FIELD(fs_listener_key, netns_cookie),
	FS_FIELD(fs_listener_key, family),
	FS_FIELD(fs_listener_key, port),
	FS_FIELD(fs_listener_key, address),
	FS_FIELD(fs_listener_value, owner),
	FS_FIELD(fs_listener_value, socket_cookie),
#undef FS_FIELD
};

const size_t fs_record_layout_count = sizeof(fs_record_layout) / sizeof(fs_record_layout[0]);
const size_t fs_tcp_record_size = sizeof(struct fs_tcp_record);
const size_t fs_flow_record_size = sizeof(struct fs_flow_record);
const size_t fs_update_record_size = sizeof(struct fs_update_record);
const size_t fs_dns_record_size = sizeof(struct fs_dns_record);

const struct fs_layout_entry *fs_record_layout_entry(size_t index)
{
	return index < fs_record_layout_count ? &fs_record_layout[index] : NULL;
}
