/* Capture file formats: see capfile.h. */
#define _GNU_SOURCE
#include "capfile.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define PCAP_MAGIC_US 0xa1b2c3d4u
#define PCAP_MAGIC_NS 0xa1b23c4du
#define NG_SHB 0x0A0D0D0Au
#define NG_IDB 1u
#define NG_OPB 2u
#define NG_SPB 3u
#define NG_EPB 6u
#define NG_BOM 0x1A2B3C4Du
#define OPT_ENDOFOPT 0
#define OPT_IF_TSRESOL 9
#define OPT_IF_TSOFFSET 14

struct pd_cap_reader {
    FILE *fp;
    const uint8_t *mem;
    size_t mem_len, mem_pos;
    uint64_t pos;       /* bytes consumed */
    int format;
    int swap;           /* file byte order differs from ours */
    int error;
    int started;        /* pcapng: a section header was read */
    uint32_t section;
    uint64_t index;
    uint64_t skipped;
    uint8_t *blk;       /* current block or record */
    size_t blk_cap;
    pd_cap_iface *ifaces;
    uint32_t n_ifaces, cap_ifaces;
    char errtext[256];
};

static uint32_t bswap32(uint32_t v) { return __builtin_bswap32(v); }

static uint16_t rd16(const pd_cap_reader *r, const uint8_t *p)
{
    uint16_t v;
    memcpy(&v, p, 2);
    return r->swap ? __builtin_bswap16(v) : v;
}

static uint32_t rd32(const pd_cap_reader *r, const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return r->swap ? bswap32(v) : v;
}

static uint64_t rd64(const pd_cap_reader *r, const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return r->swap ? __builtin_bswap64(v) : v;
}

static int fail(pd_cap_reader *r, int err, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(r->errtext, sizeof(r->errtext), fmt, ap);
    va_end(ap);
    r->error = err;
    return err;
}

/* Read up to n bytes into dst; returns how many (short only at the end). */
static size_t get(pd_cap_reader *r, uint8_t *dst, size_t n)
{
    size_t got;

    if (r->fp != NULL) {
        got = fread(dst, 1, n, r->fp);
    } else {
        got = r->mem_len - r->mem_pos < n ? r->mem_len - r->mem_pos : n;
        memcpy(dst, r->mem + r->mem_pos, got);
        r->mem_pos += got;
    }
    r->pos += got;
    return got;
}

static int reserve(pd_cap_reader *r, size_t n)
{
    uint8_t *nb;
    size_t cap = r->blk_cap ? r->blk_cap : 4096;

    if (n <= r->blk_cap)
        return 0;
    while (cap < n)
        cap *= 2;
    nb = realloc(r->blk, cap);
    if (nb == NULL)
        return -ENOMEM;
    r->blk = nb;
    r->blk_cap = cap;
    return 0;
}

static int add_iface(pd_cap_reader *r, const pd_cap_iface *ifc)
{
    if (r->n_ifaces >= PD_CAP_MAX_IFACES)
        return -E2BIG;
    if (r->n_ifaces == r->cap_ifaces) {
        uint32_t cap = r->cap_ifaces ? r->cap_ifaces * 2 : 4;
        pd_cap_iface *n = realloc(r->ifaces, cap * sizeof(*n));
        if (n == NULL)
            return -ENOMEM;
        r->ifaces = n;
        r->cap_ifaces = cap;
    }
    r->ifaces[r->n_ifaces++] = *ifc;
    return 0;
}

static uint64_t pow10u(unsigned e)
{
    uint64_t v = 1;
    while (e-- > 0)
        v *= 10;
    return v;
}

uint64_t pd_cap_ts_to_ns(uint64_t ts, uint8_t tsresol)
{
    unsigned v = tsresol & 0x7f;
    unsigned __int128 x;

    if (tsresol & 0x80) {
        x = ((unsigned __int128)ts * 1000000000u) >> v;
    } else if (v <= 9) {
        x = (unsigned __int128)ts * pow10u(9 - v);
    } else {
        if (v - 9 > 19)
            return 0;
        return ts / pow10u(v - 9);
    }
    return x > UINT64_MAX ? UINT64_MAX : (uint64_t)x;
}

