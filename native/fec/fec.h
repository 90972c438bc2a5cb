/* Packet-level forward error correction: GF(2^8) kernels, XOR and
 * Reed-Solomon (Cauchy) block codes, the FEC wire header, and a streaming
 * encoder/decoder built for packet pipelines.
 *
 * Plain C, no Python.h.  Conventions: functions return 0 (or a count) on
 * success and a negative errno on failure; nothing prints or exits; nothing
 * allocates on the per-packet path after create().  One encoder or decoder
 * (or block codec) per thread: objects are not locked.  The only process-wide
 * state is the GF tables and the kernel choice, set up once, thread-safely,
 * on first use (fec_init()).
 *
 * The wire format is described byte by byte in docs/fec-format.md.
 *
 * How a packet stage uses the streaming API (for example over pd_pkt
 * handles, see native/pkt/pkt.h):
 *
 *   encoder: for each source packet p
 *       n = fec_encoder_add(enc, data(p), data_len(p), now, hdr, &sink);
 *       memcpy(prepend(p, FEC_HDR_LEN), hdr, FEC_HDR_LEN);   -> send p
 *     (hdr may also point straight into the packet's headroom: prepend
 *     first, add(), and adj back if add() failed).  sink.get(ctx, len) is
 *     called for each parity packet when a block closes; the stage allocates
 *     a pool packet, appends len bytes, returns its data pointer and queues
 *     the packet for tx after p (parity of a block is produced by the call
 *     that adds its last packet, so it belongs after that packet).  Call
 *     fec_encoder_poll(enc, now, &sink) once per burst to close blocks whose
 *     deadline passed.  Source packets are never copied, nor held beyond
 *     the call (or the batch: fec_encoder_batch_begin()).
 *
 *   decoder: for each received packet p
 *       n = fec_decoder_push(dec, data(p), data_len(p), now, &sink, &v);
 *       v.action == FEC_DELIVER: adj(p, v.offset), trim to v.length, pass on
 *       v.action == FEC_CONTROL: a control packet, for the feedback layer
 *         (TLVs at [offset, offset+length)); free p if there is none
 *       otherwise: free p (it was a repair packet or a counted drop)
 *     rebuilt source packets are written through sink.get(ctx, len) as soon
 *     as they can be rebuilt (possibly during the push of a repair packet).
 *     Call fec_decoder_poll(dec, now) once per burst to expire blocks.
 */
#ifndef PD_FEC_H
#define PD_FEC_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------
 * GF(2^8) arithmetic (polynomial x^8+x^4+x^3+x^2+1 = 0x11D, generator 2)
 * ---------------------------------------------------------------------- */

#define FEC_GF_POLY 0x11D

/* Set up tables and the default kernel once (idempotent, thread-safe).
 * Every other function calls it; it is public for callers that want the
 * one-time cost paid up front. */
void fec_init(void);

uint8_t fec_gf_mul(uint8_t a, uint8_t b);
uint8_t fec_gf_inv(uint8_t a);          /* inv(0) is 0 */

/* A set of region kernels.  All kernels are bit-exact with "scalar" on every
 * length and alignment. */
typedef struct fec_kernel {
    const char *name;
    /* For each row r < rows: dst[r][i] (^)= coef[r] * src[i], i < len.
     * With set != 0 the rows are overwritten ("dst = c*src"), else
     * accumulated ("dst ^= c*src").  The streaming encoder's fold step. */
    void (*mad_rows)(uint8_t *const *dst, const uint8_t *coef, unsigned rows,
                     const uint8_t *src, size_t len, int set);
    /* Matrix-vector product over regions: for r < rows,
     * dst[r] = sum_c coef[r * cols + c] * src[c] (overwrites dst; no dst row
     * may overlap a src region). */
    void (*dotprod)(uint8_t *const *dst, unsigned rows, const uint8_t *coef,
                    const uint8_t *const *src, unsigned cols, size_t len);
} fec_kernel;

/* The kernel chosen at init: the best one this CPU supports, unless the
 * environment variable PYDPDK_FEC_KERNEL names another (scalar|avx2|avx2gfni|gfni;
 * an unknown or unsupported name falls back to the automatic choice). */
const fec_kernel *fec_kernel_default(void);
/* Look up a kernel by name: 0 and *out set, -ENOENT (unknown name) or
 * -ENOTSUP (this CPU lacks the instructions). */
