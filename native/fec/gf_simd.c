/* AVX2 (PSHUFB split tables), AVX-512 + GFNI and AVX2 + GFNI region kernels.
 *
 * The library is built with the baseline flags; only these functions carry
 * target attributes, and fec_init() calls them only after CPUID/XGETBV said
 * the CPU and OS support them.  Lengths that are not a multiple of the
 * vector width end with one overlapping vector (AVX2, AVX2 + GFNI; a scalar
 * loop only below 32 bytes) or masked loads/stores (AVX-512), so every
 * length and alignment gives the scalar result.  dotprod takes at most
 * FEC_MAX_SYMBOLS sources (the per-call tables are sized for one code);
 * more go to the scalar kernel.
 */
#include <immintrin.h>

#include "fec_internal.h"

#define AVX2 __attribute__((target("avx2")))
#define GFNI __attribute__((target("gfni,avx512f,avx512bw,avx512vl")))

/* ---- AVX2 --------------------------------------------------------------- */

AVX2 static inline __m256i avx2_table(uint8_t c, int half)
{
    return _mm256_broadcastsi128_si256(
        _mm_loadu_si128((const __m128i *)fec_gf_nibble_table[c][half]));
}

/* Loaded at offset t (1..31): 0xff in the last t bytes, 0 before them. */
static const uint8_t avx2_tail_mask[64] = {
    0,    0,    0,    0,    0,    0,    0,    0,    0,    0,    0,    0,    0,
    0,    0,    0,    0,    0,    0,    0,    0,    0,    0,    0,    0,    0,
    0,    0,    0,    0,    0,    0,    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};

#define AVX2_MAD_ROWS(N)                                                      \
    AVX2 static void avx2_mad_rows##N(uint8_t *const *dst, const uint8_t *coef, \
                                      const uint8_t *src, size_t len, int set) \
    {                                                                         \
        const __m256i mask = _mm256_set1_epi8(0x0f);                          \
        const size_t vec_len = len & ~(size_t)31;                             \
        __m256i tlo[N], thi[N];                                               \
        uint8_t *d[N];                                                        \
        for (unsigned r = 0; r < (N); r++) {                                  \
            tlo[r] = avx2_table(coef[r], 0);                                  \
            thi[r] = avx2_table(coef[r], 1);                                  \
            d[r] = dst[r];                                                    \
        }                                                                     \
        for (size_t i = 0; i < vec_len; i += 32) {                            \
            const __m256i x = _mm256_loadu_si256((const __m256i *)(src + i)); \
            const __m256i lo = _mm256_and_si256(x, mask);                     \
            const __m256i hi = _mm256_and_si256(_mm256_srli_epi64(x, 4), mask); \
            for (unsigned r = 0; r < (N); r++) {                              \
                __m256i p = _mm256_xor_si256(_mm256_shuffle_epi8(tlo[r], lo), \
                                             _mm256_shuffle_epi8(thi[r], hi)); \
                if (!set)                                                     \
                    p = _mm256_xor_si256(p, _mm256_loadu_si256((__m256i *)(d[r] + i))); \
                _mm256_storeu_si256((__m256i *)(d[r] + i), p);                \
            }                                                                 \
        }                                                                     \
        if (vec_len < len && len >= 32) {                                     \
            /* Tail: the last 32 bytes, with the bytes already done masked    \
             * out (accumulating them twice would undo them). */              \
            const size_t at = len - 32;                                       \
            const __m256i keep = _mm256_loadu_si256(                          \
                (const __m256i *)(avx2_tail_mask + (len - vec_len)));         \
            const __m256i x = _mm256_loadu_si256((const __m256i *)(src + at)); \
            const __m256i lo = _mm256_and_si256(x, mask);                     \
            const __m256i hi = _mm256_and_si256(_mm256_srli_epi64(x, 4), mask); \
            for (unsigned r = 0; r < (N); r++) {                              \
                const __m256i p = _mm256_xor_si256(_mm256_shuffle_epi8(tlo[r], lo), \
                                                   _mm256_shuffle_epi8(thi[r], hi)); \
                const __m256i old = _mm256_loadu_si256((__m256i *)(d[r] + at)); \
                _mm256_storeu_si256((__m256i *)(d[r] + at),                   \
                                    set ? _mm256_blendv_epi8(old, p, keep)    \
                                        : _mm256_xor_si256(old, _mm256_and_si256(p, keep))); \
            }                                                                 \
            return;                                                           \
        }                                                                     \
        for (unsigned r = 0; r < (N); r++) {                                  \
            const uint8_t *t = fec_gf_mul_table[coef[r]];                     \
            for (size_t i = vec_len; i < len; i++)                            \
                d[r][i] = (uint8_t)((set ? 0 : d[r][i]) ^ t[src[i]]);         \
        }                                                                     \
    }

