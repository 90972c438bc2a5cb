/* Secure envelope of the FEC wire format v2 (docs/secure-format.md).
 *
 *   clear header (24 bytes) | AEAD ciphertext of the inner plain v2 packet | tag (16)
 *
 * clear header: version 2, type 0x30, key id, AEAD id, session id (4),
 * epoch (8, ns since the Unix epoch), packet counter (8); big-endian.
 * AAD = the 24 clear bytes; nonce = session id || counter (RFC 5116 12-byte
 * nonce); session key = HKDF-SHA256(master key, salt = session id || epoch,
 * info = "pydpdk fec v2 session") (RFC 5869).
 *
 * The AEADs come from libraries, never from here: Intel ipsec-mb (AES-256-GCM,
 * AES-NI/VAES/AVX-512 paths chosen by the library at run time) and OpenSSL
 * libcrypto (ChaCha20-Poly1305, HKDF, AES-256-GCM when ipsec-mb is absent).
 *
 * The opener verifies before it changes anything: header checks, key id,
 * epoch rule, (rate-limited) key derivation, tag, then the RFC 4303 replay
 * window; only a packet that passed all of them updates session state.
 *
 * Conventions: 0 / negative errno; nothing prints; no exits.
 */
#ifndef PD_SECURE_H
#define PD_SECURE_H

#include <stdint.h>
#include "pkt.h"
#include "stage.h"

