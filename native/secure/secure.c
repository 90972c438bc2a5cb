/* Sealer and opener of the secure envelope (secure.h, docs/secure-format.md). */
#define _GNU_SOURCE
#include "secure.h"
#include "secure_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>

const char *pd_sec_verdict_name(int v)
{
    static const char *names[PD_SEC_DROP_N] = {
        "ok", "malformed", "unknown_key", "bad_tag", "replayed", "too_old",
        "stale_epoch", "rate_limited",
    };
    return v >= 0 && v < PD_SEC_DROP_N ? names[v] : "?";
}

static void nonce_of(uint8_t iv[12], const uint8_t *hdr)
{
    memcpy(iv, hdr + 4, 4);          /* session id */
    memcpy(iv + 4, hdr + 16, 8);     /* counter */
}

/* ------------------------------------------------------------------------ */
/* Sealer                                                                     */
/* ------------------------------------------------------------------------ */

struct pd_sec_sealer {
    int aead, impl;
    uint8_t key_id;
    uint8_t master[PD_SEC_KEY_LEN];
    uint32_t fixed_sid;
    uint64_t first_epoch;
    /* current sealing session */
    int live;
    uint32_t sid;
    uint64_t epoch, last_epoch, counter;
    pd_aead a;
    /* rekey handed over from another thread */
    pthread_mutex_t lock;
    int pending;
    uint8_t pending_id, pending_key[PD_SEC_KEY_LEN];
    pd_sec_seal_stats st;
};

static uint64_t realtime_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

pd_sec_sealer *pd_sec_sealer_create(const pd_sec_seal_cfg *cfg, int *err)
{
    pd_sec_sealer *s;
    int r;

    if (!cfg || (r = pd_sec_impl_resolve(cfg->aead, cfg->impl)) < 0) {
        *err = cfg ? r : -EINVAL;
        return NULL;
    }
    s = calloc(1, sizeof(*s));
    if (!s) {
        *err = -ENOMEM;
        return NULL;
    }
    s->aead = cfg->aead;
    s->impl = r;
    s->key_id = cfg->key_id;
    memcpy(s->master, cfg->key, PD_SEC_KEY_LEN);
    s->fixed_sid = cfg->session_id;
    s->first_epoch = cfg->epoch;
    pthread_mutex_init(&s->lock, NULL);
    return s;
}

void pd_sec_sealer_destroy(pd_sec_sealer *s)
{
    if (!s)
        return;
    pd_aead_free(&s->a);
    pthread_mutex_destroy(&s->lock);
    OPENSSL_cleanse(s, sizeof(*s));
    free(s);
}

void pd_sec_sealer_rekey(pd_sec_sealer *s, uint8_t key_id, const uint8_t key[PD_SEC_KEY_LEN])
{
    pthread_mutex_lock(&s->lock);
    s->pending_id = key_id;
    memcpy(s->pending_key, key, PD_SEC_KEY_LEN);
    __atomic_store_n(&s->pending, 1, __ATOMIC_RELEASE);
    pthread_mutex_unlock(&s->lock);
}

static void sealer_take_pending(pd_sec_sealer *s)
{
    if (!__atomic_load_n(&s->pending, __ATOMIC_ACQUIRE) || pthread_mutex_trylock(&s->lock))
        return;
    s->key_id = s->pending_id;
    memcpy(s->master, s->pending_key, PD_SEC_KEY_LEN);
    OPENSSL_cleanse(s->pending_key, PD_SEC_KEY_LEN);
    s->pending = 0;
    s->live = 0;                     /* the next packet starts a new epoch */
    s->st.rekeys++;
    pthread_mutex_unlock(&s->lock);
}

static int sealer_start(pd_sec_sealer *s, uint32_t sid)
{
    uint8_t k[PD_SEC_KEY_LEN];
    uint64_t e;
    int rc;

    if (s->first_epoch && !s->last_epoch)
        e = s->first_epoch;
    else
        e = s->first_epoch ? s->last_epoch + 1 : realtime_ns();
    if (e <= s->last_epoch)          /* strictly increasing, whatever the clock does */
        e = s->last_epoch + 1;
    rc = pd_sec_session_key(s->master, sid, e, k);
    if (rc == 0)
        rc = pd_aead_init(&s->a, s->aead, s->impl, k, 1);
    OPENSSL_cleanse(k, sizeof(k));
    if (rc)
        return rc;
    s->sid = sid;
    s->epoch = s->last_epoch = e;
    s->counter = 0;
    s->live = 1;
    s->st.sessions++;
    return 0;
}