int fec_kernel_by_name(const char *name, const fec_kernel **out);
/* Names of all kernels this build knows, NULL-terminated. */
const char *const *fec_kernel_names(void);
/* 1 when the CPU can run the named kernel, else 0. */
int fec_kernel_supported(const char *name);

/* dst = c * src and dst ^= c * src with the default kernel. */
void fec_gf_mul_region(uint8_t *dst, const uint8_t *src, uint8_t c, size_t len);
void fec_gf_muladd_region(uint8_t *dst, const uint8_t *src, uint8_t c, size_t len);

/* ------------------------------------------------------------------------
 * Block codes
 * ---------------------------------------------------------------------- */

enum fec_code {
    FEC_CODE_XOR = 1,       /* (k, 1): parity = XOR of the sources */
    FEC_CODE_RS = 2,        /* Reed-Solomon, systematic, Cauchy generator */
};

#define FEC_MAX_SYMBOLS 255  /* k + m <= 255 */

/* 0 when (code, k, m) is a valid code, else -EINVAL. */
int fec_code_check(int code, unsigned k, unsigned m);

/* Coefficient of source j in parity row i: for RS 1 / (i XOR (m + j)), a
 * Cauchy matrix that depends on m but not on k, so a block that closes early
 * (fewer sources) uses a prefix of the same columns; for XOR always 1. */
uint8_t fec_coef(int code, unsigned m, unsigned row, unsigned col);

/* Bounded LRU cache of decode matrices keyed by (code, k, m, loss pattern).
 * Not thread-safe: one per thread. */
typedef struct fec_matrix_cache fec_matrix_cache;
int fec_matrix_cache_create(unsigned entries, fec_matrix_cache **out);
void fec_matrix_cache_destroy(fec_matrix_cache *cache);
/* hits, misses since creation */
void fec_matrix_cache_stats(const fec_matrix_cache *cache, uint64_t *hits, uint64_t *misses);

/* Encode k data regions of len bytes into m parity regions. */
int fec_encode_block(const fec_kernel *kern, int code, unsigned k, unsigned m,
                     const uint8_t *const *data, uint8_t *const *parity, size_t len);
/* The same with the m x k generator rows computed once by fec_code_matrix()
 * (what a caller encoding many blocks of one shape keeps). */
int fec_code_matrix(int code, unsigned k, unsigned m, uint8_t *coef);
int fec_encode_block_matrix(const fec_kernel *kern, const uint8_t *coef, unsigned k,
                            unsigned m, const uint8_t *const *data, uint8_t *const *parity,
                            size_t len);

/* Rebuild the missing source symbols of one block in place.
 * sym[0..k) are the sources, sym[k..k+m) the parity regions, all len bytes;
 * present[i] != 0 marks symbol i as received.  Missing sources are written
 * into sym[i] (which must point at writable space).  Only the lost part is
 * inverted; with cache != NULL the decode matrix is looked up / stored there.
 * Returns the number of sources rebuilt, or -EINVAL (bad arguments) or
 * -EAGAIN (fewer than k symbols present: nothing written). */
int fec_decode_block(const fec_kernel *kern, fec_matrix_cache *cache, int code,
                     unsigned k, unsigned m, uint8_t *const *sym,
                     const uint8_t *present, size_t len);

/* ------------------------------------------------------------------------
 * Wire header, version 2 (20 bytes, see docs/fec-format.md)
 * ---------------------------------------------------------------------- */

#define FEC_HDR_LEN 20
#define FEC_VERSION 2
#define FEC_LEN_FIELD 2            /* repair payload starts with the length parity */
#define FEC_MAX_PAYLOAD 65000u     /* largest payload the format allows */
#define FEC_BLOCK_ID_BITS 48
#define FEC_BLOCK_ID_MASK ((UINT64_C(1) << FEC_BLOCK_ID_BITS) - 1)

/* Code 3: sliding-window random linear code (RFC 8681 style), see
 * "Sliding-window code (RLC)" below and docs/fec-format.md. */
#define FEC_CODE_RLC 3

enum fec_kind {
    FEC_KIND_SOURCE = 0,
    FEC_KIND_REPAIR = 1,
    FEC_KIND_CONTROL = 2,    /* code, k, m 0; index = control message type */
};

