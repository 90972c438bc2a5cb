/* Deterministic mutation fuzzer for the open path of the secure envelope.
 *
 * usage: fuzz_secure_open [packets] [seed]   (packets handed to the opener)
 *
 * Several senders (two keys, sessions that restart, a rekey now and then) seal
 * numbered packets; a long-lived opener (few session slots, a small derivation
 * budget) receives a mix of genuine packets, reordering, replays of anything
 * sent before (including whole earlier sessions), bit flips, truncations,
 * extensions, garbage, and headers rewritten field by field.  Checked: no crash
 * (ASan/UBSan in the meson build), every accepted packet is a genuine one
 * accepted for the first time and decrypts to exactly what was sealed, and
 * every packet is counted once (accepted + drops by reason = packets).
 * Exit status 1 on the first violation.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "secure.h"

#define MAX_INNER 300
#define CAP (MAX_INNER + PD_SEC_OVERHEAD + 64)
#define HIST 4096
#define SENDERS 4

static uint64_t rng = 88172645463325252ull;
static uint32_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng >> 16);
}

static uint8_t KEYS[2][32];
static uint8_t hist[HIST][CAP];
static uint32_t hist_len[HIST];
static uint64_t hist_serial[HIST];
static unsigned n_hist;
static uint8_t *accepted;          /* bitmap by serial */
static uint16_t *serial_len;       /* inner length by serial */

static void fill_inner(uint8_t *p, uint32_t sid, uint64_t serial, uint32_t len)
{
    memset(p, 0, 20);
    p[0] = 2;
    p[1] = 0x01;
    p[12] = (uint8_t)(sid >> 24); p[13] = (uint8_t)(sid >> 16);
    p[14] = (uint8_t)(sid >> 8); p[15] = (uint8_t)sid;
    for (uint32_t i = 0; i < len - 20; i++)
        p[20 + i] = (uint8_t)(serial * 31 + i * 7);
    if (len >= 28)
        memcpy(p + 20, &serial, 8);
}

static int fail(const char *what, uint64_t it)
{
    fprintf(stderr, "fuzz: packet %llu: %s\n", (unsigned long long)it, what);
    return 1;
}

