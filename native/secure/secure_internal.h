/* Private to native/secure: one AEAD key over either library. */
#ifndef PD_SECURE_INTERNAL_H
#define PD_SECURE_INTERNAL_H

#include <stdint.h>

typedef struct pd_aead {
    int aead, impl;
    void *imb_key;               /* struct gcm_key_data (ipsec-mb), 64-byte aligned */
    void *evp;                   /* EVP_CIPHER_CTX (OpenSSL) */
    int enc;
} pd_aead;

/* Set up (or re-key an existing) AEAD key: 0, -ENOTSUP, -ENOMEM, -EIO. */
int pd_aead_init(pd_aead *a, int aead, int impl, const uint8_t key[32], int enc);
void pd_aead_free(pd_aead *a);
/* In place; tag written to tag[16]: 0 or -EIO. */
int pd_aead_seal(pd_aead *a, const uint8_t iv[12], const uint8_t *aad, uint32_t aad_len,
                 uint8_t *data, uint32_t len, uint8_t tag[16]);
/* In place; 0 when tag[16] verifies, else -EBADMSG (data then garbage). */
int pd_aead_open(pd_aead *a, const uint8_t iv[12], const uint8_t *aad, uint32_t aad_len,
                 uint8_t *data, uint32_t len, const uint8_t tag[16]);

static inline void pd_put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24); p[1] = (uint8_t)(v >> 16); p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}
static inline void pd_put64(uint8_t *p, uint64_t v)
{
    pd_put32(p, (uint32_t)(v >> 32));
    pd_put32(p + 4, (uint32_t)v);
}
static inline uint32_t pd_get32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static inline uint64_t pd_get64(const uint8_t *p)
{
    return (uint64_t)pd_get32(p) << 32 | pd_get32(p + 4);
}

#endif
