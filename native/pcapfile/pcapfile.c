/* Native pcap file port: see pcapfile.h. */
#define _GNU_SOURCE
#include "pcapfile.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>

struct pd_pcap {
    pd_pcap_config cfg;
    char *rx_path;
    char *tx_path;
    pd_buf_pool *pool;
    pd_cap_reader *rx;
    pd_cap_writer *tx;
    int tx_format;
    int started;
    int rx_done;
    int error;
    uint32_t passes_read;
    /* A record read but not yet due (timed replay, or no buffer). */
    int have_pending;
    pd_cap_record pending;
    /* Output interfaces copied from this port's input (pd_pcap_tx_mirror);
     * mirror_synced once interface 0 is the input's. */
    const pd_pcap *mirror;
    int mirror_synced;
    /* Timed replay: file time base and clock base of the current pass. */
    int have_base;
    uint64_t base_file_ns;
    uint64_t base_clock_ns;
    pd_pcap_stats st;
    uint16_t n_info;
    pd_pcap_rxinfo info[PD_BURST_MAX];
    char errtext[320];
    char droptext[320];
};

static void set_text(char *dst, size_t len, const char *text)
{
    if (dst != NULL && len > 0)
        snprintf(dst, len, "%s", text);
}

static uint64_t now_ns(clockid_t clk)
{
    struct timespec ts;

    clock_gettime(clk, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void pd_pcap_config_init(pd_pcap_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->replay_speed = 1.0;
    cfg->passes = 1;
    cfg->snaplen = 65535;
    cfg->nanosecond = 1;
    cfg->tx_link_type = 1;
}

static int ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcasecmp(s + a - b, suffix) == 0;
}

/* Open `path` for reading; fills errbuf on failure. */
static int open_reader(const char *path, pd_cap_reader **out, char *errbuf, size_t errlen)
{
    int rc = pd_cap_reader_open(out, path);

    if (rc == -EBADMSG)
        snprintf(errbuf, errlen, "%s: %s", path, pd_cap_reader_error_text(*out));
    else if (rc < 0)
        snprintf(errbuf, errlen, "%s: %s", path, strerror(-rc));
    if (rc < 0) {
        pd_cap_reader_close(*out);
        *out = NULL;
    }
    return rc;
}

int pd_pcap_open(pd_pcap **out, const pd_pcap_config *cfg, pd_buf_pool *pool, char *errbuf,
                 size_t errlen)
{
    char err[320] = "";
    pd_pcap *p;
    int rc;

    if (out == NULL || cfg == NULL || pool == NULL)
        return -EINVAL;
    *out = NULL;
    set_text(errbuf, errlen, "");
    if (!(cfg->replay_speed > 0) || cfg->snaplen < 64 || cfg->snaplen > 262144 ||
        (cfg->rx_path == NULL && cfg->tx_path == NULL) ||
        (cfg->tx_format != 0 && cfg->tx_format != PD_CAP_PCAP &&
         cfg->tx_format != PD_CAP_PCAPNG)) {
        set_text(errbuf, errlen, "invalid configuration");
        return -EINVAL;
    }

    p = calloc(1, sizeof(*p));
    if (p == NULL)
        return -ENOMEM;
    p->cfg = *cfg;
    p->pool = pool;
    p->rx_done = cfg->rx_path == NULL;
    if (cfg->rx_path != NULL) {
        p->rx_path = strdup(cfg->rx_path);
        if (p->rx_path == NULL) {
            rc = -ENOMEM;
            goto fail;
        }
        rc = open_reader(p->rx_path, &p->rx, err, sizeof(err));
        if (rc < 0)
            goto fail;
    }
    p->cfg.rx_path = p->rx_path;
    if (cfg->tx_path != NULL) {
        pd_cap_iface ifc = {0};

        p->tx_path = strdup(cfg->tx_path);
        if (p->tx_path == NULL) {
            rc = -ENOMEM;
            goto fail;
        }
        p->tx_format = cfg->tx_format;
        if (p->tx_format == 0)
            p->tx_format = ends_with(cfg->tx_path, ".pcapng") || ends_with(cfg->tx_path, ".ng")
                               ? PD_CAP_PCAPNG
                               : PD_CAP_PCAP;
        ifc.link_type = cfg->tx_link_type;
        ifc.snaplen = cfg->snaplen;
        ifc.tsresol = cfg->nanosecond ? 9 : 6;
        rc = pd_cap_writer_open(&p->tx, cfg->tx_path, p->tx_format, &ifc);
        if (rc < 0) {
            snprintf(err, sizeof(err), "%s: %s", cfg->tx_path, strerror(-rc));
            goto fail;
        }
    }
    p->cfg.tx_path = p->tx_path;
    *out = p;
    return 0;

fail:
    set_text(errbuf, errlen, err);
    pd_cap_reader_close(p->rx);
    free(p->rx_path);
    free(p->tx_path);
    free(p);
    return rc;
}

static void tx_failed(pd_pcap *p, int rc)
{
    if (p->error == 0 || p->error == -EBADMSG) {
        p->error = rc;
        snprintf(p->errtext, sizeof(p->errtext), "writing %s failed: %s", p->tx_path,
                 strerror(-rc));
    }
}

int pd_pcap_flush(pd_pcap *p)
{
    int rc;

    if (p->tx == NULL)
        return 0;
    rc = pd_cap_writer_flush(p->tx);
    if (rc < 0)
        tx_failed(p, rc);
    return rc;
}

int pd_pcap_close(pd_pcap *p)
{
    int rc = 0;

    if (p == NULL)
        return 0;
    if (p->tx != NULL) {
        rc = pd_cap_writer_close(p->tx);
        if (rc == 0 && p->error != 0 && p->error != -EBADMSG)
            rc = p->error;
    }
    pd_cap_reader_close(p->rx);
    free(p->rx_path);
    free(p->tx_path);
    free(p);
    return rc;
}

int pd_pcap_start(pd_pcap *p)
{
    p->started = 1;
    return 0;
}

int pd_pcap_stop(pd_pcap *p)
{
    p->started = 0;
    /* Timed replay restarts its clock at the next start. */
    p->have_base = 0;
    return pd_pcap_flush(p);
}

int pd_pcap_rx_done(const pd_pcap *p) { return p->rx_done; }
int pd_pcap_error(const pd_pcap *p) { return p->error; }
const char *pd_pcap_error_text(const pd_pcap *p) { return p->errtext; }
const char *pd_pcap_drop_text(const pd_pcap *p) { return p->droptext; }
int pd_pcap_tx_format(const pd_pcap *p) { return p->tx != NULL ? p->tx_format : 0; }

const pd_pcap_rxinfo *pd_pcap_rx_info(const pd_pcap *p, uint16_t *n)
{
    *n = p->n_info;
    return p->info;
}

int pd_pcap_io_done(void *port_io)
{
    const pd_port_io *io = port_io;
    return pd_pcap_rx_done(io->ctx);
}

/* Fetch the next record into the pending slot: 1, or 0 at the end. */
static int fetch_record(pd_pcap *p)
{
    for (;;) {
        int rc;

        if (p->rx_done)
            return 0;
        rc = pd_cap_read(p->rx, &p->pending);
        if (rc == 1) {
            p->have_pending = 1;
            return 1;
        }
        if (rc < 0) {
            /* Cut-off or corrupt record: the rest of the file is unusable. */
            p->st.rx_malformed++;
            p->error = rc;
            snprintf(p->errtext, sizeof(p->errtext), "%s: %s", p->rx_path,
                     pd_cap_reader_error_text(p->rx));
            p->rx_done = 1;
            return 0;
        }
        /* End of file: another pass, or done. */
        p->st.passes_done++;
        p->passes_read++;
        if (p->cfg.passes != 0 && p->passes_read >= p->cfg.passes) {
            p->rx_done = 1;
            return 0;
        }
        pd_cap_reader_close(p->rx);
        p->rx = NULL;
        rc = open_reader(p->rx_path, &p->rx, p->errtext, sizeof(p->errtext));
        if (rc < 0) {
            p->error = rc;
            p->rx_done = 1;
            return 0;
        }
        p->have_base = 0;
    }
}

/* Nanoseconds until the pending record is due (0 = now). */
static uint64_t pending_delay(pd_pcap *p)
{
    uint64_t file_ns = p->pending.ts_ns, now = now_ns(CLOCK_MONOTONIC), due;

    if (!p->have_base) {
        p->have_base = 1;
        p->base_file_ns = file_ns;
        p->base_clock_ns = now;
        return 0;
    }
    if (file_ns <= p->base_file_ns)
        return 0;
    due = p->base_clock_ns +
          (uint64_t)((double)(file_ns - p->base_file_ns) / p->cfg.replay_speed);
    return due > now ? due - now : 0;
}

int64_t pd_pcap_rx_wait_ns(pd_pcap *p)
{
    if (!p->have_pending && !fetch_record(p))
        return -1;
    if (!p->cfg.replay_timing)
        return 0;
    return (int64_t)pending_delay(p);
}

uint16_t pd_pcap_rx_burst(pd_pcap *p, uint16_t queue, pd_pkt **pkts, uint16_t n)
{
    pd_buf *bufs[PD_BURST_MAX];
    unsigned int have = 0, used = 0;
    uint16_t got = 0;

    p->n_info = 0;
    if (queue != 0 || !p->started || p->rx == NULL)
        return 0;
    if (n > PD_BURST_MAX)
        n = PD_BURST_MAX;

    while (got < n) {
        const pd_cap_record *r = &p->pending;
        pd_pcap_rxinfo *inf;
        pd_buf *b;

        if (!p->have_pending && !fetch_record(p))
            break;
        if (p->cfg.replay_timing && pending_delay(p) > 0)
            break;
        if (r->caplen < r->orig_len && !p->cfg.deliver_snapped) {
            p->st.rx_malformed++;
            p->st.rx_snapped++;
            snprintf(p->droptext, sizeof(p->droptext),
                     "%s: record %llu dropped: cut to %u of %u bytes by the snap length",
                     p->rx_path, (unsigned long long)r->index, r->caplen, r->orig_len);
            p->have_pending = 0;
            continue;
        }
        if (r->caplen > pd_buf_pool_data_room(p->pool)) {
            p->st.rx_malformed++;
            p->st.rx_oversized++;
            snprintf(p->droptext, sizeof(p->droptext),
                     "%s: record %llu dropped: %u bytes do not fit a %u-byte buffer",
                     p->rx_path, (unsigned long long)r->index, r->caplen,
                     pd_buf_pool_data_room(p->pool));
            p->have_pending = 0;
            continue;
        }
        if (used == have) {
            /* Buffers are taken in bulk, one pool lock per burst. */
            unsigned int want = (unsigned int)(n - got);
            if (pd_buf_alloc_bulk(p->pool, bufs, want) < 0) {
                want = pd_buf_pool_avail(p->pool);
                if (want > (unsigned int)(n - got))
                    want = (unsigned int)(n - got);
                if (want == 0 || pd_buf_alloc_bulk(p->pool, bufs, want) < 0) {
                    p->st.rx_nombuf++;
                    break;
                }
            }
            have = want;
            used = 0;
        }
        b = bufs[used++];
        memcpy(pd_buf_data(b), r->data, r->caplen);
        b->data_len = r->caplen;
        b->timestamp_ns = r->ts_ns;
        b->iface = r->iface;
        inf = &p->info[got];
        inf->index = r->index;
        inf->ts_raw = r->ts_raw;
        inf->iface = r->iface;
        inf->section = r->section;
        inf->orig_len = r->orig_len;
        inf->link_type = r->info.link_type;
        inf->tsresol = r->info.tsresol;
        p->have_pending = 0;
        p->st.rx_packets++;
        p->st.rx_bytes += r->caplen;
        pkts[got++] = (pd_pkt *)b;
    }
    if (used < have)
        pd_buf_free_bulk(bufs + used, have - used);
    p->n_info = got;
    return got;
}

int pd_pcap_tx_mirror(pd_pcap *p, const pd_pcap *src)
{
    if (p == NULL)
        return -EINVAL;
    if (src != NULL && (p->tx == NULL || src->rx == NULL))
        return -EINVAL;
    p->mirror = src;
    p->mirror_synced = 0;
    return 0;
}

static int same_iface(const pd_cap_iface *a, const pd_cap_iface *b)
{
    return a->link_type == b->link_type && a->snaplen == b->snaplen &&
           a->tsresol == b->tsresol && a->tsoffset == b->tsoffset;
}

/* The output interface a packet read from input interface `iface` goes to:
 * with a mirror, the input's interfaces up to `iface` are defined in the
 * output first (interface 0 too, while nothing is written yet); without
 * one, or when that fails, interface 0. */
static uint32_t mirrored_iface(pd_pcap *p, uint32_t iface)
{
    const pd_cap_reader *r;
    uint32_t n_in;

    if (p->mirror == NULL || p->mirror->rx == NULL || pd_cap_writer_error(p->tx) != 0)
        return iface < pd_cap_writer_n_ifaces(p->tx) ? iface : 0;
    r = p->mirror->rx;
    n_in = pd_cap_reader_n_ifaces(r);
    if (!p->mirror_synced && n_in > 0) {
        const pd_cap_iface *first = pd_cap_reader_iface(r, 0);
        const pd_cap_iface *mine = pd_cap_writer_iface(p->tx, 0);

        if (pd_cap_writer_format(p->tx) == PD_CAP_PCAPNG && mine != NULL &&
            !same_iface(first, mine) && pd_cap_writer_restart(p->tx, first) < 0)
            return 0;
        p->mirror_synced = 1;
    }
    if (pd_cap_writer_format(p->tx) != PD_CAP_PCAPNG)
        return 0;
    while (pd_cap_writer_n_ifaces(p->tx) <= iface && pd_cap_writer_n_ifaces(p->tx) < n_in) {
        const pd_cap_iface *ifc = pd_cap_reader_iface(r, pd_cap_writer_n_ifaces(p->tx));

        if (ifc == NULL || pd_cap_writer_add_iface(p->tx, ifc) < 0)
            break;
    }
    return iface < pd_cap_writer_n_ifaces(p->tx) ? iface : 0;
}

uint16_t pd_pcap_tx_burst_info(pd_pcap *p, pd_pkt **pkts, uint16_t n, const uint32_t *ifaces,
                               const uint32_t *orig_lens)
{
    uint64_t wall = 0;
    uint16_t i;

    if (!p->started || p->tx == NULL || (p->error != 0 && p->error != -EBADMSG))
        return 0;
    for (i = 0; i < n; i++) {
        pd_buf *b = (pd_buf *)pkts[i];
        uint64_t ts = b->timestamp_ns;
        /* Given, or the one the packet was read from (mapped to ours). */
        uint32_t iface = ifaces != NULL ? ifaces[i] : mirrored_iface(p, b->iface);
        uint32_t orig = orig_lens != NULL ? orig_lens[i] : b->data_len;
        int rc;

        if (orig < b->data_len)
            orig = b->data_len;
        if (b->data_len > p->cfg.snaplen || iface >= pd_cap_writer_n_ifaces(p->tx)) {
            p->st.tx_errors++;
            continue;
        }
        if (ts == 0) {
            if (wall == 0)
                wall = now_ns(CLOCK_REALTIME);
            ts = wall;
        }
        rc = pd_cap_write(p->tx, iface, ts, pd_buf_data(b), b->data_len, orig);
        if (rc < 0) {
            /* This and the rest of the burst are lost: counted. */
            tx_failed(p, rc);
            p->st.tx_errors += (uint64_t)(n - i);
            break;
        }
        p->st.tx_packets++;
        p->st.tx_bytes += b->data_len;
    }
    pd_buf_free_bulk((pd_buf **)pkts, n);
    return n;
}

uint16_t pd_pcap_tx_burst(pd_pcap *p, uint16_t queue, pd_pkt **pkts, uint16_t n)
{
    if (queue != 0)
        return 0;
    return pd_pcap_tx_burst_info(p, pkts, n, NULL, NULL);
}

int pd_pcap_tx_add_iface(pd_pcap *p, uint16_t link_type, uint32_t snaplen, uint8_t tsresol)
{
    pd_cap_iface ifc = {0};
    int rc;

    if (p->tx == NULL)
        return -EINVAL;
    ifc.link_type = link_type;
    ifc.snaplen = snaplen;
    ifc.tsresol = tsresol;
    rc = pd_cap_writer_add_iface(p->tx, &ifc);
    if (rc < 0 && rc != -ENOTSUP && rc != -E2BIG)
        tx_failed(p, rc);
    return rc;
}

void pd_pcap_stats_get(const pd_pcap *p, pd_pcap_stats *out)
{
    *out = p->st;
}

void pd_pcap_stats_reset(pd_pcap *p)
{
    memset(&p->st, 0, sizeof(p->st));
}

static uint16_t io_rx(void *ctx, uint16_t queue, pd_pkt **pkts, uint16_t n)
{
    return pd_pcap_rx_burst(ctx, queue, pkts, n);
}

static uint16_t io_tx(void *ctx, uint16_t queue, pd_pkt **pkts, uint16_t n)
{
    return pd_pcap_tx_burst(ctx, queue, pkts, n);
}

void pd_pcap_port_io(pd_pcap *p, pd_port_io *io)
{
    io->ctx = p;
    io->ops = &pd_buf_ops;
    io->pool = p->pool;
    io->rx_burst = io_rx;
    io->tx_burst = io_tx;
    io->status = NULL;          /* a file does not fail under the loop */
    io->wait_fd = NULL;
    io->tx_burst_ops = NULL;    /* sends its own kind only */
    io->tx_kinds = 0;
}