/* flags byte: bit 0 E, the session's encoder asks for feedback. */
#define FEC_FLAG_FEEDBACK 0x01
#define FEC_FLAGS_KNOWN FEC_FLAG_FEEDBACK

typedef struct fec_hdr {
    uint8_t version;
    uint8_t code;        /* enum fec_code; 0 for control packets */
    uint8_t kind;        /* enum fec_kind */
    uint8_t k;           /* source: nominal k; repair: final k; control: 0 */
    uint8_t m;           /* control: 0 */
    uint8_t index;       /* source: 0..k-1; repair: k..k+m-1; control: message type */
    uint8_t flags;       /* FEC_FLAG_* */
    uint64_t block_id;   /* 48 bits; control: the sender's control sequence number */
    uint32_t session_id; /* non-zero */
    uint16_t length;     /* source: payload length; repair: symbol length L;
                            control: payload length (may be 0) */
} fec_hdr;

void fec_hdr_write(uint8_t out[FEC_HDR_LEN], const fec_hdr *h);
/* Parse and validate a wire packet's header against the packet length:
 * 0, or -EBADMSG (truncated, bad check, unknown version/code/kind, reserved
 * bits or flags set, session id 0, inconsistent fields or length). */
int fec_hdr_parse(const uint8_t *pkt, size_t len, fec_hdr *h);

/* Callback through which the codec asks for space for one outgoing packet
 * (parity packet from the encoder, rebuilt packet from the decoder).  get()
 * returns a buffer of at least len bytes, or NULL when there is none (the
 * packet is then dropped and counted).  The codec fills the buffer completely
 * before the call that asked for it returns. */
typedef struct fec_sink {
    void *ctx;
    uint8_t *(*get)(void *ctx, uint32_t len);
} fec_sink;

/* ------------------------------------------------------------------------
 * Streaming encoder
 * ---------------------------------------------------------------------- */

typedef struct fec_encoder_config {
    int code;                /* FEC_CODE_XOR, FEC_CODE_RS or FEC_CODE_RLC */
    unsigned k, m;           /* k + m <= 255; XOR: m == 1 */
    unsigned depth;          /* interleaving depth D >= 1 (blocks open at once) */
    uint32_t max_payload;    /* largest source payload accepted (bytes) */
    uint64_t timeout;        /* close a block this long after its first packet,
                                in the caller's clock units; 0: never */
    uint64_t first_block_id; /* taken modulo 2^48 */
    const fec_kernel *kernel; /* NULL: fec_kernel_default() */
    uint32_t session_id;     /* 0: a random non-zero id from getrandom() (the
                                normal case: a new one at each start); set it
                                for tests, or one per queue of a gateway */
    uint8_t flags;           /* header flags of every packet: 0 or
                                FEC_FLAG_FEEDBACK */
    unsigned max_m;          /* largest m fec_encoder_set_params() may choose
                                (0: m); memory is sized for it */
    unsigned max_depth;      /* largest depth it may choose (0: depth) */
    unsigned window;         /* FEC_CODE_RLC only: sources each repair covers,
                                k..FEC_RLC_MAX_WINDOW (0: k); ignored otherwise */
} fec_encoder_config;

typedef struct fec_encoder_stats {
    uint64_t source_packets;
    uint64_t source_bytes;
    uint64_t repair_packets;
    uint64_t repair_bytes;
    uint64_t blocks;           /* blocks closed */
    uint64_t blocks_partial;   /* closed by deadline/flush before reaching k */
    uint64_t no_buffer;        /* parity packets dropped: sink had no space */
} fec_encoder_stats;

typedef struct fec_encoder fec_encoder;

/* 0, or -EINVAL (bad config), -ENOMEM, or the negative errno of getrandom()
 * when a random session id was asked for and none could be had. */
int fec_encoder_create(const fec_encoder_config *cfg, fec_encoder **out);
void fec_encoder_destroy(fec_encoder *enc);
/* The session id every packet of this encoder carries (never 0). */
uint32_t fec_encoder_session_id(const fec_encoder *enc);
/* A random non-zero session id from getrandom(): 0 and *out set, or a
 * negative errno. */
int fec_random_session_id(uint32_t *out);

