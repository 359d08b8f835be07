/* Hyperscan's block-mode API, for FlowsentryPatterns only (the one Swift module that imports it). */
#ifndef CFLOWSENTRY_HYPERSCAN_SHIM_H
#define CFLOWSENTRY_HYPERSCAN_SHIM_H
#include <hs/hs.h> /* under hs/ as Debian installs it, so that no -I from pkg-config is needed (the fuzzers link by hand) */
#endif
