/* Capture file formats: a reader of classic pcap and pcapng, and a writer of
 * both, in plain C.
 *
 * libpcap's API has one link type and one snap length per handle, so it
 * cannot read a pcapng file whose interfaces differ in either (libpcap 1.10
 * rejects such files).  This reader keeps every interface of every section:
 * each record comes with its interface number, that interface's link type,
 * snap length and timestamp resolution, its captured and original lengths,
 * and its timestamp both raw (in the interface's units) and in nanoseconds.
 *
 * Formats: classic pcap (microsecond and nanosecond magics, both byte
 * orders; draft-ietf-opsawg-pcap), pcapng (draft-ietf-opsawg-pcapng: SHB,
 * IDB with if_tsresol/if_tsoffset, EPB, SPB, OPB; other blocks skipped;
 * both byte orders; several sections).
 *
 * Errors are negative errno values: -EBADMSG for a malformed or cut-off
 * file (pd_cap_reader_error_text() names the record number and the byte
 * offset), -EIO/-ENOSPC/... from the file system.  Nothing prints.
 */
#ifndef PD_CAPFILE_H
#define PD_CAPFILE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

enum pd_cap_format { PD_CAP_PCAP = 1, PD_CAP_PCAPNG = 2 };

/* Largest record or block accepted: larger ones are taken as corruption. */
#define PD_CAP_MAX_RECORD (16u * 1024u * 1024u)
/* Interfaces per pcapng section. */
#define PD_CAP_MAX_IFACES 1024u

typedef struct pd_cap_iface {
    uint16_t link_type; /* LINKTYPE_* (1 = Ethernet, 113 = Linux SLL) */
    uint32_t snaplen;   /* 0 = unlimited */
    uint8_t tsresol;    /* pcapng if_tsresol: bit 7 clear = 10^-v s, set = 2^-v s */
    int64_t tsoffset;   /* pcapng if_tsoffset, seconds */
} pd_cap_iface;

typedef struct pd_cap_record {
    const uint8_t *data; /* valid until the next read */
    uint32_t caplen;     /* bytes in data */
    uint32_t orig_len;   /* length on the wire (>= caplen when snapped) */
    uint32_t iface;      /* interface number within its section (0 for pcap) */
    uint32_t section;    /* pcapng section number, from 0 */
    uint64_t ts_raw;     /* timestamp in the interface's units, offset excluded */
    uint64_t ts_ns;      /* timestamp in ns since the epoch, offset included */
    uint64_t index;      /* record number in the file, from 1 (as tshark) */
    uint64_t offset;     /* byte offset of the record (or block) in the file */
    pd_cap_iface info;   /* the record's interface */
} pd_cap_record;

typedef struct pd_cap_reader pd_cap_reader;

/* Open a file: -ENOENT/-EACCES/-EISDIR/..., -EBADMSG (neither format).
 * After -EBADMSG *out is set so that the error text can be read: close it. */
int pd_cap_reader_open(pd_cap_reader **out, const char *path);
/* Read from memory (len bytes, not copied: must outlive the reader). */
int pd_cap_reader_open_mem(pd_cap_reader **out, const uint8_t *mem, size_t len);
void pd_cap_reader_close(pd_cap_reader *r);
/* 1 and *rec filled, 0 at the end of the file, or a negative errno (the
 * reader then stays failed). */
int pd_cap_read(pd_cap_reader *r, pd_cap_record *rec);
int pd_cap_reader_format(const pd_cap_reader *r);
/* Interfaces of the current section (pcap: one). */
uint32_t pd_cap_reader_n_ifaces(const pd_cap_reader *r);
const pd_cap_iface *pd_cap_reader_iface(const pd_cap_reader *r, uint32_t i);
const char *pd_cap_reader_error_text(const pd_cap_reader *r);
/* Blocks of unknown or ignored types skipped (pcapng). */
uint64_t pd_cap_reader_skipped(const pd_cap_reader *r);

/* Convert a timestamp in units of if_tsresol to ns (saturating). */
uint64_t pd_cap_ts_to_ns(uint64_t ts, uint8_t tsresol);
/* Convert ns to units of if_tsresol (rounding down). */
uint64_t pd_cap_ns_to_ts(uint64_t ns, uint8_t tsresol);

typedef struct pd_cap_writer pd_cap_writer;

/* Create (truncate) `path`.  PD_CAP_PCAP: one interface `first`, whose
 * tsresol must be 6 (microseconds) or 9 (nanoseconds).  PD_CAP_PCAPNG: a
 * section header and interface 0 = `first`; more with pd_cap_writer_add_iface. */
int pd_cap_writer_open(pd_cap_writer **out, const char *path, int format,
                       const pd_cap_iface *first);
/* pcapng only: the new interface's number, or -ENOTSUP for pcap, -ENOSPC... */
int pd_cap_writer_add_iface(pd_cap_writer *w, const pd_cap_iface *iface);
uint32_t pd_cap_writer_n_ifaces(const pd_cap_writer *w);
/* Interface i of the output (NULL if none) and the output's format. */
const pd_cap_iface *pd_cap_writer_iface(const pd_cap_writer *w, uint32_t i);
int pd_cap_writer_format(const pd_cap_writer *w);
/* pcapng only, before the first record: start the file over with a new
 * interface 0 (the others are dropped).  -EBUSY once a record was written,
 * -ENOTSUP for pcap, -errno of the file. */
int pd_cap_writer_restart(pd_cap_writer *w, const pd_cap_iface *first);
/* pcapng only: start a new section whose interface 0 is `first` (the
 * interfaces of the previous section can no longer be written to). */
int pd_cap_writer_new_section(pd_cap_writer *w, const pd_cap_iface *first);
/* Write one record, timestamp in the interface's units (raw) or in ns.
 * -EINVAL for an unknown interface or caplen > orig_len, -EMSGSIZE for
 * caplen above PD_CAP_MAX_RECORD, else -errno of the failed write. */
int pd_cap_write_raw(pd_cap_writer *w, uint32_t iface, uint64_t ts_raw, const uint8_t *data,
                     uint32_t caplen, uint32_t orig_len);
int pd_cap_write(pd_cap_writer *w, uint32_t iface, uint64_t ts_ns, const uint8_t *data,
                 uint32_t caplen, uint32_t orig_len);
/* Push buffered records to the file: 0 or -errno (e.g. -ENOSPC). */
int pd_cap_writer_flush(pd_cap_writer *w);
/* Flush, fsync-free close: 0 or the first error seen. */
int pd_cap_writer_close(pd_cap_writer *w);
/* First error seen (0 if none); the writer refuses to write after one. */
int pd_cap_writer_error(const pd_cap_writer *w);

#ifdef __cplusplus
}
#endif
#endif /* PD_CAPFILE_H */
