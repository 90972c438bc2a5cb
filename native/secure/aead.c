/* The library layer: AEAD keys over Intel ipsec-mb or OpenSSL libcrypto, and
 * HKDF-SHA256 (RFC 5869) over OpenSSL's EVP_KDF.  No cryptography here. */
#include "secure.h"
#include "secure_internal.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>

#ifdef PD_HAVE_IPSEC_MB
#include <intel-ipsec-mb.h>
#endif

/* --- ipsec-mb: one manager per process, read-only after init ------------- */

#ifdef PD_HAVE_IPSEC_MB
static IMB_MGR *imb;
static IMB_ARCH imb_arch = IMB_ARCH_NONE;
static pthread_once_t imb_once = PTHREAD_ONCE_INIT;

static void imb_setup(void)
{
    IMB_MGR *m = alloc_mb_mgr(0);

    if (!m)
        return;
    /* Picks the widest code path the CPU runs (SSE, AVX, AVX2, AVX-512/VAES). */
    init_mb_mgr_auto(m, &imb_arch);
    if (imb_get_errno(m) != 0 || imb_arch < IMB_ARCH_SSE) {
        free_mb_mgr(m);
        return;
    }
    imb = m;
}

static IMB_MGR *imb_mgr(void)
{
    pthread_once(&imb_once, imb_setup);
    return imb;
}
#endif

int pd_sec_impl_resolve(int aead, int impl)
{
    if (aead != PD_SEC_AES256GCM && aead != PD_SEC_CHACHA20POLY1305)
        return -EINVAL;
    switch (impl) {
    case PD_SEC_IMPL_AUTO:
#ifdef PD_HAVE_IPSEC_MB
        if (aead == PD_SEC_AES256GCM && imb_mgr())
            return PD_SEC_IMPL_IPSECMB;
#endif
        return PD_SEC_IMPL_OPENSSL;
    case PD_SEC_IMPL_IPSECMB:
#ifdef PD_HAVE_IPSEC_MB
        if (aead == PD_SEC_AES256GCM && imb_mgr())
            return PD_SEC_IMPL_IPSECMB;
#endif
        return -ENOTSUP;
    case PD_SEC_IMPL_OPENSSL:
        return PD_SEC_IMPL_OPENSSL;
    default:
        return -EINVAL;
    }
}

const char *pd_sec_impl_name(int impl)
{
    switch (impl) {
    case PD_SEC_IMPL_IPSECMB: return "ipsec-mb";
    case PD_SEC_IMPL_OPENSSL: return "openssl";
    case PD_SEC_IMPL_AUTO: return "auto";
    default: return "?";
    }
}

static char info_line[512];
static pthread_once_t info_once = PTHREAD_ONCE_INIT;

static void info_setup(void)
{
    size_t n = 0;

#ifdef PD_HAVE_IPSEC_MB
    IMB_MGR *m = imb_mgr();
    if (m) {
        static const char *arch_names[] = { "none", "no-aesni", "sse", "avx", "avx2", "avx512" };
        uint64_t f = m->features;
        n += (size_t)snprintf(info_line + n, sizeof(info_line) - n,
                              "ipsec-mb %s AES-256-GCM path %s (%s%s%s%s%s); ",
                              imb_get_version_str(),
                              imb_arch < IMB_ARCH_NUM ? arch_names[imb_arch] : "?",
                              (f & IMB_FEATURE_AESNI) ? "aesni" : "no-aesni",
                              (f & IMB_FEATURE_PCLMULQDQ) ? " pclmulqdq" : "",
                              (f & IMB_FEATURE_VAES) ? " vaes" : "",
                              (f & IMB_FEATURE_VPCLMULQDQ) ? " vpclmulqdq" : "",
                              (f & IMB_FEATURE_AVX512F) ? " avx512" : "");
    } else {
        n += (size_t)snprintf(info_line, sizeof(info_line),
                              "ipsec-mb built in but unusable on this CPU; ");
    }
#else
    n += (size_t)snprintf(info_line, sizeof(info_line), "ipsec-mb not built in; ");
#endif
    if (n < sizeof(info_line))
        snprintf(info_line + n, sizeof(info_line) - n,
                 "%s (ChaCha20-Poly1305, HKDF-SHA256%s)", OpenSSL_version(OPENSSL_VERSION),
#ifdef PD_HAVE_IPSEC_MB
                 imb_mgr() ? "" : ", AES-256-GCM"
#else
                 ", AES-256-GCM"
#endif
        );
}

const char *pd_sec_info(void)
{
    pthread_once(&info_once, info_setup);
    return info_line;
}

/* --- HKDF ------------------------------------------------------------------ */

/* Fetched once: a fetch is a provider lookup by name, slower than the
 * derivation itself.  EVP_KDF objects are shareable between threads. */
static EVP_KDF *hkdf_alg;
static pthread_once_t hkdf_once = PTHREAD_ONCE_INIT;