int pd_sec_seal(pd_sec_sealer *s, uint8_t *buf, uint32_t inner_len)
{
    uint8_t *inner = buf + PD_SEC_HDR_LEN, iv[12];
    uint32_t sid = s->fixed_sid;
    int rc;

    sealer_take_pending(s);
    if (inner_len > 65535 - PD_SEC_OVERHEAD)
        return -EMSGSIZE;
    if (!sid) {
        if (inner_len < PD_SEC_INNER_MIN || inner[0] != PD_SEC_VERSION ||
            !(sid = pd_get32(inner + 12))) {
            s->st.malformed++;
            return -EINVAL;
        }
    }
    /* A counter never wraps under one key: a new epoch derives a new key. */
    if (!s->live || sid != s->sid || s->counter == UINT64_MAX) {
        rc = sealer_start(s, sid);
        if (rc)
            return rc;
    }
    buf[0] = PD_SEC_VERSION;
    buf[1] = PD_SEC_TYPE;
    buf[2] = s->key_id;
    buf[3] = (uint8_t)s->aead;
    pd_put32(buf + 4, sid);
    pd_put64(buf + 8, s->epoch);
    pd_put64(buf + 16, s->counter);
    nonce_of(iv, buf);
    rc = pd_aead_seal(&s->a, iv, buf, PD_SEC_HDR_LEN, inner, inner_len, inner + inner_len);
    if (rc)
        return rc;
    s->counter++;
    s->st.sealed++;
    s->st.bytes += inner_len + PD_SEC_OVERHEAD;
    return (int)(inner_len + PD_SEC_OVERHEAD);
}

void pd_sec_sealer_stats(const pd_sec_sealer *s, pd_sec_seal_stats *st)
{
    *st = s->st;
}

void pd_sec_sealer_state(const pd_sec_sealer *s, uint32_t *session_id, uint64_t *epoch,
                         uint64_t *counter, uint8_t *key_id)
{
    *session_id = s->live ? s->sid : s->fixed_sid;
    *epoch = s->live ? s->epoch : 0;
    *counter = s->live ? s->counter : 0;
    *key_id = s->key_id;
}

/* ------------------------------------------------------------------------ */
/* Opener                                                                     */
/* ------------------------------------------------------------------------ */

#define WORDS (PD_SEC_WINDOW / 64)

typedef struct session {
    int used, any;
    uint8_t key_id;
    uint32_t sid;
    uint64_t epoch;
    uint64_t top;                    /* highest counter accepted */
    uint64_t floor;                  /* counters up to this are refused (resumed) */
    uint64_t saved;                  /* top when the state file was last written */
    uint64_t saved_ns;               /* and when */
    int resumed;
    uint64_t bits[WORDS];            /* ring of seen counters (RFC 6479 layout) */
    uint64_t last_ns;
    pd_aead a;
} session;

struct pd_sec_opener {
    int aead, impl, check_inner;
    pd_sec_keyset keys;
    unsigned int max_sessions, derive_per_ms;
    session *sess;
    pd_aead trial;                   /* key of a not-yet-verified session */
    uint64_t rl_ms;
    unsigned int rl_used;
    pd_sec_state state;              /* newest session per key id (state file) */
    char *state_path;
    pthread_mutex_t lock;
    int pending;
    pd_sec_keyset pending_keys;
    pd_sec_open_stats st;
};

