/* GF(2^8) tables, the scalar reference kernel, and the one-time kernel choice. */
#include <cpuid.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "fec_internal.h"

uint8_t fec_gf_mul_table[256][256];
uint8_t fec_gf_nibble_table[256][2][16];
uint64_t fec_gf_affine_table[256];
uint8_t fec_gf_inv_table[256];
uint8_t fec_gf_log_table[256];
uint8_t fec_gf_exp_table[512];

static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static const fec_kernel *default_kernel;

/* Carry-less multiply reduced by the field polynomial: slow, used only to
 * build the tables (and so independent of them). */
static uint8_t gf_mul_slow(uint8_t a, uint8_t b)
{
    unsigned r = 0, x = a;
    for (unsigned bit = 0; bit < 8; bit++) {
        if (b & (1u << bit))
            r ^= x;
        x <<= 1;
        if (x & 0x100)
            x ^= FEC_GF_POLY;
    }
    return (uint8_t)r;
}

static void build_tables(void)
{
    for (unsigned a = 0; a < 256; a++)
        for (unsigned b = 0; b < 256; b++)
            fec_gf_mul_table[a][b] = gf_mul_slow((uint8_t)a, (uint8_t)b);
    /* 2 generates the multiplicative group: exp/log tables (exp doubled so
     * that exp[log a + log b] needs no reduction). */
    unsigned x = 1;
    for (unsigned i = 0; i < 255; i++) {
        fec_gf_exp_table[i] = fec_gf_exp_table[i + 255] = (uint8_t)x;
        fec_gf_log_table[x] = (uint8_t)i;
        x = gf_mul_slow((uint8_t)x, 2);
    }
    fec_gf_exp_table[510] = fec_gf_exp_table[0];
    fec_gf_exp_table[511] = fec_gf_exp_table[1];
    for (unsigned a = 1; a < 256; a++)
        fec_gf_inv_table[a] = fec_gf_exp_table[(255 - fec_gf_log_table[a]) % 255];
    for (unsigned c = 0; c < 256; c++) {
        for (unsigned x = 0; x < 16; x++) {
            fec_gf_nibble_table[c][0][x] = fec_gf_mul_table[c][x];
            fec_gf_nibble_table[c][1][x] = fec_gf_mul_table[c][x << 4];
        }
        /* GF2P8AFFINEQB: result bit i = parity(matrix byte (7 - i) & x).
         * Bit j of x contributes c * 2^j, so byte (7 - i) holds, for every
         * input bit j, bit i of c * 2^j. */
        uint64_t matrix = 0;
        for (unsigned i = 0; i < 8; i++) {
            unsigned row = 0;
            for (unsigned j = 0; j < 8; j++)
                if ((fec_gf_mul_table[c][1u << j] >> i) & 1)
                    row |= 1u << j;
            matrix |= (uint64_t)row << (8 * (7 - i));
        }
        fec_gf_affine_table[c] = matrix;
    }
}

/* CPUID plus XGETBV: the instructions exist and the OS saves the registers. */
static int cpu_has_avx2(void)
{
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & bit_OSXSAVE) || !(c & bit_AVX))
        return 0;
    unsigned lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    if ((lo & 0x6) != 0x6)      /* XMM and YMM state */
        return 0;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d))
        return 0;
    return (b & bit_AVX2) != 0;
}

static int cpu_has_gfni_avx512(void)
{
    unsigned a, b, c, d;
    if (!cpu_has_avx2())
        return 0;
    unsigned lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    if ((lo & 0xE6) != 0xE6)    /* + opmask, upper ZMM0-15, ZMM16-31 state */
        return 0;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d))
        return 0;
    return (b & bit_AVX512F) && (b & bit_AVX512BW) && (b & bit_AVX512VL) && (c & bit_GFNI);
}

/* GFNI with VEX encoding (256-bit) needs only AVX2-level OS support. */
static int cpu_has_gfni_avx2(void)
{
    unsigned a, b, c, d;
    if (!cpu_has_avx2() || !__get_cpuid_count(7, 0, &a, &b, &c, &d))
        return 0;
    return (c & bit_GFNI) != 0;
}

static const fec_kernel *const all_kernels[] = {
    &fec_kernel_scalar, &fec_kernel_avx2, &fec_kernel_gfni, &fec_kernel_avx2_gfni,
};
static const char *const kernel_names[] = {"scalar", "avx2", "gfni", "avx2gfni", NULL};

/* CPUID traps to the hypervisor in a virtual machine (microseconds each),
 * so the answers are taken once, at init. */
static int have_avx2, have_gfni, have_avx2_gfni;

static int runs_here(const fec_kernel *k)
{
    return k == &fec_kernel_scalar || (k == &fec_kernel_avx2 && have_avx2) ||
           (k == &fec_kernel_gfni && have_gfni) ||
           (k == &fec_kernel_avx2_gfni && have_avx2_gfni);
}

int fec_kernel_supported(const char *name)
{
    if (name == NULL)
        return 0;
    fec_init();
    for (size_t i = 0; i < sizeof(all_kernels) / sizeof(all_kernels[0]); i++)
        if (strcmp(all_kernels[i]->name, name) == 0)
            return runs_here(all_kernels[i]);
    return 0;
}

