/* Pipeline stages around the sealer/opener: the envelope goes between the
 * outer header the FEC gateway stages write and the FEC packet. */
#include "secure.h"
#include "secure_internal.h"
#include "net.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct pd_sec_stage {
    pd_sec_outer_cfg outer;
    const pd_pkt_ops *ops;
    pd_sec_sealer *sealer;
    pd_sec_opener *opener;
    uint64_t foreign, no_room, out_full;
    /* opener verdict counts live in the opener; clock for the rate limit */
};

/* Rewrite IPv4 total length, header checksum and UDP length/checksum for a
 * UDP payload of `plen` bytes (IPv4 at l3, header length ihl). */
static void fix_udp(uint8_t *f, uint32_t l3, uint32_t ihl, uint32_t plen)
{
    pd_net_wr16(f + l3 + 2, (uint16_t)(ihl + 8 + plen));
    pd_net_wr16(f + l3 + 10, 0);
    pd_net_wr16(f + l3 + 10, pd_csum_ipv4_hdr(f + l3, ihl));
    pd_net_wr16(f + l3 + ihl + 4, (uint16_t)(8 + plen));
    pd_net_wr16(f + l3 + ihl + 6, 0);  /* IPv4 allows no UDP checksum; the tag covers it */
}

/* Locate the payload after the outer header: 0 with offsets, or -1 (foreign).
 * l3/ihl are set for UDP. */
static int outer_parse(const pd_sec_outer_cfg *c, const uint8_t *f, uint32_t len, uint32_t *off,
                       uint32_t *plen, uint32_t *l3_out, uint32_t *ihl_out)
{
    uint32_t l3;
    uint16_t et = 0;

    if (c->kind == PD_SEC_OUTER_NONE) {
        *off = 0;
        *plen = len;
        return 0;
    }
    l3 = pd_net_l3_off(f, len, &et);
    if (l3 == 0)
        return -1;
    if (c->kind == PD_SEC_OUTER_ETHER) {
        if (et != c->ethertype)
            return -1;
        *off = l3;
        *plen = len - l3;
        return 0;
    }
    if (et != PD_ETH_P_IPV4 || pd_net_udp4_payload(f, len, l3, c->dst_port, off, plen, ihl_out) != 0)
        return -1;
    *l3_out = l3;
    return 0;
}

static pd_sec_stage *stage_new(const pd_sec_outer_cfg *outer, const pd_pkt_ops *ops, int *err)
{
    pd_sec_stage *st;

    if (!outer || !ops || outer->kind < PD_SEC_OUTER_NONE || outer->kind > PD_SEC_OUTER_ETHER ||
        (outer->kind == PD_SEC_OUTER_ETHER && outer->ethertype < 0x0600)) {
        *err = -EINVAL;
        return NULL;
    }
    st = calloc(1, sizeof(*st));
    if (!st) {
        *err = -ENOMEM;
        return NULL;
    }
    st->outer = *outer;
    st->ops = ops;
    return st;
}

pd_sec_stage *pd_sec_seal_stage_create(pd_sec_sealer *s, const pd_sec_outer_cfg *outer,
                                       const pd_pkt_ops *ops, int *err)
{
    pd_sec_stage *st;

    if (!s) {
        *err = -EINVAL;
        return NULL;
    }
    st = stage_new(outer, ops, err);
    if (st)
        st->sealer = s;
    return st;
}

pd_sec_stage *pd_sec_open_stage_create(pd_sec_opener *o, const pd_sec_outer_cfg *outer,
                                       const pd_pkt_ops *ops, int *err)
{
    pd_sec_stage *st;

    if (!o) {
        *err = -EINVAL;
        return NULL;
    }
    st = stage_new(outer, ops, err);
    if (st)
        st->opener = o;
    return st;
}

void pd_sec_stage_destroy(pd_sec_stage *st)
{
    free(st);
}

