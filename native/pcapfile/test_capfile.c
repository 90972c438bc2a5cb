/* C unit tests of the capture file reader and writer (capfile.h): every
 * block kind in both byte orders, several interfaces, link types and
 * timestamp resolutions, cut-off files, and write errors. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "capfile.h"
#include "capfile_testlib.h"
#include "pd_check.h"

static tbuf tb;

static void test_rich(int swap)
{
    pd_cap_reader *r;
    pd_cap_record rec;
    int n = t_rich_pcapng(&tb, swap);

    CHECK(pd_cap_reader_open_mem(&r, tb.data, tb.len) == 0);
    CHECK(pd_cap_reader_format(r) == PD_CAP_PCAPNG);
    /* EPB, Ethernet, microseconds */
    CHECK(pd_cap_read(r, &rec) == 1);
    CHECK(rec.index == 1 && rec.iface == 0 && rec.info.link_type == 1);
    CHECK(rec.caplen == 60 && rec.orig_len == 60 && rec.data[0] == 1);
    CHECK(rec.ts_raw == 1700000000123456ull && rec.ts_ns == 1700000000123456000ull);
    /* EPB, SLL, ns, snapped */
    CHECK(pd_cap_read(r, &rec) == 1);
    CHECK(rec.iface == 1 && rec.info.link_type == 113 && rec.info.snaplen == 128);
    CHECK(rec.caplen == 128 && rec.orig_len == 300 && rec.info.tsresol == 9);
    CHECK(rec.ts_ns == 1700000000123456789ull);
    /* EPB, binary resolution and an offset */
    CHECK(pd_cap_read(r, &rec) == 1);
    CHECK(rec.iface == 2 && rec.info.tsresol == (0x80 | 20) && rec.info.tsoffset == 100);
    CHECK(rec.ts_ns == 1700000100500000000ull);
    /* SPB: interface 0 */
    CHECK(pd_cap_read(r, &rec) == 1);
    CHECK(rec.iface == 0 && rec.caplen == 70 && rec.orig_len == 70);
    /* OPB on interface 1 */
    CHECK(pd_cap_read(r, &rec) == 1);
    CHECK(rec.iface == 1 && rec.caplen == 64 && rec.ts_ns == 1700000001000000000ull);
    /* second section */
    CHECK(pd_cap_read(r, &rec) == 1);
    CHECK(rec.section == 1 && rec.iface == 0 && rec.info.link_type == 113);
    CHECK(rec.ts_ns == 1700000002500000000ull && rec.index == (uint64_t)n);
    CHECK(pd_cap_read(r, &rec) == 0);
    CHECK(pd_cap_reader_skipped(r) == 2);
    pd_cap_reader_close(r);
}

static void test_pcap(int swap, int ns)
{
    pd_cap_reader *r;
    pd_cap_record rec;
    uint8_t pkt[100] = {7, 8, 9};

    tb.len = 0;
    tb.swap = swap;
    t_pcap_header(&tb, ns, 80, 113);
    t_pcap_record(&tb, 1700000000, 999, pkt, 80, 100);
    t_pcap_record(&tb, 1700000001, 1, pkt, 20, 20);
    CHECK(pd_cap_reader_open_mem(&r, tb.data, tb.len) == 0);
    CHECK(pd_cap_reader_format(r) == PD_CAP_PCAP);
    CHECK(pd_cap_read(r, &rec) == 1);
    CHECK(rec.info.link_type == 113 && rec.info.snaplen == 80);
    CHECK(rec.caplen == 80 && rec.orig_len == 100 && rec.data[2] == 9);
    CHECK(rec.ts_ns == 1700000000000000000ull + (ns ? 999u : 999000u));
    CHECK(pd_cap_read(r, &rec) == 1 && rec.index == 2);
    CHECK(pd_cap_read(r, &rec) == 0);
    pd_cap_reader_close(r);
}

/* Every prefix of a valid file: the records before the cut, then a clean
 * end (cut at a record boundary) or -EBADMSG naming the record. */
static void test_prefixes(void)
{
    for (int fmt = 0; fmt < 2; fmt++) {
        size_t full;
        if (fmt == 0) {
            t_rich_pcapng(&tb, 1);
        } else {
            uint8_t pkt[64] = {0};
            tb.len = 0;
            tb.swap = 0;
            t_pcap_header(&tb, 1, 65535, 1);
            for (int i = 0; i < 5; i++)
                t_pcap_record(&tb, 1, (uint32_t)i, pkt, 60, 60);
        }
        full = tb.len;
        for (size_t cut = 0; cut < full; cut++) {
            pd_cap_reader *r;
            pd_cap_record rec;
            int rc = pd_cap_reader_open_mem(&r, tb.data, cut);
            int recs = 0;

            if (rc == 0) {
                while ((rc = pd_cap_read(r, &rec)) == 1)
                    recs++;
            }
            CHECK(rc == 0 || rc == -EBADMSG);
            if (rc == -EBADMSG && recs > 0)
                CHECK(strstr(pd_cap_reader_error_text(r), "byte") != NULL);
            pd_cap_reader_close(r);
        }
    }
}

