/* Control packets carrying link reports (docs/fec-format.md, "Link report").
 * A report is a version byte, a reserved byte, then TLVs: type, length,
 * value (big-endian).  Unknown types are skipped; a known type with another
 * length, a repeated type, a missing required one or an out-of-range value
 * makes the whole report malformed. */
#include <errno.h>
#include <string.h>

#include "fec_internal.h"

#define PPB 1000000000.0

static uint8_t *put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
    return p + 4;
}

static uint32_t get32(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

static uint32_t sat32(double v)
{
    if (!(v > 0.0))
        return 0;
    return v >= 4294967295.0 ? UINT32_MAX : (uint32_t)(v + 0.5);
}

static uint32_t sat32u(uint64_t v)
{
    return v > UINT32_MAX ? UINT32_MAX : (uint32_t)v;
}

static uint32_t prob(double v)
{
    if (!(v > 0.0))
        return 0;
    return v >= 1.0 ? (uint32_t)PPB : (uint32_t)(v * PPB + 0.5);
}

int fec_report_write(const fec_link_report *rep, uint8_t *out, size_t cap)
{
    if (rep == NULL || out == NULL)
        return -EINVAL;
    if (cap < FEC_REPORT_MAX_LEN)
        return -ENOSPC;
    uint8_t *p = out;
    *p++ = FEC_REPORT_VERSION;
    *p++ = 0;
    *p++ = FEC_TLV_WINDOW;
    *p++ = 4;
    p = put32(p, sat32((double)rep->window / 1e6));
    *p++ = FEC_TLV_COUNTS;
    *p++ = 12;
    p = put32(p, sat32u(rep->packets));
    p = put32(p, sat32u(rep->lost < rep->packets ? rep->lost : rep->packets));
    p = put32(p, sat32u(rep->loss_runs));
    *p++ = FEC_TLV_GILBERT;
    *p++ = 16;
    p = put32(p, prob(rep->loss_rate));
    p = put32(p, prob(rep->gilbert_p));
    p = put32(p, prob(rep->gilbert_r));
    p = put32(p, prob(rep->bad_loss));
    *p++ = FEC_TLV_REORDER;
    *p++ = 8;
    p = put32(p, sat32u(rep->arrivals));
    p = put32(p, sat32u(rep->reordered < rep->arrivals ? rep->reordered : rep->arrivals));
    *p++ = FEC_TLV_RECOVERY;
    *p++ = 12;
    p = put32(p, sat32u(rep->recovered));
    p = put32(p, sat32(rep->recovery_mean / 1e3));
    p = put32(p, sat32(rep->recovery_p99 / 1e3));
    *p++ = FEC_TLV_STREAM;
    *p++ = 5;
    p = put32(p, rep->session_id);
    *p++ = (uint8_t)(rep->depth > 255 ? 255 : rep->depth);
    *p++ = FEC_TLV_RUNS;
    *p++ = 4 * FEC_RUN_BINS;
    for (unsigned i = 0; i < FEC_RUN_BINS; i++)
        p = put32(p, rep->run_hist[i]);
    *p++ = FEC_TLV_RECENT;
    *p++ = 8;
    p = put32(p, sat32u(rep->recent_packets));
    p = put32(p, sat32u(rep->recent_lost < rep->recent_packets ? rep->recent_lost
                                                                : rep->recent_packets));
    return (int)(p - out);
}

int fec_report_read(const uint8_t *tlv, size_t len, fec_link_report *rep)
{
    if (tlv == NULL || rep == NULL)
        return -EINVAL;
    memset(rep, 0, sizeof(*rep));
    if (len < 2 || tlv[0] != FEC_REPORT_VERSION || tlv[1] != 0)
        return -EBADMSG;
    unsigned seen = 0;
    size_t at = 2;
    while (at < len) {
        if (len - at < 2)
            return -EBADMSG;
        const uint8_t type = tlv[at], l = tlv[at + 1];
        const uint8_t *v = tlv + at + 2;
        if (len - at - 2 < l)
            return -EBADMSG;
        at += 2 + (size_t)l;
        if (type == 0 || type > FEC_TLV_RECENT)
            continue;          /* unknown: skipped, for later versions */
        if (seen & (1u << type))
            return -EBADMSG;
        seen |= 1u << type;
        static const uint8_t want[FEC_TLV_RECENT + 1] = {
            [FEC_TLV_WINDOW] = 4, [FEC_TLV_COUNTS] = 12, [FEC_TLV_GILBERT] = 16,
            [FEC_TLV_REORDER] = 8, [FEC_TLV_RECOVERY] = 12, [FEC_TLV_STREAM] = 5,
            [FEC_TLV_RUNS] = 4 * FEC_RUN_BINS, [FEC_TLV_RECENT] = 8,
        };
        if (l != want[type])
            return -EBADMSG;
        switch (type) {
        case FEC_TLV_WINDOW:
            rep->window = (uint64_t)get32(v) * 1000000u;
            break;
        case FEC_TLV_COUNTS:
            rep->packets = get32(v);
            rep->lost = get32(v + 4);
            rep->loss_runs = get32(v + 8);
            break;
        case FEC_TLV_GILBERT: {
            uint32_t x[4];
            for (unsigned i = 0; i < 4; i++) {
                x[i] = get32(v + 4 * i);
                if (x[i] > (uint32_t)PPB)
                    return -EBADMSG;
            }
            rep->loss_rate = x[0] / PPB;
            rep->gilbert_p = x[1] / PPB;
            rep->gilbert_r = x[2] / PPB;
            rep->bad_loss = x[3] / PPB;
            break;
        }
        case FEC_TLV_REORDER:
            rep->arrivals = get32(v);
            rep->reordered = get32(v + 4);
            break;
        case FEC_TLV_RECOVERY:
            rep->recovered = get32(v);
            rep->recovery_mean = get32(v + 4) * 1e3;
            rep->recovery_p99 = get32(v + 8) * 1e3;
            break;
        case FEC_TLV_STREAM:
            rep->session_id = get32(v);
            rep->depth = v[4];
            break;
        case FEC_TLV_RUNS:
            for (unsigned i = 0; i < FEC_RUN_BINS; i++)
                rep->run_hist[i] = get32(v + 4 * i);
            break;
        case FEC_TLV_RECENT:
            rep->recent_packets = get32(v);
            rep->recent_lost = get32(v + 4);
            break;
        }
    }
    const unsigned required = (1u << FEC_TLV_WINDOW) | (1u << FEC_TLV_COUNTS) |
                              (1u << FEC_TLV_GILBERT);
    if ((seen & required) != required || rep->window == 0 || rep->lost > rep->packets ||
        rep->loss_runs > rep->lost || rep->reordered > rep->arrivals ||
        rep->recent_lost > rep->recent_packets ||
        rep->recovery_p99 < rep->recovery_mean)
        return -EBADMSG;
    rep->mean_burst = rep->loss_runs ? (double)rep->lost / (double)rep->loss_runs : 0.0;
    rep->reorder_rate = rep->arrivals ? (double)rep->reordered / (double)rep->arrivals : 0.0;
    return 0;
}

int fec_control_write(uint32_t session_id, uint64_t seq, uint8_t flags, uint8_t type,
                      const uint8_t *payload, size_t len, uint8_t *out, size_t cap)
{
    if (out == NULL || (payload == NULL && len > 0) || session_id == 0 ||
        (flags & ~FEC_FLAGS_KNOWN) || len > FEC_MAX_PAYLOAD)
        return -EINVAL;
    if (cap < FEC_HDR_LEN + len)
        return -ENOSPC;
    const fec_hdr h = {
        .version = FEC_VERSION, .code = 0, .kind = FEC_KIND_CONTROL, .k = 0, .m = 0,
        .index = type, .flags = flags, .block_id = seq & FEC_BLOCK_ID_MASK,
        .session_id = session_id, .length = (uint16_t)len,
    };
    fec_hdr_write(out, &h);
    if (len)
        memcpy(out + FEC_HDR_LEN, payload, len);
    return (int)(FEC_HDR_LEN + len);
}

int fec_control_accept(fec_control_state *st, const uint8_t *pkt, size_t len,
                       fec_link_report *rep, uint32_t *session_id)
{
    fec_hdr h;
    if (st == NULL || rep == NULL)
        return -EINVAL;
    if (fec_hdr_parse(pkt, len, &h) < 0 || h.kind != FEC_KIND_CONTROL) {
        st->malformed++;
        return -EBADMSG;
    }
    if (h.index != FEC_CTRL_LINK_REPORT) {
        st->unknown++;
        return -ENOTSUP;
    }
    if (fec_report_read(pkt + FEC_HDR_LEN, h.length, rep) < 0) {
        st->malformed++;
        return -EBADMSG;
    }
    /* Sequence numbers per sender session: only newer reports count. */
    if (st->have && st->session == h.session_id) {
        uint64_t d = (h.block_id - st->last_seq) & FEC_BLOCK_ID_MASK;
        if (d == 0 || (d & (UINT64_C(1) << (FEC_BLOCK_ID_BITS - 1)))) {
            st->old++;
            return -EALREADY;
        }
    }
    st->have = 1;
    st->session = h.session_id;
    st->last_seq = h.block_id;
    st->accepted++;
    if (session_id)
        *session_id = h.session_id;
    return 0;
}
