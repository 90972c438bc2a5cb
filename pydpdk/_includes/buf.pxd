# Declarations of native/buf/buf.h: the native packet buffer pool.
from libc.stdint cimport uint32_t, uint64_t

from pydpdk._includes.pkt cimport pd_pkt_ops


cdef extern from "buf.h" nogil:
    ctypedef struct pd_buf_pool:
        pass

    ctypedef struct pd_buf:
        uint32_t data_len
        uint64_t timestamp_ns

    int pd_buf_pool_create(pd_buf_pool **out, uint32_t count, uint32_t data_room,
                           uint32_t headroom)
    int pd_buf_pool_free(pd_buf_pool *pool, int force)
    int pd_buf_pool_release(pd_buf_pool *pool)
    int pd_buf_debug_use_after_free(pd_buf_pool *pool)
    uint32_t pd_buf_pool_count(const pd_buf_pool *pool)
    uint32_t pd_buf_pool_avail(pd_buf_pool *pool)
    uint32_t pd_buf_pool_data_room(const pd_buf_pool *pool)
    uint32_t pd_buf_pool_headroom(const pd_buf_pool *pool)
    uint64_t pd_buf_pool_double_frees(pd_buf_pool *pool)

    const pd_pkt_ops pd_buf_ops