/* Fold one source payload into its block, write its wire header into hdr
 * (the caller prepends it to the payload).  When the block reaches k the
 * parity packets are written through sink.  Returns the number of parity
 * packets written, or -EINVAL (len 0 or NULL arguments), -EMSGSIZE
 * (len > max_payload); on error nothing changes. */
int fec_encoder_add(fec_encoder *enc, const uint8_t *payload, uint32_t len,
                    uint64_t now, uint8_t hdr[FEC_HDR_LEN], const fec_sink *sink);
/* Batching, for a stage that handles a burst at a time: between
 * batch_begin() and batch_end(), add() may defer folding a payload into
 * its block's parity until the block closes or batch_end(), so the payload
 * bytes must stay in place and unchanged until batch_end() returns (a
 * burst's packets do: the stage sends them after its call).  A block's
 * deferred sources are then coded in one pass over the parity rows
 * (fec_kernel.dotprod) written straight into the parity packets, instead
 * of one read-modify-write of every row per source plus a copy at the end.
 * Output is byte-identical.  No-ops for code 3 (RLC). */
void fec_encoder_batch_begin(fec_encoder *enc);
void fec_encoder_batch_end(fec_encoder *enc);
/* Close blocks whose deadline passed (now - first packet time >= timeout).
 * Returns the number of parity packets written. */
int fec_encoder_poll(fec_encoder *enc, uint64_t now, const fec_sink *sink);
/* When the earliest open block's deadline falls (same clock as `now`), so a
 * loop can sleep until then; UINT64_MAX with no open block or no timeout. */
uint64_t fec_encoder_next_deadline(const fec_encoder *enc);
/* Close every open block now (partial blocks get parity too). */
int fec_encoder_flush(fec_encoder *enc, const fec_sink *sink);
void fec_encoder_get_stats(const fec_encoder *enc, fec_encoder_stats *st);
/* Wire size of the largest parity packet this encoder can produce. */
uint32_t fec_encoder_max_repair_len(const fec_encoder *enc);
/* Ask for another code, k, m and depth (adaptive redundancy).  Safe to call
 * from any thread while another one encodes: the request is handed over
 * atomically and taken by the next fec_encoder_add() (which first closes
 * the open blocks, with parity, so the change falls on a block boundary).
 * A newer request replaces one not yet taken.  0, or -EINVAL (not a valid
 * code, m > max_m, depth > max_depth or 0). */
int fec_encoder_set_params(fec_encoder *enc, int code, unsigned k, unsigned m,
                           unsigned depth);
/* The parameters in force (those of the last block opened), any thread. */
void fec_encoder_get_params(const fec_encoder *enc, int *code, unsigned *k, unsigned *m,
                            unsigned *depth);

/* ------------------------------------------------------------------------
 * Sliding-window code (RLC, code 3; docs/fec-format.md "Sliding-window code")
 *
 * With code FEC_CODE_RLC the streaming encoder numbers source packets with a
 * 48-bit ESI (sequence number, starting at first_block_id) and, after every
 * k sources (or at the deadline, or on flush), emits m repair packets, each
 * a random linear combination over GF(2^8) of the symbols of the last
 * n = min(window, sources sent) sources.  depth must be 1.  k <= window <=
 * FEC_RLC_MAX_WINDOW, 1 <= m <= FEC_RLC_MAX_M.  The decoder recognises code 3
 * from the header and solves the equations by incremental Gaussian
 * elimination over the unknown sources of at most FEC_RLC_SPAN recent ESIs,
 * keeping at most FEC_RLC_MAX_EQ pending equations per session (state of at
 * most FEC_RLC_CONTEXTS sessions at once; symbols come from the decoder's
 * symbol pool).
 * ---------------------------------------------------------------------- */

#define FEC_RLC_MAX_WINDOW 255
#define FEC_RLC_MAX_M 255
#define FEC_RLC_SPAN 512      /* ESIs with symbol/column state per session */
#define FEC_RLC_HISTORY 4096  /* ESIs remembered as delivered (duplicates) */
#define FEC_RLC_MAX_EQ 128    /* pending equations per session */
#define FEC_RLC_CONTEXTS 8    /* sessions with RLC state at once (at most max_sessions) */

