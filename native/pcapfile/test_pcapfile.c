/* C unit tests of the pcap file port: write, read back, pcapng, replay
 * timing, looping, and bad files.  Files go to a private temp directory. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "capfile_testlib.h"
#include "pcapfile.h"
#include "pd_check.h"

static char dir[64];

static char *path_of(const char *name)
{
    static char buf[4][128];
    static int i;
    char *p = buf[i++ % 4];
    snprintf(p, 128, "%s/%s", dir, name);
    return p;
}

static void fill(pd_buf *b, uint32_t len, uint8_t seed)
{
    uint8_t *d = pd_buf_data(b);
    for (uint32_t i = 0; i < len; i++)
        d[i] = (uint8_t)(seed * 7 + i);
    b->data_len = len;
}

static int check_payload(pd_buf *b, uint8_t seed)
{
    const uint8_t *d = pd_buf_data(b);
    for (uint32_t i = 0; i < b->data_len; i++)
        if (d[i] != (uint8_t)(seed * 7 + i))
            return 0;
    return 1;
}

/* Write `count` frames of lengths 60 + 97*i with timestamps gap_ns apart. */
static void write_file(pd_buf_pool *pool, const char *path, int count, uint64_t gap_ns)
{
    pd_pcap_config cfg;
    pd_pcap *p;
    pd_buf *bufs[64];

    pd_pcap_config_init(&cfg);
    cfg.tx_path = path;
    CHECK(pd_pcap_open(&p, &cfg, pool, NULL, 0) == 0);
    CHECK(pd_pcap_start(p) == 0);
    CHECK(pd_buf_alloc_bulk(pool, bufs, (unsigned)count) == 0);
    for (int i = 0; i < count; i++) {
        fill(bufs[i], 60 + 97u * (uint32_t)i, (uint8_t)i);
        bufs[i]->timestamp_ns = 1700000000000000000ull + gap_ns * (uint64_t)i;
    }
    CHECK(pd_pcap_tx_burst(p, 0, (pd_pkt **)bufs, (uint16_t)count) == count);
    CHECK(pd_pcap_close(p) == 0);
}

static void test_round_trip(pd_buf_pool *pool)
{
    pd_pcap_config cfg;
    pd_pcap *p;
    pd_buf *bufs[64];
    pd_pcap_stats st;
    uint16_t n;

    write_file(pool, path_of("rt.pcap"), 10, 1000);
    pd_pcap_config_init(&cfg);
    cfg.rx_path = path_of("rt.pcap");
    CHECK(pd_pcap_open(&p, &cfg, pool, NULL, 0) == 0);
    CHECK(pd_pcap_rx_burst(p, 0, (pd_pkt **)bufs, 64) == 0); /* not started */
    pd_pcap_start(p);
    n = pd_pcap_rx_burst(p, 0, (pd_pkt **)bufs, 4);
    CHECK(n == 4);
    n += pd_pcap_rx_burst(p, 0, (pd_pkt **)bufs + 4, 60);
    CHECK(n == 10);
    for (int i = 0; i < n; i++) {
        CHECK(bufs[i]->data_len == 60 + 97u * (uint32_t)i);
        CHECK(check_payload(bufs[i], (uint8_t)i));
        CHECK(bufs[i]->timestamp_ns == 1700000000000000000ull + 1000ull * (uint64_t)i);
    }
    pd_buf_free_bulk(bufs, n);
    CHECK(pd_pcap_rx_done(p));
    CHECK(pd_pcap_error(p) == 0);
    pd_pcap_stats_get(p, &st);
    CHECK(st.rx_packets == 10 && st.passes_done == 1 && st.rx_malformed == 0);
    CHECK(pd_pcap_close(p) == 0);
}

