/* Thin C shim over DPDK: see pd_dpdk.h. */
#define _GNU_SOURCE
#include "pd_dpdk.h"
#include "pd_thread.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_eth_ring.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_log.h>
#include <rte_mbuf.h>
#include <rte_ring.h>
#include <rte_version.h>

/* ---- pd_pkt_ops over mbufs ---------------------------------------------- */

static inline struct rte_mbuf *as_mbuf(const pd_pkt *p)
{
    return (struct rte_mbuf *)(uintptr_t)p;
}

/* Set once the thread is seen with an lcore id.  Initial-exec: reading
 * DPDK's lcore id from an extension loaded with dlopen would call
 * __tls_get_addr on every burst (2 % of a Python rx+tx pair); this flag is
 * one load.  (A thread unregistered later keeps it: it then runs uncached,
 * as a plain thread did before, never incorrectly.) */
static __thread int has_lcore __attribute__((tls_model("initial-exec")));

/* A plain thread's first burst makes it an lcore, so the mempool's
 * per-lcore cache serves it (pd_thread.h). */
static inline void thread_ensure(void)
{
    pd_thread_hook_fn hook;

    if (likely(has_lcore))
        return;
    if (rte_lcore_id() == LCORE_ID_ANY) {
        hook = __atomic_load_n(&pd_thread_hook, __ATOMIC_ACQUIRE);
        if (hook == NULL || hook() < 0)
            return;
    }
    has_lcore = 1;
}

static int mbuf_alloc_bulk(void *pool, pd_pkt **pkts, unsigned int n)
{
    thread_ensure();
    if (rte_pktmbuf_alloc_bulk((struct rte_mempool *)pool, (struct rte_mbuf **)pkts, n) != 0)
        return -ENOBUFS;
    return 0;
}

static void mbuf_free_bulk(pd_pkt **pkts, unsigned int n)
{
    thread_ensure();
    /* rte_pktmbuf_free_bulk skips NULL entries, as the contract asks. */
    rte_pktmbuf_free_bulk((struct rte_mbuf **)pkts, n);
}

static uint8_t *mbuf_data(pd_pkt *p)
{
    return rte_pktmbuf_mtod(as_mbuf(p), uint8_t *);
}

static uint32_t mbuf_data_len(const pd_pkt *p)
{
    return as_mbuf(p)->data_len;
}

static uint32_t mbuf_headroom(const pd_pkt *p)
{
    return rte_pktmbuf_headroom(as_mbuf(p));
}

static uint32_t mbuf_tailroom(const pd_pkt *p)
{
    return rte_pktmbuf_tailroom(as_mbuf(p));
}

/* rte_pktmbuf_* take uint16_t lengths: larger requests can never fit. */
static uint8_t *mbuf_prepend(pd_pkt *p, uint32_t n)
{
    if (n > UINT16_MAX)
        return NULL;
    return (uint8_t *)rte_pktmbuf_prepend(as_mbuf(p), (uint16_t)n);
}

static uint8_t *mbuf_adj(pd_pkt *p, uint32_t n)
{
    if (n > UINT16_MAX)
        return NULL;
    return (uint8_t *)rte_pktmbuf_adj(as_mbuf(p), (uint16_t)n);
}

static uint8_t *mbuf_append(pd_pkt *p, uint32_t n)
{
    if (n > UINT16_MAX)
        return NULL;
    return (uint8_t *)rte_pktmbuf_append(as_mbuf(p), (uint16_t)n);
}

static int mbuf_trim(pd_pkt *p, uint32_t n)
{
    if (n > UINT16_MAX || rte_pktmbuf_trim(as_mbuf(p), (uint16_t)n) != 0)
        return -EINVAL;
    return 0;
}

const pd_pkt_ops pd_mbuf_ops = {
    .name = "mbuf",
    .kind = PD_PKT_KIND_MBUF,
    .alloc_bulk = mbuf_alloc_bulk,
    .free_bulk = mbuf_free_bulk,
    .data = mbuf_data,
    .data_len = mbuf_data_len,
    .headroom = mbuf_headroom,
    .tailroom = mbuf_tailroom,
    .prepend = mbuf_prepend,
    .adj = mbuf_adj,
    .append = mbuf_append,
    .trim = mbuf_trim,
};

/* ---- pd_port_io over ethdev ---------------------------------------------- */

