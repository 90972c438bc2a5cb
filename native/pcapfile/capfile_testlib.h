/* Test helper shared by test_capfile.c and fuzz_capfile.c: builds pcap and
 * pcapng files in memory, in either byte order, block by block. */
#ifndef PD_CAPFILE_TESTLIB_H
#define PD_CAPFILE_TESTLIB_H

#include <stdint.h>
#include <string.h>

typedef struct tbuf {
    uint8_t data[1 << 16];
    size_t len;
    int swap; /* write in the other byte order */
} tbuf;

static inline void t_u8(tbuf *t, uint8_t v) { t->data[t->len++] = v; }

static inline void t_u16(tbuf *t, uint16_t v)
{
    if (t->swap)
        v = __builtin_bswap16(v);
    memcpy(t->data + t->len, &v, 2);
    t->len += 2;
}

static inline void t_u32(tbuf *t, uint32_t v)
{
    if (t->swap)
        v = __builtin_bswap32(v);
    memcpy(t->data + t->len, &v, 4);
    t->len += 4;
}

static inline void t_bytes(tbuf *t, const uint8_t *p, size_t n)
{
    memcpy(t->data + t->len, p, n);
    t->len += n;
}

static inline void t_pad(tbuf *t)
{
    while (t->len % 4)
        t_u8(t, 0);
}

/* Block framing: start returns the block's offset; end writes both lengths. */
static inline size_t t_block_start(tbuf *t, uint32_t type)
{
    size_t at = t->len;
    t_u32(t, type);
    t_u32(t, 0);
    return at;
}

static inline void t_block_end(tbuf *t, size_t at)
{
    uint32_t total = (uint32_t)(t->len - at + 4);
    size_t save = t->len;
    t->len = at + 4;
    t_u32(t, total);
    t->len = save;
    t_u32(t, total);
}

static inline void t_shb(tbuf *t)
{
    size_t at = t_block_start(t, 0x0A0D0D0Au);
    t_u32(t, 0x1A2B3C4Du);
    t_u16(t, 1);
    t_u16(t, 0);
    t_u32(t, 0xffffffffu);
    t_u32(t, 0xffffffffu);
    t_block_end(t, at);
}

/* tsresol 0xff: no option; tsoffset 0: no option. */
static inline void t_idb(tbuf *t, uint16_t link, uint32_t snap, int tsresol, uint32_t tsoffset)
{
    size_t at = t_block_start(t, 1);
    t_u16(t, link);
    t_u16(t, 0);
    t_u32(t, snap);
    if (tsresol >= 0) {
        t_u16(t, 9);
        t_u16(t, 1);
        t_u8(t, (uint8_t)tsresol);
        t_pad(t);
    }
    if (tsoffset != 0) {
        t_u16(t, 14);
        t_u16(t, 8);
        if (t->swap) {
            t_u32(t, 0);
            t_u32(t, tsoffset);
        } else {
            t_u32(t, tsoffset);
            t_u32(t, 0);
        }
    }
    if (tsresol >= 0 || tsoffset != 0) {
        t_u16(t, 0);
        t_u16(t, 0);
    }
    t_block_end(t, at);
}

static inline void t_epb(tbuf *t, uint32_t iface, uint64_t ts, const uint8_t *p, uint32_t caplen,
                         uint32_t orig)
{
    size_t at = t_block_start(t, 6);
    t_u32(t, iface);
    t_u32(t, (uint32_t)(ts >> 32));
    t_u32(t, (uint32_t)ts);
    t_u32(t, caplen);
    t_u32(t, orig);
    t_bytes(t, p, caplen);
    t_pad(t);
    /* an option (opt_comment) that readers must skip */
    t_u16(t, 1);
    t_u16(t, 3);
    t_bytes(t, (const uint8_t *)"hi!", 3);
    t_pad(t);
    t_u16(t, 0);
    t_u16(t, 0);
    t_block_end(t, at);
}

static inline void t_spb(tbuf *t, const uint8_t *p, uint32_t orig)
{
    size_t at = t_block_start(t, 3);
    t_u32(t, orig);
    t_bytes(t, p, orig);
    t_pad(t);
    t_block_end(t, at);
}

static inline void t_opb(tbuf *t, uint16_t iface, uint64_t ts, const uint8_t *p, uint32_t len)
{
    size_t at = t_block_start(t, 2);
    t_u16(t, iface);
    t_u16(t, 0);
    t_u32(t, (uint32_t)(ts >> 32));
    t_u32(t, (uint32_t)ts);
    t_u32(t, len);
    t_u32(t, len);
    t_bytes(t, p, len);
    t_pad(t);
    t_block_end(t, at);
}

static inline void t_unknown(tbuf *t, uint32_t type)
{
    size_t at = t_block_start(t, type);
    t_u32(t, 0xdeadbeef);
    t_block_end(t, at);
}

/* Interface statistics block: readers skip it. */
static inline void t_isb(tbuf *t, uint32_t iface)
{
    size_t at = t_block_start(t, 5);
    t_u32(t, iface);
    t_u32(t, 0);
    t_u32(t, 0);
    t_block_end(t, at);
}

static inline void t_pcap_header(tbuf *t, int ns, uint32_t snap, uint32_t link)
{
    t_u32(t, ns ? 0xa1b23c4du : 0xa1b2c3d4u);
    t_u16(t, 2);
    t_u16(t, 4);
    t_u32(t, 0);
    t_u32(t, 0);
    t_u32(t, snap);
    t_u32(t, link);
}

static inline void t_pcap_record(tbuf *t, uint32_t sec, uint32_t frac, const uint8_t *p,
                                 uint32_t caplen, uint32_t orig)
{
    t_u32(t, sec);
    t_u32(t, frac);
    t_u32(t, caplen);
    t_u32(t, orig);
    t_bytes(t, p, caplen);
}

/* A pcapng file with every block kind, several interfaces, link types and
 * resolutions; returns the number of packet records. */
static inline int t_rich_pcapng(tbuf *t, int swap)
{
    uint8_t pkt[300];

    for (unsigned i = 0; i < sizeof(pkt); i++)
        pkt[i] = (uint8_t)(i * 13 + 1);
    t->len = 0;
    t->swap = swap;
    t_shb(t);
    t_idb(t, 1, 65535, -1, 0);          /* Ethernet, microseconds */
    t_idb(t, 113, 128, 9, 0);           /* Linux SLL, nanoseconds, snap 128 */
    t_idb(t, 1, 1500, 0x80 | 20, 100);  /* 2^-20 s, offset 100 s */
    t_unknown(t, 0x80000001u); /* local use: unknown to all */
    t_epb(t, 0, 1700000000123456ull, pkt, 60, 60);
    t_epb(t, 1, 1700000000123456789ull, pkt, 128, 300);
    t_epb(t, 2, (1700000000ull << 20) | (1u << 19), pkt, 100, 100);
    t_spb(t, pkt, 70);
    t_opb(t, 1, 1700000001000000000ull, pkt, 64);
    t_isb(t, 1);
    /* A second section: interfaces start again. */
    t_shb(t);
    t_idb(t, 113, 262144, 3, 0);        /* milliseconds */
    t_epb(t, 0, 1700000002500ull, pkt, 44, 44);
    return 6;
}

#endif