uint64_t pd_cap_ns_to_ts(uint64_t ns, uint8_t tsresol)
{
    unsigned v = tsresol & 0x7f;
    unsigned __int128 x;

    if (tsresol & 0x80) {
        x = ((unsigned __int128)ns << v) / 1000000000u;
    } else if (v <= 9) {
        return ns / pow10u(9 - v);
    } else {
        if (v - 9 > 19)
            return UINT64_MAX;
        x = (unsigned __int128)ns * pow10u(v - 9);
    }
    return x > UINT64_MAX ? UINT64_MAX : (uint64_t)x;
}

static uint64_t add_offset(uint64_t ns, int64_t off_s)
{
    __int128 x = (__int128)ns + (__int128)off_s * 1000000000;
    if (x < 0)
        return 0;
    return x > (__int128)UINT64_MAX ? UINT64_MAX : (uint64_t)x;
}

static int read_pcapng_block(pd_cap_reader *r, pd_cap_record *rec);

static int open_common(pd_cap_reader *r)
{
    uint8_t h[24];
    size_t got = get(r, h, 4);
    uint32_t magic;

    if (got < 4)
        return fail(r, -EBADMSG, "not a pcap or pcapng file: %zu bytes", got);
    memcpy(&magic, h, 4);
    if (magic == NG_SHB) {
        pd_cap_record unused;
        int rc;

        r->format = PD_CAP_PCAPNG;
        /* Check the section header now: a bad one is not a pcapng file. */
        rc = read_pcapng_block(r, &unused);
        return rc < 0 ? rc : 0;
    }
    if (magic == PCAP_MAGIC_US || magic == PCAP_MAGIC_NS)
        r->swap = 0;
    else if (bswap32(magic) == PCAP_MAGIC_US || bswap32(magic) == PCAP_MAGIC_NS)
        r->swap = 1;
    else
        return fail(r, -EBADMSG, "not a pcap or pcapng file (magic 0x%08x)", magic);
    r->format = PD_CAP_PCAP;
    if (get(r, h + 4, 20) < 20)
        return fail(r, -EBADMSG, "pcap file header cut off (%llu of 24 bytes)",
                    (unsigned long long)r->pos);
    {
        pd_cap_iface ifc = {0};
        uint32_t m = rd32(r, h);
        ifc.link_type = (uint16_t)(rd32(r, h + 20) & 0xffff);
        ifc.snaplen = rd32(r, h + 16);
        ifc.tsresol = m == PCAP_MAGIC_NS ? 9 : 6;
        if (rd16(r, h + 4) != 2)
            return fail(r, -EBADMSG, "pcap version %u.%u is not supported", rd16(r, h + 4),
                        rd16(r, h + 6));
        return add_iface(r, &ifc) < 0 ? fail(r, -ENOMEM, "out of memory") : 0;
    }
}

int pd_cap_reader_open(pd_cap_reader **out, const char *path)
{
    struct stat sb;
    pd_cap_reader *r;
    int rc;

    *out = NULL;
    if (stat(path, &sb) < 0)
        return -errno;
    if (S_ISDIR(sb.st_mode))
        return -EISDIR;
    r = calloc(1, sizeof(*r));
    if (r == NULL)
        return -ENOMEM;
    r->fp = fopen(path, "rb");
    if (r->fp == NULL) {
        rc = -errno;
        free(r);
        return rc;
    }
    /* Large reads: two small freads a record stay in the buffer. */
    setvbuf(r->fp, NULL, _IOFBF, 1u << 18);
    rc = open_common(r);
    *out = r;
    return rc;
}

int pd_cap_reader_open_mem(pd_cap_reader **out, const uint8_t *mem, size_t len)
{
    pd_cap_reader *r = calloc(1, sizeof(*r));

    *out = NULL;
    if (r == NULL)
        return -ENOMEM;
    r->mem = mem;
    r->mem_len = len;
    *out = r;
    return open_common(r);
}