/* Frames in more than one mbuf (scattered rx, LRO): pd_pkt_ops see the
 * first segment only, so a chain is made one segment when its first mbuf
 * has the room (rte_pktmbuf_linearize), else dropped and counted - never
 * passed on truncated.  Per port, any queue's thread. */
static uint64_t rx_linearized[RTE_MAX_ETHPORTS];
static uint64_t rx_chain_dropped[RTE_MAX_ETHPORTS];

void pd_dpdk_rx_chain_stats(uint16_t port_id, uint64_t *linearized, uint64_t *dropped)
{
    uint16_t p = port_id < RTE_MAX_ETHPORTS ? port_id : 0;
    *linearized = __atomic_load_n(&rx_linearized[p], __ATOMIC_RELAXED);
    *dropped = __atomic_load_n(&rx_chain_dropped[p], __ATOMIC_RELAXED);
}

void pd_dpdk_rx_chain_stats_reset(uint16_t port_id)
{
    uint16_t p = port_id < RTE_MAX_ETHPORTS ? port_id : 0;
    __atomic_store_n(&rx_linearized[p], 0, __ATOMIC_RELAXED);
    __atomic_store_n(&rx_chain_dropped[p], 0, __ATOMIC_RELAXED);
}

/* 1 when the kernel interface is up with carrier, 0 when not, -1 unknown. */
static int pd_dpdk_ifup(const char *name)
{
    struct ifreq ifr;
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    int rc;

    if (fd < 0)
        return -1;
    memset(&ifr, 0, sizeof(ifr));
    snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
    rc = ioctl(fd, SIOCGIFFLAGS, &ifr);
    close(fd);
    if (rc < 0)
        return -1;
    return (ifr.ifr_flags & IFF_UP) && (ifr.ifr_flags & IFF_RUNNING) ? 1 : 0;
}

/* The context is the port id itself: no allocation, nothing to free. */
static uint16_t ethdev_rx(void *ctx, uint16_t queue, pd_pkt **pkts, uint16_t n)
{
    uint16_t port = (uint16_t)(uintptr_t)ctx, keep = 0;
    struct rte_mbuf **m = (struct rte_mbuf **)pkts;
    uint16_t got;

    thread_ensure();
    got = rte_eth_rx_burst(port, queue, m, n);

    /* Almost always one segment each: test the burst with loads only (no
     * branch or store per packet), and sort it out only when a chain came. */
    uint16_t segs = 0;
    for (uint16_t i = 0; i < got; i++)
        segs |= m[i]->nb_segs;
    if (likely(segs <= 1))
        return got;
    for (uint16_t i = 0; i < got; i++) {
        if (likely(m[i]->nb_segs == 1)) {
            m[keep++] = m[i];
        } else if (rte_pktmbuf_linearize(m[i]) == 0) {
            __atomic_fetch_add(&rx_linearized[port % RTE_MAX_ETHPORTS], 1, __ATOMIC_RELAXED);
            m[keep++] = m[i];
        } else {
            rte_pktmbuf_free(m[i]);
            __atomic_fetch_add(&rx_chain_dropped[port % RTE_MAX_ETHPORTS], 1,
                               __ATOMIC_RELAXED);
        }
    }
    return keep;
}

static uint16_t ethdev_tx(void *ctx, uint16_t queue, pd_pkt **pkts, uint16_t n)
{
    thread_ensure();
    return rte_eth_tx_burst((uint16_t)(uintptr_t)ctx, queue, (struct rte_mbuf **)pkts, n);
}

/* Health for native loops.  A hot-unplugged port is no longer valid; a
 * port over a kernel interface (net_af_packet, net_af_xdp, net_tap: its
 * dev_info names the ifindex) fails when that interface is deleted, which
 * such PMDs do not notice themselves; link down is reported as -ENETDOWN. */
static int ethdev_status(void *ctx)
{
    uint16_t port_id = (uint16_t)(uintptr_t)ctx;
    struct rte_eth_dev_info info;
    struct rte_eth_link link;
    char name[IF_NAMESIZE];

    if (!rte_eth_dev_is_valid_port(port_id))
        return -ENODEV;
    if (rte_eth_dev_info_get(port_id, &info) == 0 && info.if_index != 0) {
        if (if_indextoname(info.if_index, name) == NULL)
            return errno == ENXIO || errno == ENODEV ? -ENODEV : 0;
        if (pd_dpdk_ifup(name) == 0)
            return -ENETDOWN;
    }
    if (rte_eth_link_get_nowait(port_id, &link) == 0 && link.link_status == RTE_ETH_LINK_DOWN)
        return -ENETDOWN;
    return 0;
}