pd_sec_opener *pd_sec_opener_create(const pd_sec_open_cfg *cfg, int *err)
{
    pd_sec_opener *o;
    int r;

    if (!cfg || cfg->keys.n > PD_SEC_MAX_KEYS || cfg->max_sessions > 4096) {
        *err = -EINVAL;
        return NULL;
    }
    r = pd_sec_impl_resolve(cfg->aead, cfg->impl);
    if (r < 0) {
        *err = r;
        return NULL;
    }
    o = calloc(1, sizeof(*o));
    if (!o) {
        *err = -ENOMEM;
        return NULL;
    }
    o->aead = cfg->aead;
    o->impl = r;
    o->check_inner = cfg->check_inner;
    o->keys = cfg->keys;
    o->max_sessions = cfg->max_sessions ? cfg->max_sessions : 16;
    o->derive_per_ms = cfg->derive_per_ms ? cfg->derive_per_ms : 8;
    o->rl_ms = UINT64_MAX;
    pthread_mutex_init(&o->lock, NULL);
    o->sess = calloc(o->max_sessions, sizeof(session));
    if (!o->sess) {
        *err = -ENOMEM;
        goto fail;
    }
    if (cfg->state_path) {
        o->state_path = strdup(cfg->state_path);
        if (!o->state_path) {
            *err = -ENOMEM;
            goto fail;
        }
        r = pd_sec_state_load(o->state_path, &o->state);
        if (r) {
            *err = r;
            goto fail;
        }
    }
    return o;
fail:
    pd_sec_opener_destroy(o);
    return NULL;
}

void pd_sec_opener_destroy(pd_sec_opener *o)
{
    if (!o)
        return;
    if (o->sess)
        for (unsigned int i = 0; i < o->max_sessions; i++)
            pd_aead_free(&o->sess[i].a);
    pd_aead_free(&o->trial);
    free(o->sess);
    free(o->state_path);
    pthread_mutex_destroy(&o->lock);
    OPENSSL_cleanse(o, sizeof(*o));
    free(o);
}

void pd_sec_opener_set_keys(pd_sec_opener *o, const pd_sec_keyset *keys)
{
    pthread_mutex_lock(&o->lock);
    o->pending_keys = *keys;
    if (o->pending_keys.n > PD_SEC_MAX_KEYS)
        o->pending_keys.n = PD_SEC_MAX_KEYS;
    __atomic_store_n(&o->pending, 1, __ATOMIC_RELEASE);
    pthread_mutex_unlock(&o->lock);
}

static const uint8_t *key_of(const pd_sec_keyset *ks, uint8_t id)
{
    for (unsigned int i = 0; i < ks->n; i++)
        if (ks->id[i] == id)
            return ks->key[i];
    return NULL;
}

static void opener_take_pending(pd_sec_opener *o)
{
    if (!__atomic_load_n(&o->pending, __ATOMIC_ACQUIRE) || pthread_mutex_trylock(&o->lock))
        return;
    o->keys = o->pending_keys;
    OPENSSL_cleanse(&o->pending_keys, sizeof(o->pending_keys));
    o->pending = 0;
    /* Sessions under a key that left the file end with it. */
    for (unsigned int i = 0; i < o->max_sessions; i++)
        if (o->sess[i].used && !key_of(&o->keys, o->sess[i].key_id))
            o->sess[i].used = 0;
    pthread_mutex_unlock(&o->lock);
}

static int window_check(const session *s, uint64_t ctr)
{
    if (s->resumed && ctr <= s->floor)      /* accepted before our restart */
        return PD_SEC_DROP_REPLAYED;
    if (!s->any || ctr > s->top)
        return PD_SEC_OK;
    /* Word-granular ring: the last WORDS-1 full words are exact. */
    if (s->top - ctr >= PD_SEC_WINDOW - 64)
        return PD_SEC_DROP_TOO_OLD;
    if (s->bits[(ctr / 64) % WORDS] >> (ctr % 64) & 1)
        return PD_SEC_DROP_REPLAYED;
    return PD_SEC_OK;
}

static void window_update(session *s, uint64_t ctr)
{
    if (!s->any) {
        memset(s->bits, 0, sizeof(s->bits));
        s->any = 1;
        s->top = ctr;
    } else if (ctr > s->top) {
        uint64_t cur = s->top / 64, idx = ctr / 64, d = idx - cur;
        if (d > WORDS)
            d = WORDS;
        for (uint64_t i = 1; i <= d; i++)
            s->bits[(cur + i) % WORDS] = 0;
        s->top = ctr;
    }
    s->bits[(ctr / 64) % WORDS] |= 1ull << (ctr % 64);
}

static session *find_session(pd_sec_opener *o, uint8_t kid, uint32_t sid, uint64_t epoch)
{
    for (unsigned int i = 0; i < o->max_sessions; i++) {
        session *s = &o->sess[i];
        if (s->used && s->sid == sid && s->epoch == epoch && s->key_id == kid)
            return s;
    }
    return NULL;
}