AVX2_MAD_ROWS(1)
AVX2_MAD_ROWS(2)
AVX2_MAD_ROWS(3)
AVX2_MAD_ROWS(4)

AVX2 static void avx2_mad_rows(uint8_t *const *dst, const uint8_t *coef, unsigned rows,
                               const uint8_t *src, size_t len, int set)
{
    unsigned r0 = 0;
    for (; r0 + 4 <= rows; r0 += 4)
        avx2_mad_rows4(dst + r0, coef + r0, src, len, set);
    switch (rows - r0) {
    case 3: avx2_mad_rows3(dst + r0, coef + r0, src, len, set); break;
    case 2: avx2_mad_rows2(dst + r0, coef + r0, src, len, set); break;
    case 1: avx2_mad_rows1(dst + r0, coef + r0, src, len, set); break;
    default: break;
    }
}

/* Same shape as the GFNI version below: N rows x W 32-byte chunks of
 * accumulators in registers, N and W constant at each call site; the split
 * tables of the N x cols coefficients are found once per call (tab). */
#define AVX2_DOT_BODY(N, W)                                                   \
    do {                                                                      \
        __m256i acc[N][W];                                                    \
        for (unsigned r = 0; r < (N); r++)                                    \
            for (unsigned w = 0; w < (W); w++)                                \
                acc[r][w] = _mm256_setzero_si256();                           \
        for (unsigned c = 0; c < cols; c++) {                                 \
            const uint8_t *s = src[c] + i;                                    \
            __m256i lo[W], hi[W];                                             \
            for (unsigned w = 0; w < (W); w++) {                              \
                __m256i x = _mm256_loadu_si256((const __m256i *)(s + 32 * w)); \
                lo[w] = _mm256_and_si256(x, mask);                            \
                hi[w] = _mm256_and_si256(_mm256_srli_epi64(x, 4), mask);      \
            }                                                                 \
            for (unsigned r = 0; r < (N); r++) {                              \
                const uint8_t *t = tab[c][r];                                 \
                const __m256i tlo = _mm256_broadcastsi128_si256(              \
                    _mm_loadu_si128((const __m128i *)t));                     \
                const __m256i thi = _mm256_broadcastsi128_si256(              \
                    _mm_loadu_si128((const __m128i *)(t + 16)));              \
                for (unsigned w = 0; w < (W); w++)                            \
                    acc[r][w] = _mm256_xor_si256(                             \
                        acc[r][w], _mm256_xor_si256(_mm256_shuffle_epi8(tlo, lo[w]), \
                                                    _mm256_shuffle_epi8(thi, hi[w]))); \
            }                                                                 \
        }                                                                     \
        for (unsigned r = 0; r < (N); r++)                                    \
            for (unsigned w = 0; w < (W); w++)                                \
                _mm256_storeu_si256((__m256i *)(d[r] + i + 32 * w), acc[r][w]); \
    } while (0)

