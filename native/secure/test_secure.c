/* Unit tests of native/secure: round trips over both libraries, every byte
 * flipped, replay window, epochs and the state file, key rotation, the
 * derivation rate limit, and the pipeline stages over a pd_buf pool. */
#include "secure.h"
#include "buf.h"

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pd_check.h"


static uint8_t K1[32], K2[32];

/* A plain v2 packet: version 2, session id at 12, payload of `len` bytes. */
static uint32_t make_inner(uint8_t *p, uint32_t sid, uint32_t len, uint8_t fill)
{
    memset(p, 0, 20);
    p[0] = 2;
    p[1] = 0x02;
    p[12] = (uint8_t)(sid >> 24); p[13] = (uint8_t)(sid >> 16);
    p[14] = (uint8_t)(sid >> 8); p[15] = (uint8_t)sid;
    for (uint32_t i = 0; i < len; i++)
        p[20 + i] = (uint8_t)(fill + i);
    return 20 + len;
}

static pd_sec_sealer *sealer(int aead, int impl, uint8_t kid, const uint8_t *key, uint64_t epoch)
{
    pd_sec_seal_cfg c = { .aead = aead, .impl = impl, .key_id = kid, .epoch = epoch };
    int err = 0;
    memcpy(c.key, key, 32);
    pd_sec_sealer *s = pd_sec_sealer_create(&c, &err);
    CHECK(s && err == 0);
    return s;
}

static pd_sec_opener *opener(int aead, int impl, const char *state, unsigned rate)
{
    pd_sec_open_cfg c = { .aead = aead, .impl = impl, .check_inner = 1, .state_path = state,
                          .derive_per_ms = rate };
    int err = 0;
    c.keys.n = 2;
    c.keys.id[0] = 1; memcpy(c.keys.key[0], K1, 32);
    c.keys.id[1] = 2; memcpy(c.keys.key[1], K2, 32);
    pd_sec_opener *o = pd_sec_opener_create(&c, &err);
    CHECK(o && err == 0);
    return o;
}

static int seal_one(pd_sec_sealer *s, uint8_t *buf, uint32_t sid, uint32_t plen, uint8_t fill)
{
    uint32_t n = make_inner(buf + PD_SEC_HDR_LEN, sid, plen, fill);
    return pd_sec_seal(s, buf, n);
}

static uint64_t T = 1000000000ull;   /* fake monotonic clock, ns */

static void test_roundtrip(int aead, int simpl, int oimpl)
{
    uint8_t buf[2048], ref[2048];
    uint32_t inner;
    pd_sec_sealer *s = sealer(aead, simpl, 1, K1, 0);
    pd_sec_opener *o = opener(aead, oimpl, NULL, 0);

    for (uint32_t len = 0; len < 1500; len += 37) {
        int n = seal_one(s, buf, 0xabcdef01, len, (uint8_t)len);
        CHECK(n == (int)(20 + len + 40));
        make_inner(ref, 0xabcdef01, len, (uint8_t)len);
        CHECK(memcmp(buf + 24, ref, 20 + len) != 0 || len == 0);  /* encrypted */
        CHECK(pd_sec_open(o, buf, (uint32_t)n, T, &inner) == PD_SEC_OK);
        CHECK(inner == 20 + len && memcmp(buf + 24, ref, inner) == 0);
    }
    pd_sec_open_stats st;
    pd_sec_opener_stats(o, &st);
    CHECK(st.sessions == 1 && st.derivations == 1);
    pd_sec_sealer_destroy(s);
    pd_sec_opener_destroy(o);
}

