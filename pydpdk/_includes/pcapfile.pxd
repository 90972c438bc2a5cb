# Declarations of native/pcapfile/pcapfile.h: the native pcap file port.
from libc.stdint cimport int64_t, uint8_t, uint16_t, uint32_t, uint64_t

from pydpdk._includes.buf cimport pd_buf_pool
from pydpdk._includes.pkt cimport pd_pkt, pd_port_io


cdef extern from "pcapfile.h" nogil:
    ctypedef struct pd_pcap_config:
        const char *rx_path
        const char *tx_path
        int replay_timing
        double replay_speed
        uint32_t passes
        uint32_t snaplen
        int nanosecond
        int tx_format
        uint16_t tx_link_type
        int deliver_snapped

    ctypedef struct pd_pcap_rxinfo:
        uint64_t index
        uint64_t ts_raw
        uint32_t iface
        uint32_t section
        uint32_t orig_len
        uint16_t link_type
        uint8_t tsresol

    ctypedef struct pd_pcap_stats:
        uint64_t rx_packets, rx_bytes
        uint64_t tx_packets, tx_bytes
        uint64_t rx_nombuf
        uint64_t rx_malformed
        uint64_t rx_snapped
        uint64_t rx_oversized
        uint64_t tx_errors
        uint64_t passes_done

    ctypedef struct pd_pcap:
        pass

    void pd_pcap_config_init(pd_pcap_config *cfg)
    int pd_pcap_open(pd_pcap **out, const pd_pcap_config *cfg, pd_buf_pool *pool,
                     char *errbuf, size_t errlen)
    int pd_pcap_close(pd_pcap *p)
    int pd_pcap_start(pd_pcap *p)
    int pd_pcap_stop(pd_pcap *p)
    int pd_pcap_rx_done(const pd_pcap *p)
    int64_t pd_pcap_rx_wait_ns(pd_pcap *p)
    int pd_pcap_error(const pd_pcap *p)
    const char *pd_pcap_error_text(const pd_pcap *p)
    int pd_pcap_flush(pd_pcap *p)
    void pd_pcap_stats_get(const pd_pcap *p, pd_pcap_stats *out)
    void pd_pcap_stats_reset(pd_pcap *p)
    void pd_pcap_port_io(pd_pcap *p, pd_port_io *io)
    uint16_t pd_pcap_tx_burst_info(pd_pcap *p, pd_pkt **pkts, uint16_t n,
                                   const uint32_t *ifaces, const uint32_t *orig_lens)
    int pd_pcap_tx_add_iface(pd_pcap *p, uint16_t link_type, uint32_t snaplen,
                             uint8_t tsresol)
    int pd_pcap_tx_mirror(pd_pcap *p, const pd_pcap *src)
    int pd_pcap_tx_format(const pd_pcap *p)
    const pd_pcap_rxinfo *pd_pcap_rx_info(const pd_pcap *p, uint16_t *n)
    const char *pd_pcap_drop_text(const pd_pcap *p)
    int pd_pcap_io_done(void *port_io)


cdef extern from "capfile.h" nogil:
    enum:
        PD_CAP_PCAP
        PD_CAP_PCAPNG

    ctypedef struct pd_cap_iface:
        uint16_t link_type
        uint32_t snaplen
        uint8_t tsresol
        int64_t tsoffset

    ctypedef struct pd_cap_record:
        const uint8_t *data
        uint32_t caplen
        uint32_t orig_len
        uint32_t iface
        uint32_t section
        uint64_t ts_raw
        uint64_t ts_ns
        uint64_t index
        uint64_t offset
        pd_cap_iface info

    ctypedef struct pd_cap_reader:
        pass

    ctypedef struct pd_cap_writer:
        pass

    int pd_cap_reader_open(pd_cap_reader **out, const char *path)
    void pd_cap_reader_close(pd_cap_reader *r)
    int pd_cap_read(pd_cap_reader *r, pd_cap_record *rec)
    int pd_cap_reader_format(const pd_cap_reader *r)
    const char *pd_cap_reader_error_text(const pd_cap_reader *r)
    uint64_t pd_cap_reader_skipped(const pd_cap_reader *r)
    uint32_t pd_cap_reader_n_ifaces(const pd_cap_reader *r)
    const pd_cap_iface *pd_cap_reader_iface(const pd_cap_reader *r, uint32_t i)
    int pd_cap_writer_open(pd_cap_writer **out, const char *path, int format,
                           const pd_cap_iface *first)
    int pd_cap_writer_add_iface(pd_cap_writer *w, const pd_cap_iface *iface)
    int pd_cap_writer_new_section(pd_cap_writer *w, const pd_cap_iface *first)
    int pd_cap_write_raw(pd_cap_writer *w, uint32_t iface, uint64_t ts_raw,
                         const uint8_t *data, uint32_t caplen, uint32_t orig_len)
    int pd_cap_write(pd_cap_writer *w, uint32_t iface, uint64_t ts_ns, const uint8_t *data,
                     uint32_t caplen, uint32_t orig_len)
    int pd_cap_writer_flush(pd_cap_writer *w)
    int pd_cap_writer_close(pd_cap_writer *w)
