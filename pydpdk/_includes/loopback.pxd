# Declarations of native/pkt/loopback.h: the in-memory port over any packet kind.
from libc.stdint cimport uint16_t, uint64_t

from pydpdk._includes.pkt cimport pd_pkt, pd_pkt_ops, pd_port_io


cdef extern from "loopback.h" nogil:
    enum:
        PD_LOOPBACK_MAX_QUEUES

    ctypedef struct pd_loopback:
        pass

    ctypedef struct pd_loopback_stats:
        uint64_t rx_packets, rx_bytes
        uint64_t tx_packets, tx_bytes
        uint64_t tx_full

    int pd_loopback_create(pd_loopback **out, const pd_pkt_ops *ops, void *pool,
                           unsigned int queues, unsigned int depth)
    void pd_loopback_free(pd_loopback *lb)
    unsigned int pd_loopback_queued(pd_loopback *lb, uint16_t queue)
    unsigned int pd_loopback_queues(const pd_loopback *lb)
    void pd_loopback_stats_get(pd_loopback *lb, pd_loopback_stats *st)
    void pd_loopback_port_io(pd_loopback *lb, pd_port_io *io)
