/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Host-only: the C compiler's offsets of the shared record, so a Swift test can compare. */
#ifndef FLOWSENTRY_RECORD_LAYOUT_H
#define FLOWSENTRY_RECORD_LAYOUT_H
#include <stddef.h>

struct fs_layout_entry {
	const char *name;
	size_t offset;
	size_t size;
};

const struct fs_layout_entry *fs_record_layout_entry(size_t index);
extern const size_t fs_record_layout_count;
extern const size_t fs_tcp_record_size;
extern const size_t fs_flow_record_size;
extern const size_t fs_dns_record_size;
extern const size_t fs_update_record_size;
#endif