int main(int argc, char **argv)
{
    uint64_t n = argc > 1 ? strtoull(argv[1], NULL, 10) : 100000;
    uint64_t seed = argc > 2 ? strtoull(argv[2], NULL, 10) : 1;
    pd_sec_sealer *snd[SENDERS];
    uint32_t sid[SENDERS];
    uint64_t serial = 0, now = 1000000000ull;
    int err = 0;

    rng ^= seed * 0x9e3779b97f4a7c15ull;
    for (int i = 0; i < 32; i++) {
        KEYS[0][i] = (uint8_t)rnd();
        KEYS[1][i] = (uint8_t)rnd();
    }
    /* Genuine packets held back (reordering) are sealed but not yet sent:
     * serials can exceed n, never 2n. */
    accepted = calloc(2 * n / 8 + 1, 1);
    serial_len = calloc(2 * n + 1, sizeof(uint16_t));
    if (!accepted || !serial_len)
        return fail("out of memory", 0);
    for (int s = 0; s < SENDERS; s++) {
        pd_sec_seal_cfg c = { .aead = PD_SEC_AES256GCM, .key_id = (uint8_t)(s & 1) };
        memcpy(c.key, KEYS[s & 1], 32);
        snd[s] = pd_sec_sealer_create(&c, &err);
        sid[s] = rnd() | 1;
        if (!snd[s])
            return fail("sealer", 0);
    }
    pd_sec_open_cfg oc = { .aead = PD_SEC_AES256GCM, .check_inner = 1, .max_sessions = 3,
                           .derive_per_ms = 4 };
    oc.keys.n = 2;
    for (int k = 0; k < 2; k++) {
        oc.keys.id[k] = (uint8_t)k;
        memcpy(oc.keys.key[k], KEYS[k], 32);
    }
    pd_sec_opener *o = pd_sec_opener_create(&oc, &err);
    if (!o)
        return fail("opener", 0);

    uint8_t buf[CAP];
    uint64_t calls = 0, ok = 0;
    for (uint64_t it = 0; calls < n; it++) {
        uint32_t len, inner_len, r = rnd() % 100;
        now += 1 + rnd() % 2000;                       /* ns */
        if ((r < 45 || n_hist == 0) && serial < 2 * n) {
            /* Genuine: a sender seals the next numbered packet. */
            int s = (int)(rnd() % SENDERS);
            if (rnd() % 5000 == 0)
                sid[s] = rnd() | 1;                    /* sender restart: new session */
            if (rnd() % 20000 == 0)
                pd_sec_sealer_rekey(snd[s], (uint8_t)(s & 1), KEYS[s & 1]);
            uint32_t il = 28 + rnd() % (MAX_INNER - 28);
            fill_inner(buf + PD_SEC_HDR_LEN, sid[s], serial, il);
            int rc = pd_sec_seal(snd[s], buf, il);
            if (rc != (int)(il + PD_SEC_OVERHEAD))
                return fail("seal failed", it);
            serial_len[serial] = (uint16_t)il;
            unsigned h = n_hist < HIST ? n_hist++ : rnd() % HIST;
            memcpy(hist[h], buf, (size_t)rc);
            hist_len[h] = (uint32_t)rc;
            hist_serial[h] = serial;
            serial++;
            len = (uint32_t)rc;
            if (rnd() % 4 == 0)                        /* held back: sent later (reorder) */
                continue;
        } else {
            unsigned h = rnd() % n_hist;
            memcpy(buf, hist[h], hist_len[h]);
            len = hist_len[h];
            if (r < 60) {
                /* replay / late delivery as is */
            } else if (r < 75) {
                for (uint32_t f = 1 + rnd() % 3; f; f--)
                    buf[rnd() % len] ^= (uint8_t)(1u << (rnd() % 8));
            } else if (r < 82) {
                len = rnd() % len;
            } else if (r < 86) {
                uint32_t extra = rnd() % 64;
                for (uint32_t i = 0; i < extra; i++)
                    buf[len + i] = (uint8_t)rnd();
                len += extra;
            } else if (r < 93) {
                /* one clear field rewritten with a plausible value */
                switch (rnd() % 5) {
                case 0: buf[2] = (uint8_t)(rnd() % 3); break;
                case 1: buf[3] = (uint8_t)(rnd() % 3); break;
                case 2: for (int i = 4; i < 8; i++) buf[i] = (uint8_t)rnd(); break;
                case 3: buf[8] += (uint8_t)(rnd() % 3 - 1); buf[15] = (uint8_t)rnd(); break;
                default: for (int i = 16; i < 24; i++) buf[i] = (uint8_t)rnd(); break;
                }
            } else {
                len = rnd() % CAP;
                for (uint32_t i = 0; i < len; i++)
                    buf[i] = (uint8_t)rnd();
                if (len >= 4 && rnd() % 2) {
                    buf[0] = 2; buf[1] = 0x30; buf[2] = (uint8_t)(rnd() % 2); buf[3] = 1;
                }
            }
        }
        calls++;
        if (pd_sec_open(o, buf, len, now, &inner_len) != PD_SEC_OK)
            continue;
        ok++;
        /* Accepted: must be a genuine packet, accepted for the first time. */
        const uint8_t *in = buf + PD_SEC_HDR_LEN;
        uint64_t sn;
        uint8_t ref[MAX_INNER];
        if (inner_len < 28 || inner_len > MAX_INNER || in[0] != 2)
            return fail("accepted a packet that was never sealed", it);
        memcpy(&sn, in + 20, 8);
        if (sn >= serial || serial_len[sn] != inner_len)
            return fail("accepted a packet with a made-up serial", it);
        if (accepted[sn / 8] & (1u << (sn % 8)))
            return fail("accepted a replay", it);
        accepted[sn / 8] |= (uint8_t)(1u << (sn % 8));
        uint32_t isid = (uint32_t)in[12] << 24 | (uint32_t)in[13] << 16 |
                        (uint32_t)in[14] << 8 | in[15];
        fill_inner(ref, isid, sn, inner_len);
        if (memcmp(ref, in, inner_len) != 0)
            return fail("accepted plaintext differs from what was sealed", it);
    }
    pd_sec_open_stats st;
    uint64_t drops = 0;
    pd_sec_opener_stats(o, &st);
    for (int v = 1; v < PD_SEC_DROP_N; v++)
        drops += st.drops[v];
    if (st.opened != ok || st.opened + drops != calls)
        return fail("counters do not add up", calls);
    printf("fuzz_secure_open: %llu packets, %llu accepted, %llu sessions, %llu derivations;",
           (unsigned long long)calls, (unsigned long long)ok,
           (unsigned long long)st.sessions, (unsigned long long)st.derivations);
    for (int v = 1; v < PD_SEC_DROP_N; v++)
        printf(" %s %llu", pd_sec_verdict_name(v), (unsigned long long)st.drops[v]);
    printf("\n");
    for (int s = 0; s < SENDERS; s++)
        pd_sec_sealer_destroy(snd[s]);
    pd_sec_opener_destroy(o);
    free(accepted);
    free(serial_len);
    return 0;
}