#define AVX2_DOT_ROWS(N)                                                      \
    AVX2 static void avx2_dot_rows##N(uint8_t *const *dst, unsigned r0,       \
                                      const uint8_t *coef,                    \
                                      const uint8_t *const *src, unsigned cols, \
                                      size_t len)                             \
    {                                                                         \
        const __m256i mask = _mm256_set1_epi8(0x0f);                          \
        const uint8_t *tab[FEC_MAX_SYMBOLS][N];                               \
        uint8_t *d[N];                                                        \
        for (unsigned r = 0; r < (N); r++) {                                  \
            d[r] = dst[r0 + r];                                               \
            const uint8_t *row = coef + (size_t)(r0 + r) * cols;              \
            for (unsigned c = 0; c < cols; c++)                               \
                tab[c][r] = fec_gf_nibble_table[row[c]][0];                   \
        }                                                                     \
        size_t i = 0;                                                         \
        /* Two chunks per pass share each table load; with 4 rows a few       \
         * values spill, which still measured faster than one chunk. */       \
        for (; i + 64 <= len; i += 64)                                        \
            AVX2_DOT_BODY(N, 2);                                              \
        for (; i + 32 <= len; i += 32)                                        \
            AVX2_DOT_BODY(N, 1);                                              \
        if (i < len && len >= 32) {                                           \
            /* Tail: one more vector ending at len, overlapping bytes already \
             * done; each output byte depends only on the inputs at its own   \
             * offset, so redoing them writes the same values again. */       \
            i = len - 32;                                                     \
            AVX2_DOT_BODY(N, 1);                                              \
            i = len;                                                          \
        }                                                                     \
        for (unsigned r = 0; r < (N); r++) {                                  \
            for (size_t t = i; t < len; t++) {                                \
                uint8_t v = 0;                                                \
                for (unsigned c = 0; c < cols; c++)                           \
                    v ^= fec_gf_mul_table[coef[(r0 + r) * cols + c]][src[c][t]]; \
                d[r][t] = v;                                                  \
            }                                                                 \
        }                                                                     \
    }

AVX2_DOT_ROWS(1)
AVX2_DOT_ROWS(2)
AVX2_DOT_ROWS(3)
AVX2_DOT_ROWS(4)

AVX2 static void avx2_dotprod(uint8_t *const *dst, unsigned rows, const uint8_t *coef,
                              const uint8_t *const *src, unsigned cols, size_t len)
{
    if (cols == 0 || cols > FEC_MAX_SYMBOLS) {   /* tables hold one code's columns */
        fec_kernel_scalar.dotprod(dst, rows, coef, src, cols, len);
        return;
    }
    unsigned r0 = 0;
    for (; r0 + 4 <= rows; r0 += 4)
        avx2_dot_rows4(dst, r0, coef, src, cols, len);
    switch (rows - r0) {
    case 3: avx2_dot_rows3(dst, r0, coef, src, cols, len); break;
    case 2: avx2_dot_rows2(dst, r0, coef, src, cols, len); break;
    case 1: avx2_dot_rows1(dst, r0, coef, src, cols, len); break;
    default: break;
    }
}

const fec_kernel fec_kernel_avx2 = {
    .name = "avx2",
    .mad_rows = avx2_mad_rows,
    .dotprod = avx2_dotprod,
};

/* ---- AVX-512 + GFNI ----------------------------------------------------- */

GFNI static inline __m512i gfni_mul(__m512i x, __m512i matrix)
{
    return _mm512_gf2p8affine_epi64_epi8(x, matrix, 0);
}

/* Rows r0 .. r0+N of mad_rows; N constant at each call site so that the
 * matrices stay in registers. */
#define GFNI_MAD_ROWS(N)                                                      \
    GFNI static void gfni_mad_rows##N(uint8_t *const *dst, const uint8_t *coef, \
                                      const uint8_t *src, size_t len, int set) \
    {                                                                         \
        __m512i mat[N];                                                       \
        uint8_t *d[N];                                                        \
        for (unsigned r = 0; r < (N); r++) {                                  \
            mat[r] = _mm512_set1_epi64((long long)fec_gf_affine_table[coef[r]]); \
            d[r] = dst[r];                                                    \
        }                                                                     \
        size_t i = 0;                                                         \
        /* Plain loads/stores for whole chunks: the accumulators are read back \
         * by the next packet, and masked stores do not forward to loads. */  \
        for (; i + 64 <= len; i += 64) {                                      \
            const __m512i x = _mm512_loadu_si512(src + i);                    \
            for (unsigned r = 0; r < (N); r++) {                              \
                __m512i p = gfni_mul(x, mat[r]);                              \
                if (!set)                                                     \
                    p = _mm512_xor_si512(p, _mm512_loadu_si512(d[r] + i));    \
                _mm512_storeu_si512(d[r] + i, p);                             \
            }                                                                 \
        }                                                                     \
        if (i < len) {                                                        \
            const __mmask64 m = ((__mmask64)1 << (len - i)) - 1;              \
            const __m512i x = _mm512_maskz_loadu_epi8(m, src + i);            \
            for (unsigned r = 0; r < (N); r++) {                              \
                __m512i p = gfni_mul(x, mat[r]);                              \
                if (!set)                                                     \
                    p = _mm512_xor_si512(p, _mm512_maskz_loadu_epi8(m, d[r] + i)); \
                _mm512_mask_storeu_epi8(d[r] + i, m, p);                      \
            }                                                                 \
        }                                                                     \
    }