/* Slot for a verified new session: a free one, else the least recently used. */
static session *session_slot(pd_sec_opener *o)
{
    session *lru = &o->sess[0];

    for (unsigned int i = 0; i < o->max_sessions; i++) {
        session *s = &o->sess[i];
        if (!s->used)
            return s;
        if (s->last_ns < lru->last_ns)
            lru = s;
    }
    return lru;
}

static void save_state(pd_sec_opener *o, int durable)
{
    if (!o->state_path)
        return;
    if (pd_sec_state_save(o->state_path, &o->state, durable) == 0)
        o->st.state_saves++;
    else
        o->st.state_errors++;
}

int pd_sec_open(pd_sec_opener *o, uint8_t *buf, uint32_t len, uint64_t now_ns,
                uint32_t *inner_len)
{
    uint8_t iv[12], kid;
    uint32_t sid, n;
    uint64_t epoch, ctr;
    session *s;
    pd_aead *a;
    int v;

    opener_take_pending(o);
    /* Cheap checks first: nothing below costs more than a compare. */
    if (len < PD_SEC_OVERHEAD + PD_SEC_INNER_MIN || buf[0] != PD_SEC_VERSION ||
        buf[1] != PD_SEC_TYPE || buf[3] != o->aead) {
        v = PD_SEC_DROP_MALFORMED;
        goto drop;
    }
    kid = buf[2];
    sid = pd_get32(buf + 4);
    epoch = pd_get64(buf + 8);
    ctr = pd_get64(buf + 16);
    n = len - PD_SEC_OVERHEAD;
    s = find_session(o, kid, sid, epoch);
    if (s) {
        a = &s->a;
    } else {
        const uint8_t *master = key_of(&o->keys, kid);
        uint8_t k[PD_SEC_KEY_LEN];
        int rc;

        if (!master) {
            v = PD_SEC_DROP_UNKNOWN_KEY;
            goto drop;
        }
        /* Older than the newest accepted: a recorded session.  Equal: only
         * that very session, taken back after our restart (counter floor). */
        if (epoch < o->state.epoch[kid] ||
            (epoch == o->state.epoch[kid] && sid != o->state.sid[kid])) {
            v = PD_SEC_DROP_STALE_EPOCH;
            goto drop;
        }
        /* A key derivation costs microseconds: a budget per millisecond keeps
         * a flood of made-up sessions from taking the core. */
        if (now_ns / 1000000u != o->rl_ms) {
            o->rl_ms = now_ns / 1000000u;
            o->rl_used = 0;
        }
        if (o->rl_used >= o->derive_per_ms) {
            v = PD_SEC_DROP_RATE_LIMIT;
            goto drop;
        }
        o->rl_used++;
        o->st.derivations++;
        rc = pd_sec_session_key(master, sid, epoch, k);
        if (rc == 0)
            rc = pd_aead_init(&o->trial, o->aead, o->impl, k, 0);
        OPENSSL_cleanse(k, sizeof(k));
        if (rc) {
            v = PD_SEC_DROP_BAD_TAG;   /* library failure: nothing verified */
            goto drop;
        }
        a = &o->trial;
    }
    nonce_of(iv, buf);
    if (pd_aead_open(a, iv, buf, PD_SEC_HDR_LEN, buf + PD_SEC_HDR_LEN, n, buf + len - 16)) {
        v = PD_SEC_DROP_BAD_TAG;
        goto drop;
    }
    /* Authentic from here on; the window is checked before anything changes. */
    if (s && (v = window_check(s, ctr)) != PD_SEC_OK)
        goto drop;
    if (o->check_inner && (buf[PD_SEC_HDR_LEN] != PD_SEC_VERSION ||
                           pd_get32(buf + PD_SEC_HDR_LEN + 12) != sid)) {
        v = PD_SEC_DROP_MALFORMED;
        goto drop;
    }
    if (!s) {
        pd_aead tmp;
        int resumed = epoch == o->state.epoch[kid];   /* our newest, after a restart */

        s = session_slot(o);
        /* The verified trial key becomes the session's; its old key becomes
         * the next trial (no allocation on this path). */
        tmp = s->a;
        memset(s, 0, sizeof(*s));
        s->a = o->trial;
        o->trial = tmp;
        s->used = 1;
        s->key_id = kid;
        s->sid = sid;
        s->epoch = epoch;
        o->st.sessions++;
        if (resumed) {
            /* Authentic, so the session is kept (later replays cost no
             * derivation), but nothing up to the floor passes. */
            s->resumed = 1;
            s->floor = o->state.floor[kid] + PD_SEC_STATE_EVERY;
            s->saved = o->state.floor[kid];
            s->saved_ns = now_ns;
            if ((v = window_check(s, ctr)) != PD_SEC_OK)
                goto drop;
        } else {
            o->state.epoch[kid] = epoch;
            o->state.sid[kid] = sid;
            o->state.floor[kid] = ctr;
            s->saved = ctr;
            s->saved_ns = now_ns;
            save_state(o, 1);
        }
    }
    window_update(s, ctr);
    /* The newest session's floor moves on (secure.h: what a receiver
     * restart leaves open, and why). */
    if (s->top != s->saved && (s->top - s->saved >= PD_SEC_STATE_EVERY ||
                               now_ns - s->saved_ns >= PD_SEC_STATE_NS) &&
        s->epoch == o->state.epoch[kid] && s->sid == o->state.sid[kid]) {
        o->state.floor[kid] = s->top;
        s->saved = s->top;
        s->saved_ns = now_ns;
        save_state(o, 0);
    }
    s->last_ns = now_ns;
    o->st.opened++;
    o->st.bytes += len;
    *inner_len = n;
    return PD_SEC_OK;
drop:
    o->st.drops[v]++;
    return v;
}

