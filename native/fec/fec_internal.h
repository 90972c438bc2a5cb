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

#endif
