#include "stats.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static const char *const kind_names[PD_STATS_KINDS] = {
    "pipeline", "fec_encoder", "fec_decoder",
};

const char *pd_stats_kind_name(int kind)
{
    return kind >= 0 && kind < PD_STATS_KINDS ? kind_names[kind] : NULL;
}

static int key_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '_' || c == '/';
}

static void copy_clean(char *dst, const char *src, size_t cap, int is_key)
{
    size_t i = 0;
    if (src)
        for (; src[i] && i + 1 < cap; i++) {
            char c = src[i];
            if (is_key)
                dst[i] = key_char(c) ? c : '_';
            else  /* JSON-safe without escaping: DPDK 22.11 does not escape */
                dst[i] = (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') ? c : '_';
        }
    dst[i] = '\0';
}

static pd_stats_kv *next_kv(pd_stats_snap *s, const char *key)
{
    pd_stats_kv *kv;
    if (!s || !key)
        return NULL;
    if (s->n >= PD_STATS_SNAP_MAX) {
        s->truncated++;
        return NULL;
    }
    kv = &s->kv[s->n++];
    copy_clean(kv->key, key, sizeof(kv->key), 1);
    return kv;
}

int pd_stats_put_u64(pd_stats_snap *s, const char *key, uint64_t v)
{
    pd_stats_kv *kv = next_kv(s, key);
    if (!kv)
        return -ENOSPC;
    kv->is_str = 0;
    kv->u64 = v;
    kv->str[0] = '\0';
    return 0;
}

int pd_stats_put_str(pd_stats_snap *s, const char *key, const char *v)
{
    pd_stats_kv *kv = next_kv(s, key);
    if (!kv)
        return -ENOSPC;
    kv->is_str = 1;
    kv->u64 = 0;
    copy_clean(kv->str, v ? v : "", sizeof(kv->str), 0);
    return 0;
}

int pd_stats_registry_init(pd_stats_registry *reg)
{
    if (!reg)
        return -EINVAL;
    memset(reg, 0, sizeof(*reg));
    return -pthread_mutex_init(&reg->lock, NULL);
}

void pd_stats_registry_fini(pd_stats_registry *reg)
{
    if (!reg)
        return;
    free(reg->entries);
    reg->entries = NULL;
    reg->n = reg->cap = 0;
    pthread_mutex_destroy(&reg->lock);
}

void pd_stats_registry_after_fork(pd_stats_registry *reg)
{
    if (reg)
        pthread_mutex_init(&reg->lock, NULL);
}

int pd_stats_add(pd_stats_registry *reg, int kind, const char *name, const void *obj,
                 pd_stats_fill_fn fill, uint32_t *id)
{
    pd_stats_entry *e;
    if (!reg || !obj || !fill || !pd_stats_kind_name(kind))
        return -EINVAL;
    pthread_mutex_lock(&reg->lock);
    if (reg->n == reg->cap) {
        unsigned cap = reg->cap ? 2 * reg->cap : 16;
        pd_stats_entry *grown = realloc(reg->entries, cap * sizeof(*grown));
        if (!grown) {
            pthread_mutex_unlock(&reg->lock);
            return -ENOMEM;
        }
        reg->entries = grown;
        reg->cap = cap;
    }
    e = &reg->entries[reg->n++];
    e->id = reg->next_id[kind]++;
    e->kind = kind;
    copy_clean(e->name, name ? name : "", sizeof(e->name), 0);
    e->obj = obj;
    e->fill = fill;
    if (id)
        *id = e->id;
    pthread_mutex_unlock(&reg->lock);
    return 0;
}

static pd_stats_entry *find(pd_stats_registry *reg, int kind, uint32_t id)
{
    for (unsigned i = 0; i < reg->n; i++)
        if (reg->entries[i].kind == kind && reg->entries[i].id == id)
            return &reg->entries[i];
    return NULL;
}

int pd_stats_remove(pd_stats_registry *reg, int kind, uint32_t id)
{
    pd_stats_entry *e;
    if (!reg)
        return -EINVAL;
    pthread_mutex_lock(&reg->lock);
    e = find(reg, kind, id);
    if (e) {
        size_t tail = (size_t)(reg->entries + reg->n - (e + 1));
        memmove(e, e + 1, tail * sizeof(*e));
        reg->n--;
    }
    pthread_mutex_unlock(&reg->lock);
    return e ? 0 : -ENOENT;
}

unsigned pd_stats_list(pd_stats_registry *reg, int kind, uint32_t *ids, unsigned max)
{
    unsigned count = 0;
    if (!reg)
        return 0;
    pthread_mutex_lock(&reg->lock);
    for (unsigned i = 0; i < reg->n; i++)
        if (reg->entries[i].kind == kind) {
            if (ids && count < max)
                ids[count] = reg->entries[i].id;
            count++;
        }
    pthread_mutex_unlock(&reg->lock);
    return count;
}

int pd_stats_snapshot(pd_stats_registry *reg, int kind, uint32_t id, pd_stats_snap *out)
{
    pd_stats_entry *e;
    if (!reg || !out || !pd_stats_kind_name(kind))
        return -EINVAL;
    out->n = 0;
    out->truncated = 0;
    pthread_mutex_lock(&reg->lock);
    e = find(reg, kind, id);
    if (e) {
        pd_stats_put_u64(out, "id", e->id);
        pd_stats_put_str(out, "name", e->name);
        e->fill(e->obj, out);
    }
    pthread_mutex_unlock(&reg->lock);
    return e ? 0 : -ENOENT;
}

void pd_stats_locked(pd_stats_registry *reg, void (*fn)(void *arg), void *arg)
{
    if (!reg || !fn)
        return;
    pthread_mutex_lock(&reg->lock);
    fn(arg);
    pthread_mutex_unlock(&reg->lock);
}