/* The n coefficients of the repair symbol with window [first_esi,
 * first_esi + n) and repair key: SplitMix64 seeded with
 * (first_esi << 16) | (n << 8) | key, its output bytes least significant
 * first, zero bytes skipped.  1 <= n <= 255; coef[j] multiplies the symbol
 * of ESI first_esi + j. */
void fec_rlc_coefs(uint64_t first_esi, unsigned n, uint8_t key, uint8_t *coef);

/* ------------------------------------------------------------------------
 * Streaming decoder
 * ---------------------------------------------------------------------- */

/* Sessions.  Every packet carries its encoder's session id, and all decoder
 * state is per session: a bounded table of max_sessions sessions side by
 * side, sharing the block and symbol pools.
 *
 * - A packet with an unknown session id opens a session at once (a
 *   restarted peer is used from its first packet).  When the table is full,
 *   a session that is not the live one makes room: an unconfirmed one first,
 *   the least recently used among equals; its blocks are given up.
 * - A session is *confirmed* once FEC_SESSION_CONFIRM of its packets were
 *   taken into its state (delivered, stored, or used to settle a block).
 * - The *live* session is the confirmed session that most recently
 *   delivered a packet (in place or rebuilt).  It is never evicted, and
 *   blocks of other sessions are given up before its own when the pools run
 *   short.  So a stray or forged packet with a new id (never confirmed)
 *   cannot displace it, nor can a table full of such ids.
 * - Until a session is confirmed, its window (newest block id) follows
 *   each block it opens, and nothing is dropped as late or unconfirmed, so
 *   a stray first packet cannot set it for good.
 * - Within a confirmed session, a block id more than far_ahead =
 *   2 * max_blocks blocks ahead of the newest one does not move the window
 *   by itself: it is dropped (counted unconfirmed) unless FEC_CONFIRM_PACKETS distinct
 *   packets, each within far_ahead of the others, arrive in a row;
 *   the last of them moves the window (counted in resyncs) and is taken
 *   normally.  One stray packet never makes the genuine stream look late.
 *   (Genuine jumps that large happen only after an outage of more than
 *   2 * max_blocks blocks; the first packets after it are then dropped.)
 * Plain mode trusts the link: anyone who can send packets with the live
 * session's id can disturb it; the secure mode is the answer to that.
 */
#define FEC_SESSION_CONFIRM 4
#define FEC_CONFIRM_PACKETS 3
#define FEC_DEFAULT_MAX_SESSIONS 8
#define FEC_MAX_SESSIONS 4096
/* max_sessions * max_blocks at most this (the per-session history of
 * finished blocks is 4 * max_blocks entries of 48 bytes). */
#define FEC_MAX_SESSION_BLOCKS (1u << 20)

typedef struct fec_decoder_config {
    uint32_t max_payload;   /* larger packets are counted malformed */
    unsigned max_blocks;    /* blocks in flight (all sessions); the oldest
                               block of a non-live session is given up first */
    unsigned max_symbols;   /* stored symbol copies (>= 255) */
    uint64_t timeout;       /* give a block up this long after its first
                               packet, caller's clock units; 0: never */
    unsigned cache_entries; /* decode matrix LRU size (0: no cache) */
    const fec_kernel *kernel;
    unsigned max_sessions;  /* sessions side by side, 2..FEC_MAX_SESSIONS;
                               0: FEC_DEFAULT_MAX_SESSIONS; max_sessions *
                               max_blocks <= FEC_MAX_SESSION_BLOCKS */
    uint64_t measure_window; /* link measurement window (fec_decoder_link_report),
                               caller's clock units, >= 10; 0: no measurement */
} fec_decoder_config;

typedef struct fec_decoder_stats {
    uint64_t received;      /* packets pushed */
    uint64_t delivered;     /* source packets handed on in place */
    uint64_t recovered;     /* lost source packets rebuilt */
    uint64_t unrecoverable; /* source packets known lost and not rebuilt */
    uint64_t duplicate;     /* dropped: already received or rebuilt */
    uint64_t late;          /* dropped: block too old to be tracked */
    uint64_t malformed;     /* dropped: bad header or inconsistent with its block */
    uint64_t repair_unused; /* repair packets not needed (block already whole) */
    uint64_t no_buffer;     /* rebuilt packets dropped: sink had no space */
    uint64_t blocks_evicted;/* blocks given up for lack of room */
    uint64_t blocks_expired;/* blocks given up by timeout */
    uint64_t unconfirmed;   /* dropped: block id far ahead, not (yet) confirmed */
    uint64_t resyncs;       /* window moved far ahead after confirmation */
    uint64_t control;       /* control packets handed out (FEC_CONTROL) */
    uint64_t sessions_opened;  /* unknown session ids given a slot */
    uint64_t sessions_evicted; /* sessions dropped to make room (table full) */
} fec_decoder_stats;

