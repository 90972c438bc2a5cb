# Declarations of native/pkt/pkt.h: backend-neutral packet handles.
from libc.stdint cimport uint8_t, uint16_t, uint32_t


# Function-pointer fields are marked nogil themselves: the block-level nogil
# does not reach them, and the hot loops call them without the GIL.
cdef extern from "pkt.h" nogil:
    ctypedef struct pd_pkt:
        pass

    ctypedef struct pd_pkt_ops:
        const char *name
        uint32_t kind
        int (*alloc_bulk)(void *pool, pd_pkt **pkts, unsigned int n) noexcept nogil
        void (*free_bulk)(pd_pkt **pkts, unsigned int n) noexcept nogil
        uint8_t *(*data)(pd_pkt *p) noexcept nogil
        uint32_t (*data_len)(const pd_pkt *p) noexcept nogil
        uint32_t (*headroom)(const pd_pkt *p) noexcept nogil
        uint32_t (*tailroom)(const pd_pkt *p) noexcept nogil
        uint8_t *(*prepend)(pd_pkt *p, uint32_t n) noexcept nogil
        uint8_t *(*adj)(pd_pkt *p, uint32_t n) noexcept nogil
        uint8_t *(*append)(pd_pkt *p, uint32_t n) noexcept nogil
        int (*trim)(pd_pkt *p, uint32_t n) noexcept nogil

    ctypedef struct pd_port_io:
        void *ctx
        const pd_pkt_ops *ops
        void *pool
        uint16_t (*rx_burst)(void *ctx, uint16_t queue, pd_pkt **pkts, uint16_t n) noexcept nogil
        uint16_t (*tx_burst)(void *ctx, uint16_t queue, pd_pkt **pkts, uint16_t n) noexcept nogil
        int (*status)(void *ctx) noexcept nogil
        int (*wait_fd)(void *ctx, uint16_t queue) noexcept nogil
        uint16_t (*tx_burst_ops)(void *ctx, uint16_t queue, pd_pkt **pkts, uint16_t n,
                                 const pd_pkt_ops *pkt_ops) noexcept nogil
        uint32_t tx_kinds

    enum:
        PD_BURST_MAX

    # The one identity rule for ops tables (see pkt.h).
    int pd_pkt_ops_same(const pd_pkt_ops *a, const pd_pkt_ops *b)
    int pd_port_io_sends(const pd_port_io *io, const pd_pkt_ops *ops)
    uint16_t pd_port_io_tx(const pd_port_io *io, uint16_t queue, pd_pkt **pkts, uint16_t n,
                           const pd_pkt_ops *ops)