void pd_cap_reader_close(pd_cap_reader *r)
{
    if (r == NULL)
        return;
    if (r->fp != NULL)
        fclose(r->fp);
    free(r->blk);
    free(r->ifaces);
    free(r);
}

int pd_cap_reader_format(const pd_cap_reader *r) { return r->format; }
uint32_t pd_cap_reader_n_ifaces(const pd_cap_reader *r) { return r->n_ifaces; }
const char *pd_cap_reader_error_text(const pd_cap_reader *r) { return r->errtext; }
uint64_t pd_cap_reader_skipped(const pd_cap_reader *r) { return r->skipped; }

const pd_cap_iface *pd_cap_reader_iface(const pd_cap_reader *r, uint32_t i)
{
    return i < r->n_ifaces ? &r->ifaces[i] : NULL;
}

static int read_pcap_record(pd_cap_reader *r, pd_cap_record *rec)
{
    uint8_t h[16];
    uint64_t off = r->pos, idx = r->index + 1;
    size_t got = get(r, h, 16);
    uint32_t caplen, sec, frac;
    const pd_cap_iface *ifc = &r->ifaces[0];
    uint64_t per_s = ifc->tsresol == 9 ? 1000000000u : 1000000u;

    if (got == 0)
        return 0;
    if (got < 16)
        return fail(r, -EBADMSG, "record %llu at byte %llu: header cut off (%zu of 16 bytes)",
                    (unsigned long long)idx, (unsigned long long)off, got);
    sec = rd32(r, h);
    frac = rd32(r, h + 4);
    caplen = rd32(r, h + 8);
    if (caplen > PD_CAP_MAX_RECORD)
        return fail(r, -EBADMSG, "record %llu at byte %llu: captured length %u is not plausible",
                    (unsigned long long)idx, (unsigned long long)off, caplen);
    if (reserve(r, caplen ? caplen : 1) < 0)
        return fail(r, -ENOMEM, "out of memory");
    got = get(r, r->blk, caplen);
    if (got < caplen)
        return fail(r, -EBADMSG, "record %llu at byte %llu: cut off (%zu of %u bytes)",
                    (unsigned long long)idx, (unsigned long long)off, got, caplen);
    r->index = idx;
    rec->data = r->blk;
    rec->caplen = caplen;
    rec->orig_len = rd32(r, h + 12);
    rec->iface = 0;
    rec->section = 0;
    rec->ts_raw = (uint64_t)sec * per_s + frac;
    rec->ts_ns = pd_cap_ts_to_ns(rec->ts_raw, ifc->tsresol);
    rec->index = idx;
    rec->offset = off;
    rec->info = *ifc;
    return 1;
}

/* Options of an IDB (the only ones used). */
static int parse_idb_options(pd_cap_reader *r, const uint8_t *p, size_t len, pd_cap_iface *ifc,
                             uint64_t off)
{
    while (len >= 4) {
        uint16_t code = rd16(r, p), olen = rd16(r, p + 2);
        size_t padded = ((size_t)olen + 3u) & ~3u;

        if (code == OPT_ENDOFOPT)
            return 0;
        if (padded > len - 4)
            return fail(r, -EBADMSG,
                        "interface block at byte %llu: option %u overruns the block",
                        (unsigned long long)off, code);
        if (code == OPT_IF_TSRESOL && olen >= 1)
            ifc->tsresol = p[4];
        else if (code == OPT_IF_TSOFFSET && olen >= 8)
            ifc->tsoffset = (int64_t)rd64(r, p + 4);
        p += 4 + padded;
        len -= 4 + padded;
    }
    return 0;
}