static void test_loop_passes(pd_buf_pool *pool)
{
    pd_pcap_config cfg;
    pd_pcap *p;
    pd_buf *bufs[64];
    unsigned int total = 0;
    uint16_t n;

    write_file(pool, path_of("loop.pcap"), 5, 1000);
    pd_pcap_config_init(&cfg);
    cfg.rx_path = path_of("loop.pcap");
    cfg.passes = 3;
    CHECK(pd_pcap_open(&p, &cfg, pool, NULL, 0) == 0);
    pd_pcap_start(p);
    while ((n = pd_pcap_rx_burst(p, 0, (pd_pkt **)bufs, 4)) > 0) {
        for (uint16_t i = 0; i < n; i++)
            CHECK(check_payload(bufs[i], (uint8_t)((total + i) % 5)));
        total += n;
        pd_buf_free_bulk(bufs, n);
    }
    CHECK(total == 15);
    CHECK(pd_pcap_rx_done(p));
    CHECK(pd_pcap_close(p) == 0);
}

static uint64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void test_timed_replay(pd_buf_pool *pool)
{
    pd_pcap_config cfg;
    pd_pcap *p;
    pd_buf *bufs[8];
    uint64_t t0, t1;
    unsigned int total = 0;

    write_file(pool, path_of("timed.pcap"), 3, 40000000ull); /* 40 ms apart */
    pd_pcap_config_init(&cfg);
    cfg.rx_path = path_of("timed.pcap");
    cfg.replay_timing = 1;
    cfg.replay_speed = 2.0; /* -> 20 ms apart */
    CHECK(pd_pcap_open(&p, &cfg, pool, NULL, 0) == 0);
    pd_pcap_start(p);
    t0 = mono_ms();
    CHECK(pd_pcap_rx_burst(p, 0, (pd_pkt **)bufs, 8) == 1); /* first is due now */
    pd_buf_free_bulk(bufs, 1);
    total = 1;
    CHECK(pd_pcap_rx_wait_ns(p) > 5000000); /* next one ~20 ms away */
    while (total < 3 && mono_ms() - t0 < 2000) {
        uint16_t n = pd_pcap_rx_burst(p, 0, (pd_pkt **)bufs, 8);
        pd_buf_free_bulk(bufs, n);
        total += n;
        usleep(1000);
    }
    t1 = mono_ms();
    CHECK(total == 3);
    CHECK(t1 - t0 >= 38); /* two gaps of 20 ms */
    CHECK(pd_pcap_rx_wait_ns(p) == -1);
    CHECK(pd_pcap_close(p) == 0);
}

static void put32(FILE *f, uint32_t v) { fwrite(&v, 4, 1, f); }
static void put16(FILE *f, uint16_t v) { fwrite(&v, 2, 1, f); }

/* A minimal pcapng: section header, Ethernet interface, two enhanced
 * packet blocks (60 and 61 bytes, padded to 4). */
static void write_pcapng(const char *path)
{
    FILE *f = fopen(path, "wb");
    uint8_t frame[64];

    for (int i = 0; i < 64; i++)
        frame[i] = (uint8_t)i;
    put32(f, 0x0A0D0D0A); put32(f, 28); put32(f, 0x1A2B3C4D);
    put16(f, 1); put16(f, 0); put32(f, 0xffffffff); put32(f, 0xffffffff); put32(f, 28);
    put32(f, 1); put32(f, 20); put16(f, 1); put16(f, 0); put32(f, 65535); put32(f, 20);
    for (uint32_t len = 60; len <= 61; len++) {
        uint32_t padded = (len + 3) & ~3u, total = 32 + padded;
        uint8_t pad[4] = {0};
        put32(f, 6); put32(f, total); put32(f, 0); put32(f, 0); put32(f, len);
        put32(f, len); put32(f, len);
        fwrite(frame, 1, len, f);
        fwrite(pad, 1, padded - len, f);
        put32(f, total);
    }
    fclose(f);
}

static void test_pcapng_read(pd_buf_pool *pool)
{
    pd_pcap_config cfg;
    pd_pcap *p;
    pd_buf *bufs[8];
    char err[256];
    uint16_t n;

    write_pcapng(path_of("two.pcapng"));
    pd_pcap_config_init(&cfg);
    cfg.rx_path = path_of("two.pcapng");
    CHECK(pd_pcap_open(&p, &cfg, pool, err, sizeof(err)) == 0);
    if (p == NULL) {
        fprintf(stderr, "pcapng: %s\n", err);
        return;
    }
    pd_pcap_start(p);
    n = pd_pcap_rx_burst(p, 0, (pd_pkt **)bufs, 8);
    CHECK(n == 2);
    if (n == 2) {
        CHECK(bufs[0]->data_len == 60 && bufs[1]->data_len == 61);
        CHECK(pd_buf_data(bufs[1])[60] == 60);
    }
    pd_buf_free_bulk(bufs, n);
    CHECK(pd_pcap_close(p) == 0);
}