enum fec_action {
    FEC_DELIVER = 0,        /* source packet: hand on bytes [offset, offset+length) */
    FEC_CONSUMED = 1,       /* repair packet taken (or not needed): free it */
    FEC_DROP_MALFORMED = 2,
    FEC_DROP_DUPLICATE = 3,
    FEC_DROP_LATE = 4,
    FEC_CONTROL = 5,        /* control packet, header valid: its TLVs are bytes
                               [offset, offset+length); for the feedback layer,
                               the decoder ignores them */
    FEC_DROP_UNCONFIRMED = 6, /* block id far ahead, awaiting confirmation */
};

typedef struct fec_verdict {
    int action;             /* enum fec_action */
    uint32_t offset;        /* FEC_DELIVER, FEC_CONTROL: header length to strip */
    uint32_t length;        /* FEC_DELIVER, FEC_CONTROL: payload length */
} fec_verdict;

typedef struct fec_decoder fec_decoder;

/* 0, or -EINVAL (bad config), -ENOMEM. */
int fec_decoder_create(const fec_decoder_config *cfg, fec_decoder **out);
void fec_decoder_destroy(fec_decoder *dec);
/* Take one wire packet (the decoder copies what it needs; pkt stays the
 * caller's).  Sets *v; returns the number of packets rebuilt and written
 * through sink during this call, or -EINVAL for NULL arguments. */
int fec_decoder_push(fec_decoder *dec, const uint8_t *pkt, uint32_t len, uint64_t now,
                     const fec_sink *sink, fec_verdict *v);
/* Give up blocks whose deadline passed; their missing sources are counted
 * unrecoverable.  Returns the number of blocks given up. */
int fec_decoder_poll(fec_decoder *dec, uint64_t now);
/* When fec_decoder_poll would next give a block up; UINT64_MAX if never. */
uint64_t fec_decoder_next_deadline(const fec_decoder *dec);
void fec_decoder_get_stats(const fec_decoder *dec, fec_decoder_stats *st);
/* Blocks currently in flight; symbol buffers free in the preallocated pool
 * (equal to max_symbols again once no block is in flight). */
unsigned fec_decoder_blocks_in_flight(const fec_decoder *dec);
unsigned fec_decoder_symbols_free(const fec_decoder *dec);
/* Sessions in the table; the live session's id (0: none yet). */
unsigned fec_decoder_sessions(const fec_decoder *dec);
uint32_t fec_decoder_live_session(const fec_decoder *dec);

/* ------------------------------------------------------------------------
 * Link measurement and link reports (native/fec/measure.c, control.c)
 * ---------------------------------------------------------------------- */

/* Loss runs by length: bin i holds runs of 2^i .. 2^(i+1)-1 packets
 * (the last bin: 128 and longer). */
#define FEC_RUN_BINS 8

/* What a decoder measured on the link over its window, for one sender
 * session (the one it follows: the live session, else the latest).  Times
 * in the caller's clock units; the wire report assumes nanoseconds. */
typedef struct fec_link_report {
    uint64_t window;         /* length of the window */
    uint64_t packets;        /* source + repair packets expected in it */
    uint64_t lost;           /* of them not received */
    uint64_t loss_runs;      /* runs of consecutive losses (wire order) */
    uint64_t arrivals;       /* packets received (measurement's own count) */
    uint64_t reordered;      /* of them behind a later packet of their block */
    uint64_t recovered;      /* rebuilt packets whose delay was measured */
    double loss_rate;        /* lost / packets */
    double gilbert_p;        /* fitted Gilbert-Elliott: P(good -> bad) per packet */
    double gilbert_r;        /* P(bad -> good) per packet */
    double bad_loss;         /* loss probability in the bad state (good: 0) */
    double mean_burst;       /* lost / loss_runs */
    double reorder_rate;     /* reordered / arrivals */
    double recovery_mean;    /* rebuilt packet: time from its expected
                                arrival (between its received neighbours)
                                to its rebuild, mean */
    double recovery_p99;     /* 99th percentile (upper edge of a 1/4-octave bin) */
    uint32_t run_hist[FEC_RUN_BINS];
    uint32_t session_id;     /* the sender session measured */
    unsigned depth;          /* interleaving depth inferred from the stream */
    uint64_t recent_packets; /* the newest fifth of the window: packets ... */
    uint64_t recent_lost;    /* ... and losses (a change shows here first) */
} fec_link_report;