void pd_sec_opener_stats(const pd_sec_opener *o, pd_sec_open_stats *st)
{
    *st = o->st;
}

uint64_t pd_sec_opener_epoch(const pd_sec_opener *o, uint8_t key_id)
{
    return o->state.epoch[key_id];
}

/* ------------------------------------------------------------------------ */
/* State file                                                                 */
/* ------------------------------------------------------------------------ */

#define STATE_MAGIC "pydpdk-secure-state 1"

int pd_sec_state_load(const char *path, pd_sec_state *st)
{
    FILE *f = fopen(path, "r");
    char line[160];
    int rc = 0;

    memset(st, 0, sizeof(*st));
    if (!f)
        return errno == ENOENT ? 0 : -errno;
    if (!fgets(line, sizeof(line), f) || strncmp(line, STATE_MAGIC "\n", sizeof(line)) != 0) {
        fclose(f);
        return -EINVAL;
    }
    while (fgets(line, sizeof(line), f)) {
        unsigned int id, sid = 0;
        unsigned long long e, floor = 0;
        char extra;
        int got = sscanf(line, "epoch %u %llu %u %llu %c", &id, &e, &sid, &floor, &extra);
        if ((got != 2 && got != 4) || id > 255) {
            rc = -EINVAL;
            break;
        }
        st->epoch[id] = e;
        st->sid[id] = sid;
        st->floor[id] = floor;
    }
    fclose(f);
    return rc;
}

int pd_sec_state_save(const char *path, const pd_sec_state *st, int durable)
{
    size_t plen = strlen(path);
    char *tmp = malloc(plen + 8);
    char body[256 * 72 + 32];
    size_t n = 0;
    int fd, rc = 0;

    if (!tmp)
        return -ENOMEM;
    memcpy(tmp, path, plen);
    memcpy(tmp + plen, ".tmp", 5);
    n += (size_t)snprintf(body, sizeof(body), STATE_MAGIC "\n");
    for (int i = 0; i < 256; i++)
        if (st->epoch[i])
            n += (size_t)snprintf(body + n, sizeof(body) - n, "epoch %d %llu %u %llu\n", i,
                                  (unsigned long long)st->epoch[i], st->sid[i],
                                  (unsigned long long)st->floor[i]);
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        rc = -errno;
        free(tmp);
        return rc;
    }
    for (size_t off = 0; off < n;) {
        ssize_t w = write(fd, body + off, n - off);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            rc = -errno;
            break;
        }
        off += (size_t)w;
    }
    /* Durable before it replaces the old file: a crash leaves one or the other. */
    if (rc == 0 && durable && fsync(fd) != 0)
        rc = -errno;
    if (close(fd) != 0 && rc == 0)
        rc = -errno;
    if (rc == 0 && rename(tmp, path) != 0)
        rc = -errno;
    if (rc)
        unlink(tmp);
    free(tmp);
    return rc;
}