static int read_pcapng_block(pd_cap_reader *r, pd_cap_record *rec)
{
    uint8_t h[12];
    uint64_t off = r->pos;
    size_t got, body_len;
    uint32_t type, total;
    const uint8_t *b;

    if (!r->started && r->pos == 4) {
        /* open() consumed the first section header's magic. */
        uint32_t shb = NG_SHB;
        memcpy(h, &shb, 4);
        got = 4 + get(r, h + 4, 4);
        off = 0;
    } else {
        got = get(r, h, 8);
        if (got == 0)
            return 0;
    }
    if (got < 8)
        return fail(r, -EBADMSG, "block at byte %llu: header cut off (%zu of 8 bytes)",
                    (unsigned long long)off, got);
    memcpy(&type, h, 4);
    if (type == NG_SHB) {
        uint32_t bom;
        /* The byte order is known only from the magic that follows. */
        if (get(r, h + 8, 4) < 4)
            return fail(r, -EBADMSG, "section header at byte %llu cut off",
                        (unsigned long long)off);
        memcpy(&bom, h + 8, 4);
        if (bom == NG_BOM)
            r->swap = 0;
        else if (bswap32(bom) == NG_BOM)
            r->swap = 1;
        else
            return fail(r, -EBADMSG, "section header at byte %llu: bad byte-order magic 0x%08x",
                        (unsigned long long)off, bom);
        total = rd32(r, h + 4);
        if (total < 28 || total % 4 != 0 || total > PD_CAP_MAX_RECORD)
            return fail(r, -EBADMSG, "section header at byte %llu: bad length %u",
                        (unsigned long long)off, total);
        if (reserve(r, total) < 0)
            return fail(r, -ENOMEM, "out of memory");
        memcpy(r->blk, h, 12);
        got = get(r, r->blk + 12, total - 12);
        if (got < total - 12)
            return fail(r, -EBADMSG, "section header at byte %llu cut off",
                        (unsigned long long)off);
        if (rd32(r, r->blk + total - 4) != total)
            return fail(r, -EBADMSG, "section header at byte %llu: trailing length differs",
                        (unsigned long long)off);
        if (rd16(r, r->blk + 12) != 1)
            return fail(r, -EBADMSG, "section header at byte %llu: pcapng version %u.%u",
                        (unsigned long long)off, rd16(r, r->blk + 12), rd16(r, r->blk + 14));
        if (r->started)
            r->section++;
        r->started = 1;
        r->n_ifaces = 0;
        return 2; /* no record: read on */
    }
    if (!r->started)
        return fail(r, -EBADMSG, "pcapng file does not start with a section header");
    type = rd32(r, h);
    total = rd32(r, h + 4);
    if (total < 12 || total % 4 != 0 || total > PD_CAP_MAX_RECORD)
        return fail(r, -EBADMSG, "block at byte %llu (type %u): bad length %u",
                    (unsigned long long)off, type, total);
    if (reserve(r, total) < 0)
        return fail(r, -ENOMEM, "out of memory");
    memcpy(r->blk, h, 8);
    got = get(r, r->blk + 8, total - 8);
    if (got < total - 8)
        return fail(r, -EBADMSG, "block at byte %llu (type %u) cut off (%zu of %u bytes)",
                    (unsigned long long)off, type, got + 8, total);
    if (rd32(r, r->blk + total - 4) != total)
        return fail(r, -EBADMSG, "block at byte %llu (type %u): trailing length differs",
                    (unsigned long long)off, type);
    b = r->blk + 8;
    body_len = total - 12;

    if (type == NG_IDB) {
        pd_cap_iface ifc = {0};
        int rc;

        if (body_len < 8)
            return fail(r, -EBADMSG, "interface block at byte %llu too short",
                        (unsigned long long)off);
        ifc.link_type = rd16(r, b);
        ifc.snaplen = rd32(r, b + 4);
        ifc.tsresol = 6;
        rc = parse_idb_options(r, b + 8, body_len - 8, &ifc, off);
        if (rc < 0)
            return rc;
        rc = add_iface(r, &ifc);
        if (rc < 0)
            return fail(r, rc, "interface block at byte %llu: too many interfaces",
                        (unsigned long long)off);
        return 2;
    }
    if (type == NG_EPB || type == NG_OPB || type == NG_SPB) {
        uint64_t idx = r->index + 1;
        uint32_t iface, caplen, orig, hi = 0, lo = 0;
        size_t hdr;

        if (type == NG_SPB) {
            if (body_len < 4)
                return fail(r, -EBADMSG, "record %llu at byte %llu: simple packet block too short",
                            (unsigned long long)idx, (unsigned long long)off);
            iface = 0;
            orig = rd32(r, b);
            hdr = 4;
            caplen = orig;
            if (caplen > body_len - hdr)
                caplen = (uint32_t)(body_len - hdr);
            if (r->n_ifaces > 0 && r->ifaces[0].snaplen != 0 && caplen > r->ifaces[0].snaplen)
                caplen = r->ifaces[0].snaplen;
        } else {
            if (body_len < 20)
                return fail(r, -EBADMSG, "record %llu at byte %llu: packet block too short",
                            (unsigned long long)idx, (unsigned long long)off);
            iface = type == NG_EPB ? rd32(r, b) : rd16(r, b);
            hi = rd32(r, b + 4);
            lo = rd32(r, b + 8);
            caplen = rd32(r, b + 12);
            orig = rd32(r, b + 16);
            hdr = 20;
            if (caplen > body_len - hdr)
                return fail(r, -EBADMSG,
                            "record %llu at byte %llu: captured length %u overruns the block",
                            (unsigned long long)idx, (unsigned long long)off, caplen);
        }
        if (iface >= r->n_ifaces)
            return fail(r, -EBADMSG,
                        "record %llu at byte %llu: interface %u is not defined (%u in section)",
                        (unsigned long long)idx, (unsigned long long)off, iface, r->n_ifaces);
        r->index = idx;
        rec->data = b + hdr;
        rec->caplen = caplen;
        rec->orig_len = orig;
        rec->iface = iface;
        rec->section = r->section;
        rec->info = r->ifaces[iface];
        rec->ts_raw = ((uint64_t)hi << 32) | lo;
        rec->ts_ns = add_offset(pd_cap_ts_to_ns(rec->ts_raw, rec->info.tsresol),
                                rec->info.tsoffset);
        rec->index = idx;
        rec->offset = off;
        return 1;
    }
    r->skipped++;
    return 2;
}

