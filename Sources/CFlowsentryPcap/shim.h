/* libpcap, for FlowsentryReplay only (the one Swift module that imports it): capture files only. */
#ifndef CFLOWSENTRY_PCAP_SHIM_H
#define CFLOWSENTRY_PCAP_SHIM_H
#include <pcap/pcap.h>
#include <stdio.h>
#endif