/* Every byte of a sealed packet flipped: dropped, one reason counted. */
static void test_flip_every_byte(int aead)
{
    uint8_t good[256], buf[256];
    uint32_t inner;
    pd_sec_sealer *s = sealer(aead, 0, 1, K1, 0);
    pd_sec_opener *o = opener(aead, 0, NULL, 1000);
    int n;

    /* Establish the session with one genuine packet first. */
    n = seal_one(s, buf, 7, 100, 1);
    CHECK(pd_sec_open(o, buf, (uint32_t)n, T, &inner) == PD_SEC_OK);
    n = seal_one(s, good, 7, 100, 2);
    for (int i = 0; i < n; i++) {
        for (int bit = 0; bit < 8; bit++) {
            memcpy(buf, good, (size_t)n);
            buf[i] ^= (uint8_t)(1u << bit);
            pd_sec_open_stats a, b;
            pd_sec_opener_stats(o, &a);
            int v = pd_sec_open(o, buf, (uint32_t)n, T, &inner);
            pd_sec_opener_stats(o, &b);
            CHECK(v != PD_SEC_OK);
            CHECK(b.drops[v] == a.drops[v] + 1 && b.opened == a.opened);
            if (i < 2 || i == 3)
                CHECK(v == PD_SEC_DROP_MALFORMED);
            else if (i == 2)
                CHECK(v == PD_SEC_DROP_UNKNOWN_KEY || v == PD_SEC_DROP_BAD_TAG);
            else if (i < 16)   /* session id / epoch: another session, or older */
                CHECK(v == PD_SEC_DROP_STALE_EPOCH || v == PD_SEC_DROP_BAD_TAG);
            else
                CHECK(v == PD_SEC_DROP_BAD_TAG);
        }
    }
    /* Truncated at every length: malformed or bad tag, never accepted. */
    for (int l = 0; l < n; l++) {
        memcpy(buf, good, (size_t)n);
        int v = pd_sec_open(o, buf, (uint32_t)l, T, &inner);
        CHECK(v == PD_SEC_DROP_MALFORMED || v == PD_SEC_DROP_BAD_TAG);
    }
    memcpy(buf, good, (size_t)n);
    CHECK(pd_sec_open(o, buf, (uint32_t)n, T, &inner) == PD_SEC_OK);   /* intact one passes */
    pd_sec_sealer_destroy(s);
    pd_sec_opener_destroy(o);
}

static void test_replay(void)
{
    enum { N = 5000 };
    static uint8_t pk[N][128];
    int len[N];
    uint32_t inner;
    uint8_t buf[128];
    pd_sec_sealer *s = sealer(PD_SEC_AES256GCM, 0, 1, K1, 0);
    pd_sec_opener *o = opener(PD_SEC_AES256GCM, 0, NULL, 0);

    for (int i = 0; i < N; i++)
        len[i] = seal_one(s, pk[i], 9, 40, (uint8_t)i);
    /* Out of order inside the window: all accepted once. */
    for (int i = 0; i < 1024; i++) {
        int j = i ^ 7;
        memcpy(buf, pk[j], (size_t)len[j]);
        CHECK(pd_sec_open(o, buf, (uint32_t)len[j], T, &inner) == PD_SEC_OK);
    }
    /* Duplicates in the window. */
    for (int i = 0; i < 1024; i++) {
        memcpy(buf, pk[i], (size_t)len[i]);
        CHECK(pd_sec_open(o, buf, (uint32_t)len[i], T, &inner) == PD_SEC_DROP_REPLAYED);
    }
    /* Jump ahead; a gap inside the window still accepted, far behind is too old. */
    memcpy(buf, pk[4000], (size_t)len[4000]);
    CHECK(pd_sec_open(o, buf, (uint32_t)len[4000], T, &inner) == PD_SEC_OK);
    memcpy(buf, pk[3000], (size_t)len[3000]);
    CHECK(pd_sec_open(o, buf, (uint32_t)len[3000], T, &inner) == PD_SEC_OK);
    memcpy(buf, pk[3000], (size_t)len[3000]);
    CHECK(pd_sec_open(o, buf, (uint32_t)len[3000], T, &inner) == PD_SEC_DROP_REPLAYED);
    memcpy(buf, pk[1500], (size_t)len[1500]);
    CHECK(pd_sec_open(o, buf, (uint32_t)len[1500], T, &inner) == PD_SEC_DROP_TOO_OLD);
    /* A forged copy of an unseen counter (bad tag) does not mark it seen. */
    memcpy(buf, pk[3500], (size_t)len[3500]);
    buf[30] ^= 1;
    CHECK(pd_sec_open(o, buf, (uint32_t)len[3500], T, &inner) == PD_SEC_DROP_BAD_TAG);
    memcpy(buf, pk[3500], (size_t)len[3500]);
    CHECK(pd_sec_open(o, buf, (uint32_t)len[3500], T, &inner) == PD_SEC_OK);
    pd_sec_sealer_destroy(s);
    pd_sec_opener_destroy(o);
}

/* A recorded session replayed after a restart: the state file says its epoch
 * was already accepted. */