int pd_cap_read(pd_cap_reader *r, pd_cap_record *rec)
{
    int rc;

    if (r->error)
        return r->error;
    if (r->format == PD_CAP_PCAP)
        return read_pcap_record(r, rec);
    while ((rc = read_pcapng_block(r, rec)) == 2)
        ;
    return rc;
}

/* ---------------------------------------------------------------- writer */

struct pd_cap_writer {
    FILE *fp;
    int format;
    int error;
    pd_cap_iface *ifaces;
    uint32_t n_ifaces, cap_ifaces;
    uint64_t records;
};

static int wput(pd_cap_writer *w, const void *p, size_t n)
{
    if (w->error)
        return w->error;
    if (n > 0 && fwrite(p, 1, n, w->fp) != n) {
        w->error = errno ? -errno : -EIO;
        return w->error;
    }
    return 0;
}

static int w_add(pd_cap_writer *w, const pd_cap_iface *ifc)
{
    if (w->n_ifaces >= PD_CAP_MAX_IFACES)
        return -E2BIG;
    if (w->n_ifaces == w->cap_ifaces) {
        uint32_t cap = w->cap_ifaces ? w->cap_ifaces * 2 : 4;
        pd_cap_iface *n = realloc(w->ifaces, cap * sizeof(*n));
        if (n == NULL)
            return -ENOMEM;
        w->ifaces = n;
        w->cap_ifaces = cap;
    }
    w->ifaces[w->n_ifaces] = *ifc;
    return (int)w->n_ifaces++;
}

