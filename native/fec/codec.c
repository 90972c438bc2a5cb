/* XOR and Cauchy Reed-Solomon block codes; decode matrices and their cache. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fec_internal.h"

/* Largest decode matrix: e lost rows x k inputs with e <= m, k + m <= 255. */
#define MAX_DECODE_MATRIX ((FEC_MAX_SYMBOLS / 2) * (FEC_MAX_SYMBOLS - FEC_MAX_SYMBOLS / 2) + 1)
#define CACHE_WAYS 4

int fec_code_check(int code, unsigned k, unsigned m)
{
    if (k == 0 || m == 0 || k + m > FEC_MAX_SYMBOLS)
        return -EINVAL;
    if (code == FEC_CODE_XOR)
        return m == 1 ? 0 : -EINVAL;
    if (code == FEC_CODE_RS)
        return 0;
    return -EINVAL;
}

/* Tables must be ready (fec_init) before this is called. */
static inline uint8_t coef_of(int code, unsigned m, unsigned row, unsigned col)
{
    if (code == FEC_CODE_XOR)
        return 1;
    /* x_row = row (< m) and y_col = m + col (>= m) never collide, so the
     * denominator is never 0 and every square submatrix is invertible. */
    return fec_gf_inv_table[(uint8_t)(row ^ (m + col))];
}

uint8_t fec_coef(int code, unsigned m, unsigned row, unsigned col)
{
    fec_init();
    return coef_of(code, m, row, col);
}

int fec_encode_block(const fec_kernel *kern, int code, unsigned k, unsigned m,
                     const uint8_t *const *data, uint8_t *const *parity, size_t len)
{
    uint8_t coef[FEC_MAX_SYMBOLS * 2];
    if (fec_code_check(code, k, m) < 0 || data == NULL || parity == NULL)
        return -EINVAL;
    if (kern == NULL)
        kern = fec_kernel_default();
    if (len == 0)
        return 0;
    /* Row by row so that the coefficient table stays small (m x k can be
     * 16 KB; one row is at most 255 bytes). */
    if ((size_t)m * k <= sizeof(coef)) {
        for (unsigned r = 0; r < m; r++)
            for (unsigned c = 0; c < k; c++)
                coef[r * k + c] = coef_of(code, m, r, c);
        kern->dotprod(parity, m, coef, data, k, len);
    } else {
        for (unsigned r = 0; r < m; r++) {
            for (unsigned c = 0; c < k; c++)
                coef[c] = coef_of(code, m, r, c);
            kern->dotprod(&parity[r], 1, coef, data, k, len);
        }
    }
    return 0;
}

int fec_code_matrix(int code, unsigned k, unsigned m, uint8_t *coef)
{
    if (fec_code_check(code, k, m) < 0 || coef == NULL)
        return -EINVAL;
    fec_init();
    for (unsigned r = 0; r < m; r++)
        for (unsigned c = 0; c < k; c++)
            coef[r * k + c] = coef_of(code, m, r, c);
    return 0;
}

int fec_encode_block_matrix(const fec_kernel *kern, const uint8_t *coef, unsigned k,
                            unsigned m, const uint8_t *const *data, uint8_t *const *parity,
                            size_t len)
{
    if (coef == NULL || data == NULL || parity == NULL || k == 0 || m == 0 ||
        k + m > FEC_MAX_SYMBOLS)
        return -EINVAL;
    if (kern == NULL)
        kern = fec_kernel_default();
    if (len > 0)
        kern->dotprod(parity, m, coef, data, k, len);
    return 0;
}

/* ---- decode matrix cache ------------------------------------------------ */

typedef struct cache_key {
    uint64_t present[4];     /* bit i: symbol i received */
    uint8_t code, k, m;
} cache_key;

typedef struct cache_entry {
    cache_key key;
    uint64_t last_used;      /* 0: empty */
    uint8_t lost;            /* rows of matrix */
    uint8_t *matrix;         /* lost x k */
    /* Symbol index of each of the k inputs (received sources in index
     * order, then the repairs used) and of each lost source. */
    uint8_t in_idx[FEC_MAX_SYMBOLS];
    uint8_t out_idx[FEC_MAX_SYMBOLS / 2 + 1];
} cache_entry;