static void test_epoch_state(void)
{
    char path[] = "/tmp/pd_secure_state_XXXXXX";
    int fd = mkstemp(path);
    uint8_t rec[4][128], buf[128];
    int len[4];
    uint32_t inner;
    CHECK(fd >= 0);
    close(fd);
    unlink(path);

    pd_sec_sealer *s = sealer(PD_SEC_AES256GCM, 0, 1, K1, 0);
    pd_sec_opener *o = opener(PD_SEC_AES256GCM, 0, path, 0);
    for (int i = 0; i < 4; i++) {        /* 100 ms apart: each moves the floor */
        len[i] = seal_one(s, rec[i], 11, 30, (uint8_t)i);
        memcpy(buf, rec[i], (size_t)len[i]);
        CHECK(pd_sec_open(o, buf, (uint32_t)len[i], T + (uint64_t)i * PD_SEC_STATE_NS, &inner) ==
              PD_SEC_OK);
    }
    uint64_t e = pd_sec_opener_epoch(o, 1);
    CHECK(e != 0);
    pd_sec_opener_destroy(o);      /* "restart" */

    pd_sec_state saved;
    int n0;
    CHECK(pd_sec_state_load(path, &saved) == 0 && saved.epoch[1] == e && saved.epoch[2] == 0);
    CHECK(saved.floor[1] == 3 && saved.sid[1] != 0);
    o = opener(PD_SEC_AES256GCM, 0, path, 0);
    /* The live session comes back, but nothing accepted before the restart. */
    for (int i = 0; i < 4; i++) {
        memcpy(buf, rec[i], (size_t)len[i]);
        CHECK(pd_sec_open(o, buf, (uint32_t)len[i], T, &inner) == PD_SEC_DROP_REPLAYED);
    }
    for (unsigned int i = 4; i <= 3 + PD_SEC_STATE_EVERY; i++) {   /* the sender goes on */
        n0 = seal_one(s, buf, 11, 30, 0);
        CHECK(pd_sec_open(o, buf, (uint32_t)n0, T, &inner) == PD_SEC_DROP_REPLAYED);
    }
    len[0] = seal_one(s, buf, 11, 30, 0);
    CHECK(pd_sec_open(o, buf, (uint32_t)len[0], T, &inner) == PD_SEC_OK);
    memcpy(buf, rec[3], (size_t)len[3]);
    CHECK(pd_sec_open(o, buf, (uint32_t)len[3], T, &inner) == PD_SEC_DROP_REPLAYED);
    /* An older session of the same key is stale. */
    pd_sec_state older = saved;
    older.epoch[1] = e + 1;
    CHECK(pd_sec_state_save(path, &older, 1) == 0);
    pd_sec_opener *o2 = opener(PD_SEC_AES256GCM, 0, path, 0);
    memcpy(buf, rec[0], (size_t)len[0]);
    seal_one(s, buf, 11, 30, 0);
    CHECK(pd_sec_open(o2, buf, (uint32_t)seal_one(s, buf, 11, 30, 0), T, &inner) ==
          PD_SEC_DROP_STALE_EPOCH);
    pd_sec_opener_destroy(o2);
    CHECK(pd_sec_state_save(path, &saved, 1) == 0);
    /* A new sender session (newer epoch) is accepted. */
    pd_sec_sealer *s2 = sealer(PD_SEC_AES256GCM, 0, 1, K1, 0);
    int n = seal_one(s2, buf, 11, 30, 0);
    CHECK(pd_sec_open(o, buf, (uint32_t)n, T, &inner) == PD_SEC_OK);
    /* Without the state file the recorded session would have passed. */
    pd_sec_opener *fresh = opener(PD_SEC_AES256GCM, 0, NULL, 0);
    memcpy(buf, rec[0], (size_t)len[0]);
    CHECK(pd_sec_open(fresh, buf, (uint32_t)len[0], T, &inner) == PD_SEC_OK);
    pd_sec_opener_destroy(fresh);
    pd_sec_opener_destroy(o);
    pd_sec_sealer_destroy(s);
    pd_sec_sealer_destroy(s2);

    /* Bad state files are refused, not ignored. */
    FILE *f = fopen(path, "w");
    fputs("garbage\n", f);
    fclose(f);
    pd_sec_open_cfg c = { .aead = PD_SEC_AES256GCM, .state_path = path };
    int err = 0;
    CHECK(pd_sec_opener_create(&c, &err) == NULL && err == -EINVAL);
    unlink(path);
}