uint64_t pd_sec_stage_foreign(const pd_sec_stage *st) { return st->foreign; }
uint64_t pd_sec_stage_no_room(const pd_sec_stage *st) { return st->no_room; }

static uint16_t seal_process(void *ctx, pd_pkt **in, uint16_t n, pd_pkt **out, uint16_t cap,
                             uint64_t now)
{
    pd_sec_stage *st = ctx;
    const pd_pkt_ops *ops = st->ops;
    uint16_t k = 0;

    (void)now;
    for (uint16_t i = 0; i < n; i++) {
        pd_pkt *p = in[i];
        uint32_t len = ops->data_len(p), off, plen, l3 = 0, ihl = 0;
        uint8_t *d = ops->data(p);
        int rc;

        if (i + 1 < n)
            __builtin_prefetch(ops->data(in[i + 1]));
        if (outer_parse(&st->outer, d, len, &off, &plen, &l3, &ihl) != 0) {
            st->foreign++;
            ops->free_bulk(&p, 1);
            continue;
        }
        if (ops->headroom(p) < PD_SEC_HDR_LEN || ops->tailroom(p) < PD_SEC_TAG_LEN ||
            k >= cap) {
            st->no_room++;
            ops->free_bulk(&p, 1);
            continue;
        }
        /* Drop Ethernet padding after the datagram, then open a 24-byte gap
         * between the outer header and the FEC packet. */
        if (off + plen < len)
            ops->trim(p, len - off - plen);
        d = ops->prepend(p, PD_SEC_HDR_LEN);
        memmove(d, d + PD_SEC_HDR_LEN, off);
        ops->append(p, PD_SEC_TAG_LEN);
        rc = pd_sec_seal(st->sealer, d + off, plen);
        if (rc < 0) {
            ops->free_bulk(&p, 1);    /* counted by the sealer (malformed) */
            continue;
        }
        if (st->outer.kind == PD_SEC_OUTER_UDP)
            fix_udp(d, l3, ihl, (uint32_t)rc);
        out[k++] = p;
    }
    return k;
}

static uint16_t open_process(void *ctx, pd_pkt **in, uint16_t n, pd_pkt **out, uint16_t cap,
                             uint64_t now)
{
    pd_sec_stage *st = ctx;
    const pd_pkt_ops *ops = st->ops;
    uint16_t k = 0;

    for (uint16_t i = 0; i < n; i++) {
        pd_pkt *p = in[i];
        uint32_t len = ops->data_len(p), off, plen, l3 = 0, ihl = 0, inner;
        uint8_t *d = ops->data(p);

        if (i + 1 < n)
            __builtin_prefetch(ops->data(in[i + 1]));
        if (outer_parse(&st->outer, d, len, &off, &plen, &l3, &ihl) != 0) {
            st->foreign++;
            ops->free_bulk(&p, 1);
            continue;
        }
        if (pd_sec_open(st->opener, d + off, plen, now, &inner) != PD_SEC_OK) {
            ops->free_bulk(&p, 1);    /* counted by the opener, by reason */
            continue;
        }
        if (k >= cap) {
            st->no_room++;
            ops->free_bulk(&p, 1);
            continue;
        }
        /* Close the gap: outer header moves up to the inner packet. */
        memmove(d + PD_SEC_HDR_LEN, d, off);
        d = ops->adj(p, PD_SEC_HDR_LEN);
        ops->trim(p, ops->data_len(p) - (off + inner));
        if (st->outer.kind == PD_SEC_OUTER_UDP)
            fix_udp(d, l3, ihl, inner);
        out[k++] = p;
    }
    return k;
}

void pd_sec_stage_bind(pd_sec_stage *st, pd_stage *out)
{
    memset(out, 0, sizeof(*out));
    out->name = st->sealer ? "secure-seal" : "secure-open";
    out->ctx = st;
    out->process = st->sealer ? seal_process : open_process;
}