GFNI_MAD_ROWS(1)
GFNI_MAD_ROWS(2)
GFNI_MAD_ROWS(3)
GFNI_MAD_ROWS(4)

GFNI static void gfni_mad_rows(uint8_t *const *dst, const uint8_t *coef, unsigned rows,
                               const uint8_t *src, size_t len, int set)
{
    unsigned r0 = 0;
    for (; r0 + 4 <= rows; r0 += 4)
        gfni_mad_rows4(dst + r0, coef + r0, src, len, set);
    switch (rows - r0) {
    case 3: gfni_mad_rows3(dst + r0, coef + r0, src, len, set); break;
    case 2: gfni_mad_rows2(dst + r0, coef + r0, src, len, set); break;
    case 1: gfni_mad_rows1(dst + r0, coef + r0, src, len, set); break;
    default: break;
    }
}

/* dst[r0 .. r0+N) over bytes [i, i + 64*W), N parity rows per pass over the
 * sources (the shape of ISA-L's gf_Nvect_dot_prod): each source vector is
 * loaded once for all N rows, and each matrix broadcast serves W chunks.
 * Two products are folded into an accumulator by one three-way XOR
 * (VPTERNLOGQ 0x96), so the XORs cost half an instruction per multiply.
 * The chunk w == W-1 is loaded and stored under the mask mw (all ones except
 * in the tail call); masked-off bytes are neither read nor written. */
#define GFNI_LOAD(p, w, W)                                                    \
    ((w) == (W) - 1 ? _mm512_maskz_loadu_epi8(mw, (p) + 64 * (w))             \
                    : _mm512_loadu_si512((p) + 64 * (w)))
#define GFNI_DOT_BODY(N, W, MAT)                                              \
    do {                                                                      \
        __m512i acc[N][W];                                                    \
        {                                                                     \
            const uint8_t *s0 = src[0] + i;                                   \
            __m512i x[W];                                                     \
            for (unsigned w = 0; w < (W); w++)                                \
                x[w] = GFNI_LOAD(s0, w, W);                                   \
            for (unsigned r = 0; r < (N); r++) {                              \
                const __m512i mat = _mm512_set1_epi64((long long)MAT(0, r));  \
                for (unsigned w = 0; w < (W); w++)                            \
                    acc[r][w] = gfni_mul(x[w], mat);                          \
            }                                                                 \
        }                                                                     \
        unsigned c = 1;                                                       \
        for (; c + 2 <= cols; c += 2) {                                       \
            const uint8_t *s0 = src[c] + i, *s1 = src[c + 1] + i;             \
            __m512i x0[W], x1[W];                                             \
            for (unsigned w = 0; w < (W); w++) {                              \
                x0[w] = GFNI_LOAD(s0, w, W);                                  \
                x1[w] = GFNI_LOAD(s1, w, W);                                  \
            }                                                                 \
            for (unsigned r = 0; r < (N); r++) {                              \
                const __m512i m0 = _mm512_set1_epi64((long long)MAT(c, r));   \
                const __m512i m1 = _mm512_set1_epi64((long long)MAT(c + 1, r)); \
                for (unsigned w = 0; w < (W); w++)                            \
                    acc[r][w] = _mm512_ternarylogic_epi64(                    \
                        acc[r][w], gfni_mul(x0[w], m0), gfni_mul(x1[w], m1), 0x96); \
            }                                                                 \
        }                                                                     \
        if (c < cols) {                                                       \
            const uint8_t *s0 = src[c] + i;                                   \
            __m512i x[W];                                                     \
            for (unsigned w = 0; w < (W); w++)                                \
                x[w] = GFNI_LOAD(s0, w, W);                                   \
            for (unsigned r = 0; r < (N); r++) {                              \
                const __m512i mat = _mm512_set1_epi64((long long)MAT(c, r));  \
                for (unsigned w = 0; w < (W); w++)                            \
                    acc[r][w] = _mm512_xor_si512(acc[r][w], gfni_mul(x[w], mat)); \
            }                                                                 \
        }                                                                     \
        for (unsigned r = 0; r < (N); r++)                                    \
            for (unsigned w = 0; w < (W); w++) {                              \
                if (w == (W) - 1)                                             \
                    _mm512_mask_storeu_epi8(d[r] + i + 64 * w, mw, acc[r][w]); \
                else                                                          \
                    _mm512_storeu_si512(d[r] + i + 64 * w, acc[r][w]);        \
            }                                                                 \
    } while (0)