static void test_bad_files(pd_buf_pool *pool)
{
    pd_pcap_config cfg;
    pd_pcap *p = NULL;
    pd_buf *bufs[16];
    char err[256];
    FILE *f;
    long size;
    char *data;
    uint16_t n;

    pd_pcap_config_init(&cfg);
    cfg.rx_path = path_of("missing.pcap");
    CHECK(pd_pcap_open(&p, &cfg, pool, err, sizeof(err)) == -ENOENT);
    CHECK(p == NULL && strstr(err, "missing.pcap") != NULL);

    cfg.rx_path = dir;
    CHECK(pd_pcap_open(&p, &cfg, pool, err, sizeof(err)) == -EISDIR);

    f = fopen(path_of("garbage.pcap"), "wb");
    fputs("this is not a capture file at all, just text\n", f);
    fclose(f);
    cfg.rx_path = path_of("garbage.pcap");
    CHECK(pd_pcap_open(&p, &cfg, pool, err, sizeof(err)) == -EBADMSG);
    CHECK(err[0] != '\0');

    f = fopen(path_of("empty.pcap"), "wb");
    fclose(f);
    cfg.rx_path = path_of("empty.pcap");
    CHECK(pd_pcap_open(&p, &cfg, pool, err, sizeof(err)) == -EBADMSG);

    /* Cut the last record in half: the good records come through, then the
     * stream ends with -EBADMSG and one malformed record counted. */
    write_file(pool, path_of("cut.pcap"), 4, 1000);
    f = fopen(path_of("cut.pcap"), "rb");
    fseek(f, 0, SEEK_END);
    size = ftell(f);
    rewind(f);
    data = malloc((size_t)size);
    CHECK(fread(data, 1, (size_t)size, f) == (size_t)size);
    fclose(f);
    f = fopen(path_of("cut.pcap"), "wb");
    fwrite(data, 1, (size_t)size - 100, f);
    fclose(f);
    free(data);
    cfg.rx_path = path_of("cut.pcap");
    CHECK(pd_pcap_open(&p, &cfg, pool, err, sizeof(err)) == 0);
    if (p != NULL) {
        pd_pcap_stats st;
        pd_pcap_start(p);
        n = pd_pcap_rx_burst(p, 0, (pd_pkt **)bufs, 16);
        CHECK(n == 3);
        for (uint16_t i = 0; i < n; i++)
            CHECK(check_payload(bufs[i], (uint8_t)i));
        pd_buf_free_bulk(bufs, n);
        CHECK(pd_pcap_error(p) == -EBADMSG);
        CHECK(strstr(pd_pcap_error_text(p), "cut.pcap") != NULL);
        pd_pcap_stats_get(p, &st);
        CHECK(st.rx_malformed == 1);
        CHECK(pd_pcap_rx_done(p));
        pd_pcap_close(p);
    }

    pd_pcap_config_init(&cfg);
    cfg.tx_path = path_of("no-such-dir/out.pcap");
    CHECK(pd_pcap_open(&p, &cfg, pool, err, sizeof(err)) == -ENOENT);
    pd_pcap_config_init(&cfg);
    CHECK(pd_pcap_open(&p, &cfg, pool, err, sizeof(err)) == -EINVAL);
}

/* Several interfaces and link types: every record delivered with its
 * interface; the snapped one dropped and named; pcapng out with interfaces. */