struct fec_matrix_cache {
    unsigned sets;
    uint64_t clock;
    uint64_t hits, misses;
    cache_entry *entries;    /* sets * CACHE_WAYS */
    uint8_t *storage;
    /* The entry the previous call used and its present[] bytes as given:
     * a block with the same bytes (the common case, a steady loss pattern)
     * skips the key, the hash and the set search. */
    cache_entry *last;
    uint8_t last_code, last_k, last_m;
    uint8_t last_present[FEC_MAX_SYMBOLS];
};

int fec_matrix_cache_create(unsigned entries, fec_matrix_cache **out)
{
    if (out == NULL || entries == 0 || entries > 65536)
        return -EINVAL;
    fec_init();
    fec_matrix_cache *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return -ENOMEM;
    c->sets = (entries + CACHE_WAYS - 1) / CACHE_WAYS;
    const size_t n = (size_t)c->sets * CACHE_WAYS;
    c->entries = calloc(n, sizeof(cache_entry));
    c->storage = malloc(n * MAX_DECODE_MATRIX);
    if (c->entries == NULL || c->storage == NULL) {
        free(c->entries);
        free(c->storage);
        free(c);
        return -ENOMEM;
    }
    for (size_t i = 0; i < n; i++)
        c->entries[i].matrix = c->storage + i * MAX_DECODE_MATRIX;
    *out = c;
    return 0;
}

void fec_matrix_cache_destroy(fec_matrix_cache *cache)
{
    if (cache == NULL)
        return;
    free(cache->entries);
    free(cache->storage);
    free(cache);
}

void fec_matrix_cache_stats(const fec_matrix_cache *cache, uint64_t *hits, uint64_t *misses)
{
    *hits = cache ? cache->hits : 0;
    *misses = cache ? cache->misses : 0;
}

static uint64_t key_hash(const cache_key *key)
{
    uint64_t h = ((uint64_t)key->code << 16) ^ ((uint64_t)key->k << 8) ^ key->m;
    for (unsigned i = 0; i < 4; i++) {
        h ^= key->present[i];
        h *= UINT64_C(0x9E3779B97F4A7C15);
        h ^= h >> 29;
    }
    return h;
}

/* log of the product of (a XOR v[i]) over i < n, i != skip (mod 255). */
static unsigned log_prod(unsigned a, const unsigned *v, unsigned n, unsigned skip)
{
    unsigned l = 0;
    for (unsigned i = 0; i < n; i++)
        if (i != skip)
            l += fec_gf_log_table[a ^ v[i]];
    return l % 255;
}

/* Build the decode matrix: row b gives lost source lost[b] as a combination
 * of the k inputs (received sources in index order, then the chosen repairs).
 * Only the e x e part that mixes the lost sources is inverted:
 *   lost_b = sum_r B[b][r] * (parity_r + sum_j C[r][j] * s_j),
 * B the inverse of the Cauchy submatrix A[r][b] = 1 / (x_r + y_b).  For RS,
 * B has a closed form (no elimination):
 *   B[b][r] = prod_k (x_r + y_k) * prod_k (x_k + y_b)
 *           / ((x_r + y_b) * prod_{k != r} (x_r + x_k) * prod_{k != b} (y_b + y_k)),
 * and so has B times C (below), both computed in the log domain (the 64 KiB
 * product table would thrash L1). */