/* The decoder's measurement over the window ending at now: 0, -EINVAL,
 * or -ENOTSUP (created without measure_window). */
int fec_decoder_link_report(fec_decoder *dec, uint64_t now, fec_link_report *rep);

/* The measurement itself, for decoders (used by decoder.c). */
typedef struct fec_measure fec_measure;
int fec_measure_create(uint64_t window, uint64_t settle, fec_measure **out);
void fec_measure_destroy(fec_measure *m);
void fec_measure_packet(fec_measure *m, uint32_t session, const fec_hdr *h, uint64_t now);
void fec_measure_rebuilt(fec_measure *m, uint32_t session, uint64_t block_id,
                         unsigned index, uint64_t now);
int fec_measure_report(fec_measure *m, uint64_t now, fec_link_report *rep);

/* Control message types (header index of a control packet). */
#define FEC_CTRL_LINK_REPORT 1
#define FEC_REPORT_VERSION 1
/* Link report TLV types (docs/fec-format.md, "Link report"). */
enum fec_tlv {
    FEC_TLV_WINDOW = 1,      /* u32 window, ms (required) */
    FEC_TLV_COUNTS = 2,      /* u32 packets, u32 lost, u32 loss runs (required) */
    FEC_TLV_GILBERT = 3,     /* u32 x4, parts per 1e9: loss rate, p, r, bad loss
                                (required) */
    FEC_TLV_REORDER = 4,     /* u32 arrivals, u32 reordered */
    FEC_TLV_RECOVERY = 5,    /* u32 rebuilt, u32 mean us, u32 p99 us */
    FEC_TLV_STREAM = 6,      /* u32 measured session id, u8 inferred depth */
    FEC_TLV_RUNS = 7,        /* u32 x FEC_RUN_BINS loss-run histogram */
    FEC_TLV_RECENT = 8,      /* u32 packets, u32 lost in the newest fifth */
};
#define FEC_REPORT_MAX_LEN (2 + 6 + 14 + 18 + 10 + 14 + 7 + 2 + 4 * FEC_RUN_BINS + 10)

/* Report -> TLV payload (all TLVs): its length, or -EINVAL, -ENOSPC
 * (cap < FEC_REPORT_MAX_LEN). */
int fec_report_write(const fec_link_report *rep, uint8_t *out, size_t cap);
/* TLV payload -> report: 0, or -EBADMSG (wrong version, truncated TLV,
 * known TLV of the wrong length or repeated, required TLV missing, a value
 * out of range); unknown TLV types are skipped. */
int fec_report_read(const uint8_t *tlv, size_t len, fec_link_report *rep);
/* A whole control packet (header + payload) into out: its length, or
 * -EINVAL, -ENOSPC. */
int fec_control_write(uint32_t session_id, uint64_t seq, uint8_t flags, uint8_t type,
                      const uint8_t *payload, size_t len, uint8_t *out, size_t cap);

/* Receiving side of reports: counts, and the newest sequence number of the
 * sender session last heard (older or repeated ones are dropped). */
typedef struct fec_control_state {
    uint64_t accepted, malformed, old, unknown;
    int have;
    uint32_t session;
    uint64_t last_seq;
} fec_control_state;
/* Check a control packet (header included) and read its report: 0 (report
 * and sender session set), -EBADMSG (malformed, counted), -ENOTSUP (another
 * message type, counted unknown), -EALREADY (not newer than the last one of
 * that session, counted old), -EINVAL (NULL arguments). */
int fec_control_accept(fec_control_state *st, const uint8_t *pkt, size_t len,
                       fec_link_report *rep, uint32_t *session_id);

#ifdef __cplusplus
}
#endif
#endif /* PD_FEC_H */
