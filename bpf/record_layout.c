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
	FS_FIELD(fs_record_header, socket_uid),
	FS_FIELD(fs_record_header, timestamp_ns),
	FS_FIELD(fs_record_header, cgroup_id),
	FS_FIELD(fs_record_header, socket_cookie),
	FS_FIELD(fs_record_header, source_address),
	FS_FIELD(fs_record_header, destination_address),
	FS_FIELD(fs_tcp_record, header),
	FS_FIELD(fs_tcp_record, sequence),
	FS_FIELD(fs_tcp_record, acknowledgment),
	FS_FIELD(fs_tcp_record, tcp_flags),
	FS_FIELD(fs_tcp_record, socket_state),
	FS_FIELD(fs_tcp_record, owner_known),
	FS_FIELD(fs_tcp_record, owner_pid),
	FS_FIELD(fs_tcp_record, owner_uid),
	FS_FIELD(fs_tcp_record, owner_comm),
#undef FS_FIELD
};

const size_t fs_record_layout_count = sizeof(fs_record_layout) / sizeof(fs_record_layout[0]);
const size_t fs_tcp_record_size = sizeof(struct fs_tcp_record);

const struct fs_layout_entry *fs_record_layout_entry(size_t index)
{
	return index < fs_record_layout_count ? &fs_record_layout[index] : NULL;
}
