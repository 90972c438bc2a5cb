/* Shared between the files of native/fec; not part of the public API. */
#ifndef PD_FEC_INTERNAL_H
#define PD_FEC_INTERNAL_H

#include "fec.h"

/* Filled once by fec_init(). */
extern uint8_t fec_gf_mul_table[256][256];
/* Split tables for PSHUFB: [c][0] = c * x, [c][1] = c * (x << 4), x < 16. */
extern uint8_t fec_gf_nibble_table[256][2][16];
/* 8x8 bit matrices for GF2P8AFFINEQB: multiplication by c. */
extern uint64_t fec_gf_affine_table[256];

extern uint8_t fec_gf_inv_table[256];
/* log base 2 (log[0] unused) and exp over 0..509, for small matrix work. */
extern uint8_t fec_gf_log_table[256];
extern uint8_t fec_gf_exp_table[512];

extern const fec_kernel fec_kernel_scalar;
extern const fec_kernel fec_kernel_avx2;
extern const fec_kernel fec_kernel_gfni;
extern const fec_kernel fec_kernel_avx2_gfni;

/* Invert the n x n matrix a (row-major) into inv: 0, or -EDOM if singular. */
int fec_gf_invert_matrix(const uint8_t *a, uint8_t *inv, unsigned n);

/* rlc_enc.c: the streaming encoder's code-3 half (encoder.c hands over). */
typedef struct rlc_enc rlc_enc;
int rlc_enc_create(const fec_encoder_config *cfg, uint32_t session_id,
                   const fec_kernel *kern, rlc_enc **out);
void rlc_enc_destroy(rlc_enc *r);
int rlc_enc_add(rlc_enc *r, fec_encoder_stats *st, const uint8_t *payload, uint32_t len,
                uint64_t now, uint8_t hdr[FEC_HDR_LEN], const fec_sink *sink);
int rlc_enc_poll(rlc_enc *r, fec_encoder_stats *st, uint64_t now, const fec_sink *sink);
int rlc_enc_flush(rlc_enc *r, fec_encoder_stats *st, const fec_sink *sink);

/* rlc_dec.c: the streaming decoder's code-3 half.  One context per session
 * that sends code 3 (at most FEC_RLC_CONTEXTS); decoder.c owns the session
 * table and picks which context a session gets. */
typedef struct rlc_dec rlc_dec;
typedef struct rlc_ctx rlc_ctx;
int rlc_dec_create(fec_decoder *dec, const fec_decoder_config *cfg, const fec_kernel *kern,
                   fec_decoder_stats *st, unsigned contexts, rlc_dec **out);
void rlc_dec_destroy(rlc_dec *r);
unsigned rlc_dec_contexts(const rlc_dec *r);
/* Context i: its owner (session slot and generation), or -1 when free. */
int rlc_ctx_owner(const rlc_dec *r, unsigned i, unsigned *slot, uint32_t *gen);
/* The context owned by (slot, gen), or NULL. */
rlc_ctx *rlc_ctx_find(rlc_dec *r, unsigned slot, uint32_t gen);
/* Give context i to (slot, gen), after giving up what it held. */
rlc_ctx *rlc_ctx_claim(rlc_dec *r, unsigned i, unsigned slot, uint32_t gen);
/* Free the context of (slot, gen), if any, giving up what it held. */
void rlc_ctx_release(rlc_dec *r, unsigned slot, uint32_t gen);
/* Take one code-3 packet (header already checked) into context c.  settled:
 * the session is confirmed.  Sets *v; *accepted / *delivered as for
 * note_accepted().  Returns the number of packets rebuilt. */
int rlc_ctx_push(rlc_dec *r, rlc_ctx *c, const fec_hdr *h, const uint8_t *pkt, uint64_t now,
                 int settled, const fec_sink *sink, fec_verdict *v, int *accepted,
                 int *delivered);
/* Give up unknown sources older than the timeout; release idle symbols. */
void rlc_dec_expire(rlc_dec *r, uint64_t now);
/* decoder.c's symbol pool, for rlc_dec.c. */
uint8_t *fec_dec_symbol_take(fec_decoder *dec, int evict_blocks);
void fec_dec_symbol_put(fec_decoder *dec, uint8_t *sym);

/* wire.c: field checks of a code-3 header (docs/fec-format.md). */
int fec_rlc_hdr_check(const fec_hdr *h, size_t len);

#endif