static void test_interfaces_and_pcapng_out(pd_buf_pool *pool)
{
    static tbuf t;
    pd_pcap_config cfg;
    pd_pcap *p, *o;
    pd_pkt *pkts[32];
    const pd_pcap_rxinfo *inf;
    pd_pcap_stats st;
    uint32_t ifaces[32];
    uint16_t n, ni;
    FILE *f;

    t_rich_pcapng(&t, 1);
    f = fopen(path_of("rich.pcapng"), "wb");
    CHECK(f != NULL && fwrite(t.data, 1, t.len, f) == t.len);
    fclose(f);
    pd_pcap_config_init(&cfg);
    cfg.rx_path = path_of("rich.pcapng");
    CHECK(pd_pcap_open(&p, &cfg, pool, NULL, 0) == 0);
    CHECK(pd_pcap_start(p) == 0);
    n = pd_pcap_rx_burst(p, 0, pkts, 32);
    CHECK(n == 5); /* 6 records, the snapped one dropped */
    inf = pd_pcap_rx_info(p, &ni);
    CHECK(ni == n);
    CHECK(inf[0].iface == 0 && inf[0].link_type == 1 && inf[0].index == 1);
    CHECK(inf[1].iface == 2 && inf[1].index == 3 && inf[1].tsresol == (0x80 | 20));
    CHECK(inf[3].iface == 1 && inf[3].link_type == 113); /* the OPB */
    CHECK(inf[4].section == 1);
    CHECK(strstr(pd_pcap_drop_text(p), "record 2") != NULL);
    pd_pcap_stats_get(p, &st);
    CHECK(st.rx_snapped == 1 && st.rx_malformed == 1 && st.rx_packets == 5);
    CHECK(pd_pcap_rx_burst(p, 0, pkts + n, 4) == 0);
    {
        /* the pipeline's done(): the port io is the endpoint's first member */
        pd_port_io io;
        pd_pcap_port_io(p, &io);
        CHECK(pd_pcap_io_done(&io) == 1);
    }

    pd_pcap_config_init(&cfg);
    cfg.tx_path = path_of("out.pcapng");
    CHECK(pd_pcap_open(&o, &cfg, pool, NULL, 0) == 0);
    CHECK(pd_pcap_tx_format(o) == PD_CAP_PCAPNG);
    CHECK(pd_pcap_start(o) == 0);
    CHECK(pd_pcap_tx_add_iface(o, 113, 200, 6) == 1);
    for (uint16_t i = 0; i < n; i++)
        ifaces[i] = inf[i].link_type == 113 ? 1 : 0;
    CHECK(pd_pcap_tx_burst_info(o, pkts, n, ifaces, NULL) == n);
    CHECK(pd_pcap_close(o) == 0);
    CHECK(pd_pcap_close(p) == 0);
    {
        pd_cap_reader *r;
        pd_cap_record rec;
        int recs = 0, sll = 0;
        CHECK(pd_cap_reader_open(&r, path_of("out.pcapng")) == 0);
        while (pd_cap_read(r, &rec) == 1) {
            recs++;
            sll += rec.info.link_type == 113 && rec.iface == 1;
        }
        CHECK(recs == 5 && sll == 2); /* the OPB and the second section's record */
        pd_cap_reader_close(r);
    }

    /* A full device: the write error is kept, later bursts take nothing. */
    pd_pcap_config_init(&cfg);
    cfg.tx_path = "/dev/full";
    if (pd_pcap_open(&o, &cfg, pool, NULL, 0) == 0) {
        pd_buf *b[8];
        int rc = 0;
        CHECK(pd_pcap_start(o) == 0);
        for (int round = 0; round < 200 && rc == 0; round++) {
            CHECK(pd_buf_alloc_bulk(pool, b, 8) == 0);
            for (int i = 0; i < 8; i++)
                fill(b[i], 1500, (uint8_t)i);
            CHECK(pd_pcap_tx_burst(o, 0, (pd_pkt **)b, 8) == 8);
            rc = pd_pcap_error(o);
        }
        if (rc == 0)
            rc = pd_pcap_flush(o);
        CHECK(pd_pcap_error(o) == -ENOSPC);
        CHECK(strstr(pd_pcap_error_text(o), "/dev/full") != NULL);
        CHECK(pd_buf_alloc_bulk(pool, b, 1) == 0);
        CHECK(pd_pcap_tx_burst(o, 0, (pd_pkt **)b, 1) == 0); /* refused, caller keeps it */
        pd_buf_free_bulk(b, 1);
        pd_pcap_stats_get(o, &st);
        CHECK(st.tx_errors > 0);
        CHECK(pd_pcap_close(o) == -ENOSPC);
    }
}