static int write_idb(pd_cap_writer *w, const pd_cap_iface *ifc)
{
    uint8_t blk[48];
    uint32_t len = 20, v;
    size_t o = 16;

    memset(blk, 0, sizeof(blk));
    if (ifc->tsresol != 6) {
        uint16_t code = OPT_IF_TSRESOL, ol = 1;
        memcpy(blk + o, &code, 2);
        memcpy(blk + o + 2, &ol, 2);
        blk[o + 4] = ifc->tsresol;
        o += 8;
    }
    if (ifc->tsoffset != 0) {
        uint16_t code = OPT_IF_TSOFFSET, ol = 8;
        memcpy(blk + o, &code, 2);
        memcpy(blk + o + 2, &ol, 2);
        memcpy(blk + o + 4, &ifc->tsoffset, 8);
        o += 12;
    }
    if (o > 16)
        o += 4; /* opt_endofopt */
    len = (uint32_t)o + 4;
    v = NG_IDB;
    memcpy(blk, &v, 4);
    memcpy(blk + 4, &len, 4);
    memcpy(blk + 8, &ifc->link_type, 2);
    memcpy(blk + 12, &ifc->snaplen, 4);
    memcpy(blk + o, &len, 4);
    return wput(w, blk, len);
}

static int write_shb(pd_cap_writer *w)
{
    uint8_t shb[28];
    uint32_t v = NG_SHB, len = 28, bom = NG_BOM;
    uint16_t ver[2] = {1, 0};
    uint64_t seclen = UINT64_MAX;

    memcpy(shb, &v, 4);
    memcpy(shb + 4, &len, 4);
    memcpy(shb + 8, &bom, 4);
    memcpy(shb + 12, ver, 4);
    memcpy(shb + 16, &seclen, 8);
    memcpy(shb + 24, &len, 4);
    return wput(w, shb, sizeof(shb));
}

int pd_cap_writer_new_section(pd_cap_writer *w, const pd_cap_iface *first)
{
    int rc;

    if (w->format != PD_CAP_PCAPNG)
        return -ENOTSUP;
    if ((rc = write_shb(w)) < 0 || (rc = write_idb(w, first)) < 0)
        return rc;
    w->n_ifaces = 0;
    return w_add(w, first) < 0 ? -ENOMEM : 0;
}

int pd_cap_writer_open(pd_cap_writer **out, const char *path, int format,
                       const pd_cap_iface *first)
{
    pd_cap_writer *w;
    int rc;

    *out = NULL;
    if (first == NULL || (format != PD_CAP_PCAP && format != PD_CAP_PCAPNG))
        return -EINVAL;
    if (format == PD_CAP_PCAP && ((first->tsresol != 6 && first->tsresol != 9) ||
                                  first->tsoffset != 0))
        return -EINVAL;
    w = calloc(1, sizeof(*w));
    if (w == NULL)
        return -ENOMEM;
    w->format = format;
    w->fp = fopen(path, "wb");
    if (w->fp == NULL) {
        rc = -errno;
        free(w);
        return rc;
    }
    if (format == PD_CAP_PCAP) {
        uint32_t h[6];
        h[0] = first->tsresol == 9 ? PCAP_MAGIC_NS : PCAP_MAGIC_US;
        h[2] = 0;
        h[3] = 0;
        h[4] = first->snaplen;
        h[5] = first->link_type;
        {
            uint16_t ver[2] = {2, 4}; /* version 2.4, in our byte order */
            memcpy(&h[1], ver, 4);
        }
        rc = wput(w, h, sizeof(h));
    } else {
        rc = write_shb(w);
        if (rc == 0)
            rc = write_idb(w, first);
    }
    if (rc == 0)
        rc = w_add(w, first) < 0 ? -ENOMEM : 0;
    if (rc < 0) {
        fclose(w->fp);
        free(w->ifaces);
        free(w);
        return rc;
    }
    *out = w;
    return 0;
}

int pd_cap_writer_add_iface(pd_cap_writer *w, const pd_cap_iface *ifc)
{
    int rc;

    if (w->format != PD_CAP_PCAPNG)
        return -ENOTSUP;
    if (w->n_ifaces >= PD_CAP_MAX_IFACES)
        return -E2BIG;
    rc = write_idb(w, ifc);
    if (rc < 0)
        return rc;
    return w_add(w, ifc);
}

