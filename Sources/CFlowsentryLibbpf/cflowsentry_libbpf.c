// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#define _GNU_SOURCE /* setns */
#include "cflowsentry_libbpf.h"
#include "flowsentry_record.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <unistd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#if __has_include("flowsentry.skel.h")
#include "flowsentry.skel.h"
#else
#error "generated/flowsentry.skel.h is missing: run `make bpf` (or `make build`) first"
#endif

#define CFS_MAX_LINKS 3

struct cfs_probe {
	struct flowsentry_bpf *skeleton;
	struct bpf_link *links[CFS_MAX_LINKS];
	int link_count;
	struct ring_buffer *ring;
	struct bpf_link *walk_link; /* the iter/tcp program's: each walk opens an iterator from it */
};

static cfs_log_function log_function;
static void *log_context;

static int forward_libbpf_log(enum libbpf_print_level level, const char *format, va_list arguments)
{
	char line[4096];
	if (!log_function)
		return 0;
	vsnprintf(line, sizeof(line), format, arguments);
	log_function(log_context, (int)level, line);
	return 0;
}

void cfs_set_log_function(cfs_log_function function, void *context)
{
	log_function = function;
	log_context = context;
	libbpf_set_print(forward_libbpf_log);
}

static int negative_errno(int fallback)
{
	return errno ? -errno : -fallback;
}

int cfs_probe_load(struct cfs_probe **result, uint32_t ring_buffer_bytes, const uint16_t *dns_ports,
		   int dns_port_count, uint64_t cgroup_id, uint32_t cgroup_level)
{
	if (dns_port_count < 0 || dns_port_count > FS_DNS_PORTS_MAX)
		return -E2BIG;
	struct cfs_probe *probe = calloc(1, sizeof(*probe));
	if (!probe)
		return -ENOMEM;
	errno = 0;
	probe->skeleton = flowsentry_bpf__open();
	if (!probe->skeleton) {
		int error = negative_errno(EINVAL);
		free(probe);
		return error;
	}
	for (int i = 0; i < FS_DNS_PORTS_MAX; i++)
		probe->skeleton->rodata->fs_dns_ports[i] = i < dns_port_count ? dns_ports[i] : 0;
	probe->skeleton->rodata->fs_watched_cgroup_id = cgroup_id;
	probe->skeleton->rodata->fs_watched_cgroup_level = cgroup_level;
	int error = bpf_map__set_max_entries(probe->skeleton->maps.fs_records, ring_buffer_bytes);
	if (!error)
		error = flowsentry_bpf__load(probe->skeleton);
	if (error) {
		cfs_probe_destroy(probe);
		return error < 0 ? error : -error;
	}
	*result = probe;
	return 0;
}

int cfs_probe_attach(struct cfs_probe *probe, int cgroup_fd)
{
	struct bpf_program *programs[CFS_MAX_LINKS] = {
		probe->skeleton->progs.fs_sock_ops,
		probe->skeleton->progs.fs_ingress,
		probe->skeleton->progs.fs_egress,
	};
	/* Socket state first, so that no handshake completes between the hooks unseen. */
	for (int i = 0; i < CFS_MAX_LINKS; i++) {
		errno = 0;
		struct bpf_link *link = bpf_program__attach_cgroup(programs[i], cgroup_fd);
		if (!link)
			return negative_errno(EINVAL);
		probe->links[probe->link_count++] = link;
	}
	errno = 0;
	probe->walk_link = bpf_program__attach_iter(probe->skeleton->progs.fs_walk_tcp, NULL);
	return probe->walk_link ? 0 : negative_errno(EINVAL);
}

/* Reads an iterator's output to its end, handing the whole records of each read to function in one
 * call (a per-record call costs more than decoding the record). The kernel's seq_file holds 32 KiB
 * per read; the buffer takes twice that, and a record split between reads is carried over. */