static void init_once_fn(void)
{
    build_tables();
    have_avx2 = cpu_has_avx2();
    have_gfni = cpu_has_gfni_avx512();
    have_avx2_gfni = cpu_has_gfni_avx2();
    const fec_kernel *best = &fec_kernel_scalar;
    if (have_gfni)
        best = &fec_kernel_gfni;
    else if (have_avx2_gfni)
        best = &fec_kernel_avx2_gfni;
    else if (have_avx2)
        best = &fec_kernel_avx2;
    const char *forced = getenv("PYDPDK_FEC_KERNEL");
    if (forced != NULL) {
        for (size_t i = 0; i < sizeof(all_kernels) / sizeof(all_kernels[0]); i++)
            if (strcmp(all_kernels[i]->name, forced) == 0 && runs_here(all_kernels[i]))
                best = all_kernels[i];
    }
    default_kernel = best;
}

void fec_init(void)
{
    pthread_once(&init_once, init_once_fn);
}

const fec_kernel *fec_kernel_default(void)
{
    fec_init();
    return default_kernel;
}

int fec_kernel_by_name(const char *name, const fec_kernel **out)
{
    fec_init();
    if (name == NULL || out == NULL)
        return -EINVAL;
    for (size_t i = 0; i < sizeof(all_kernels) / sizeof(all_kernels[0]); i++) {
        if (strcmp(all_kernels[i]->name, name) == 0) {
            if (!fec_kernel_supported(name))
                return -ENOTSUP;
            *out = all_kernels[i];
            return 0;
        }
    }
    return -ENOENT;
}

const char *const *fec_kernel_names(void)
{
    return kernel_names;
}

uint8_t fec_gf_mul(uint8_t a, uint8_t b)
{
    fec_init();
    return fec_gf_mul_table[a][b];
}

uint8_t fec_gf_inv(uint8_t a)
{
    fec_init();
    return fec_gf_inv_table[a];
}

void fec_gf_mul_region(uint8_t *dst, const uint8_t *src, uint8_t c, size_t len)
{
    uint8_t *rows[1] = {dst};
    fec_kernel_default()->mad_rows(rows, &c, 1, src, len, 1);
}

void fec_gf_muladd_region(uint8_t *dst, const uint8_t *src, uint8_t c, size_t len)
{
    uint8_t *rows[1] = {dst};
    fec_kernel_default()->mad_rows(rows, &c, 1, src, len, 0);
}

int fec_gf_invert_matrix(const uint8_t *a, uint8_t *inv, unsigned n)
{
    /* Gauss-Jordan on [work | inv].  Callers invert only the lost part of a
     * block (n <= min(k, m) <= 127), so the work copy stays small. */
    uint8_t work[128 * 128];
    if (n == 0 || n > 128)
        return -EINVAL;
    memcpy(work, a, (size_t)n * n);
    memset(inv, 0, (size_t)n * n);
    for (unsigned i = 0; i < n; i++)
        inv[i * n + i] = 1;
    for (unsigned col = 0; col < n; col++) {
        unsigned pivot = col;
        while (pivot < n && work[pivot * n + col] == 0)
            pivot++;
        if (pivot == n)
            return -EDOM;
        if (pivot != col) {
            for (unsigned j = 0; j < n; j++) {
                uint8_t t = work[col * n + j];
                work[col * n + j] = work[pivot * n + j];
                work[pivot * n + j] = t;
                t = inv[col * n + j];
                inv[col * n + j] = inv[pivot * n + j];
                inv[pivot * n + j] = t;
            }
        }
        const uint8_t scale = fec_gf_inv_table[work[col * n + col]];
        for (unsigned j = 0; j < n; j++) {
            work[col * n + j] = fec_gf_mul_table[scale][work[col * n + j]];
            inv[col * n + j] = fec_gf_mul_table[scale][inv[col * n + j]];
        }
        for (unsigned r = 0; r < n; r++) {
            const uint8_t f = work[r * n + col];
            if (r == col || f == 0)
                continue;
            for (unsigned j = 0; j < n; j++) {
                work[r * n + j] ^= fec_gf_mul_table[f][work[col * n + j]];
                inv[r * n + j] ^= fec_gf_mul_table[f][inv[col * n + j]];
            }
        }
    }
    return 0;
}

/* ---- scalar reference kernel ------------------------------------------ */

static void scalar_mad_rows(uint8_t *const *dst, const uint8_t *coef, unsigned rows,
                            const uint8_t *src, size_t len, int set)
{
    for (unsigned r = 0; r < rows; r++) {
        const uint8_t *t = fec_gf_mul_table[coef[r]];
        uint8_t *d = dst[r];
        if (set)
            for (size_t i = 0; i < len; i++)
                d[i] = t[src[i]];
        else
            for (size_t i = 0; i < len; i++)
                d[i] ^= t[src[i]];
    }
}

static void scalar_dotprod(uint8_t *const *dst, unsigned rows, const uint8_t *coef,
                           const uint8_t *const *src, unsigned cols, size_t len)
{
    for (unsigned r = 0; r < rows; r++)
        for (unsigned c = 0; c < cols; c++)
            scalar_mad_rows(&dst[r], &coef[r * cols + c], 1, src[c], len, c == 0);
}

const fec_kernel fec_kernel_scalar = {
    .name = "scalar",
    .mad_rows = scalar_mad_rows,
    .dotprod = scalar_dotprod,
};