int pd_dpdk_port_io(pd_port_io *io, uint16_t port_id, struct rte_mempool *mp)
{
    if (io == NULL || mp == NULL)
        return -EINVAL;
    io->ctx = (void *)(uintptr_t)port_id;
    io->ops = &pd_mbuf_ops;
    io->pool = mp;
    io->rx_burst = ethdev_rx;
    io->tx_burst = ethdev_tx;
    io->status = ethdev_status;
    io->wait_fd = NULL;
    io->tx_burst_ops = NULL;    /* sends its own kind only */
    io->tx_kinds = 0;
    return 0;
}

/* ---- forwarding loop ------------------------------------------------------ */

int pd_fwd_validate(const struct pd_fwd_config *cfg)
{
    unsigned int i;

    if (cfg == NULL || cfg->n_links == 0 || cfg->n_links > PD_FWD_MAX_LINKS)
        return -EINVAL;
    if (cfg->burst == 0 || cfg->burst > PD_BURST_MAX)
        return -EINVAL;
    for (i = 0; i < cfg->n_links; i++) {
        if (cfg->links[i].rx_port >= RTE_MAX_ETHPORTS ||
            cfg->links[i].tx_port >= RTE_MAX_ETHPORTS)
            return -EINVAL;
    }
    return 0;
}

/* How often (in loop iterations) the clock and quit flag are looked at:
 * often enough for millisecond reaction, rare enough to cost nothing. */
#define PD_FWD_CHECK_EVERY 64

int pd_fwd_run(const struct pd_fwd_config *cfg, struct pd_fwd_counters *counters,
               const volatile int *quit, uint64_t slice_tsc)
{
    struct rte_mbuf *pkts[PD_BURST_MAX];
    uint64_t slice_end, now;
    unsigned int iter = 0, i;
    int rc;

    rc = pd_fwd_validate(cfg);
    if (rc < 0)
        return rc;
    if (counters == NULL)
        return -EINVAL;
    thread_ensure();

    now = rte_get_tsc_cycles();
    slice_end = slice_tsc ? now + slice_tsc : UINT64_MAX;

    for (;;) {
        for (i = 0; i < cfg->n_links; i++) {
            const struct pd_fwd_link *link = &cfg->links[i];
            uint16_t want = cfg->burst, nb_rx, nb_tx;

            if (cfg->max_packets) {
                uint64_t left = cfg->max_packets - counters->rx_packets;
                if (left == 0)
                    return PD_FWD_COUNT_REACHED;
                if (left < want)
                    want = (uint16_t)left;
            }
            nb_rx = rte_eth_rx_burst(link->rx_port, link->rx_queue, pkts, want);
            counters->polls++;
            if (nb_rx == 0)
                continue;
            counters->rx_bursts++;
            counters->rx_packets += nb_rx;
            nb_tx = rte_eth_tx_burst(link->tx_port, link->tx_queue, pkts, nb_rx);
            counters->tx_packets += nb_tx;
            if (nb_tx < nb_rx) {
                /* l2fwd drops what the tx ring refused: never hold or leak it. */
                rte_pktmbuf_free_bulk(&pkts[nb_tx], nb_rx - nb_tx);
                counters->dropped += nb_rx - nb_tx;
            }
        }
        if (cfg->max_packets && counters->rx_packets >= cfg->max_packets)
            return PD_FWD_COUNT_REACHED;
        if (++iter % PD_FWD_CHECK_EVERY == 0) {
            if (quit != NULL && *quit)
                return PD_FWD_QUIT;
            now = rte_get_tsc_cycles();
            if (cfg->deadline_tsc && now >= cfg->deadline_tsc)
                return PD_FWD_DEADLINE;
            if (now >= slice_end)
                return PD_FWD_SLICE_DONE;
        }
    }
}

/* ---- EAL helpers ---------------------------------------------------------- */

static FILE *capture_stream;
static char *capture_buf;
static size_t capture_len;