int pd_cap_writer_restart(pd_cap_writer *w, const pd_cap_iface *first)
{
    int rc;

    if (w->format != PD_CAP_PCAPNG)
        return -ENOTSUP;
    if (w->records != 0)
        return -EBUSY;
    if (w->error)
        return w->error;
    /* Nothing but the header and interfaces written: start the file over. */
    errno = 0;
    if (fflush(w->fp) != 0 || fseek(w->fp, 0, SEEK_SET) != 0 ||
        ftruncate(fileno(w->fp), 0) != 0) {
        w->error = errno ? -errno : -EIO;
        return w->error;
    }
    w->n_ifaces = 0;
    if ((rc = write_shb(w)) < 0 || (rc = write_idb(w, first)) < 0)
        return rc;
    return w_add(w, first) < 0 ? -ENOMEM : 0;
}

uint32_t pd_cap_writer_n_ifaces(const pd_cap_writer *w) { return w->n_ifaces; }
const pd_cap_iface *pd_cap_writer_iface(const pd_cap_writer *w, uint32_t i)
{
    return i < w->n_ifaces ? &w->ifaces[i] : NULL;
}
int pd_cap_writer_format(const pd_cap_writer *w) { return w->format; }
int pd_cap_writer_error(const pd_cap_writer *w) { return w->error; }

int pd_cap_write_raw(pd_cap_writer *w, uint32_t iface, uint64_t ts_raw, const uint8_t *data,
                     uint32_t caplen, uint32_t orig_len)
{
    static const uint8_t zeros[4];
    int rc;

    if (w->error)
        return w->error;
    if (iface >= w->n_ifaces || caplen > orig_len)
        return -EINVAL;
    if (caplen > PD_CAP_MAX_RECORD)
        return -EMSGSIZE;
    if (w->format == PD_CAP_PCAP) {
        uint64_t per_s = w->ifaces[0].tsresol == 9 ? 1000000000u : 1000000u;
        uint32_t h[4];
        h[0] = (uint32_t)(ts_raw / per_s);
        h[1] = (uint32_t)(ts_raw % per_s);
        h[2] = caplen;
        h[3] = orig_len;
        rc = wput(w, h, sizeof(h));
        w->records++;
        return rc < 0 ? rc : wput(w, data, caplen);
    } else {
        uint32_t pad = (4u - caplen % 4u) % 4u;
        uint32_t total = 32u + caplen + pad;
        uint32_t h[7];
        h[0] = NG_EPB;
        h[1] = total;
        h[2] = iface;
        h[3] = (uint32_t)(ts_raw >> 32);
        h[4] = (uint32_t)ts_raw;
        h[5] = caplen;
        h[6] = orig_len;
        w->records++;
        if ((rc = wput(w, h, sizeof(h))) < 0 || (rc = wput(w, data, caplen)) < 0 ||
            (rc = wput(w, zeros, pad)) < 0)
            return rc;
        return wput(w, &total, 4);
    }
}

int pd_cap_write(pd_cap_writer *w, uint32_t iface, uint64_t ts_ns, const uint8_t *data,
                 uint32_t caplen, uint32_t orig_len)
{
    const pd_cap_iface *ifc;

    if (iface >= w->n_ifaces)
        return -EINVAL;
    ifc = &w->ifaces[iface];
    ts_ns = add_offset(ts_ns, -ifc->tsoffset);
    return pd_cap_write_raw(w, iface, pd_cap_ns_to_ts(ts_ns, ifc->tsresol), data, caplen,
                            orig_len);
}

int pd_cap_writer_flush(pd_cap_writer *w)
{
    if (w->error)
        return w->error;
    errno = 0;
    if (fflush(w->fp) != 0 || ferror(w->fp))
        w->error = errno ? -errno : -EIO;
    return w->error;
}

int pd_cap_writer_close(pd_cap_writer *w)
{
    int rc;

    if (w == NULL)
        return 0;
    rc = pd_cap_writer_flush(w);
    errno = 0;
    if (fclose(w->fp) != 0 && rc == 0)
        rc = errno ? -errno : -EIO;
    free(w->ifaces);
    free(w);
    return rc;
}
