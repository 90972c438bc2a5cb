# Declarations of native/fec/fec.h: the packet FEC codec.
from libc.stdint cimport uint8_t, uint32_t, uint64_t


cdef extern from "fec.h" nogil:
    enum:
        FEC_CODE_XOR
        FEC_CODE_RS
        FEC_CODE_RLC
        FEC_RLC_MAX_WINDOW
        FEC_RLC_MAX_M
        FEC_MAX_SYMBOLS
        FEC_HDR_LEN
        FEC_LEN_FIELD
        FEC_MAX_PAYLOAD
        FEC_VERSION
        FEC_KIND_SOURCE
        FEC_KIND_REPAIR
        FEC_KIND_CONTROL
        FEC_FLAG_FEEDBACK
        FEC_DEFAULT_MAX_SESSIONS
        FEC_MAX_SESSIONS
        FEC_MAX_SESSION_BLOCKS
        FEC_SESSION_CONFIRM
        FEC_CONFIRM_PACKETS

    ctypedef struct fec_kernel:
        const char *name

    void fec_init()
    const fec_kernel *fec_kernel_default()
    int fec_kernel_by_name(const char *name, const fec_kernel **out)
    const char *const *fec_kernel_names()
    int fec_kernel_supported(const char *name)

    int fec_code_check(int code, unsigned k, unsigned m)
    void fec_rlc_coefs(uint64_t first_esi, unsigned n, uint8_t key, uint8_t *coef)

    ctypedef struct fec_matrix_cache:
        pass
    int fec_matrix_cache_create(unsigned entries, fec_matrix_cache **out)
    void fec_matrix_cache_destroy(fec_matrix_cache *cache)
    void fec_matrix_cache_stats(const fec_matrix_cache *cache, uint64_t *hits,
                                uint64_t *misses)
    int fec_encode_block(const fec_kernel *kern, int code, unsigned k, unsigned m,
                         const uint8_t *const *data, uint8_t *const *parity, size_t len)
    int fec_code_matrix(int code, unsigned k, unsigned m, uint8_t *coef)
    int fec_encode_block_matrix(const fec_kernel *kern, const uint8_t *coef, unsigned k,
                                unsigned m, const uint8_t *const *data,
                                uint8_t *const *parity, size_t len)
    int fec_decode_block(const fec_kernel *kern, fec_matrix_cache *cache, int code,
                         unsigned k, unsigned m, uint8_t *const *sym,
                         const uint8_t *present, size_t len)

    ctypedef struct fec_sink:
        void *ctx
        uint8_t *(*get)(void *ctx, uint32_t len) noexcept nogil

    ctypedef struct fec_encoder_config:
        int code
        unsigned k, m, depth
        uint32_t max_payload
        uint64_t timeout
        uint64_t first_block_id
        const fec_kernel *kernel
        uint32_t session_id
        uint8_t flags
        unsigned window
        unsigned max_m
        unsigned max_depth

    ctypedef struct fec_encoder_stats:
        uint64_t source_packets
        uint64_t source_bytes
        uint64_t repair_packets
        uint64_t repair_bytes
        uint64_t blocks
        uint64_t blocks_partial
        uint64_t no_buffer

    ctypedef struct fec_encoder:
        pass
    int fec_encoder_create(const fec_encoder_config *cfg, fec_encoder **out)
    void fec_encoder_destroy(fec_encoder *enc)
    int fec_encoder_add(fec_encoder *enc, const uint8_t *payload, uint32_t len,
                        uint64_t now, uint8_t *hdr, const fec_sink *sink)
    int fec_encoder_poll(fec_encoder *enc, uint64_t now, const fec_sink *sink)
    int fec_encoder_flush(fec_encoder *enc, const fec_sink *sink)
    void fec_encoder_get_stats(const fec_encoder *enc, fec_encoder_stats *st)
    uint32_t fec_encoder_max_repair_len(const fec_encoder *enc)
    uint32_t fec_encoder_session_id(const fec_encoder *enc)
    int fec_random_session_id(uint32_t *out)

    ctypedef struct fec_decoder_config:
        uint32_t max_payload
        unsigned max_blocks
        unsigned max_symbols
        uint64_t timeout
        unsigned cache_entries
        const fec_kernel *kernel
        unsigned max_sessions
        uint64_t measure_window

    ctypedef struct fec_decoder_stats:
        uint64_t received
        uint64_t delivered
        uint64_t recovered
        uint64_t unrecoverable
        uint64_t duplicate
        uint64_t late
        uint64_t malformed
        uint64_t repair_unused
        uint64_t no_buffer
        uint64_t blocks_evicted
        uint64_t blocks_expired
        uint64_t unconfirmed
        uint64_t resyncs
        uint64_t control
        uint64_t sessions_opened
        uint64_t sessions_evicted

    enum:
        FEC_DELIVER
        FEC_CONSUMED
        FEC_DROP_MALFORMED
        FEC_DROP_DUPLICATE
        FEC_DROP_LATE
        FEC_CONTROL
        FEC_DROP_UNCONFIRMED

    ctypedef struct fec_verdict:
        int action
        uint32_t offset
        uint32_t length

    ctypedef struct fec_decoder:
        pass
    int fec_decoder_create(const fec_decoder_config *cfg, fec_decoder **out)
    void fec_decoder_destroy(fec_decoder *dec)
    int fec_decoder_push(fec_decoder *dec, const uint8_t *pkt, uint32_t len, uint64_t now,
                         const fec_sink *sink, fec_verdict *v)
    int fec_decoder_poll(fec_decoder *dec, uint64_t now)
    void fec_decoder_get_stats(const fec_decoder *dec, fec_decoder_stats *st)
    unsigned fec_decoder_blocks_in_flight(const fec_decoder *dec)
    unsigned fec_decoder_symbols_free(const fec_decoder *dec)
    unsigned fec_decoder_sessions(const fec_decoder *dec)
    uint32_t fec_decoder_live_session(const fec_decoder *dec)

    # link measurement, link reports, encoder reconfiguration
    int fec_encoder_set_params(fec_encoder *enc, int code, unsigned k, unsigned m,
                               unsigned depth) nogil
    void fec_encoder_get_params(const fec_encoder *enc, int *code, unsigned *k,
                                unsigned *m, unsigned *depth) nogil

    enum:
        FEC_RUN_BINS
        FEC_CTRL_LINK_REPORT
        FEC_REPORT_VERSION
        FEC_REPORT_MAX_LEN

    ctypedef struct fec_link_report:
        uint64_t window
        uint64_t packets
        uint64_t lost
        uint64_t loss_runs
        uint64_t arrivals
        uint64_t reordered
        uint64_t recovered
        double loss_rate
        double gilbert_p
        double gilbert_r
        double bad_loss
        double mean_burst
        double reorder_rate
        double recovery_mean
        double recovery_p99
        uint32_t run_hist[8]
        uint32_t session_id
        unsigned depth
        uint64_t recent_packets
        uint64_t recent_lost

    int fec_decoder_link_report(fec_decoder *dec, uint64_t now, fec_link_report *rep) nogil
    int fec_report_write(const fec_link_report *rep, uint8_t *out, size_t cap) nogil
    int fec_report_read(const uint8_t *tlv, size_t len, fec_link_report *rep) nogil
    int fec_control_write(uint32_t session_id, uint64_t seq, uint8_t flags, uint8_t type,
                          const uint8_t *payload, size_t len, uint8_t *out, size_t cap) nogil

    ctypedef struct fec_control_state:
        uint64_t accepted, malformed, old, unknown
        int have
        uint32_t session
        uint64_t last_seq

    int fec_control_accept(fec_control_state *st, const uint8_t *pkt, size_t len,
                           fec_link_report *rep, uint32_t *session_id) nogil