int pd_dpdk_log_capture_begin(void)
{
    if (capture_stream != NULL)
        return -EBUSY;
    capture_stream = open_memstream(&capture_buf, &capture_len);
    if (capture_stream == NULL)
        return -errno;
    if (rte_openlog_stream(capture_stream) != 0) {
        fclose(capture_stream);
        free(capture_buf);
        capture_stream = NULL;
        capture_buf = NULL;
        return -EIO;
    }
    return 0;
}

size_t pd_dpdk_log_capture_end(char *buf, size_t len)
{
    size_t copied = 0;

    if (capture_stream == NULL) {
        if (buf != NULL && len)
            buf[0] = '\0';
        return 0;
    }
    /* NULL puts DPDK back on its default stream. */
    rte_openlog_stream(NULL);
    fclose(capture_stream);
    if (buf != NULL && len) {
        /* Keep the tail: the last lines say why things failed. */
        size_t start = capture_len > len - 1 ? capture_len - (len - 1) : 0;
        copied = capture_len - start;
        memcpy(buf, capture_buf + start, copied);
        buf[copied] = '\0';
    }
    free(capture_buf);
    capture_stream = NULL;
    capture_buf = NULL;
    capture_len = 0;
    return copied;
}

/* Point fd at a fresh memory file; the saved original (or -1 on failure). */
static int redirect_to_memfd(int fd, int *mem)
{
    int saved;

    *mem = memfd_create("pydpdk-eal-init", MFD_CLOEXEC);
    if (*mem < 0)
        return -1;
    saved = dup(fd);
    if (saved < 0 || dup2(*mem, fd) < 0) {
        if (saved >= 0)
            close(saved);
        close(*mem);
        *mem = -1;
        return -1;
    }
    return saved;
}

/* Put fd back and return what was written to it meanwhile (malloc'd, NUL
 * terminated; NULL if nothing or on failure). */
static char *restore_from_memfd(int fd, int saved, int mem)
{
    char *text = NULL;
    off_t size;

    if (saved < 0)
        return NULL;
    dup2(saved, fd);
    close(saved);
    size = lseek(mem, 0, SEEK_END);
    if (size > 0 && (text = malloc((size_t)size + 1)) != NULL) {
        ssize_t got = pread(mem, text, (size_t)size, 0);
        text[got > 0 ? got : 0] = '\0';
    }
    close(mem);
    return text;
}

/* rte_eal_init writes to stdout and stderr itself: its usage text, getopt's
 * complaints and "FATAL" alerts.  A library must not print, so both go to
 * memory files while it runs.  What it wrote to stderr says why it failed
 * and joins the log capture (when one is active); the usage text is
 * dropped, the caller's error names the arguments instead. */
int pd_dpdk_eal_init(int argc, char **argv)
{
    int mem_out, mem_err, saved_out, saved_err, rc, err;
    char *out_text, *err_text;

    fflush(stdout);
    fflush(stderr);
    saved_out = redirect_to_memfd(STDOUT_FILENO, &mem_out);
    saved_err = redirect_to_memfd(STDERR_FILENO, &mem_err);
    rc = rte_eal_init(argc, argv);
    err = rte_errno;
    fflush(stdout);
    fflush(stderr);
    out_text = restore_from_memfd(STDOUT_FILENO, saved_out, mem_out);
    err_text = restore_from_memfd(STDERR_FILENO, saved_err, mem_err);
    if (err_text != NULL && capture_stream != NULL)
        fputs(err_text, capture_stream);
    free(out_text);
    free(err_text);
    if (rc < 0)
        return err > 0 ? -err : -EINVAL;
    return rc;
}

/* ---- version-dependent information ------------------------------------- */