static void test_keys_and_rotation(void)
{
    uint8_t buf[256];
    uint32_t inner;
    int n;
    /* Wrong key: same id, other bytes -> bad tag; unknown id -> unknown key. */
    uint8_t wrong[32];
    memset(wrong, 0x5a, 32);
    pd_sec_sealer *w = sealer(PD_SEC_AES256GCM, 0, 1, wrong, 0);
    pd_sec_opener *o = opener(PD_SEC_AES256GCM, 0, NULL, 0);
    n = seal_one(w, buf, 3, 50, 0);
    CHECK(pd_sec_open(o, buf, (uint32_t)n, T, &inner) == PD_SEC_DROP_BAD_TAG);
    pd_sec_sealer_destroy(w);
    w = sealer(PD_SEC_AES256GCM, 0, 9, K1, 0);
    n = seal_one(w, buf, 3, 50, 0);
    CHECK(pd_sec_open(o, buf, (uint32_t)n, T, &inner) == PD_SEC_DROP_UNKNOWN_KEY);
    pd_sec_sealer_destroy(w);

    /* Rotation: sealer on key 1, rekeys to 2; opener holding both loses nothing. */
    pd_sec_sealer *s = sealer(PD_SEC_AES256GCM, 0, 1, K1, 0);
    for (int i = 0; i < 10; i++) {
        n = seal_one(s, buf, 5, 50, (uint8_t)i);
        CHECK(pd_sec_open(o, buf, (uint32_t)n, T, &inner) == PD_SEC_OK);
    }
    pd_sec_sealer_rekey(s, 2, K2);
    for (int i = 0; i < 10; i++) {
        n = seal_one(s, buf, 5, 50, (uint8_t)i);
        CHECK(buf[2] == 2);
        CHECK(pd_sec_open(o, buf, (uint32_t)n, T, &inner) == PD_SEC_OK);
    }
    /* Opener drops key 1: its sessions end, key 2 traffic goes on. */
    pd_sec_keyset ks = { .n = 1, .id = { 2 } };
    memcpy(ks.key[0], K2, 32);
    pd_sec_opener_set_keys(o, &ks);
    n = seal_one(s, buf, 5, 50, 0);
    CHECK(pd_sec_open(o, buf, (uint32_t)n, T, &inner) == PD_SEC_OK);
    pd_sec_sealer *old = sealer(PD_SEC_AES256GCM, 0, 1, K1, 0);
    n = seal_one(old, buf, 5, 50, 0);
    CHECK(pd_sec_open(o, buf, (uint32_t)n, T, &inner) == PD_SEC_DROP_UNKNOWN_KEY);
    pd_sec_sealer_destroy(old);
    pd_sec_sealer_destroy(s);
    pd_sec_opener_destroy(o);
}

/* Made-up sessions cost a key derivation each, at most N per millisecond. */
static void test_rate_limit(void)
{
    uint8_t buf[256];
    uint32_t inner;
    pd_sec_opener *o = opener(PD_SEC_AES256GCM, 0, NULL, 4);
    pd_sec_sealer *s = sealer(PD_SEC_AES256GCM, 0, 1, K1, 0);
    int n = seal_one(s, buf, 5, 50, 0);
    pd_sec_open_stats st;
    uint64_t now = 5000000000ull;

    for (uint32_t i = 0; i < 100; i++) {
        uint8_t f[256];
        memcpy(f, buf, (size_t)n);
        f[4] ^= (uint8_t)(i + 1);          /* other session id, newer epoch */
        f[8] = 0x7f;
        pd_sec_open(o, f, (uint32_t)n, now, &inner);
    }
    pd_sec_opener_stats(o, &st);
    CHECK(st.derivations == 4 && st.drops[PD_SEC_DROP_RATE_LIMIT] == 96 &&
          st.drops[PD_SEC_DROP_BAD_TAG] == 4);
    /* Next millisecond: the genuine session gets its derivation. */
    CHECK(pd_sec_open(o, buf, (uint32_t)n, now + 1000000, &inner) == PD_SEC_OK);
    pd_sec_sealer_destroy(s);
    pd_sec_opener_destroy(o);
}