static int build_decode_matrix(int code, unsigned k, unsigned m, const uint8_t *lost,
                               unsigned e, const uint8_t *recv, const uint8_t *repair,
                               uint8_t *matrix)
{
    const unsigned nrecv = k - e;

    if (code == FEC_CODE_RS) {
        unsigned x[FEC_MAX_SYMBOLS / 2 + 1], y[FEC_MAX_SYMBOLS / 2 + 1];
        for (unsigned r = 0; r < e; r++)
            x[r] = repair[r];
        for (unsigned b = 0; b < e; b++)
            y[b] = m + lost[b];
        unsigned lp[FEC_MAX_SYMBOLS / 2 + 1], lq[FEC_MAX_SYMBOLS / 2 + 1];
        for (unsigned r = 0; r < e; r++)     /* prod_k (x_r + y_k) / prod_{k!=r} (x_r + x_k) */
            lp[r] = (log_prod(x[r], y, e, e) + 255 - log_prod(x[r], x, e, r)) % 255;
        for (unsigned b = 0; b < e; b++)     /* prod_k (x_k + y_b) / prod_{k!=b} (y_b + y_k) */
            lq[b] = (log_prod(y[b], x, e, e) + 255 - log_prod(y[b], y, e, b)) % 255;
        for (unsigned b = 0; b < e; b++) {
            uint8_t *row = matrix + (size_t)b * k;
            for (unsigned r = 0; r < e; r++) {
                const unsigned l = (lp[r] + lq[b] + 255 - fec_gf_log_table[x[r] ^ y[b]]) % 255;
                row[nrecv + r] = fec_gf_exp_table[l];
            }
        }
        /* Coefficient of received source j (y_j = m + j) in lost row b:
         *   sum_r B[b][r] / (x_r + y_j) = g_b(y_j),
         *   g_b(z) = lq[b] * prod_k (z + y_k) / ((z + y_b) * prod_r (z + x_r)),
         * the rational function that is 1 at y_b, 0 at the other lost y and
         * has its poles at the x (Lagrange); e + e logs per source and one per
         * entry instead of the e x e x nrecv products of B times C. */
        for (unsigned t = 0; t < nrecv; t++) {
            const unsigned yj = m + recv[t];
            const unsigned lt = (log_prod(yj, y, e, e) + 255 - log_prod(yj, x, e, e)) % 255;
            for (unsigned b = 0; b < e; b++) {
                const unsigned l = (lq[b] + lt + 255 - fec_gf_log_table[yj ^ y[b]]) % 255;
                matrix[(size_t)b * k + t] = fec_gf_exp_table[l];
            }
        }
        return 0;
    }
    /* Other codes (XOR): invert the lost part by elimination. */
    uint8_t inv[(FEC_MAX_SYMBOLS / 2 + 1) * (FEC_MAX_SYMBOLS / 2 + 1)];
    uint8_t log_b[(FEC_MAX_SYMBOLS / 2 + 1) * (FEC_MAX_SYMBOLS / 2 + 1)];
    uint8_t log_coef[MAX_DECODE_MATRIX];     /* e x nrecv, e * nrecv <= e * k */
    uint8_t sub[(FEC_MAX_SYMBOLS / 2 + 1) * (FEC_MAX_SYMBOLS / 2 + 1)];
    for (unsigned r = 0; r < e; r++)
        for (unsigned b = 0; b < e; b++)
            sub[r * e + b] = coef_of(code, m, repair[r], lost[b]);
    int rc = fec_gf_invert_matrix(sub, inv, e);
    if (rc < 0)
        return rc;
    for (unsigned i = 0; i < e * e; i++)
        log_b[i] = fec_gf_log_table[inv[i]];   /* entries are nonzero */
    for (unsigned r = 0; r < e; r++)
        for (unsigned t = 0; t < nrecv; t++)
            log_coef[r * nrecv + t] = fec_gf_log_table[coef_of(code, m, repair[r], recv[t])];
    for (unsigned b = 0; b < e; b++) {
        uint8_t *row = matrix + (size_t)b * k;
        const uint8_t *lb = &log_b[b * e];
        for (unsigned t = 0; t < nrecv; t++) {
            uint8_t v = 0;
            for (unsigned r = 0; r < e; r++)
                v ^= fec_gf_exp_table[lb[r] + log_coef[r * nrecv + t]];
            row[t] = v;
        }
        for (unsigned r = 0; r < e; r++)
            row[nrecv + r] = inv[b * e + r];
    }
    return 0;
}