int pd_dpdk_get_dev_info(uint16_t port_id, struct pd_dpdk_dev_info *info)
{
    struct rte_eth_dev_info di;
    int rc;

    if (info == NULL)
        return -EINVAL;
    rc = rte_eth_dev_info_get(port_id, &di);
    if (rc != 0)
        return rc < 0 ? rc : -rc;
    memset(info, 0, sizeof(*info));
    snprintf(info->driver, sizeof(info->driver), "%s",
             di.driver_name != NULL ? di.driver_name : "");
    info->max_rx_queues = di.max_rx_queues;
    info->max_tx_queues = di.max_tx_queues;
    info->rx_desc_max = di.rx_desc_lim.nb_max;
    info->tx_desc_max = di.tx_desc_lim.nb_max;
    info->min_mtu = di.min_mtu;
    info->max_mtu = di.max_mtu;
    info->min_rx_bufsize = di.min_rx_bufsize;
#if RTE_VERSION >= RTE_VERSION_NUM(23, 11, 0, 0)
    info->max_rx_bufsize = di.max_rx_bufsize;
#else
    info->max_rx_bufsize = 0;
#endif
    info->max_rx_pktlen = di.max_rx_pktlen;
    info->rx_offload_capa = di.rx_offload_capa;
    info->tx_offload_capa = di.tx_offload_capa;
    info->flow_type_rss_offloads = di.flow_type_rss_offloads;
    info->reta_size = di.reta_size;
    info->hash_key_size = di.hash_key_size;
    info->if_index = di.if_index;
    info->socket_id = rte_eth_dev_socket_id(port_id);
    return 0;
}

/* ---- net_ring pairs -------------------------------------------------------- */

static int ring_name(char *out, size_t len, const char *port_name)
{
    int n = snprintf(out, len, "pdr_%s", port_name);

    return (n < 0 || (size_t)n >= len) ? -ENAMETOOLONG : 0;
}

int pd_dpdk_ring_pair(const char *name_a, const char *name_b, unsigned int depth,
                      uint16_t *port_a, uint16_t *port_b)
{
    char ra_name[RTE_RING_NAMESIZE], rb_name[RTE_RING_NAMESIZE];
    struct rte_ring *a_to_b, *b_to_a;
    int rc, pa, pb;

    if (name_a == NULL || name_b == NULL || port_a == NULL || port_b == NULL ||
        strcmp(name_a, name_b) == 0)
        return -EINVAL;
    if ((rc = ring_name(ra_name, sizeof(ra_name), name_a)) < 0 ||
        (rc = ring_name(rb_name, sizeof(rb_name), name_b)) < 0)
        return rc;
    a_to_b = rte_ring_create(ra_name, depth, (int)rte_socket_id(), RING_F_SP_ENQ | RING_F_SC_DEQ);
    if (a_to_b == NULL)
        return -rte_errno;
    b_to_a = rte_ring_create(rb_name, depth, (int)rte_socket_id(), RING_F_SP_ENQ | RING_F_SC_DEQ);
    if (b_to_a == NULL) {
        rc = -rte_errno;
        rte_ring_free(a_to_b);
        return rc;
    }
    pa = rte_eth_from_rings(name_a, &b_to_a, 1, &a_to_b, 1, rte_socket_id());
    if (pa < 0) {
        rc = rte_errno ? -rte_errno : -EINVAL;
        goto fail;
    }
    pb = rte_eth_from_rings(name_b, &a_to_b, 1, &b_to_a, 1, rte_socket_id());
    if (pb < 0) {
        char dev[RTE_DEV_NAME_MAX_LEN];

        rc = rte_errno ? -rte_errno : -EINVAL;
        rte_eth_dev_close((uint16_t)pa);
        snprintf(dev, sizeof(dev), "net_ring_%s", name_a);
        rte_eal_hotplug_remove("vdev", dev);
        goto fail;
    }
    *port_a = (uint16_t)pa;
    *port_b = (uint16_t)pb;
    return 0;

fail:
    rte_ring_free(a_to_b);
    rte_ring_free(b_to_a);
    return rc;
}

int pd_dpdk_ring_pair_free(const char *name_a, const char *name_b)
{
    char ra_name[RTE_RING_NAMESIZE], rb_name[RTE_RING_NAMESIZE];
    struct rte_ring *ra, *rb;
    struct rte_mbuf *m;

    if (ring_name(ra_name, sizeof(ra_name), name_a) < 0 ||
        ring_name(rb_name, sizeof(rb_name), name_b) < 0)
        return -EINVAL;
    ra = rte_ring_lookup(ra_name);
    rb = rte_ring_lookup(rb_name);
    if (ra == NULL && rb == NULL)
        return -ENOENT;
    /* Packets still in flight between the two ports go back to their pool. */
    while (ra != NULL && rte_ring_dequeue(ra, (void **)&m) == 0)
        rte_pktmbuf_free(m);
    while (rb != NULL && rte_ring_dequeue(rb, (void **)&m) == 0)
        rte_pktmbuf_free(m);
    rte_ring_free(ra);
    rte_ring_free(rb);
    return 0;
}
