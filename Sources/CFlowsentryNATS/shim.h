/* The NATS C client (libnats, with JetStream), for FlowsentryNATS only (the one Swift module that imports it). */
#ifndef CFLOWSENTRY_NATS_SHIM_H
#define CFLOWSENTRY_NATS_SHIM_H
#include <nats/nats.h>
#endif
