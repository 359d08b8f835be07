/* PCRE2's 8-bit API, for FlowsentryPatterns only (the one Swift module that imports it). */
#ifndef CFLOWSENTRY_PCRE2_SHIM_H
#define CFLOWSENTRY_PCRE2_SHIM_H
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#endif
