/* Native pipeline: sources, stages and sinks over pd_pkt handles.
 *
 * A chain is   source -> stage -> stage -> ... -> sink.
 * The loop (pipeline.c) pulls a burst from each chain's source in turn, runs it
 * through the stages and pushes the result to the sink, without the GIL.
 * Anything that can hold the GIL (a Python stage) is just another stage whose
 * process function happens to take it: this file knows nothing of Python.
 *
 * Ownership: a packet handed to a stage belongs to it.  It either writes the
 * packet to out[], keeps it (reordering, FEC held state), or frees it (drop).
 * Sinks take ownership of the packets they accept; the loop frees the rest and
 * counts them as sink drops, so nothing is ever leaked.
 */
#ifndef PD_STAGE_H
#define PD_STAGE_H

#include <stdint.h>
#include "pkt.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Output arrays are this large so a stage can add packets (parity,
 * duplicates, rebuilt packets) to a full burst. */
#define PD_STAGE_OUT_MAX (4 * PD_BURST_MAX)

typedef struct pd_counters {
    uint64_t pkts_in, bytes_in;
    uint64_t pkts_out, bytes_out;
    uint64_t drops;          /* packets this element freed */
    uint64_t calls;          /* bursts processed (n > 0) */
    uint64_t ns;             /* time spent inside, nanoseconds */
} pd_counters;

typedef struct pd_stage {
    const char *name;
    void *ctx;
    /* Process in[0..n); write results to out[0..cap); return how many.
     * Called with n == 0 when idle so deadlines can fire. */
    uint16_t (*process)(void *ctx, pd_pkt **in, uint16_t n,
                        pd_pkt **out, uint16_t cap, uint64_t now_ns);
    /* Optional: release held packets at the end of a run (called until it
     * returns 0). */
    uint16_t (*flush)(void *ctx, pd_pkt **out, uint16_t cap, uint64_t now_ns);
    /* Optional: called once when the run is over, after the last flush
     * (e.g. the FEC decoder gives up blocks still incomplete, so their lost
     * packets are counted). */
    void (*finish)(void *ctx);
    /* Optional: when process() next has timed work to do (a FEC block
     * deadline), on the loop's clock; UINT64_MAX for none.  A loop that
     * blocks while idle wakes by then.  A stage with flush() but without
     * next_deadline may hold packets for a time only it knows, so the loop
     * does not block while such a stage is in a chain. */
    uint64_t (*next_deadline)(void *ctx);
    pd_counters c;
} pd_stage;

typedef struct pd_source {
    const char *name;
    void *ctx;
    /* Fill pkts[0..n) and return how many (0 when nothing is ready). */
    uint16_t (*pull)(void *ctx, pd_pkt **pkts, uint16_t n, uint64_t now_ns);
    /* Optional: nonzero once the source will never produce again
     * (generator reached its count, pcap file ended). */
    int (*done)(void *ctx);
    /* Optional: health of what the source reads (a port): see
     * pd_port_io.status.  The loop calls it every status_interval_ns and
     * keeps the last answer in `health`. */
    int (*status)(void *ctx);
    /* Optional: a descriptor poll() reports readable when pull() may have
     * packets (see pd_port_io.wait_fd), or negative: none. */
    int (*wait_fd)(void *ctx);
    int health;
    uint64_t health_changes;     /* times `health` changed (link down, up, ...) */
    pd_counters c;
} pd_source;

typedef struct pd_sink {
    const char *name;
    void *ctx;
    /* Take ownership of a prefix of pkts[0..n); return its length. */
    uint16_t (*push)(void *ctx, pd_pkt **pkts, uint16_t n, uint64_t now_ns);
    int (*status)(void *ctx);    /* optional, as for sources */
    int health;
    uint64_t health_changes;
    pd_counters c;
} pd_sink;

/* Adapters from a port's pd_port_io (rx/tx queue) to a source / sink. */
typedef struct pd_port_endpoint {
    pd_port_io io;
    uint16_t queue;
    uint16_t tx_retries;     /* sink: extra tx attempts before dropping the tail */
} pd_port_endpoint;

void pd_source_from_port(pd_source *src, pd_port_endpoint *ep);
void pd_sink_from_port(pd_sink *snk, pd_port_endpoint *ep);

/* A sink that frees everything (counts only). */
void pd_sink_discard(pd_sink *snk, const pd_pkt_ops *ops);

#ifdef __cplusplus
}
#endif
#endif /* PD_STAGE_H */
