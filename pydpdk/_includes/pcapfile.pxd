# Declarations of native/pcapfile/pcapfile.h: the native pcap file port.
from libc.stdint cimport int64_t, uint32_t, uint64_t

from pydpdk._includes.buf cimport pd_buf_pool
from pydpdk._includes.pkt cimport pd_port_io


cdef extern from "pcapfile.h" nogil:
    ctypedef struct pd_pcap_config:
        const char *rx_path
        const char *tx_path
        int replay_timing
        double replay_speed
        uint32_t passes
        uint32_t snaplen
        int nanosecond

    ctypedef struct pd_pcap_stats:
        uint64_t rx_packets, rx_bytes
        uint64_t tx_packets, tx_bytes
        uint64_t rx_nombuf
        uint64_t rx_malformed
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