/* The N x cols affine matrices are looked up once per call (not once per
 * chunk), laid out source-major so that one pass reads them in order;
 * packets of up to 128 bytes (one pass) look them up where they are used,
 * which saves the copy. */
#define GFNI_MAT_TAB(c, r) mats[c][r]
#define GFNI_MAT_DIRECT(c, r) fec_gf_affine_table[coef[(size_t)(r0 + (r)) * cols + (c)]]
#define GFNI_DOT_ROWS(N)                                                      \
    GFNI static void gfni_dot_rows##N(uint8_t *const *dst, unsigned r0,       \
                                      const uint8_t *coef,                    \
                                      const uint8_t *const *src, unsigned cols, \
                                      size_t len)                             \
    {                                                                         \
        uint8_t *d[N];                                                        \
        for (unsigned r = 0; r < (N); r++)                                    \
            d[r] = dst[r0 + r];                                               \
        size_t i = 0;                                                         \
        __mmask64 mw;                                                         \
        if (len == 0)                                                         \
            return;                                                           \
        if (len <= 64) {                                                      \
            mw = ~(__mmask64)0 >> (64 - len);                                 \
            GFNI_DOT_BODY(N, 1, GFNI_MAT_DIRECT);                             \
            return;                                                           \
        }                                                                     \
        if (len <= 128) {                                                     \
            mw = ~(__mmask64)0 >> (128 - len);                                \
            GFNI_DOT_BODY(N, 2, GFNI_MAT_DIRECT);                             \
            return;                                                           \
        }                                                                     \
        uint64_t mats[FEC_MAX_SYMBOLS][N];                                    \
        for (unsigned r = 0; r < (N); r++) {                                  \
            const uint8_t *row = coef + (size_t)(r0 + r) * cols;              \
            for (unsigned c = 0; c < cols; c++)                               \
                mats[c][r] = fec_gf_affine_table[row[c]];                     \
        }                                                                     \
        mw = ~(__mmask64)0;                                                   \
        for (; i + 128 <= len; i += 128)                                      \
            GFNI_DOT_BODY(N, 2, GFNI_MAT_TAB);                                \
        if (len - i > 64) {                                                   \
            mw = ~(__mmask64)0 >> (128 - (len - i));                          \
            GFNI_DOT_BODY(N, 2, GFNI_MAT_TAB);                                \
        } else if (i < len) {                                                 \
            mw = ~(__mmask64)0 >> (64 - (len - i));                           \
            GFNI_DOT_BODY(N, 1, GFNI_MAT_TAB);                                \
        }                                                                     \
    }

GFNI_DOT_ROWS(1)
GFNI_DOT_ROWS(2)
GFNI_DOT_ROWS(3)
GFNI_DOT_ROWS(4)
GFNI_DOT_ROWS(5)
GFNI_DOT_ROWS(6)

GFNI static void gfni_dotprod(uint8_t *const *dst, unsigned rows, const uint8_t *coef,
                              const uint8_t *const *src, unsigned cols, size_t len)
{
    if (cols == 0 || cols > FEC_MAX_SYMBOLS) {   /* tables hold one code's columns */
        fec_kernel_scalar.dotprod(dst, rows, coef, src, cols, len);
        return;
    }
    /* Up to 6 rows per pass over the sources (accumulators for 6 rows x 2
     * chunks still fit the 32 registers). */
    unsigned r0 = 0;
    for (; r0 + 6 <= rows; r0 += 6)
        gfni_dot_rows6(dst, r0, coef, src, cols, len);
    switch (rows - r0) {
    case 5: gfni_dot_rows5(dst, r0, coef, src, cols, len); break;
    case 4: gfni_dot_rows4(dst, r0, coef, src, cols, len); break;
    case 3: gfni_dot_rows3(dst, r0, coef, src, cols, len); break;
    case 2: gfni_dot_rows2(dst, r0, coef, src, cols, len); break;
    case 1: gfni_dot_rows1(dst, r0, coef, src, cols, len); break;
    default: break;
    }
}