static void test_bad_blocks(void)
{
    pd_cap_reader *r;
    pd_cap_record rec;
    uint8_t pkt[64] = {0};

    /* EPB on an interface that was never described */
    tb.len = 0;
    tb.swap = 0;
    t_shb(&tb);
    t_idb(&tb, 1, 0, -1, 0);
    t_epb(&tb, 0, 1, pkt, 60, 60);
    t_epb(&tb, 3, 1, pkt, 60, 60);
    CHECK(pd_cap_reader_open_mem(&r, tb.data, tb.len) == 0);
    CHECK(pd_cap_read(r, &rec) == 1);
    CHECK(pd_cap_read(r, &rec) == -EBADMSG);
    CHECK(strstr(pd_cap_reader_error_text(r), "record 2") != NULL);
    CHECK(strstr(pd_cap_reader_error_text(r), "interface 3") != NULL);
    CHECK(pd_cap_read(r, &rec) == -EBADMSG); /* stays failed */
    pd_cap_reader_close(r);

    /* not a capture */
    CHECK(pd_cap_reader_open_mem(&r, (const uint8_t *)"hello world, not pcap", 21) == -EBADMSG);
    pd_cap_reader_close(r);
    CHECK(pd_cap_reader_open(&r, "/nonexistent/x.pcap") == -ENOENT);
    CHECK(pd_cap_reader_open(&r, "/") == -EISDIR);
}

static void test_ts_conversions(void)
{
    CHECK(pd_cap_ts_to_ns(1, 6) == 1000);
    CHECK(pd_cap_ts_to_ns(1, 9) == 1);
    CHECK(pd_cap_ts_to_ns(1500, 12) == 1);
    CHECK(pd_cap_ts_to_ns(1u << 10, 0x80 | 10) == 1000000000u);
    CHECK(pd_cap_ts_to_ns(UINT64_MAX, 0) == UINT64_MAX);
    CHECK(pd_cap_ns_to_ts(1000000000u, 0x80 | 10) == 1024);
    CHECK(pd_cap_ns_to_ts(123456789, 6) == 123456);
}

static void test_write_read(const char *dir)
{
    char path[256];
    pd_cap_writer *w;
    pd_cap_reader *r;
    pd_cap_record rec;
    pd_cap_iface eth = {1, 65535, 9, 0}, sll = {113, 96, 6, 0};
    uint8_t pkt[200];

    for (unsigned i = 0; i < sizeof(pkt); i++)
        pkt[i] = (uint8_t)i;
    snprintf(path, sizeof(path), "%s/w.pcapng", dir);
    CHECK(pd_cap_writer_open(&w, path, PD_CAP_PCAPNG, &eth) == 0);
    CHECK(pd_cap_writer_add_iface(w, &sll) == 1);
    CHECK(pd_cap_write(w, 0, 1700000000123456789ull, pkt, 61, 61) == 0);
    CHECK(pd_cap_write_raw(w, 1, 1700000000123456ull, pkt, 96, 200) == 0);
    CHECK(pd_cap_write(w, 2, 1, pkt, 1, 1) == -EINVAL);
    CHECK(pd_cap_writer_close(w) == 0);
    CHECK(pd_cap_reader_open(&r, path) == 0);
    CHECK(pd_cap_read(r, &rec) == 1 && rec.caplen == 61 && rec.ts_ns == 1700000000123456789ull);
    CHECK(memcmp(rec.data, pkt, 61) == 0);
    CHECK(pd_cap_read(r, &rec) == 1 && rec.iface == 1 && rec.info.link_type == 113);
    CHECK(rec.caplen == 96 && rec.orig_len == 200 && rec.ts_raw == 1700000000123456ull);
    CHECK(pd_cap_read(r, &rec) == 0);
    pd_cap_reader_close(r);

    snprintf(path, sizeof(path), "%s/w.pcap", dir);
    CHECK(pd_cap_writer_open(&w, path, PD_CAP_PCAP, &sll) == 0);
    CHECK(pd_cap_writer_add_iface(w, &eth) == -ENOTSUP);
    CHECK(pd_cap_write(w, 0, 1700000000123456789ull, pkt, 50, 70) == 0);
    CHECK(pd_cap_writer_close(w) == 0);
    CHECK(pd_cap_reader_open(&r, path) == 0);
    CHECK(pd_cap_read(r, &rec) == 1 && rec.info.link_type == 113);
    CHECK(rec.ts_ns == 1700000000123456000ull && rec.orig_len == 70);
    pd_cap_reader_close(r);

    /* A full device: the error surfaces (ENOSPC), never silently. */
    if (access("/dev/full", W_OK) == 0) {
        int rc = 0;
        CHECK(pd_cap_writer_open(&w, "/dev/full", PD_CAP_PCAPNG, &eth) == 0);
        for (int i = 0; i < 1000 && rc == 0; i++)
            rc = pd_cap_write(w, 0, 1, pkt, 200, 200);
        if (rc == 0)
            rc = pd_cap_writer_flush(w);
        CHECK(rc == -ENOSPC);
        CHECK(pd_cap_writer_error(w) == -ENOSPC);
        CHECK(pd_cap_write(w, 0, 1, pkt, 10, 10) == -ENOSPC);
        CHECK(pd_cap_writer_close(w) == -ENOSPC);
    }
}

int main(void)
{
    char dir[] = "/tmp/pd_capfile_XXXXXX";
    char cmd[64];

    if (mkdtemp(dir) == NULL)
        return 1;
    test_rich(0);
    test_rich(1);
    test_pcap(0, 0);
    test_pcap(1, 1);
    test_prefixes();
    test_bad_blocks();
    test_ts_conversions();
    test_write_read(dir);
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    if (system(cmd) != 0)
        failures++;
    return pd_check_result();
}