static void hkdf_setup(void)
{
    hkdf_alg = EVP_KDF_fetch(NULL, "HKDF", NULL);
}

int pd_sec_hkdf(const uint8_t *ikm, uint32_t ikm_len, const uint8_t *salt, uint32_t salt_len,
                const uint8_t *info, uint32_t info_len, uint8_t *out, uint32_t out_len)
{
    EVP_KDF_CTX *kctx;
    OSSL_PARAM p[5];
    int rc = -EIO;

    pthread_once(&hkdf_once, hkdf_setup);
    kctx = hkdf_alg ? EVP_KDF_CTX_new(hkdf_alg) : NULL;
    if (kctx) {
        p[0] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)"SHA256", 0);
        p[1] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)ikm, ikm_len);
        p[2] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, (void *)salt, salt_len);
        p[3] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, (void *)info, info_len);
        p[4] = OSSL_PARAM_construct_end();
        if (EVP_KDF_derive(kctx, out, out_len, p) == 1)
            rc = 0;
    }
    EVP_KDF_CTX_free(kctx);
    return rc;
}

int pd_sec_session_key(const uint8_t master[PD_SEC_KEY_LEN], uint32_t session_id,
                       uint64_t epoch, uint8_t out[PD_SEC_KEY_LEN])
{
    uint8_t salt[12];

    pd_put32(salt, session_id);
    pd_put64(salt + 4, epoch);
    return pd_sec_hkdf(master, PD_SEC_KEY_LEN, salt, sizeof(salt),
                       (const uint8_t *)PD_SEC_HKDF_INFO, sizeof(PD_SEC_HKDF_INFO) - 1,
                       out, PD_SEC_KEY_LEN);
}

/* --- AEAD keys ------------------------------------------------------------- */

int pd_aead_init(pd_aead *a, int aead, int impl, const uint8_t key[32], int enc)
{
    int r = pd_sec_impl_resolve(aead, impl);

    if (r < 0)
        return r;
    if ((a->imb_key || a->evp) && (a->aead != aead || a->impl != r || a->enc != enc))
        pd_aead_free(a);
    a->aead = aead;
    a->impl = r;
    a->enc = enc;
#ifdef PD_HAVE_IPSEC_MB
    if (r == PD_SEC_IMPL_IPSECMB) {
        if (!a->imb_key) {
            a->imb_key = aligned_alloc(64, (sizeof(struct gcm_key_data) + 63) & ~(size_t)63);
            if (!a->imb_key)
                return -ENOMEM;
        }
        IMB_AES256_GCM_PRE(imb_mgr(), key, (struct gcm_key_data *)a->imb_key);
        return 0;
    }
#endif
    if (!a->evp) {
        a->evp = EVP_CIPHER_CTX_new();
        if (!a->evp)
            return -ENOMEM;
        const EVP_CIPHER *c = aead == PD_SEC_AES256GCM ? EVP_aes_256_gcm()
                                                       : EVP_chacha20_poly1305();
        if (EVP_CipherInit_ex(a->evp, c, NULL, NULL, NULL, enc) != 1)
            return -EIO;
    }
    /* Both ciphers default to the 12-byte nonce of RFC 5116. */
    if (EVP_CipherInit_ex(a->evp, NULL, NULL, key, NULL, enc) != 1)
        return -EIO;
    return 0;
}

void pd_aead_free(pd_aead *a)
{
    if (a->imb_key) {
        /* Expanded round keys: wipe before giving the memory back. */
#ifdef PD_HAVE_IPSEC_MB
        OPENSSL_cleanse(a->imb_key, sizeof(struct gcm_key_data));
#endif
        free(a->imb_key);
    }
    EVP_CIPHER_CTX_free(a->evp);
    a->imb_key = NULL;
    a->evp = NULL;
}

int pd_aead_seal(pd_aead *a, const uint8_t iv[12], const uint8_t *aad, uint32_t aad_len,
                 uint8_t *data, uint32_t len, uint8_t tag[16])
{
    int outl;

#ifdef PD_HAVE_IPSEC_MB
    if (a->impl == PD_SEC_IMPL_IPSECMB) {
        struct gcm_context_data ctx;
        IMB_AES256_GCM_ENC(imb, a->imb_key, &ctx, data, data, len, iv, aad, aad_len, tag, 16);
        return 0;
    }
#endif
    if (EVP_CipherInit_ex(a->evp, NULL, NULL, NULL, iv, 1) != 1 ||
        EVP_CipherUpdate(a->evp, NULL, &outl, aad, (int)aad_len) != 1 ||
        (len && EVP_CipherUpdate(a->evp, data, &outl, data, (int)len) != 1) ||
        EVP_CipherFinal_ex(a->evp, data + len, &outl) != 1 ||
        EVP_CIPHER_CTX_ctrl(a->evp, EVP_CTRL_AEAD_GET_TAG, 16, tag) != 1)
        return -EIO;
    return 0;
}

