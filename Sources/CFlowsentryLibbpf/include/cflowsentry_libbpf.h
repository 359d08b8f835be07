/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The only door from Swift into libbpf (FlowsentryCapture is its only user).
 * libbpf's option macros, iterators and varargs logging do not import into
 * Swift, so this shim owns them and offers a handful of plain functions.
 * Every function that can fail returns 0 or a negative errno.
 */
#ifndef CFLOWSENTRY_LIBBPF_H
#define CFLOWSENTRY_LIBBPF_H

#include <stddef.h>
#include <stdint.h>

struct cfs_probe;

/* Receives each libbpf log line already formatted (including the verifier's log on a failed load). */
typedef void (*cfs_log_function)(void *context, int level, const char *line);
void cfs_set_log_function(cfs_log_function function, void *context);

/* A ring-buffer record; return 0 to go on, CFS_STOP_BATCH to end this poll after this record. */
typedef int (*cfs_record_function)(void *context, const void *data, size_t size);
#define CFS_STOP_BATCH (-10000)

/* Opens the embedded object, sizes the ring buffer (a power of two, in bytes), sets the DNS source
 * ports (at most FS_DNS_PORTS_MAX; -E2BIG beyond), the watched cgroup for the socket walk (its id
 * and its depth below the root, 0 for the root) and loads it. */
int cfs_probe_load(struct cfs_probe **probe, uint32_t ring_buffer_bytes, const uint16_t *dns_ports,
		   int dns_port_count, uint64_t cgroup_id, uint32_t cgroup_level);

/* Attaches every program to the cgroup v2 directory behind cgroup_fd through bpf_links:
 * they go away with this process, however it ends. */
int cfs_probe_attach(struct cfs_probe *probe, int cgroup_fd);

int cfs_probe_open_ring(struct cfs_probe *probe, cfs_record_function function, void *context);

/* Waits up to timeout_ms for a wakeup, then reads what is pending either way;
 * returns the number of records handled (> 0 when there may be more) or a negative errno. */
int cfs_probe_poll(struct cfs_probe *probe, int timeout_ms);

/* Sums one per-CPU counter of fs_counters (enum fs_counter). */
int cfs_probe_read_counter(struct cfs_probe *probe, uint32_t counter, uint64_t *total);

/* FS_RECORD_VERSION as the embedded eBPF object was built with it. */
uint32_t cfs_probe_record_version(struct cfs_probe *probe);

struct fs_half_open_key;
struct fs_half_open_value;
/* One entry of fs_half_open; return nonzero to delete it (it has been accounted for). */
typedef int (*cfs_half_open_function)(void *context, const struct fs_half_open_key *key,
				      const struct fs_half_open_value *value);
/* Visits the remotes of the half-open map, at most visit_limit of them, in the map's order; sets
 * *complete to 1 when the walk reached the map's end, 0 when the limit cut it. Returns how many
 * were visited, or a negative errno when the map could not be read. */
int cfs_probe_half_open_scan(struct cfs_probe *probe, cfs_half_open_function function, void *context,
			     int visit_limit, int *complete);

/* Walks the TCP sockets of one network namespace with the iter/tcp program: netns_fd is a
 * namespace file (/proc/PID/ns/net), or -1 for the caller's own. The iterator is created from this
 * thread moved into that namespace for the moment (setns), then read here; the records it wrote
 * (struct fs_update_record) go to function, as many whole records per call as one read(2) brought
 * (size a multiple of the record's), its return value ignored. Returns the records
 * handed over, or a negative errno: -ENOTRECOVERABLE when the thread could not return to its own namespace
 * (the caller must then end the thread), -EPROTO for output that is not whole records. */
int cfs_probe_walk(struct cfs_probe *probe, int netns_fd, cfs_record_function function, void *context);

/* Kernel ids of the loaded programs, for diagnostics: fills up to capacity, returns the count. */
int cfs_probe_program_ids(struct cfs_probe *probe, uint32_t *ids, int capacity);

/* Runs fs_ingress (egress 0) or fs_egress on one Ethernet frame with BPF_PROG_TEST_RUN, as if it
 * crossed that hook without a socket; what the program records goes to the ring buffer as usual.
 * Returns the program's verdict (1) or a negative errno. */
int cfs_probe_test_run(struct cfs_probe *probe, int egress, const void *frame, uint32_t size);

/* Detaches every program; the ring buffer stays readable, so what was queued can be drained. */
void cfs_probe_detach(struct cfs_probe *probe);

/* Detaches, frees the ring buffer and unloads. Safe with NULL. */
void cfs_probe_destroy(struct cfs_probe *probe);

#endif
