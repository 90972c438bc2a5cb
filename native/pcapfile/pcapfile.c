/* Native pcap file port: see pcapfile.h. */
#define _GNU_SOURCE
#include "pcapfile.h"

#include <errno.h>
#include <pcap/pcap.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

struct pd_pcap {
    pd_pcap_config cfg;
    char *rx_path;
    pd_buf_pool *pool;
    pcap_t *rx;
    pcap_t *tx_dead;
    pcap_dumper_t *dumper;
    int started;
    int rx_done;
    int error;
    uint32_t passes_read;
    /* A record read but not yet due (timed replay, or no buffer). */
    int have_pending;
    struct pcap_pkthdr *pending_hdr;
    const uint8_t *pending_data;
    /* Timed replay: file time base and clock base of the current pass. */
    int have_base;
    uint64_t base_file_ns;
    uint64_t base_clock_ns;
    pd_pcap_stats st;
    char errtext[PCAP_ERRBUF_SIZE];
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
}

/* Open `path` for reading as a capture; fills errbuf on failure. */
static int open_reader(const char *path, pcap_t **out, char *errbuf)
{
    struct stat sb;
    FILE *fp;
    pcap_t *pc;

    *out = NULL;
    if (stat(path, &sb) < 0) {
        int err = errno;
        snprintf(errbuf, PCAP_ERRBUF_SIZE, "%s: %s", path, strerror(err));
        return -err;
    }
    if (S_ISDIR(sb.st_mode)) {
        snprintf(errbuf, PCAP_ERRBUF_SIZE, "%s: is a directory", path);
        return -EISDIR;
    }
    fp = fopen(path, "rb");
    if (fp == NULL) {
        int err = errno;
        snprintf(errbuf, PCAP_ERRBUF_SIZE, "%s: %s", path, strerror(err));
        return -err;
    }
    pc = pcap_fopen_offline_with_tstamp_precision(fp, PCAP_TSTAMP_PRECISION_NANO, errbuf);
    if (pc == NULL) {
        fclose(fp);
        return -EBADMSG;
    }
    if (pcap_datalink(pc) != DLT_EN10MB) {
        snprintf(errbuf, PCAP_ERRBUF_SIZE, "%s: link type %s, only Ethernet is supported",
                 path, pcap_datalink_val_to_name(pcap_datalink(pc)));
        pcap_close(pc);
        return -EPROTONOSUPPORT;
    }
    *out = pc;
    return 0;
}

int pd_pcap_open(pd_pcap **out, const pd_pcap_config *cfg, pd_buf_pool *pool, char *errbuf,
                 size_t errlen)
{
    char pcap_err[PCAP_ERRBUF_SIZE] = "";
    pd_pcap *p;
    int rc;

    if (out == NULL || cfg == NULL || pool == NULL)
        return -EINVAL;
    *out = NULL;
    set_text(errbuf, errlen, "");
    if (!(cfg->replay_speed > 0) || cfg->snaplen < 64 || cfg->snaplen > 262144 ||
        (cfg->rx_path == NULL && cfg->tx_path == NULL)) {
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
        rc = open_reader(p->rx_path, &p->rx, pcap_err);
        if (rc < 0)
            goto fail;
    }
    p->cfg.rx_path = p->rx_path;
    if (cfg->tx_path != NULL) {
        FILE *fp;

        p->tx_dead = pcap_open_dead_with_tstamp_precision(
            DLT_EN10MB, (int)cfg->snaplen,
            cfg->nanosecond ? PCAP_TSTAMP_PRECISION_NANO : PCAP_TSTAMP_PRECISION_MICRO);
        if (p->tx_dead == NULL) {
            rc = -ENOMEM;
            goto fail;
        }
        fp = fopen(cfg->tx_path, "wb");
        if (fp == NULL) {
            rc = -errno;
            snprintf(pcap_err, sizeof(pcap_err), "%s: %s", cfg->tx_path, strerror(-rc));
            goto fail;
        }
        p->dumper = pcap_dump_fopen(p->tx_dead, fp);
        if (p->dumper == NULL) {
            snprintf(pcap_err, sizeof(pcap_err), "%s", pcap_geterr(p->tx_dead));
            fclose(fp);
            rc = -EIO;
            goto fail;
        }
    }
    p->cfg.tx_path = NULL; /* not kept: only the open dumper is used */
    *out = p;
    return 0;

fail:
    set_text(errbuf, errlen, pcap_err);
    if (p->dumper != NULL)
        pcap_dump_close(p->dumper);
    if (p->tx_dead != NULL)
        pcap_close(p->tx_dead);
    if (p->rx != NULL)
        pcap_close(p->rx);
    free(p->rx_path);
    free(p);
    return rc;
}