const fec_kernel fec_kernel_gfni = {
    .name = "gfni",
    .mad_rows = gfni_mad_rows,
    .dotprod = gfni_dotprod,
};

/* ---- AVX2 + GFNI (256-bit) ---------------------------------------------- */

/* For CPUs with GFNI but without AVX-512 (and a peer of ISA-L's
 * ec_encode_data_avx2_gfni): one GF2P8AFFINEQB per 32-byte multiply instead
 * of two PSHUFB plus the nibble split.  No masks and no three-way XOR in
 * AVX2, so tails are done as in the AVX2 kernel: dotprod recomputes the
 * last 32 bytes, mad_rows masks the bytes already done with a blend. */
#define G256 __attribute__((target("avx2,gfni")))

G256 static inline __m256i g256_mul(__m256i x, __m256i matrix)
{
    return _mm256_gf2p8affine_epi64_epi8(x, matrix, 0);
}

#define G256_MAD_ROWS(N)                                                      \
    G256 static void g256_mad_rows##N(uint8_t *const *dst, const uint8_t *coef, \
                                      const uint8_t *src, size_t len, int set) \
    {                                                                         \
        const size_t vec_len = len & ~(size_t)31;                             \
        __m256i mat[N];                                                       \
        uint8_t *d[N];                                                        \
        for (unsigned r = 0; r < (N); r++) {                                  \
            mat[r] = _mm256_set1_epi64x((long long)fec_gf_affine_table[coef[r]]); \
            d[r] = dst[r];                                                    \
        }                                                                     \
        for (size_t i = 0; i < vec_len; i += 32) {                            \
            const __m256i x = _mm256_loadu_si256((const __m256i *)(src + i)); \
            for (unsigned r = 0; r < (N); r++) {                              \
                __m256i p = g256_mul(x, mat[r]);                              \
                if (!set)                                                     \
                    p = _mm256_xor_si256(p, _mm256_loadu_si256((__m256i *)(d[r] + i))); \
                _mm256_storeu_si256((__m256i *)(d[r] + i), p);                \
            }                                                                 \
        }                                                                     \
        if (vec_len < len && len >= 32) {                                     \
            const size_t at = len - 32;                                       \
            const __m256i keep = _mm256_loadu_si256(                          \
                (const __m256i *)(avx2_tail_mask + (len - vec_len)));         \
            const __m256i x = _mm256_loadu_si256((const __m256i *)(src + at)); \
            for (unsigned r = 0; r < (N); r++) {                              \
                const __m256i p = g256_mul(x, mat[r]);                        \
                const __m256i old = _mm256_loadu_si256((__m256i *)(d[r] + at)); \
                _mm256_storeu_si256((__m256i *)(d[r] + at),                   \
                                    set ? _mm256_blendv_epi8(old, p, keep)    \
                                        : _mm256_xor_si256(old, _mm256_and_si256(p, keep))); \
            }                                                                 \
            return;                                                           \
        }                                                                     \
        for (unsigned r = 0; r < (N); r++) {                                  \
            const uint8_t *t = fec_gf_mul_table[coef[r]];                     \
            for (size_t i = vec_len; i < len; i++)                            \
                d[r][i] = (uint8_t)((set ? 0 : d[r][i]) ^ t[src[i]]);         \
        }                                                                     \
    }

G256_MAD_ROWS(1)
G256_MAD_ROWS(2)
G256_MAD_ROWS(3)
G256_MAD_ROWS(4)

G256 static void g256_mad_rows(uint8_t *const *dst, const uint8_t *coef, unsigned rows,
                               const uint8_t *src, size_t len, int set)
{
    unsigned r0 = 0;
    for (; r0 + 4 <= rows; r0 += 4)
        g256_mad_rows4(dst + r0, coef + r0, src, len, set);
    switch (rows - r0) {
    case 3: g256_mad_rows3(dst + r0, coef + r0, src, len, set); break;
    case 2: g256_mad_rows2(dst + r0, coef + r0, src, len, set); break;
    case 1: g256_mad_rows1(dst + r0, coef + r0, src, len, set); break;
    default: break;
    }
}