int fec_decode_block(const fec_kernel *kern, fec_matrix_cache *cache, int code,
                     unsigned k, unsigned m, uint8_t *const *sym,
                     const uint8_t *present, size_t len)
{
    uint8_t lost[FEC_MAX_SYMBOLS], recv[FEC_MAX_SYMBOLS], repair[FEC_MAX_SYMBOLS];
    const uint8_t *inputs[FEC_MAX_SYMBOLS];
    uint8_t *outputs[FEC_MAX_SYMBOLS];
    uint8_t scratch[MAX_DECODE_MATRIX];
    unsigned e = 0, nrecv = 0, nrep = 0;

    if (fec_code_check(code, k, m) < 0 || sym == NULL || present == NULL)
        return -EINVAL;
    if (kern == NULL)
        kern = fec_kernel_default();
    if (cache != NULL && cache->last != NULL && cache->last_code == code &&
        cache->last_k == k && cache->last_m == m &&
        memcmp(cache->last_present, present, k + m) == 0) {
        cache_entry *hit = cache->last;
        cache->hits++;
        hit->last_used = ++cache->clock;
        for (unsigned t = 0; t < k; t++)
            inputs[t] = sym[hit->in_idx[t]];
        for (unsigned b = 0; b < hit->lost; b++)
            outputs[b] = sym[hit->out_idx[b]];
        if (len > 0)
            kern->dotprod(outputs, hit->lost, hit->matrix, inputs, k, len);
        return hit->lost;
    }
    for (unsigned i = 0; i < k; i++) {
        if (present[i])
            recv[nrecv++] = (uint8_t)i;
        else
            lost[e++] = (uint8_t)i;
    }
    if (e == 0)
        return 0;
    for (unsigned r = 0; r < m && nrep < e; r++)
        if (present[k + r])
            repair[nrep++] = (uint8_t)r;
    if (nrep < e)
        return -EAGAIN;
    /* e <= m and e <= k, so e <= 127: the lost part is small. */

    const uint8_t *matrix = NULL;
    cache_entry *slot = NULL, *hit = NULL;
    cache_key key;
    if (cache != NULL) {
        memset(&key, 0, sizeof(key));
        key.code = (uint8_t)code;
        key.k = (uint8_t)k;
        key.m = (uint8_t)m;
        for (unsigned i = 0; i < k + m; i++)
            if (present[i])
                key.present[i >> 6] |= UINT64_C(1) << (i & 63);
        cache_entry *set = &cache->entries[(key_hash(&key) % cache->sets) * CACHE_WAYS];
        cache->clock++;
        for (unsigned w = 0; w < CACHE_WAYS; w++) {
            if (set[w].last_used != 0 && memcmp(&set[w].key, &key, sizeof(key)) == 0) {
                set[w].last_used = cache->clock;
                matrix = set[w].matrix;
                hit = &set[w];
                cache->hits++;
                break;
            }
        }
        if (matrix == NULL) {
            cache->misses++;
            slot = &set[0];
            for (unsigned w = 1; w < CACHE_WAYS; w++)
                if (set[w].last_used < slot->last_used)
                    slot = &set[w];
        }
    }
    if (matrix == NULL) {
        uint8_t *dest = slot != NULL ? slot->matrix : scratch;
        int rc = build_decode_matrix(code, k, m, lost, e, recv, repair, dest);
        if (rc < 0)
            return rc;
        if (slot != NULL) {
            slot->key = key;
            slot->lost = (uint8_t)e;
            slot->last_used = cache->clock;
            for (unsigned t = 0; t < nrecv; t++)
                slot->in_idx[t] = recv[t];
            for (unsigned r = 0; r < e; r++)
                slot->in_idx[nrecv + r] = (uint8_t)(k + repair[r]);
            for (unsigned b = 0; b < e; b++)
                slot->out_idx[b] = lost[b];
            hit = slot;
        }
        matrix = dest;
    }
    if (hit != NULL) {
        cache->last = hit;
        cache->last_code = (uint8_t)code;
        cache->last_k = (uint8_t)k;
        cache->last_m = (uint8_t)m;
        memcpy(cache->last_present, present, k + m);
    }

    for (unsigned t = 0; t < nrecv; t++)
        inputs[t] = sym[recv[t]];
    for (unsigned r = 0; r < e; r++)
        inputs[nrecv + r] = sym[k + repair[r]];
    for (unsigned b = 0; b < e; b++)
        outputs[b] = sym[lost[b]];
    if (len > 0)
        kern->dotprod(outputs, e, matrix, inputs, k, len);
    return (int)e;
}