int pd_pcap_flush(pd_pcap *p)
{
    if (p->dumper == NULL)
        return 0;
    if (pcap_dump_flush(p->dumper) != 0 || ferror(pcap_dump_file(p->dumper))) {
        p->error = -EIO;
        snprintf(p->errtext, sizeof(p->errtext), "writing the pcap file failed");
        return -EIO;
    }
    return 0;
}

int pd_pcap_close(pd_pcap *p)
{
    int rc = 0;

    if (p == NULL)
        return 0;
    if (p->dumper != NULL) {
        rc = pd_pcap_flush(p);
        pcap_dump_close(p->dumper);
    }
    if (p->tx_dead != NULL)
        pcap_close(p->tx_dead);
    if (p->rx != NULL)
        pcap_close(p->rx);
    free(p->rx_path);
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

static uint64_t record_ns(const struct pcap_pkthdr *h)
{
    /* Opened with nanosecond precision: tv_usec holds nanoseconds. */
    return (uint64_t)h->ts.tv_sec * 1000000000ull + (uint64_t)h->ts.tv_usec;
}

/* Fetch the next record into the pending slot: 1, or 0 at the end. */
static int fetch_record(pd_pcap *p)
{
    for (;;) {
        int rc;

        if (p->rx_done)
            return 0;
        rc = pcap_next_ex(p->rx, &p->pending_hdr, &p->pending_data);
        if (rc == 1) {
            p->have_pending = 1;
            return 1;
        }
        if (rc == PCAP_ERROR) {
            /* Cut-off or corrupt record: the rest of the file is unusable. */
            p->st.rx_malformed++;
            p->error = -EBADMSG;
            snprintf(p->errtext, sizeof(p->errtext), "%s: %s", p->rx_path,
                     pcap_geterr(p->rx));
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
        pcap_close(p->rx);
        p->rx = NULL;
        rc = open_reader(p->rx_path, &p->rx, p->errtext);
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
    uint64_t file_ns = record_ns(p->pending_hdr), now = now_ns(CLOCK_MONOTONIC), due;

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

    if (queue != 0 || !p->started || p->rx == NULL)
        return 0;
    if (n > PD_BURST_MAX)
        n = PD_BURST_MAX;

    while (got < n) {
        const struct pcap_pkthdr *h;
        pd_buf *b;

        if (!p->have_pending && !fetch_record(p))
            break;
        if (p->cfg.replay_timing && pending_delay(p) > 0)
            break;
        h = p->pending_hdr;
        if (h->caplen < h->len || h->caplen < 14 ||
            h->caplen > pd_buf_pool_data_room(p->pool)) {
            p->st.rx_malformed++;
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
        memcpy(pd_buf_data(b), p->pending_data, h->caplen);
        b->data_len = h->caplen;
        b->timestamp_ns = record_ns(h);
        p->have_pending = 0;
        p->st.rx_packets++;
        p->st.rx_bytes += h->caplen;
        pkts[got++] = (pd_pkt *)b;
    }
    if (used < have)
        pd_buf_free_bulk(bufs + used, have - used);
    return got;
}

uint16_t pd_pcap_tx_burst(pd_pcap *p, uint16_t queue, pd_pkt **pkts, uint16_t n)
{
    uint64_t wall = 0;
    uint16_t i;

    if (queue != 0 || !p->started || p->dumper == NULL || p->error == -EIO)
        return 0;
    for (i = 0; i < n; i++) {
        pd_buf *b = (pd_buf *)pkts[i];
        struct pcap_pkthdr h;
        uint64_t ts = b->timestamp_ns;

        if (b->data_len > p->cfg.snaplen) {
            p->st.tx_errors++;
            continue;
        }
        if (ts == 0) {
            if (wall == 0)
                wall = now_ns(CLOCK_REALTIME);
            ts = wall;
        }
        h.ts.tv_sec = (time_t)(ts / 1000000000ull);
        h.ts.tv_usec = (suseconds_t)(ts % 1000000000ull);
        if (!p->cfg.nanosecond)
            h.ts.tv_usec /= 1000;
        h.caplen = b->data_len;
        h.len = b->data_len;
        pcap_dump((u_char *)p->dumper, &h, pd_buf_data(b));
        p->st.tx_packets++;
        p->st.tx_bytes += b->data_len;
    }
    pd_buf_free_bulk((pd_buf **)pkts, n);
    if (ferror(pcap_dump_file(p->dumper))) {
        p->error = -EIO;
        snprintf(p->errtext, sizeof(p->errtext), "writing the pcap file failed");
    }
    return n;
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
}