static int read_walk(int iterator_fd, cfs_record_function function, void *context)
{
	enum { RECORD = sizeof(struct fs_update_record) };
	char buffer[RECORD * 560];
	size_t held = 0;
	int records = 0;
	for (;;) {
		ssize_t count = read(iterator_fd, buffer + held, sizeof(buffer) - held);
		if (count < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (count == 0)
			break;
		held += (size_t)count;
		size_t whole = held / RECORD;
		if (whole > 0)
			function(context, buffer, whole * RECORD);
		records += (int)whole;
		memmove(buffer, buffer + whole * RECORD, held - whole * RECORD);
		held -= whole * RECORD;
	}
	return held == 0 ? records : -EPROTO;
}

int cfs_probe_walk(struct cfs_probe *probe, int netns_fd, cfs_record_function function, void *context)
{
	if (!probe->walk_link)
		return -ENOTCONN;
	int own = -1;
	if (netns_fd >= 0) {
		own = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
		if (own < 0)
			return -errno;
		if (setns(netns_fd, CLONE_NEWNET) != 0) {
			int error = -errno;
			close(own);
			return error;
		}
	}
	/* The iterator walks the namespace it is created in. */
	int iterator_fd = bpf_iter_create(bpf_link__fd(probe->walk_link));
	int create_error = iterator_fd < 0 ? -errno : 0;
	if (own >= 0) {
		int returned = setns(own, CLONE_NEWNET);
		close(own);
		if (returned != 0) {
			if (iterator_fd >= 0)
				close(iterator_fd);
			/* Its own code: no read(2) of the iterator returns it, and the thread must stop. */
			return -ENOTRECOVERABLE;
		}
	}
	if (iterator_fd < 0)
		return create_error;
	int records = read_walk(iterator_fd, function, context);
	close(iterator_fd);
	return records;
}

int cfs_probe_open_ring(struct cfs_probe *probe, cfs_record_function function, void *context)
{
	errno = 0;
	probe->ring = ring_buffer__new(bpf_map__fd(probe->skeleton->maps.fs_records),
				       (ring_buffer_sample_fn)function, context, NULL);
	return probe->ring ? 0 : negative_errno(EINVAL);
}

static int batch_result(int handled)
{
	if (handled == CFS_STOP_BATCH)
		return 1;
	if (handled == -EINTR)
		return 0;
	return handled;
}

int cfs_probe_poll(struct cfs_probe *probe, int timeout_ms)
{
	int woken = batch_result(ring_buffer__poll(probe->ring, timeout_ms));
	if (woken != 0)
		return woken;
	/* Records submitted without a wakeup (below FS_WAKEUP_BYTES) are read here. */
	return batch_result(ring_buffer__consume(probe->ring));
}

int cfs_probe_read_counter(struct cfs_probe *probe, uint32_t counter, uint64_t *total)
{
	int cpus = libbpf_num_possible_cpus();
	if (cpus <= 0)
		return cpus;
	uint64_t *values = calloc((size_t)cpus, sizeof(uint64_t));
	if (!values)
		return -ENOMEM;
	int error = bpf_map__lookup_elem(probe->skeleton->maps.fs_counters, &counter, sizeof(counter), values,
					 sizeof(uint64_t) * (size_t)cpus, 0);
	if (!error) {
		*total = 0;
		for (int i = 0; i < cpus; i++)
			*total += values[i];
	}
	free(values);
	return error;
}

uint32_t cfs_probe_record_version(struct cfs_probe *probe)
{
	return probe->skeleton->rodata->fs_record_version;
}

int cfs_probe_half_open_scan(struct cfs_probe *probe, cfs_half_open_function function, void *context,
			     int visit_limit, int *complete)
{
	int fd = bpf_map__fd(probe->skeleton->maps.fs_half_open);
	struct fs_half_open_key key, next;
	struct fs_half_open_value value;
	int visited = 0;
	*complete = 0;
	errno = 0;
	int step = bpf_map_get_next_key(fd, NULL, &key);
	/* The successor is taken before the current key may be deleted: asked for the successor of a
	 * key that is gone, the kernel starts over at the first bucket. Every turn counts a visit,
	 * whatever happens to the key, so the walk ends within visit_limit turns. */
	while (step == 0 && visited < visit_limit) {
		visited++;
		errno = 0;
		step = bpf_map_get_next_key(fd, &key, &next);
		int next_errno = errno;
		/* An entry evicted (LRU) or deleted since the walk found it: nothing to account. */
		if (bpf_map_lookup_elem(fd, &key, &value) == 0 && function(context, &key, &value) &&
		    bpf_map_delete_elem(fd, &key) != 0 && errno != ENOENT)
			return negative_errno(EINVAL);
		errno = next_errno;
		key = next;
	}
	if (step != 0) {
		if (errno != ENOENT)
			return negative_errno(EINVAL);
		*complete = 1;
	}
	return visited;
}

int cfs_probe_program_ids(struct cfs_probe *probe, uint32_t *ids, int capacity)
{
	int count = 0;
	struct bpf_program *program;
	bpf_object__for_each_program(program, probe->skeleton->obj)
	{
		if (count >= capacity)
			break;
		struct bpf_prog_info info;
		uint32_t length = sizeof(info);
		memset(&info, 0, sizeof(info));
		if (bpf_obj_get_info_by_fd(bpf_program__fd(program), &info, &length) == 0)
			ids[count++] = info.id;
	}
	return count;
}

int cfs_probe_test_run(struct cfs_probe *probe, int egress, const void *frame, uint32_t size)
{
	struct bpf_program *program = egress ? probe->skeleton->progs.fs_egress : probe->skeleton->progs.fs_ingress;
	LIBBPF_OPTS(bpf_test_run_opts, options, .data_in = frame, .data_size_in = size, .repeat = 1);
	errno = 0;
	int error = bpf_prog_test_run_opts(bpf_program__fd(program), &options);
	if (error)
		return negative_errno(EINVAL);
	return (int)options.retval;
}

void cfs_probe_detach(struct cfs_probe *probe)
{
	for (int i = 0; i < probe->link_count; i++)
		bpf_link__destroy(probe->links[i]);
	probe->link_count = 0;
	bpf_link__destroy(probe->walk_link);
	probe->walk_link = NULL;
}

void cfs_probe_destroy(struct cfs_probe *probe)
{
	if (!probe)
		return;
	ring_buffer__free(probe->ring);
	bpf_link__destroy(probe->walk_link);
	for (int i = 0; i < probe->link_count; i++)
		bpf_link__destroy(probe->links[i]);
	flowsentry_bpf__destroy(probe->skeleton);
	free(probe);
}