int pd_aead_open(pd_aead *a, const uint8_t iv[12], const uint8_t *aad, uint32_t aad_len,
                 uint8_t *data, uint32_t len, const uint8_t tag[16])
{
    int outl;

#ifdef PD_HAVE_IPSEC_MB
    if (a->impl == PD_SEC_IMPL_IPSECMB) {
        struct gcm_context_data ctx;
        uint8_t t[16];
        IMB_AES256_GCM_DEC(imb, a->imb_key, &ctx, data, data, len, iv, aad, aad_len, t, 16);
        return CRYPTO_memcmp(t, tag, 16) == 0 ? 0 : -EBADMSG;
    }
#endif
    if (EVP_CipherInit_ex(a->evp, NULL, NULL, NULL, iv, 0) != 1 ||
        EVP_CipherUpdate(a->evp, NULL, &outl, aad, (int)aad_len) != 1 ||
        (len && EVP_CipherUpdate(a->evp, data, &outl, data, (int)len) != 1) ||
        EVP_CIPHER_CTX_ctrl(a->evp, EVP_CTRL_AEAD_SET_TAG, 16, (void *)tag) != 1)
        return -EBADMSG;
    /* Final verifies the tag (constant time inside OpenSSL). */
    return EVP_CipherFinal_ex(a->evp, data + len, &outl) == 1 ? 0 : -EBADMSG;
}

/* --- measurement: ipsec-mb's job API beside the direct API ------------------ */

int pd_sec_bench_imb_jobs(uint32_t len, uint64_t packets, uint64_t *job_ns, uint64_t *direct_ns)
{
#ifdef PD_HAVE_IPSEC_MB
    enum { N = 256 };
    uint32_t stride = (len + 16 + 63) & ~63u;
    uint8_t key[32], iv[12] = { 0 }, aad[24] = { 0 };
    uint8_t *ring = aligned_alloc(64, (size_t)stride * N);
    struct gcm_key_data *gkd = aligned_alloc(64, (sizeof(*gkd) + 63) & ~(size_t)63);
    IMB_MGR *m = alloc_mb_mgr(0);
    IMB_ARCH arch;
    struct timespec a, b;
    int rc = 0;

    *job_ns = *direct_ns = 0;
    if (!ring || !gkd || !m || !imb_mgr()) {
        rc = -ENOMEM;
        goto out;
    }
    init_mb_mgr_auto(m, &arch);
    for (int i = 0; i < 32; i++)
        key[i] = (uint8_t)i;
    IMB_AES256_GCM_PRE(m, key, gkd);
    memset(ring, 1, (size_t)stride * N);
    for (uint64_t done = 0; done < packets; done += N) {
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &a);
        for (int i = 0; i < N; i++) {
            IMB_JOB *j = IMB_GET_NEXT_JOB(m);
            uint8_t *p = ring + (size_t)stride * i;
            j->cipher_mode = IMB_CIPHER_GCM;
            j->hash_alg = IMB_AUTH_AES_GMAC;
            j->chain_order = IMB_ORDER_CIPHER_HASH;
            j->cipher_direction = IMB_DIR_ENCRYPT;
            j->enc_keys = gkd;
            j->dec_keys = gkd;
            j->key_len_in_bytes = 32;
            j->src = p;
            j->dst = p;
            j->cipher_start_src_offset_in_bytes = 0;
            j->msg_len_to_cipher_in_bytes = len;
            j->hash_start_src_offset_in_bytes = 0;
            j->msg_len_to_hash_in_bytes = len;
            j->iv = iv;
            j->iv_len_in_bytes = 12;
            j->u.GCM.aad = aad;
            j->u.GCM.aad_len_in_bytes = sizeof(aad);
            j->auth_tag_output = p + len;
            j->auth_tag_output_len_in_bytes = 16;
            j = IMB_SUBMIT_JOB(m);
            while (j) {
                if (j->status != IMB_STATUS_COMPLETED)
                    rc = -EIO;
                j = IMB_GET_COMPLETED_JOB(m);
            }
        }
        while (IMB_FLUSH_JOB(m))
            ;
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &b);
        *job_ns += (uint64_t)(b.tv_sec - a.tv_sec) * 1000000000u + (uint64_t)b.tv_nsec -
                   (uint64_t)a.tv_nsec;
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &a);
        for (int i = 0; i < N; i++) {
            struct gcm_context_data ctx;
            uint8_t *p = ring + (size_t)stride * i;
            IMB_AES256_GCM_ENC(m, gkd, &ctx, p, p, len, iv, aad, sizeof(aad), p + len, 16);
        }
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &b);
        *direct_ns += (uint64_t)(b.tv_sec - a.tv_sec) * 1000000000u + (uint64_t)b.tv_nsec -
                      (uint64_t)a.tv_nsec;
    }
out:
    free(ring);
    free(gkd);
    if (m)
        free_mb_mgr(m);
    return rc;
#else
    (void)len; (void)packets;
    *job_ns = *direct_ns = 0;
    return -ENOTSUP;
#endif
}
