/* ISA-L timing loops for bench/fec_codec.py, the same loop shape as
 * pd_fec_encode/pd_fec_decode in fec_native.c.  Built twice by the
 * benchmark: against Debian's libisal (-lisal, headers in isa-l/) and, when
 * bench/build_isal.sh has built it, against upstream ISA-L's position-
 * independent archive (-DISAL_UPSTREAM, its symbols kept inside the helper
 * so both versions can be loaded in one process).
 * Layout: data (nblocks, k, len); parity (nblocks, m, len); symbols
 * (nblocks, k + m, len); present (nblocks, k + m). */
#include <stdlib.h>
#include <string.h>

#include <erasure_code.h>
#ifdef ISAL_UPSTREAM
#include <isal_api.h>
/* Exported by the library but not declared in its public header. */
void ec_encode_data_avx2_gfni(int len, int k, int rows, unsigned char *g_tbls,
                              unsigned char **data, unsigned char **coding);
void ec_init_tables_gfni(int k, int rows, unsigned char *a, unsigned char *g_tbls);
#endif
/* The per-ISA entry points are deprecated for applications; a benchmark
 * calls them on purpose. */
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"

#define MAXS 255

typedef void (*encode_fn)(int, int, int, unsigned char *, unsigned char **, unsigned char **);

/* The version the library reports, or NULL (Debian's 2.30 has no call for
 * it; the benchmark asks dpkg instead). */
const char *isal_peer_version(void)
{
#ifdef ISAL_UPSTREAM
    return isal_get_version_str();
#else
    return NULL;
#endif
}

/* variant 0: ec_init_tables + ec_encode_data, ISA-L's own dispatch (2.30:
 *            AVX-512 PSHUFB on this CPU; 2.31+: AVX-512 + GFNI);
 * variant 1: ec_encode_data_avx2 with PSHUFB tables, the peer of pydpdk's
 *            AVX2 kernel;
 * variant 2: ec_encode_data_avx2_gfni (upstream only; -1 otherwise). */
static int pick(int variant, encode_fn *enc, void (**init)(int, int, unsigned char *,
                                                             unsigned char *))
{
    *enc = ec_encode_data;
    *init = ec_init_tables;
    if (variant == 1) {
        *enc = ec_encode_data_avx2;
#ifdef ISAL_UPSTREAM
        *init = ec_init_tables_base;   /* the dispatched init picks GFNI tables */
#endif
    } else if (variant == 2) {
#ifdef ISAL_UPSTREAM
        *enc = ec_encode_data_avx2_gfni;
        *init = ec_init_tables_gfni;
#else
        return -1;
#endif
    }
    return 0;
}

/* Generator rows m x k of a (k + m) x k matrix: ISA-L's own Cauchy matrix
 * (gf_gen_cauchy1_matrix) unless coef (m x k) is given. */
int isal_encode(int k, int m, int len, int nblocks, unsigned char *data,
                unsigned char *parity, int iters, int variant, const unsigned char *coef)
{
    encode_fn encode;
    void (*init)(int, int, unsigned char *, unsigned char *);
    unsigned char *a = malloc((size_t)(k + m) * k), *tbls = malloc((size_t)32 * k * m);
    unsigned char *src[MAXS], *dst[MAXS];
    if (a == NULL || tbls == NULL || pick(variant, &encode, &init) < 0) {
        free(a);
        free(tbls);
        return -1;
    }
    gf_gen_cauchy1_matrix(a, k + m, k);
    if (coef != NULL)
        memcpy(a + (size_t)k * k, coef, (size_t)m * k);
    init(k, m, a + (size_t)k * k, tbls);   /* tables built once, as pydpdk's matrix */
    for (int it = 0; it < iters; it++)
        for (int b = 0; b < nblocks; b++) {
            for (int i = 0; i < k; i++)
                src[i] = data + ((size_t)b * k + i) * len;
            for (int i = 0; i < m; i++)
                dst[i] = parity + ((size_t)b * m + i) * len;
            encode(len, k, m, tbls, src, dst);
        }
    free(a);
    free(tbls);
    return 0;
}

/* ISA-L's usual erasure decode: invert the k x k matrix of k surviving rows,
 * take the rows of the lost sources, build tables, run ec_encode_data.  With
 * cached != 0 this is skipped when the loss pattern equals the previous one. */
int isal_decode(int k, int m, int len, int nblocks, unsigned char *symbols,
                const unsigned char *present, unsigned char *out, int iters, int cached)
{
    const int n = k + m;
    unsigned char *a = malloc((size_t)n * k), *b = malloc((size_t)k * k);
    unsigned char *inv = malloc((size_t)k * k), *dm = malloc((size_t)k * k);
    unsigned char *tbls = malloc((size_t)32 * k * m);
    unsigned char prev[MAXS];
    unsigned char *src[MAXS], *dst[MAXS];
    int lost[MAXS], nlost = 0, have_prev = 0, rc = 0;
    if (!a || !b || !inv || !dm || !tbls) {
        rc = -1;
        goto out;
    }
    gf_gen_cauchy1_matrix(a, n, k);
    for (int it = 0; it < iters && rc == 0; it++)
        for (int blk = 0; blk < nblocks; blk++) {
            const unsigned char *p = present + (size_t)blk * n;
            unsigned char *s = symbols + (size_t)blk * n * len;
            int rows[MAXS], r = 0;
            for (int i = 0; i < n && r < k; i++)
                if (p[i])
                    rows[r++] = i;
            if (r < k) {
                rc = -1;
                break;
            }
            if (!(cached && have_prev && memcmp(prev, p, n) == 0)) {
                nlost = 0;
                for (int i = 0; i < k; i++)
                    if (!p[i])
                        lost[nlost++] = i;
                for (int i = 0; i < k; i++)
                    memcpy(b + (size_t)i * k, a + (size_t)rows[i] * k, k);
                if (gf_invert_matrix(b, inv, k) < 0) {
                    rc = -1;
                    break;
                }
                for (int e = 0; e < nlost; e++)
                    memcpy(dm + (size_t)e * k, inv + (size_t)lost[e] * k, k);
                if (nlost)
                    ec_init_tables(k, nlost, dm, tbls);
                memcpy(prev, p, n);
                have_prev = 1;
            }
            for (int i = 0; i < k; i++)
                src[i] = s + (size_t)rows[i] * len;
            for (int e = 0; e < nlost; e++)
                dst[e] = out + ((size_t)blk * m + e) * len;
            if (nlost)
                ec_encode_data(len, k, nlost, tbls, src, dst);
        }
out:
    free(a);
    free(b);
    free(inv);
    free(dm);
    free(tbls);
    return rc;
}