/* N rows x W 32-byte chunks of accumulators (16 registers: N * W <= 8);
 * source 0 initialises them. */
#define G256_DOT_SRC(N, W, c, OP)                                             \
    do {                                                                      \
        const uint8_t *s = src[c] + i;                                        \
        __m256i x[W];                                                         \
        for (unsigned w = 0; w < (W); w++)                                    \
            x[w] = _mm256_loadu_si256((const __m256i *)(s + 32 * w));         \
        for (unsigned r = 0; r < (N); r++) {                                  \
            const __m256i mat = _mm256_set1_epi64x((long long)mats[c][r]);    \
            for (unsigned w = 0; w < (W); w++)                                \
                acc[r][w] = OP(acc[r][w], g256_mul(x[w], mat));               \
        }                                                                     \
    } while (0)
#define G256_SECOND(a, b) (b)
#define G256_DOT_BODY(N, W)                                                   \
    do {                                                                      \
        __m256i acc[N][W];                                                    \
        G256_DOT_SRC(N, W, 0, G256_SECOND);                                   \
        for (unsigned c = 1; c < cols; c++)                                   \
            G256_DOT_SRC(N, W, c, _mm256_xor_si256);                          \
        for (unsigned r = 0; r < (N); r++)                                    \
            for (unsigned w = 0; w < (W); w++)                                \
                _mm256_storeu_si256((__m256i *)(d[r] + i + 32 * w), acc[r][w]); \
    } while (0)

#define G256_DOT_ROWS(N)                                                      \
    G256 static void g256_dot_rows##N(uint8_t *const *dst, unsigned r0,       \
                                      const uint8_t *coef,                    \
                                      const uint8_t *const *src, unsigned cols, \
                                      size_t len)                             \
    {                                                                         \
        uint64_t mats[FEC_MAX_SYMBOLS][N];                                    \
        uint8_t *d[N];                                                        \
        for (unsigned r = 0; r < (N); r++) {                                  \
            d[r] = dst[r0 + r];                                               \
            const uint8_t *row = coef + (size_t)(r0 + r) * cols;              \
            for (unsigned c = 0; c < cols; c++)                               \
                mats[c][r] = fec_gf_affine_table[row[c]];                     \
        }                                                                     \
        size_t i = 0;                                                         \
        for (; i + 64 <= len; i += 64)                                        \
            G256_DOT_BODY(N, 2);                                              \
        for (; i + 32 <= len; i += 32)                                        \
            G256_DOT_BODY(N, 1);                                              \
        if (i < len && len >= 32) {   /* overlapping last vector, see AVX2 */ \
            i = len - 32;                                                     \
            G256_DOT_BODY(N, 1);                                              \
            i = len;                                                          \
        }                                                                     \
        for (unsigned r = 0; r < (N); r++)                                    \
            for (size_t t = i; t < len; t++) {                                \
                uint8_t v = 0;                                                \
                for (unsigned c = 0; c < cols; c++)                           \
                    v ^= fec_gf_mul_table[coef[(r0 + r) * cols + c]][src[c][t]]; \
                d[r][t] = v;                                                  \
            }                                                                 \
    }

G256_DOT_ROWS(1)
G256_DOT_ROWS(2)
G256_DOT_ROWS(3)
G256_DOT_ROWS(4)

G256 static void g256_dotprod(uint8_t *const *dst, unsigned rows, const uint8_t *coef,
                              const uint8_t *const *src, unsigned cols, size_t len)
{
    if (cols == 0 || cols > FEC_MAX_SYMBOLS) {   /* tables hold one code's columns */
        fec_kernel_scalar.dotprod(dst, rows, coef, src, cols, len);
        return;
    }
    unsigned r0 = 0;
    for (; r0 + 4 <= rows; r0 += 4)
        g256_dot_rows4(dst, r0, coef, src, cols, len);
    switch (rows - r0) {
    case 3: g256_dot_rows3(dst, r0, coef, src, cols, len); break;
    case 2: g256_dot_rows2(dst, r0, coef, src, cols, len); break;
    case 1: g256_dot_rows1(dst, r0, coef, src, cols, len); break;
    default: break;
    }
}

const fec_kernel fec_kernel_avx2_gfni = {
    .name = "avx2gfni",
    .mad_rows = g256_mad_rows,
    .dotprod = g256_dotprod,
};
