#include "fill.h"

#include <stdio.h>

#include "fec.h"
#include "gateway.h"

static void put_counters(pd_stats_snap *out, const char *prefix, const char *name,
                         const pd_counters *c)
{
    char key[PD_STATS_KEY_LEN];
#define PUT(field, value)                                         \
    do {                                                          \
        snprintf(key, sizeof(key), "%s/%s", prefix, field);       \
        pd_stats_put_u64(out, key, value);                        \
    } while (0)
    snprintf(key, sizeof(key), "%s/name", prefix);
    pd_stats_put_str(out, key, name);
    /* Same names as the Python `counters` properties. */
    PUT("packets_in", c->pkts_in);
    PUT("bytes_in", c->bytes_in);
    PUT("packets_out", c->pkts_out);
    PUT("bytes_out", c->bytes_out);
    PUT("drops", c->drops);
    PUT("bursts", c->calls);
    PUT("time_ns", c->ns);
#undef PUT
}

void pd_stats_fill_pipeline(const void *obj, pd_stats_snap *out)
{
    const pd_stats_pipeline *p = obj;
    char prefix[32], key[PD_STATS_KEY_LEN];
    pd_stats_put_u64(out, "running", p->running && *p->running ? 1 : 0);
    pd_stats_put_u64(out, "chains", p->chains_total);
    for (unsigned i = 0; i < p->n_chains; i++) {
        const pd_stats_chain_view *v = &p->chains[i];
        const pd_chain *c = v->chain;
        snprintf(prefix, sizeof(prefix), "chain%u", i);
        snprintf(key, sizeof(key), "%s/burst", prefix);
        pd_stats_put_u64(out, key, c->burst);
        snprintf(key, sizeof(key), "%s/stages", prefix);
        pd_stats_put_u64(out, key, c->n_stages);
        snprintf(prefix, sizeof(prefix), "chain%u/source", i);
        put_counters(out, prefix, v->names[0], &c->src->c);
        for (unsigned j = 0; j < c->n_stages && j < PD_CHAIN_MAX_STAGES; j++) {
            snprintf(prefix, sizeof(prefix), "chain%u/stage%u", i, j);
            put_counters(out, prefix, v->names[1 + j], &c->stages[j]->c);
            if (v->ref_kind[j] >= 0) {
                snprintf(key, sizeof(key), "%s/%s", prefix, pd_stats_kind_name(v->ref_kind[j]));
                pd_stats_put_u64(out, key, v->ref_id[j]);
            }
        }
        snprintf(prefix, sizeof(prefix), "chain%u/sink", i);
        put_counters(out, prefix, v->names[PD_STATS_VIEW_ELEMENTS - 1], &c->snk->c);
    }
}

static void put_enc(pd_stats_snap *out, const fec_encoder_stats *s)
{
    pd_stats_put_u64(out, "source_packets", s->source_packets);
    pd_stats_put_u64(out, "source_bytes", s->source_bytes);
    pd_stats_put_u64(out, "repair_packets", s->repair_packets);
    pd_stats_put_u64(out, "repair_bytes", s->repair_bytes);
    pd_stats_put_u64(out, "blocks", s->blocks);
    pd_stats_put_u64(out, "blocks_partial", s->blocks_partial);
    pd_stats_put_u64(out, "no_buffer", s->no_buffer);
}

static void put_dec(pd_stats_snap *out, const fec_decoder_stats *s)
{
    pd_stats_put_u64(out, "received", s->received);
    pd_stats_put_u64(out, "delivered", s->delivered);
    pd_stats_put_u64(out, "recovered", s->recovered);
    pd_stats_put_u64(out, "unrecoverable", s->unrecoverable);
    pd_stats_put_u64(out, "duplicate", s->duplicate);
    pd_stats_put_u64(out, "late", s->late);
    pd_stats_put_u64(out, "malformed", s->malformed);
    pd_stats_put_u64(out, "repair_unused", s->repair_unused);
    pd_stats_put_u64(out, "no_buffer", s->no_buffer);
    pd_stats_put_u64(out, "blocks_evicted", s->blocks_evicted);
    pd_stats_put_u64(out, "blocks_expired", s->blocks_expired);
    pd_stats_put_u64(out, "unconfirmed", s->unconfirmed);
    pd_stats_put_u64(out, "resyncs", s->resyncs);
    pd_stats_put_u64(out, "control", s->control);
    pd_stats_put_u64(out, "sessions_opened", s->sessions_opened);
    pd_stats_put_u64(out, "sessions_evicted", s->sessions_evicted);
}

void pd_stats_fill_fec_encoder(const void *obj, pd_stats_snap *out)
{
    fec_encoder_stats s;
    fec_encoder_get_stats(obj, &s);
    pd_stats_put_str(out, "kind", "stream");
    pd_stats_put_u64(out, "session_id", fec_encoder_session_id(obj));
    put_enc(out, &s);
}

void pd_stats_fill_fec_decoder(const void *obj, pd_stats_snap *out)
{
    fec_decoder_stats s;
    fec_decoder_get_stats(obj, &s);
    pd_stats_put_str(out, "kind", "stream");
    put_dec(out, &s);
    pd_stats_put_u64(out, "blocks_in_flight", fec_decoder_blocks_in_flight(obj));
    pd_stats_put_u64(out, "sessions", fec_decoder_sessions(obj));
}

void pd_stats_fill_fec_enc_stage(const void *obj, pd_stats_snap *out)
{
    fec_encoder_stats s;
    pd_gateway_counters g;
    pd_fec_enc_stage_stats(obj, &s, &g);
    pd_stats_put_str(out, "kind", "stage");
    put_enc(out, &s);
    pd_stats_put_u64(out, "no_headroom", g.no_headroom);
    pd_stats_put_u64(out, "too_big", g.too_big);
    pd_stats_put_u64(out, "out_full", g.out_full);
}

void pd_stats_fill_fec_dec_stage(const void *obj, pd_stats_snap *out)
{
    fec_decoder_stats s;
    pd_gateway_counters g;
    pd_fec_dec_stage_stats(obj, &s, &g);
    pd_stats_put_str(out, "kind", "stage");
    put_dec(out, &s);
    pd_stats_put_u64(out, "foreign", g.foreign);
    pd_stats_put_u64(out, "out_full", g.out_full);
}