/* A pcapng input with two interfaces (different snap lengths, microsecond
 * and nanosecond resolution, an offset) passed through a port pair whose
 * output mirrors the input: every record keeps its interface, and the
 * output's interfaces are the input's. */
static void test_mirror_keeps_interfaces(pd_buf_pool *pool)
{
    pd_cap_iface in0 = {.link_type = 1, .snaplen = 2000, .tsresol = 6, .tsoffset = 0};
    pd_cap_iface in1 = {.link_type = 1, .snaplen = 1500, .tsresol = 9, .tsoffset = 100};
    pd_cap_writer *w;
    pd_cap_reader *r;
    pd_cap_record rec;
    pd_pcap_config cfg;
    pd_pcap *in, *out;
    pd_buf *bufs[16];
    uint8_t data[200];
    uint16_t n;
    int i;

    memset(data, 0xab, sizeof(data));
    CHECK(pd_cap_writer_open(&w, path_of("ifs_in.pcapng"), PD_CAP_PCAPNG, &in0) == 0);
    CHECK(pd_cap_writer_add_iface(w, &in1) == 1);
    for (i = 0; i < 6; i++)
        CHECK(pd_cap_write_raw(w, (uint32_t)(i % 2), 1700000000000000ull + (uint64_t)i, data,
                               60u + (uint32_t)i, 60u + (uint32_t)i) == 0);
    CHECK(pd_cap_writer_close(w) == 0);

    pd_pcap_config_init(&cfg);
    cfg.rx_path = path_of("ifs_in.pcapng");
    CHECK(pd_pcap_open(&in, &cfg, pool, NULL, 0) == 0);
    pd_pcap_config_init(&cfg);
    cfg.tx_path = path_of("ifs_out.pcapng");
    CHECK(pd_pcap_open(&out, &cfg, pool, NULL, 0) == 0);
    CHECK(pd_pcap_tx_mirror(in, out) == -EINVAL);          /* in writes nothing */
    CHECK(pd_pcap_tx_mirror(out, in) == 0);
    pd_pcap_start(in);
    pd_pcap_start(out);
    n = pd_pcap_rx_burst(in, 0, (pd_pkt **)bufs, 16);
    CHECK(n == 6);
    for (i = 0; i < n; i++)
        CHECK(bufs[i]->iface == (uint32_t)(i % 2));
    CHECK(pd_pcap_tx_burst(out, 0, (pd_pkt **)bufs, n) == n);
    CHECK(pd_pcap_close(out) == 0);
    CHECK(pd_pcap_close(in) == 0);

    CHECK(pd_cap_reader_open(&r, path_of("ifs_out.pcapng")) == 0);
    for (i = 0; pd_cap_read(r, &rec) == 1; i++) {
        CHECK(rec.iface == (uint32_t)(i % 2));
        CHECK(rec.ts_raw == 1700000000000000ull + (uint64_t)i);
        CHECK(rec.caplen == 60u + (uint32_t)i);
        CHECK(rec.info.snaplen == (i % 2 ? 1500u : 2000u));
        CHECK(rec.info.tsresol == (i % 2 ? 9 : 6));
        CHECK(rec.info.tsoffset == (i % 2 ? 100 : 0));
    }
    CHECK(i == 6);
    CHECK(pd_cap_reader_n_ifaces(r) == 2);
    pd_cap_reader_close(r);
}

int main(void)
{
    pd_buf_pool *pool;
    char cmd[96];

    snprintf(dir, sizeof(dir), "/tmp/pd-pcap-test-XXXXXX");
    if (mkdtemp(dir) == NULL)
        return 1;
    if (pd_buf_pool_create(&pool, 128, 2048, 128) != 0)
        return 1;
    test_round_trip(pool);
    test_loop_passes(pool);
    test_timed_replay(pool);
    test_pcapng_read(pool);
    test_bad_files(pool);
    test_interfaces_and_pcapng_out(pool);
    test_mirror_keeps_interfaces(pool);
    CHECK(pd_buf_pool_avail(pool) == pd_buf_pool_count(pool));
    CHECK(pd_buf_pool_free(pool, 0) == 0);
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    if (system(cmd) != 0)
        failures++;
    return pd_check_result();
}