/* The stages over a pd_buf pool with an Ethernet/IPv4/UDP outer header. */
static void test_stages(void)
{
    pd_buf_pool *pool = NULL;
    CHECK(pd_buf_pool_create(&pool, 64, 2048, PD_BUF_DEFAULT_HEADROOM) == 0);
    pd_pkt *p[8], *out[8];
    int err = 0;
    pd_sec_sealer *s = sealer(PD_SEC_AES256GCM, 0, 1, K1, 0);
    pd_sec_opener *o = opener(PD_SEC_AES256GCM, 0, NULL, 0);
    pd_sec_outer_cfg oc = { .kind = PD_SEC_OUTER_UDP, .dst_port = 4789 };
    pd_sec_stage *ss = pd_sec_seal_stage_create(s, &oc, &pd_buf_ops, &err);
    pd_sec_stage *os = pd_sec_open_stage_create(o, &oc, &pd_buf_ops, &err);
    pd_stage sst, ost;
    uint8_t ref[8][200];
    uint32_t rlen[8];

    CHECK(ss && os);
    pd_sec_stage_bind(ss, &sst);
    pd_sec_stage_bind(os, &ost);
    CHECK(pd_buf_ops.alloc_bulk(pool, p, 8) == 0);
    for (int i = 0; i < 8; i++) {
        uint8_t *d = pd_buf_ops.append(p[i], 42);
        memset(d, 0, 42);
        d[12] = 0x08; d[14] = 0x45; d[23] = 17; d[22] = 64;
        uint32_t il = make_inner(ref[i] + 42, 0x1234, 10 + (uint32_t)i * 13, (uint8_t)i);
        d[16] = (uint8_t)((28 + il) >> 8); d[17] = (uint8_t)(28 + il);
        d[36] = 4789 >> 8; d[37] = 4789 & 0xff;
        d[38] = (uint8_t)((8 + il) >> 8); d[39] = (uint8_t)(8 + il);
        memcpy(pd_buf_ops.append(p[i], il), ref[i] + 42, il);
        memcpy(ref[i], d, 42);
        rlen[i] = 42 + il;
    }
    uint16_t k = sst.process(sst.ctx, p, 8, out, 8, T);
    CHECK(k == 8);
    for (int i = 0; i < 8; i++) {
        uint8_t *d = pd_buf_ops.data(out[i]);
        CHECK(pd_buf_ops.data_len(out[i]) == rlen[i] + 40);
        CHECK(d[42] == 2 && d[43] == 0x30);                       /* envelope after UDP */
        CHECK((uint32_t)(d[38] << 8 | d[39]) == rlen[i] + 40 - 34);   /* UDP length */
        CHECK((uint32_t)(d[16] << 8 | d[17]) == rlen[i] + 40 - 14);   /* IPv4 length */
    }
    /* One forged (flipped payload byte) and one foreign (other port). */
    pd_buf_ops.data(out[3])[80] ^= 0x40;
    pd_buf_ops.data(out[5])[37] ^= 1;
    for (int i = 0; i < 8; i++)
        p[i] = out[i];
    k = ost.process(ost.ctx, p, 8, out, 8, T);
    CHECK(k == 6 && pd_sec_stage_foreign(os) == 1);
    pd_sec_open_stats st;
    pd_sec_opener_stats(o, &st);
    CHECK(st.drops[PD_SEC_DROP_BAD_TAG] == 1 && st.opened == 6);
    for (int i = 0, j = 0; i < 8; i++) {
        if (i == 3 || i == 5)
            continue;
        uint8_t *d = pd_buf_ops.data(out[j]);
        CHECK(pd_buf_ops.data_len(out[j]) == rlen[i]);
        CHECK(memcmp(d + 42, ref[i] + 42, rlen[i] - 42) == 0);
        CHECK(memcmp(d, ref[i], 16) == 0 && memcmp(d + 18, ref[i] + 18, 6) == 0);
        CHECK((uint32_t)(d[38] << 8 | d[39]) == rlen[i] - 34);
        j++;
    }
    pd_buf_ops.free_bulk(out, k);
    CHECK(pd_buf_pool_in_use(pool) == 0);                 /* every packet freed or handed on */
    pd_sec_stage_destroy(ss);
    pd_sec_stage_destroy(os);
    pd_sec_sealer_destroy(s);
    pd_sec_opener_destroy(o);
}

int main(void)
{
    for (int i = 0; i < 32; i++) {
        K1[i] = (uint8_t)i;
        K2[i] = (uint8_t)(0x80 + i);
    }
    int have_imb = pd_sec_impl_resolve(PD_SEC_AES256GCM, PD_SEC_IMPL_IPSECMB) > 0;
    printf("%s\n", pd_sec_info());
    test_roundtrip(PD_SEC_AES256GCM, PD_SEC_IMPL_OPENSSL, PD_SEC_IMPL_OPENSSL);
    test_roundtrip(PD_SEC_CHACHA20POLY1305, 0, 0);
    if (have_imb) {
        test_roundtrip(PD_SEC_AES256GCM, PD_SEC_IMPL_IPSECMB, PD_SEC_IMPL_IPSECMB);
        /* The two libraries interoperate (same GCM, RFC 5116). */
        test_roundtrip(PD_SEC_AES256GCM, PD_SEC_IMPL_IPSECMB, PD_SEC_IMPL_OPENSSL);
        test_roundtrip(PD_SEC_AES256GCM, PD_SEC_IMPL_OPENSSL, PD_SEC_IMPL_IPSECMB);
    }
    test_flip_every_byte(PD_SEC_AES256GCM);
    test_flip_every_byte(PD_SEC_CHACHA20POLY1305);
    test_replay();
    test_epoch_state();
    test_keys_and_rotation();
    test_rate_limit();
    test_stages();
    if (!failures)
        printf("secure: all tests passed\n");
    return pd_check_result();
}