#ifdef __cplusplus
extern "C" {
#endif

#define PD_SEC_VERSION 2
#define PD_SEC_TYPE 0x30
#define PD_SEC_HDR_LEN 24
#define PD_SEC_TAG_LEN 16
#define PD_SEC_OVERHEAD (PD_SEC_HDR_LEN + PD_SEC_TAG_LEN)
#define PD_SEC_KEY_LEN 32
#define PD_SEC_MAX_KEYS 2          /* current and previous (rotation) */
#define PD_SEC_INNER_MIN 20        /* plain v2 header */
#define PD_SEC_WINDOW 2048         /* replay window, packets (RFC 4303 >= 1024) */
#define PD_SEC_HKDF_INFO "pydpdk fec v2 session"

enum pd_sec_aead { PD_SEC_AES256GCM = 1, PD_SEC_CHACHA20POLY1305 = 2 };
enum pd_sec_impl { PD_SEC_IMPL_AUTO = 0, PD_SEC_IMPL_IPSECMB = 1, PD_SEC_IMPL_OPENSSL = 2 };

/* Verdicts of pd_sec_open: 0 accepted, else why it was dropped. */
enum pd_sec_verdict {
    PD_SEC_OK = 0,
    PD_SEC_DROP_MALFORMED,     /* truncated, bad version/type/AEAD, bad inner packet */
    PD_SEC_DROP_UNKNOWN_KEY,   /* key id not in the key set */
    PD_SEC_DROP_BAD_TAG,       /* forged, corrupted or wrong key */
    PD_SEC_DROP_REPLAYED,      /* counter already seen in the window */
    PD_SEC_DROP_TOO_OLD,       /* counter left of the window */
    PD_SEC_DROP_STALE_EPOCH,   /* new (session, epoch) not newer than the last accepted */
    PD_SEC_DROP_RATE_LIMIT,    /* key derivations over budget this millisecond */
    PD_SEC_DROP_N
};
const char *pd_sec_verdict_name(int verdict);

/* --- library layer ------------------------------------------------------ */

/* Is this (aead, impl) available in this build? impl AUTO resolves to the
 * fastest: ipsec-mb for AES-GCM when built in and the CPU has AES-NI. */
int pd_sec_impl_resolve(int aead, int impl);          /* impl, or -ENOTSUP/-EINVAL */
const char *pd_sec_impl_name(int impl);
/* One line: libraries and CPU paths ("ipsec-mb 1.3.0 avx512 (vaes,...); OpenSSL 3.0..."). */
const char *pd_sec_info(void);

/* HKDF-SHA256 (RFC 5869) through OpenSSL EVP_KDF: 0 or -EIO. */
int pd_sec_hkdf(const uint8_t *ikm, uint32_t ikm_len, const uint8_t *salt, uint32_t salt_len,
                const uint8_t *info, uint32_t info_len, uint8_t *out, uint32_t out_len);
/* The session key of the design: salt = session id (BE) || epoch (BE). */
int pd_sec_session_key(const uint8_t master[PD_SEC_KEY_LEN], uint32_t session_id,
                       uint64_t epoch, uint8_t out[PD_SEC_KEY_LEN]);

/* --- sealing --------------------------------------------------------------- */

typedef struct pd_sec_seal_cfg {
    int aead, impl;
    uint8_t key_id;
    uint8_t key[PD_SEC_KEY_LEN];
    /* 0: follow the inner packet's session id (v2 header offset 12), starting a
     * sealing session (new epoch, counter 0) whenever it changes. */
    uint32_t session_id;
    /* 0: CLOCK_REALTIME at each session start (kept strictly increasing). */
    uint64_t epoch;
} pd_sec_seal_cfg;

typedef struct pd_sec_seal_stats {
    uint64_t sealed, bytes;
    uint64_t sessions;         /* sealing sessions started (epochs) */
    uint64_t malformed;        /* inner packet not a v2 packet (follow mode) */
    uint64_t no_room;          /* stage: no headroom/tailroom for 40 bytes */
    uint64_t foreign;          /* stage: outer header not ours */
    uint64_t rekeys;
} pd_sec_seal_stats;

typedef struct pd_sec_sealer pd_sec_sealer;

pd_sec_sealer *pd_sec_sealer_create(const pd_sec_seal_cfg *cfg, int *err);
void pd_sec_sealer_destroy(pd_sec_sealer *s);
/* Switch to another master key at the next packet (safe from another thread
 * while a pipeline runs the sealer): the next packet starts a new epoch. */
void pd_sec_sealer_rekey(pd_sec_sealer *s, uint8_t key_id, const uint8_t key[PD_SEC_KEY_LEN]);
/* buf: PD_SEC_HDR_LEN bytes of room, the inner packet (inner_len bytes), then
 * PD_SEC_TAG_LEN bytes of room.  Encrypts in place; returns the sealed length
 * (inner_len + 40), or -EINVAL (inner not v2 in follow mode), -EMSGSIZE, -EIO. */
int pd_sec_seal(pd_sec_sealer *s, uint8_t *buf, uint32_t inner_len);
void pd_sec_sealer_stats(const pd_sec_sealer *s, pd_sec_seal_stats *st);
/* Current session id / epoch / next counter (for tests and the test vector). */
void pd_sec_sealer_state(const pd_sec_sealer *s, uint32_t *session_id, uint64_t *epoch,
                         uint64_t *counter, uint8_t *key_id);

/* --- opening --------------------------------------------------------------- */

typedef struct pd_sec_keyset {
    unsigned int n;
    uint8_t id[PD_SEC_MAX_KEYS];
    uint8_t key[PD_SEC_MAX_KEYS][PD_SEC_KEY_LEN];
} pd_sec_keyset;

typedef struct pd_sec_open_cfg {
    int aead, impl;
    pd_sec_keyset keys;
    unsigned int max_sessions;   /* 0: 16 */
    unsigned int derive_per_ms;  /* key derivations per millisecond, 0: 8 */
    int check_inner;             /* inner must be v2 with the same session id */
    const char *state_path;      /* last accepted epoch per key id; NULL: none */
} pd_sec_open_cfg;

typedef struct pd_sec_open_stats {
    uint64_t opened, bytes;
    uint64_t sessions;           /* (session, epoch) pairs accepted */
    uint64_t derivations;
    uint64_t state_saves, state_errors;
    uint64_t foreign;            /* stage: not our outer header */
    uint64_t drops[PD_SEC_DROP_N];   /* by verdict; [0] unused */
} pd_sec_open_stats;

typedef struct pd_sec_opener pd_sec_opener;

/* NULL with *err: -EINVAL (config, unreadable state file), -ENOTSUP, -ENOMEM. */
pd_sec_opener *pd_sec_opener_create(const pd_sec_open_cfg *cfg, int *err);
void pd_sec_opener_destroy(pd_sec_opener *o);
/* Replace the key set at the next packet (thread-safe as above).  Sessions
 * under a removed key id are forgotten. */
void pd_sec_opener_set_keys(pd_sec_opener *o, const pd_sec_keyset *keys);
/* Verify and decrypt buf[0..len) in place.  Returns PD_SEC_OK with the inner
 * packet at buf + PD_SEC_HDR_LEN, *inner_len bytes; else the drop verdict. */
int pd_sec_open(pd_sec_opener *o, uint8_t *buf, uint32_t len, uint64_t now_ns,
                uint32_t *inner_len);
void pd_sec_opener_stats(const pd_sec_opener *o, pd_sec_open_stats *st);
/* Last accepted epoch of a key id (0: none). */
uint64_t pd_sec_opener_epoch(const pd_sec_opener *o, uint8_t key_id);

/* What a receiver remembers per key id across restarts: the newest epoch
 * accepted, that session's id, and a counter floor (the highest counter of
 * that session accepted when the state was last written).  After a restart
 * the receiver takes that same session back (a sender that did not restart
 * goes on with it) but refuses its counters up to the floor (replays of
 * what it had accepted); any older epoch is stale. */
typedef struct pd_sec_state {
    uint64_t epoch[256];
    uint32_t sid[256];
    uint64_t floor[256];
} pd_sec_state;

/* The newest session's floor is written again each time its top counter
 * moved PD_SEC_STATE_EVERY, or moved at all and PD_SEC_STATE_NS passed
 * (write + rename, no fsync: it survives a crash of the process; a new
 * session's entry is fsync'd).  A receiver that restarts takes that session
 * back only above floor + PD_SEC_STATE_EVERY: nothing it accepted before
 * passes again, and the sender's next (at most PD_SEC_STATE_EVERY) packets
 * are refused.  A tunnel gateway shortens that: when its peer starts a new
 * session (it restarted), it starts a new session of its own. */
#define PD_SEC_STATE_EVERY 1024u
#define PD_SEC_STATE_NS 100000000ull

/* State file: "pydpdk-secure-state 1" then "epoch <key id> <epoch> [<session
 * id> <counter floor>]" lines.
 * load: 0 (missing file = all zero), -EINVAL (bad content), -errno.
 * save: atomic (temporary file, fsync when durable, rename): 0 or -errno. */
int pd_sec_state_load(const char *path, pd_sec_state *st);
int pd_sec_state_save(const char *path, const pd_sec_state *st, int durable);

/* --- pipeline stages --------------------------------------------------------- */

/* Where the envelope sits in a frame: after the outer header the FEC stages
 * write (native/gateway), or at offset 0. */
enum pd_sec_outer { PD_SEC_OUTER_NONE = 0, PD_SEC_OUTER_UDP = 1, PD_SEC_OUTER_ETHER = 2 };

typedef struct pd_sec_outer_cfg {
    int kind;
    uint16_t ethertype;          /* ETHER: accepted EtherType */
    uint16_t dst_port;           /* UDP: accepted destination port */
} pd_sec_outer_cfg;

typedef struct pd_sec_stage pd_sec_stage;

/* Seal stage: each frame's FEC packet (after the outer header) is sealed in
 * place; the outer IPv4/UDP lengths and IPv4 checksum are rewritten (UDP
 * checksum 0).  Open stage: the reverse, dropping and counting what fails. */
pd_sec_stage *pd_sec_seal_stage_create(pd_sec_sealer *s, const pd_sec_outer_cfg *outer,
                                       const pd_pkt_ops *ops, int *err);
pd_sec_stage *pd_sec_open_stage_create(pd_sec_opener *o, const pd_sec_outer_cfg *outer,
                                       const pd_pkt_ops *ops, int *err);
void pd_sec_stage_destroy(pd_sec_stage *st);
void pd_sec_stage_bind(pd_sec_stage *st, pd_stage *out);
/* Frames the stage dropped because of the outer header / room (not the crypto). */
uint64_t pd_sec_stage_foreign(const pd_sec_stage *st);
uint64_t pd_sec_stage_no_room(const pd_sec_stage *st);

/* --- measurement (bench/secure.py) ------------------------------------------ */

typedef struct pd_sec_bench_result {
    uint64_t packets;
    uint64_t seal_ns, open_ns;   /* total time sealing / opening genuine packets */
    uint64_t forged_ns;          /* total time dropping forged copies (bad tag) */
    uint64_t flood_packets, flood_ns, flood_derivations;   /* made-up sessions */
} pd_sec_bench_result;

/* Seal, open and drop forged copies of `packets` inner packets of inner_len
 * bytes, in batches of 256, on the calling thread: 0 or -errno. */
int pd_sec_bench(int aead, int impl, uint32_t inner_len, uint64_t packets,
                 pd_sec_bench_result *res);
/* AES-256-GCM sealing of `packets` buffers of len bytes through ipsec-mb's
 * job API and through its direct API (total CPU ns each): 0, -ENOTSUP. */
int pd_sec_bench_imb_jobs(uint32_t len, uint64_t packets, uint64_t *job_ns,
                          uint64_t *direct_ns);

#ifdef __cplusplus
}
#endif
#endif /* PD_SECURE_H */
