# Declarations of native/secure/secure.h: the secure envelope.
from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t

from pydpdk._includes.pkt cimport pd_pkt_ops
from pydpdk._includes.stage cimport pd_stage


cdef extern from "secure.h" nogil:
    enum:
        PD_SEC_HDR_LEN
        PD_SEC_TAG_LEN
        PD_SEC_OVERHEAD
        PD_SEC_KEY_LEN
        PD_SEC_MAX_KEYS
        PD_SEC_WINDOW
        PD_SEC_AES256GCM
        PD_SEC_CHACHA20POLY1305
        PD_SEC_IMPL_AUTO
        PD_SEC_IMPL_IPSECMB
        PD_SEC_IMPL_OPENSSL
        PD_SEC_OK
        PD_SEC_DROP_N
        PD_SEC_OUTER_NONE
        PD_SEC_OUTER_UDP
        PD_SEC_OUTER_ETHER

    const char *pd_sec_verdict_name(int verdict)
    int pd_sec_impl_resolve(int aead, int impl)
    const char *pd_sec_impl_name(int impl)
    const char *pd_sec_info()
    int pd_sec_session_key(const uint8_t *master, uint32_t session_id, uint64_t epoch,
                           uint8_t *out)

    ctypedef struct pd_sec_seal_cfg:
        int aead, impl
        uint8_t key_id
        uint8_t key[32]
        uint32_t session_id
        uint64_t epoch

    ctypedef struct pd_sec_seal_stats:
        uint64_t sealed, bytes, sessions, malformed, no_room, foreign, rekeys

    ctypedef struct pd_sec_sealer:
        pass

    pd_sec_sealer *pd_sec_sealer_create(const pd_sec_seal_cfg *cfg, int *err)
    void pd_sec_sealer_destroy(pd_sec_sealer *s)
    void pd_sec_sealer_rekey(pd_sec_sealer *s, uint8_t key_id, const uint8_t *key)
    int pd_sec_seal(pd_sec_sealer *s, uint8_t *buf, uint32_t inner_len)
    void pd_sec_sealer_stats(const pd_sec_sealer *s, pd_sec_seal_stats *st)
    void pd_sec_sealer_state(const pd_sec_sealer *s, uint32_t *session_id, uint64_t *epoch,
                             uint64_t *counter, uint8_t *key_id)

    ctypedef struct pd_sec_keyset:
        unsigned int n
        uint8_t id[2]
        uint8_t key[2][32]

    ctypedef struct pd_sec_open_cfg:
        int aead, impl
        pd_sec_keyset keys
        unsigned int max_sessions
        unsigned int derive_per_ms
        int check_inner
        const char *state_path

    ctypedef struct pd_sec_open_stats:
        uint64_t opened, bytes, sessions, derivations, state_saves, state_errors, foreign
        uint64_t drops[8]

    ctypedef struct pd_sec_opener:
        pass

    pd_sec_opener *pd_sec_opener_create(const pd_sec_open_cfg *cfg, int *err)
    void pd_sec_opener_destroy(pd_sec_opener *o)
    void pd_sec_opener_set_keys(pd_sec_opener *o, const pd_sec_keyset *keys)
    int pd_sec_open(pd_sec_opener *o, uint8_t *buf, uint32_t len, uint64_t now_ns,
                    uint32_t *inner_len)
    void pd_sec_opener_stats(const pd_sec_opener *o, pd_sec_open_stats *st)
    uint64_t pd_sec_opener_epoch(const pd_sec_opener *o, uint8_t key_id)

    ctypedef struct pd_sec_outer_cfg:
        int kind
        uint16_t ethertype
        uint16_t dst_port

    ctypedef struct pd_sec_stage:
        pass

    pd_sec_stage *pd_sec_seal_stage_create(pd_sec_sealer *s, const pd_sec_outer_cfg *outer,
                                           const pd_pkt_ops *ops, int *err)
    pd_sec_stage *pd_sec_open_stage_create(pd_sec_opener *o, const pd_sec_outer_cfg *outer,
                                           const pd_pkt_ops *ops, int *err)
    void pd_sec_stage_destroy(pd_sec_stage *st)
    void pd_sec_stage_bind(pd_sec_stage *st, pd_stage *out)
    uint64_t pd_sec_stage_foreign(const pd_sec_stage *st)
    uint64_t pd_sec_stage_no_room(const pd_sec_stage *st)

    ctypedef struct pd_sec_bench_result:
        uint64_t packets, seal_ns, open_ns, forged_ns
        uint64_t flood_packets, flood_ns, flood_derivations

    int pd_sec_bench(int aead, int impl, uint32_t inner_len, uint64_t packets,
                     pd_sec_bench_result *res)
    int pd_sec_bench_imb_jobs(uint32_t len, uint64_t packets, uint64_t *job_ns,
                              uint64_t *direct_ns)
