/* Native AF_PACKET port: see afpacket.h. */
#define _GNU_SOURCE
#include "afpacket.h"
#include "net.h"

#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

/* How many empty rx polls between checks that the interface still exists:
 * one getsockopt() per 64 idle polls costs nothing measurable. */
#define IDLE_CHECK_MASK 63u
/* Data offset in a TPACKET_V3 tx frame (no PACKET_TX_HAS_OFF). */
#define TX_DATA_OFFSET (TPACKET3_HDRLEN - sizeof(struct sockaddr_ll))

typedef struct afp_queue {
    struct pd_afp *afp;
    int fd;
    uint8_t *map;
    size_t map_len;
    /* rx ring */
    uint32_t rx_block;          /* block being read or next to read */
    uint32_t rx_left;           /* frames left in the held block */
    struct tpacket3_hdr *rx_next;
    /* tx ring */
    uint8_t *tx_ring;
    uint32_t tx_frame;
    uint32_t idle_polls;
    pd_afp_stats st;
    /* zero copy: references per block (the reader's own while it reads the
     * block, plus one per packet handed out; 0 = the kernel's or unread),
     * frames held by the application, and blocks with references. */
    atomic_uint *block_refs;
    atomic_uint zc_held;
    atomic_uint zc_blocks_held;
    /* Segments of a super-frame not yet handed out (copy mode). */
    uint32_t stash_head, stash_n;
    pd_buf *stash[PD_AFP_GSO_MAX_SEGS];
} afp_queue;

struct pd_afp {
    char ifname[IFNAMSIZ];
    int ifindex;
    int mtu;
    uint8_t mac[6];
    int started;
    int vnet;                   /* PACKET_VNET_HDR in use */
    atomic_int error;
    pd_afp_config cfg;
    pd_buf_pool *pool;
    uint16_t nb_queues;
    /* Owners (opener + retains) and zero-copy frames held across queues:
     * memory is released when both are 0. */
    atomic_uint owners;
    atomic_uint zc_held_total;
    afp_queue q[PD_AFP_MAX_QUEUES];
};

/* A zero-copy packet handle is the address of its ring frame.  Once a
 * block is ours, the kernel's tpacket3_hdr at the start of each frame has
 * been read and is overwritten with this (the kernel rewrites it before it
 * fills the block again); the bytes after it up to the frame data are
 * headroom. */
typedef struct zc_frame {
    afp_queue *q;
    uint32_t block;
    uint32_t data_off;  /* from the frame start */
    uint32_t data_len;
    uint64_t timestamp_ns;
} zc_frame;

#define ZC_FRAME_HDR TPACKET_ALIGN(sizeof(struct tpacket3_hdr))
_Static_assert(sizeof(zc_frame) <= ZC_FRAME_HDR, "zc_frame must fit in the ring header");

void pd_afp_config_init(pd_afp_config *cfg, const char *ifname)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->ifname = ifname;
    cfg->nb_queues = 1;
    cfg->fanout_mode = PACKET_FANOUT_HASH;
    cfg->block_size = 1u << 18;
    cfg->block_count = 32;
    cfg->frame_size = 2048;
    cfg->block_timeout_ms = 1;
    cfg->tx_frame_count = 1024;
    /* sendmmsg measured faster than the TX ring over veth (1.5x at 1400 B,
     * even at 64 B): see BENCHMARKS.md, "AF_PACKET". */
    cfg->tx_mode = PD_AFP_TX_SENDMMSG;
    cfg->promiscuous = 1;
    cfg->qdisc_bypass = 1;
    cfg->zero_copy = 0;
    cfg->zc_headroom = PD_AFP_ZC_DEFAULT_HEADROOM;
    cfg->vnet_hdr = 1;
}

static struct tpacket_block_desc *rx_block_at(const pd_afp *afp, const afp_queue *q,
                                              uint32_t i)
{
    return (struct tpacket_block_desc *)(q->map + (size_t)i * afp->cfg.block_size);
}

static struct tpacket3_hdr *tx_frame_at(const pd_afp *afp, const afp_queue *q, uint32_t i)
{
    return (struct tpacket3_hdr *)(q->tx_ring + (size_t)i * afp->cfg.frame_size);
}

static int validate_config(const pd_afp_config *c)
{
    long page = sysconf(_SC_PAGESIZE);

    if (c->ifname == NULL || c->ifname[0] == '\0' || strlen(c->ifname) >= IFNAMSIZ)
        return -EINVAL;
    if (c->nb_queues == 0 || c->nb_queues > PD_AFP_MAX_QUEUES)
        return -EINVAL;
    if (page <= 0 || c->block_size == 0 || c->block_size % (uint32_t)page != 0)
        return -EINVAL;
    if (c->frame_size < TPACKET3_HDRLEN + 64 || c->frame_size % TPACKET_ALIGNMENT != 0 ||
        c->frame_size > c->block_size)
        return -EINVAL;
    if (c->block_count == 0 || c->block_count > 65536)
        return -EINVAL;
    if (c->tx_mode != PD_AFP_TX_RING && c->tx_mode != PD_AFP_TX_SENDMMSG)
        return -EINVAL;
    if (c->tx_mode == PD_AFP_TX_RING &&
        (c->tx_frame_count == 0 || c->tx_frame_count > 65536))
        return -EINVAL;
    /* The reserve must leave room for a full-size frame in frame_size. */
    if (c->zero_copy && (uint64_t)c->zc_headroom + TPACKET3_HDRLEN + 16 + 1518 > c->frame_size)
        return -EINVAL;
    return 0;
}

static void queue_close(afp_queue *q)
{
    if (q->map != NULL && q->map != MAP_FAILED)
        munmap(q->map, q->map_len);
    q->map = NULL;
    if (q->fd >= 0)
        close(q->fd);
    q->fd = -1;
    free(q->block_refs);
    q->block_refs = NULL;
    if (q->stash_n)
        pd_buf_free_bulk(q->stash + q->stash_head, q->stash_n);
    q->stash_n = q->stash_head = 0;
}

static int queue_open(pd_afp *afp, afp_queue *q, int fanout_arg)
{
    const pd_afp_config *c = &afp->cfg;
    struct tpacket_req3 rx_req, tx_req;
    struct sockaddr_ll sll;
    int version = TPACKET_V3, one = 1;
    size_t rx_len, tx_len = 0;

    /* Protocol 0: nothing is queued until the ring exists and we bind. */
    q->fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
    if (q->fd < 0)
        return -errno;
    if (setsockopt(q->fd, SOL_PACKET, PACKET_VERSION, &version, sizeof(version)) < 0)
        return -errno;
    /* Super-frames come with the kernel's description (gso_size, partial
     * checksum offsets): set before the ring exists.  The first queue
     * decides; a kernel that refuses it leaves the port without. */
    if (afp->vnet) {
        if (setsockopt(q->fd, SOL_PACKET, PACKET_VNET_HDR, &one, sizeof(one)) < 0) {
            if (q != &afp->q[0])
                return -errno;
            afp->vnet = 0;
        }
    }
    if (c->zero_copy) {
        /* Headroom in front of every frame, for prepend in place. */
        unsigned int reserve = c->zc_headroom;
        if (setsockopt(q->fd, SOL_PACKET, PACKET_RESERVE, &reserve, sizeof(reserve)) < 0)
            return -errno;
        q->block_refs = calloc(c->block_count, sizeof(*q->block_refs));
        if (q->block_refs == NULL)
            return -ENOMEM;
    }

    memset(&rx_req, 0, sizeof(rx_req));
    rx_req.tp_block_size = c->block_size;
    rx_req.tp_block_nr = c->block_count;
    rx_req.tp_frame_size = c->frame_size;
    rx_req.tp_frame_nr = (c->block_size / c->frame_size) * c->block_count;
    rx_req.tp_retire_blk_tov = c->block_timeout_ms;
    if (setsockopt(q->fd, SOL_PACKET, PACKET_RX_RING, &rx_req, sizeof(rx_req)) < 0)
        return -errno;
    rx_len = (size_t)c->block_size * c->block_count;

    if (c->tx_mode == PD_AFP_TX_RING) {
        /* A V3 tx ring is a plain frame array: one frame per block row. */
        memset(&tx_req, 0, sizeof(tx_req));
        tx_req.tp_frame_size = c->frame_size;
        tx_req.tp_block_size = c->block_size;
        tx_req.tp_frame_nr = c->tx_frame_count;
        tx_req.tp_block_nr = (c->tx_frame_count + c->block_size / c->frame_size - 1) /
                             (c->block_size / c->frame_size);
        tx_req.tp_frame_nr = tx_req.tp_block_nr * (c->block_size / c->frame_size);
        if (setsockopt(q->fd, SOL_PACKET, PACKET_TX_RING, &tx_req, sizeof(tx_req)) < 0)
            return -errno;
        tx_len = (size_t)tx_req.tp_block_size * tx_req.tp_block_nr;
        afp->cfg.tx_frame_count = tx_req.tp_frame_nr;
    }

    q->map_len = rx_len + tx_len;
    q->map = mmap(NULL, q->map_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_LOCKED,
                  q->fd, 0);
    if (q->map == MAP_FAILED) {
        /* MAP_LOCKED can fail under RLIMIT_MEMLOCK: fall back to unlocked. */
        q->map = mmap(NULL, q->map_len, PROT_READ | PROT_WRITE, MAP_SHARED, q->fd, 0);
        if (q->map == MAP_FAILED) {
            q->map = NULL;
            return -errno;
        }
    }
    q->tx_ring = tx_len ? q->map + rx_len : NULL;
    if (tx_len) {
        /* send() waits for the ring to drain; never hang on a stuck link. */
        struct timeval tv = {0, 200000};
        if (setsockopt(q->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0)
            return -errno;
    }

    if (c->qdisc_bypass &&
        setsockopt(q->fd, SOL_PACKET, PACKET_QDISC_BYPASS, &one, sizeof(one)) < 0)
        return -errno;
    /* Our own transmissions must not come back on rx (kernel >= 4.20). */
    (void)setsockopt(q->fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof(one));

    memset(&sll, 0, sizeof(sll));
    sll.sll_family = AF_PACKET;
    sll.sll_protocol = htons(ETH_P_ALL);
    sll.sll_ifindex = afp->ifindex;
    if (bind(q->fd, (struct sockaddr *)&sll, sizeof(sll)) < 0)
        return -errno;

    if (fanout_arg >= 0 &&
        setsockopt(q->fd, SOL_PACKET, PACKET_FANOUT, &fanout_arg, sizeof(fanout_arg)) < 0)
        return -errno;

    if (c->promiscuous) {
        /* Kernel-refcounted, dropped automatically when the socket closes. */
        struct packet_mreq mr;
        memset(&mr, 0, sizeof(mr));
        mr.mr_ifindex = afp->ifindex;
        mr.mr_type = PACKET_MR_PROMISC;
        if (setsockopt(q->fd, SOL_PACKET, PACKET_ADD_MEMBERSHIP, &mr, sizeof(mr)) < 0)
            return -errno;
    }
    return 0;
}

static int read_link_info(pd_afp *afp)
{
    struct ifreq ifr;

    memset(&ifr, 0, sizeof(ifr));
    memcpy(ifr.ifr_name, afp->ifname, strlen(afp->ifname));
    if (ioctl(afp->q[0].fd, SIOCGIFHWADDR, &ifr) < 0)
        return -errno;
    memcpy(afp->mac, ifr.ifr_hwaddr.sa_data, 6);
    if (ioctl(afp->q[0].fd, SIOCGIFMTU, &ifr) < 0)
        return -errno;
    afp->mtu = ifr.ifr_mtu;
    return 0;
}

int pd_afp_open(pd_afp **out, const pd_afp_config *cfg, pd_buf_pool *pool)
{
    static atomic_uint fanout_seq;
    pd_afp *afp;
    int rc, fanout_arg = -1;
    uint16_t i;

    if (out == NULL || cfg == NULL || (pool == NULL && !cfg->zero_copy))
        return -EINVAL;
    *out = NULL;
    rc = validate_config(cfg);
    if (rc < 0)
        return rc;

    afp = calloc(1, sizeof(*afp));
    if (afp == NULL)
        return -ENOMEM;
    afp->cfg = *cfg;
    afp->pool = pool;
    afp->nb_queues = cfg->nb_queues;
    atomic_init(&afp->owners, 1);
    memcpy(afp->ifname, cfg->ifname, strlen(cfg->ifname) + 1);
    afp->cfg.ifname = afp->ifname;
    afp->vnet = cfg->vnet_hdr != 0;
    for (i = 0; i < PD_AFP_MAX_QUEUES; i++) {
        afp->q[i].fd = -1;
        afp->q[i].afp = afp;
    }

    afp->ifindex = (int)if_nametoindex(afp->ifname);
    if (afp->ifindex == 0) {
        rc = errno == ENXIO || errno == 0 ? -ENODEV : -errno;
        goto fail;
    }
    if (cfg->nb_queues > 1) {
        /* Group ids are per network namespace: pid + sequence is unique. */
        unsigned int id = ((unsigned int)getpid() * 31u + atomic_fetch_add(&fanout_seq, 1)) &
                          0xffffu;
        fanout_arg = (int)(id | ((unsigned int)cfg->fanout_mode << 16));
    }
    for (i = 0; i < afp->nb_queues; i++) {
        rc = queue_open(afp, &afp->q[i], fanout_arg);
        if (rc < 0)
            goto fail;
    }
    rc = read_link_info(afp);
    if (rc < 0)
        goto fail;
    *out = afp;
    return 0;

fail:
    for (i = 0; i < PD_AFP_MAX_QUEUES; i++)
        queue_close(&afp->q[i]);
    free(afp);
    return rc;
}

static void afp_release(pd_afp *afp)
{
    uint16_t i;

    for (i = 0; i < PD_AFP_MAX_QUEUES; i++)
        queue_close(&afp->q[i]);
    free(afp);
}

/* Held frames count as one extra owner while there are any: whoever drops
 * the last of (owners, held frames) releases the memory. */
void pd_afp_close(pd_afp *afp)
{
    if (afp == NULL)
        return;
    if (atomic_fetch_sub(&afp->owners, 1) == 1)
        afp_release(afp);
}

static void zc_block_unref(afp_queue *q, uint32_t block, unsigned int n);

/* Hand every filled block back to the kernel unread (zero copy: except
 * blocks the application holds packets of). */
static void rx_discard(pd_afp *afp, afp_queue *q)
{
    uint32_t n;

    if (q->stash_n)
        pd_buf_free_bulk(q->stash + q->stash_head, q->stash_n);
    q->stash_n = q->stash_head = 0;
    if (q->block_refs != NULL && q->rx_left > 0) {
        /* Stopped in the middle of a block: drop the reader's reference. */
        uint32_t block = q->rx_block;
        q->rx_block = (q->rx_block + 1) % afp->cfg.block_count;
        q->rx_left = 0;
        zc_block_unref(q, block, 1);
    }
    for (n = 0; n < afp->cfg.block_count; n++) {
        struct tpacket_block_desc *bd = rx_block_at(afp, q, q->rx_block);
        if (!(atomic_load_explicit((_Atomic uint32_t *)&bd->hdr.bh1.block_status,
                                   memory_order_acquire) & TP_STATUS_USER))
            break;
        if (q->block_refs != NULL && atomic_load(&q->block_refs[q->rx_block]) != 0)
            break; /* held by the application: the kernel gets it when freed */
        atomic_store_explicit((_Atomic uint32_t *)&bd->hdr.bh1.block_status,
                              TP_STATUS_KERNEL, memory_order_release);
        q->rx_block = (q->rx_block + 1) % afp->cfg.block_count;
    }
    q->rx_left = 0;
    q->rx_next = NULL;
}

int pd_afp_start(pd_afp *afp)
{
    uint16_t i;
    int rc = pd_afp_error(afp);

    if (rc < 0)
        return rc;
    if (!afp->started) {
        for (i = 0; i < afp->nb_queues; i++)
            rx_discard(afp, &afp->q[i]);
        afp->started = 1;
    }
    return 0;
}

void pd_afp_stop(pd_afp *afp)
{
    afp->started = 0;
}

int pd_afp_error(pd_afp *afp)
{
    return atomic_load_explicit(&afp->error, memory_order_relaxed);
}

/* A pending socket error plus a lost binding means the device was
 * unregistered (the kernel sets ifindex -1); ENETDOWN alone is link down,
 * which the kernel undoes by itself when the link comes back. */
static int queue_check(pd_afp *afp, afp_queue *q)
{
    struct sockaddr_ll sll;
    socklen_t len = sizeof(int);
    int err = 0;

    if (getsockopt(q->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
        return -errno;
    len = sizeof(sll);
    if (getsockname(q->fd, (struct sockaddr *)&sll, &len) < 0)
        return -errno;
    if (sll.sll_ifindex != afp->ifindex)
        return -ENODEV;
    if (err != 0 && err != ENETDOWN)
        return -err;
    return 0;
}

int pd_afp_check(pd_afp *afp)
{
    uint16_t i;
    int rc = pd_afp_error(afp);

    for (i = 0; rc == 0 && i < afp->nb_queues; i++) {
        rc = queue_check(afp, &afp->q[i]);
        if (rc < 0)
            atomic_store(&afp->error, rc);
    }
    return rc;
}

/* The kernel's description of a received frame (PACKET_VNET_HDR): the
 * virtio_net_hdr just in front of the frame, host byte order. */
static void vnet_read(const struct tpacket3_hdr *h, pd_vnet_hdr *v)
{
    const uint8_t *p = (const uint8_t *)h + h->tp_mac - PD_VNET_HDR_LEN;

    v->flags = p[0];
    v->gso_type = p[1];
    memcpy(&v->hdr_len, p + 2, 2);
    memcpy(&v->gso_size, p + 4, 2);
    memcpy(&v->csum_start, p + 6, 2);
    memcpy(&v->csum_offset, p + 8, 2);
}

/* Frames sent by this host are captured before the NIC would fill in the
 * TCP/UDP checksum (CHECKSUM_PARTIAL, e.g. on the peer of a veth): complete
 * it, so the frame is valid wherever it is sent next.  With a vnet header
 * the kernel says where the checksum goes; without, the frame is parsed.
 * `shift`: bytes inserted in front of the L3 header (a VLAN tag put back). */
static void complete_checksum(uint8_t *frame, uint32_t len, uint32_t status,
                              const pd_vnet_hdr *v, uint32_t shift)
{
    if (v != NULL && (v->flags & PD_VNET_F_NEEDS_CSUM))
        (void)pd_net_csum_partial_complete(frame, len, v->csum_start + shift, v->csum_offset);
    else if (v == NULL && (status & TP_STATUS_CSUMNOTREADY))
        (void)pd_net_fill_l4_csum(frame, len);
}

/* The 802.1Q tag the kernel moved into metadata (TP_STATUS_VLAN_VALID), as
 * it was on the wire: TPID then TCI, 4 bytes (one writer for every rx path). */
static void vlan_tag_of(const struct tpacket3_hdr *h, uint32_t status, uint8_t tag[4])
{
    uint16_t tpid = (status & TP_STATUS_VLAN_TPID_VALID) ? h->hv1.tp_vlan_tpid : ETH_P_8021Q;

    pd_net_wr16(tag, tpid);
    pd_net_wr16(tag + 2, (uint16_t)h->hv1.tp_vlan_tci);
}

/* Copy one ring frame into buffer `b`; 0, or -1 when it must be dropped. */
static int rx_copy_frame(afp_queue *q, const struct tpacket3_hdr *h, pd_buf *b,
                         const pd_vnet_hdr *v)
{
    const uint8_t *frame = (const uint8_t *)h + h->tp_mac;
    uint32_t len = h->tp_snaplen;
    uint32_t room = b->room - b->data_off;
    uint8_t *dst = pd_buf_data(b);

    uint32_t shift = 0;

    if (h->tp_snaplen < h->tp_len || len < 14) {
        q->st.rx_malformed++;
        return -1;
    }
    if (h->tp_status & TP_STATUS_VLAN_VALID) {
        /* The kernel strips the 802.1Q tag into metadata: put it back so
         * the packet is the frame that was on the wire. */
        uint8_t tag[4];
        vlan_tag_of(h, h->tp_status, tag);
        if (len + 4 > room) {
            q->st.rx_oversize++;
            return -1;
        }
        shift = 4;
        memcpy(dst, frame, 12);
        memcpy(dst + 12, tag, 4);
        memcpy(dst + 16, frame + 12, len - 12);
        len += 4;
    } else {
        if (len > room) {
            q->st.rx_oversize++;
            return -1;
        }
        memcpy(dst, frame, len);
    }
    b->data_len = len;
    b->timestamp_ns = (uint64_t)h->tp_sec * 1000000000ull + h->tp_nsec;
    complete_checksum(dst, len, h->tp_status, v, shift);
    return 0;
}

/* Segment a super-frame into fresh buffers, parked in the queue's stash
 * (empty on entry) until rx hands them out.  0 when done (or dropped and
 * counted), 1 when the pool is short (the frame stays in the ring). */
static int rx_gso_frame(pd_afp *afp, afp_queue *q, const struct tpacket3_hdr *h,
                        const pd_vnet_hdr *v)
{
    const uint8_t *frame = (const uint8_t *)h + h->tp_mac;
    uint32_t len = h->tp_snaplen, room, shift = 0;
    uint8_t *out[PD_AFP_GSO_MAX_SEGS];
    uint32_t out_len[PD_AFP_GSO_MAX_SEGS];
    uint64_t ts = (uint64_t)h->tp_sec * 1000000000ull + h->tp_nsec;
    uint8_t tag[4] = {0, 0, 0, 0};
    int n, rc;

    if (h->tp_snaplen < h->tp_len) {
        q->st.rx_malformed++;
        return 0;
    }
    n = pd_net_gso_count(frame, len, v);
    /* More segments than the pool could ever hold would stall the ring. */
    if (n <= 0 || n > PD_AFP_GSO_MAX_SEGS || (uint32_t)n > pd_buf_pool_count(afp->pool)) {
        q->st.rx_gso_failed++;
        return 0;
    }
    if (pd_buf_alloc_bulk(afp->pool, q->stash, (unsigned int)n) < 0) {
        q->st.rx_nombuf++;
        return 1;
    }
    if (h->tp_status & TP_STATUS_VLAN_VALID) {
        vlan_tag_of(h, h->tp_status, tag);
        shift = 4;
    }
    room = q->stash[0]->room - q->stash[0]->data_off - shift;
    for (int i = 0; i < n; i++)
        out[i] = pd_buf_data(q->stash[i]) + shift;
    rc = pd_net_gso_segment(frame, len, v, out, room, out_len, (uint32_t)n,
                            (uint32_t)(q->st.rx_gso_frames + 1));
    if (rc != n) {
        pd_buf_free_bulk(q->stash, (unsigned int)n);
        if (rc == -ENOSPC)
            q->st.rx_oversize++;
        else
            q->st.rx_gso_failed++;
        return 0;
    }
    for (int i = 0; i < n; i++) {
        pd_buf *b = q->stash[i];
        uint8_t *d = pd_buf_data(b);
        if (shift) {
            /* The tag the kernel moved to metadata goes back after the MACs. */
            memmove(d, d + 4, 12);
            memcpy(d + 12, tag, 4);
        }
        b->data_len = out_len[i] + shift;
        b->timestamp_ns = ts;
        q->st.rx_packets++;
        q->st.rx_bytes += b->data_len;
    }
    q->st.rx_gso_frames++;
    q->st.rx_gso_segments += (uint64_t)n;
    q->stash_head = 0;
    q->stash_n = (uint32_t)n;
    return 0;
}

static void rx_release_block(pd_afp *afp, afp_queue *q)
{
    struct tpacket_block_desc *bd = rx_block_at(afp, q, q->rx_block);

    atomic_store_explicit((_Atomic uint32_t *)&bd->hdr.bh1.block_status, TP_STATUS_KERNEL,
                          memory_order_release);
    q->rx_block = (q->rx_block + 1) % afp->cfg.block_count;
    q->rx_next = NULL;
}

/* ---- zero copy ---------------------------------------------------------- */

static void zc_give_block(afp_queue *q, uint32_t block)
{
    struct tpacket_block_desc *bd = rx_block_at(q->afp, q, block);

    atomic_store_explicit((_Atomic uint32_t *)&bd->hdr.bh1.block_status, TP_STATUS_KERNEL,
                          memory_order_release);
}

/* Drop n references of a block; the last one gives it back to the kernel. */
static void zc_block_unref(afp_queue *q, uint32_t block, unsigned int n)
{
    if (atomic_fetch_sub(&q->block_refs[block], n) == n) {
        atomic_fetch_sub(&q->zc_blocks_held, 1);
        zc_give_block(q, block);
    }
}

/* Turn the kernel's frame header into a zc_frame; 0, or -1 to drop it. */
static int zc_frame_init(afp_queue *q, struct tpacket3_hdr *h, uint32_t block)
{
    uint32_t off = h->tp_mac, len = h->tp_snaplen, status = h->tp_status;
    uint64_t ts = (uint64_t)h->tp_sec * 1000000000ull + h->tp_nsec;
    uint8_t tag[4] = {0, 0, 0, 0};
    zc_frame *f = (zc_frame *)h;
    pd_vnet_hdr v = {0};
    uint8_t *frame;
    int vlan = 0;

    if (h->tp_snaplen < h->tp_len || len < 14 || off < ZC_FRAME_HDR + 4) {
        q->st.rx_malformed++;
        return -1;
    }
    if (q->afp->vnet) {
        vnet_read(h, &v);
        if (v.gso_type != PD_GSO_NONE) {
            /* No buffers to segment into in zero-copy mode: counted. */
            q->st.rx_gso_failed++;
            return -1;
        }
    }
    if (status & TP_STATUS_VLAN_VALID) {
        vlan_tag_of(h, status, tag);
        vlan = 1;
    }
    frame = (uint8_t *)h + off;
    if (vlan) {
        /* Put the tag the kernel moved to metadata back, in the headroom. */
        memmove(frame - 4, frame, 12);
        memcpy(frame + 8, tag, 4);
        off -= 4;
        len += 4;
        frame -= 4;
    }
    f->q = q;
    f->block = block;
    f->data_off = off;
    f->data_len = len;
    f->timestamp_ns = ts;
    complete_checksum(frame, len, status, q->afp->vnet ? &v : NULL, vlan ? 4 : 0);
    return 0;
}

static uint16_t rx_zero_copy(pd_afp *afp, afp_queue *q, pd_pkt **pkts, uint16_t n)
{
    uint16_t got = 0;
    unsigned int taken = 0; /* packets of the current block, not yet counted */

    while (got < n) {
        struct tpacket3_hdr *h;

        if (q->rx_left == 0) {
            struct tpacket_block_desc *bd = rx_block_at(afp, q, q->rx_block);
            uint32_t status = atomic_load_explicit(
                (_Atomic uint32_t *)&bd->hdr.bh1.block_status, memory_order_acquire);
            /* Still referenced: the application holds packets of it from the
             * last lap round the ring (the kernel has not refilled it). */
            if (!(status & TP_STATUS_USER) || atomic_load(&q->block_refs[q->rx_block]) != 0)
                break;
            q->rx_left = bd->hdr.bh1.num_pkts;
            q->rx_next = (struct tpacket3_hdr *)((uint8_t *)bd +
                                                 bd->hdr.bh1.offset_to_first_pkt);
            if (q->rx_left == 0) {
                rx_release_block(afp, q);
                continue;
            }
            atomic_store(&q->block_refs[q->rx_block], 1); /* the reader's */
            atomic_fetch_add(&q->zc_blocks_held, 1);
        }
        h = q->rx_next;
        q->rx_next = (struct tpacket3_hdr *)((uint8_t *)h + h->tp_next_offset);
        q->rx_left--;
        if (zc_frame_init(q, h, q->rx_block) == 0) {
            zc_frame *f = (zc_frame *)h;
            q->st.rx_packets++;
            q->st.rx_bytes += f->data_len;
            pkts[got++] = (pd_pkt *)h;
            taken++;
        }
        if (q->rx_left == 0) {
            /* Block read: the packets' references replace the reader's. */
            uint32_t block = q->rx_block;
            q->rx_block = (q->rx_block + 1) % afp->cfg.block_count;
            q->rx_next = NULL;
            if (taken)
                atomic_fetch_add(&q->block_refs[block], taken);
            taken = 0;
            zc_block_unref(q, block, 1);
        }
    }
    if (taken)
        atomic_fetch_add(&q->block_refs[q->rx_block], taken);
    if (got) {
        atomic_fetch_add(&q->zc_held, got);
        if (atomic_fetch_add(&afp->zc_held_total, got) == 0)
            atomic_fetch_add(&afp->owners, 1); /* held frames keep the port's memory */
    }
    return got;
}

static int zc_alloc_bulk(void *pool, pd_pkt **pkts, unsigned int n)
{
    (void)pool;
    (void)pkts;
    (void)n;
    return -ENOBUFS; /* frames come from the kernel only */
}

static void zc_free_bulk(pd_pkt **pkts, unsigned int n)
{
    unsigned int i = 0;

    while (i < n) {
        zc_frame *f = (zc_frame *)pkts[i];
        afp_queue *q;
        uint32_t block;
        unsigned int run = 0;
        pd_afp *afp;

        /* A frame freed twice cannot be detected: once its block went back
         * the kernel may have rewritten it.  The burst layer prevents it. */
        if (f == NULL) {
            i++;
            continue;
        }
        /* One atomic per run of packets of the same block. */
        q = f->q;
        block = f->block;
        while (i < n) {
            f = (zc_frame *)pkts[i];
            if (f == NULL || f->q != q || f->block != block)
                break;
            run++;
            i++;
        }
        afp = q->afp;
        atomic_fetch_sub(&q->zc_held, run);
        zc_block_unref(q, block, run);
        if (atomic_fetch_sub(&afp->zc_held_total, run) == run)
            pd_afp_close(afp); /* the held frames' owner reference */
    }
}

static uint8_t *zc_data(pd_pkt *p)
{
    zc_frame *f = (zc_frame *)p;
    return (uint8_t *)f + f->data_off;
}

static uint32_t zc_data_len(const pd_pkt *p) { return ((const zc_frame *)p)->data_len; }

static uint32_t zc_headroom(const pd_pkt *p)
{
    return ((const zc_frame *)p)->data_off - (uint32_t)ZC_FRAME_HDR;
}

static uint32_t zc_tailroom(const pd_pkt *p)
{
    (void)p;
    return 0; /* the next frame of the block follows */
}

static uint8_t *zc_prepend(pd_pkt *p, uint32_t n)
{
    zc_frame *f = (zc_frame *)p;
    if (n > zc_headroom(p))
        return NULL;
    f->data_off -= n;
    f->data_len += n;
    return zc_data(p);
}

static uint8_t *zc_adj(pd_pkt *p, uint32_t n)
{
    zc_frame *f = (zc_frame *)p;
    if (n > f->data_len)
        return NULL;
    f->data_off += n;
    f->data_len -= n;
    return zc_data(p);
}

static uint8_t *zc_append(pd_pkt *p, uint32_t n)
{
    (void)p;
    return n == 0 ? zc_data(p) + ((zc_frame *)p)->data_len : NULL;
}

static int zc_trim(pd_pkt *p, uint32_t n)
{
    zc_frame *f = (zc_frame *)p;
    if (n > f->data_len)
        return -EINVAL;
    f->data_len -= n;
    return 0;
}

const pd_pkt_ops pd_afp_zc_ops = {
    .name = PD_AFP_ZC_OPS_NAME,
    .kind = PD_PKT_KIND_AFP_ZC,
    .alloc_bulk = zc_alloc_bulk,
    .free_bulk = zc_free_bulk,
    .data = zc_data,
    .data_len = zc_data_len,
    .headroom = zc_headroom,
    .tailroom = zc_tailroom,
    .prepend = zc_prepend,
    .adj = zc_adj,
    .append = zc_append,
    .trim = zc_trim,
};

uint32_t pd_afp_zc_held(const pd_afp *afp)
{
    return atomic_load(&((pd_afp *)afp)->zc_held_total);
}

uint32_t pd_afp_zc_blocks_held(const pd_afp *afp)
{
    uint32_t total = 0;
    uint16_t i;

    for (i = 0; i < afp->nb_queues; i++)
        total += atomic_load(&((pd_afp *)afp)->q[i].zc_blocks_held);
    return total;
}

uint32_t pd_afp_zc_capacity(const pd_afp *afp)
{
    return (afp->cfg.block_size / afp->cfg.frame_size) * afp->cfg.block_count * afp->nb_queues;
}

uint32_t pd_afp_zc_headroom(const pd_afp *afp)
{
    return afp->cfg.zero_copy ? afp->cfg.zc_headroom : 0;
}

/* ---- copy mode ---------------------------------------------------------- */

uint16_t pd_afp_rx_burst(pd_afp *afp, uint16_t queue, pd_pkt **pkts, uint16_t n)
{
    afp_queue *q;
    uint16_t got = 0;
    /* Buffers allocated in bulk, taken one per plain frame. */
    pd_buf *cache[PD_BURST_MAX];
    unsigned int cache_n = 0;

    if (queue >= afp->nb_queues || !afp->started || pd_afp_error(afp) < 0)
        return 0;
    q = &afp->q[queue];
    if (afp->cfg.zero_copy) {
        got = rx_zero_copy(afp, q, pkts, n);
        goto out;
    }

    while (got < n) {
        struct tpacket3_hdr *h;
        pd_vnet_hdr v = {0};

        if (q->stash_n > 0) {
            /* Segments of the last super-frame first, in order. */
            uint32_t take = q->stash_n < (uint32_t)(n - got) ? q->stash_n : (uint32_t)(n - got);
            memcpy(pkts + got, q->stash + q->stash_head, take * sizeof(pd_buf *));
            got = (uint16_t)(got + take);
            q->stash_head += take;
            q->stash_n -= take;
            continue;
        }
        if (q->rx_left == 0) {
            struct tpacket_block_desc *bd = rx_block_at(afp, q, q->rx_block);
            uint32_t status = atomic_load_explicit(
                (_Atomic uint32_t *)&bd->hdr.bh1.block_status, memory_order_acquire);
            if (!(status & TP_STATUS_USER))
                break;
            q->rx_left = bd->hdr.bh1.num_pkts;
            q->rx_next = (struct tpacket3_hdr *)((uint8_t *)bd +
                                                 bd->hdr.bh1.offset_to_first_pkt);
            if (q->rx_left == 0) {
                rx_release_block(afp, q);
                continue;
            }
        }
        h = q->rx_next;
        if (afp->vnet)
            vnet_read(h, &v);
        if (afp->vnet && v.gso_type != PD_GSO_NONE) {
            if (rx_gso_frame(afp, q, h, &v) != 0)
                break;                 /* pool short: the frame waits */
        } else {
            pd_buf *b;
            if (cache_n == 0) {
                unsigned int want = (unsigned int)(n - got);
                if (want > PD_BURST_MAX)
                    want = PD_BURST_MAX;
                if (want > q->rx_left)
                    want = q->rx_left;
                if (pd_buf_alloc_bulk(afp->pool, cache, want) < 0) {
                    /* Pool short: take what is there; frames wait in the ring. */
                    uint32_t avail = pd_buf_pool_avail(afp->pool);
                    want = avail < want ? avail : want;
                    if (want == 0 || pd_buf_alloc_bulk(afp->pool, cache, want) < 0) {
                        q->st.rx_nombuf++;
                        break;
                    }
                }
                cache_n = want;
            }
            b = cache[--cache_n];
            if (rx_copy_frame(q, h, b, afp->vnet ? &v : NULL) == 0) {
                q->st.rx_packets++;
                q->st.rx_bytes += b->data_len;
                pkts[got++] = (pd_pkt *)b;
            } else {
                cache[cache_n++] = b;
            }
        }
        q->rx_next = (struct tpacket3_hdr *)((uint8_t *)h + h->tp_next_offset);
        if (--q->rx_left == 0)
            rx_release_block(afp, q);
    }
    if (cache_n)
        pd_buf_free_bulk(cache, cache_n);
out:
    if (got == 0 && (++q->idle_polls & IDLE_CHECK_MASK) == 0) {
        int rc = queue_check(afp, q);
        if (rc < 0)
            atomic_store(&afp->error, rc);
    }
    return got;
}

/* Errors after which the port cannot send any more. */
static int tx_fatal(int err)
{
    return err == ENXIO || err == ENODEV || err == EBADF;
}

static uint16_t tx_sendmmsg(pd_afp *afp, afp_queue *q, pd_pkt **pkts, uint16_t n,
                            const pd_pkt_ops *ops)
{
    /* With PACKET_VNET_HDR every frame sent starts with one: all zero
     * says "a plain frame, checksums done". */
    static uint8_t no_vnet[PD_VNET_HDR_LEN];
    struct mmsghdr msgs[PD_BURST_MAX];
    struct iovec iov[2 * PD_BURST_MAX];
    uint16_t done = 0, i;
    unsigned int k = afp->vnet ? 2 : 1;

    if (n > PD_BURST_MAX)
        n = PD_BURST_MAX;
    for (i = 0; i < n; i++) {
        struct iovec *v = &iov[k * i];
        if (k == 2) {
            v->iov_base = no_vnet;
            v->iov_len = PD_VNET_HDR_LEN;
        }
        v[k - 1].iov_base = ops->data(pkts[i]);
        v[k - 1].iov_len = ops->data_len(pkts[i]);
        memset(&msgs[i], 0, sizeof(msgs[i]));
        msgs[i].msg_hdr.msg_iov = v;
        msgs[i].msg_hdr.msg_iovlen = k;
    }
    while (done < n) {
        int rc = sendmmsg(q->fd, msgs + done, n - done, MSG_DONTWAIT);
        if (rc > 0) {
            for (i = done; i < done + rc; i++) {
                q->st.tx_packets++;
                q->st.tx_bytes += iov[k * i + k - 1].iov_len;
            }
            done += (uint16_t)rc;
            continue;
        }
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == ENOBUFS)
            break; /* queue full: the caller keeps the rest */
        if (tx_fatal(errno)) {
            int rc2 = queue_check(afp, q);
            atomic_store(&afp->error, rc2 < 0 ? rc2 : -errno);
            break;
        }
        /* This one packet is refused (too big, ...): drop it, go on. */
        q->st.tx_errors++;
        done++;
    }
    ops->free_bulk(pkts, done);
    return done;
}

static uint16_t tx_ring(pd_afp *afp, afp_queue *q, pd_pkt **pkts, uint16_t n,
                        const pd_pkt_ops *ops)
{
    /* Frame room, and what the device accepts: MTU + Ethernet + one VLAN tag. */
    uint32_t vh = afp->vnet ? PD_VNET_HDR_LEN : 0;
    uint32_t max_len = afp->cfg.frame_size - (uint32_t)TX_DATA_OFFSET - vh;
    if (afp->mtu > 0 && (uint32_t)afp->mtu + 18u < max_len)
        max_len = (uint32_t)afp->mtu + 18u;
    uint16_t done = 0, queued = 0;

    while (done < n) {
        struct tpacket3_hdr *h = tx_frame_at(afp, q, q->tx_frame);
        pd_pkt *b = pkts[done];
        uint32_t len = ops->data_len(b);
        uint32_t status = atomic_load_explicit((_Atomic uint32_t *)&h->tp_status,
                                               memory_order_acquire);

        if (status == TP_STATUS_WRONG_FORMAT) {
            /* Should not happen (we check sizes); count it and reuse. */
            q->st.tx_errors++;
            status = TP_STATUS_AVAILABLE;
        }
        if (status != TP_STATUS_AVAILABLE)
            break; /* ring full */
        done++;
        if (len > max_len || len < 14) {
            q->st.tx_errors++;
            continue;
        }
        /* A vnet header (all zero: plain frame) leads the data when in use. */
        memset((uint8_t *)h + TX_DATA_OFFSET, 0, vh);
        memcpy((uint8_t *)h + TX_DATA_OFFSET + vh, ops->data(b), len);
        h->tp_len = len + vh;
        h->tp_snaplen = len + vh;
        h->tp_next_offset = 0;
        atomic_store_explicit((_Atomic uint32_t *)&h->tp_status, TP_STATUS_SEND_REQUEST,
                              memory_order_release);
        q->tx_frame = (q->tx_frame + 1) % afp->cfg.tx_frame_count;
        q->st.tx_packets++;
        q->st.tx_bytes += len;
        queued++;
    }
    if (queued > 0) {
        /* The kernel sends every queued frame in this call; MSG_DONTWAIT
         * only skips waiting for their completion (a stuck link must not
         * block us); frames still completing are skipped as "ring full". */
        while (send(q->fd, NULL, 0, MSG_DONTWAIT) < 0) {
            if (errno == EINTR)
                continue;
            if (tx_fatal(errno) || errno == ENETDOWN) {
                int rc = queue_check(afp, q);
                if (rc < 0 || tx_fatal(errno))
                    atomic_store(&afp->error, rc < 0 ? rc : -errno);
            }
            break;
        }
    }
    ops->free_bulk(pkts, done);
    return done;
}

uint16_t pd_afp_tx_burst_ops(pd_afp *afp, uint16_t queue, pd_pkt **pkts, uint16_t n,
                             const pd_pkt_ops *ops)
{
    if (queue >= afp->nb_queues || !afp->started || n == 0 || pd_afp_error(afp) < 0)
        return 0;
    if (afp->cfg.tx_mode == PD_AFP_TX_RING)
        return tx_ring(afp, &afp->q[queue], pkts, n, ops);
    return tx_sendmmsg(afp, &afp->q[queue], pkts, n, ops);
}

uint16_t pd_afp_tx_burst(pd_afp *afp, uint16_t queue, pd_pkt **pkts, uint16_t n)
{
    return pd_afp_tx_burst_ops(afp, queue, pkts, n,
                               afp->cfg.zero_copy ? &pd_afp_zc_ops : &pd_buf_ops);
}

/* Would rx_burst find a block to read?  (Frames left in the current one, or
 * the next block is the application's and not still held from the last
 * lap round the ring.) */
static int rx_ready(pd_afp *afp, afp_queue *q)
{
    struct tpacket_block_desc *bd;

    if (q->rx_left > 0)
        return 1;
    bd = rx_block_at(afp, q, q->rx_block);
    if (!(atomic_load_explicit((_Atomic uint32_t *)&bd->hdr.bh1.block_status,
                               memory_order_acquire) & TP_STATUS_USER))
        return 0;
    return q->block_refs == NULL || atomic_load(&q->block_refs[q->rx_block]) == 0;
}

static int64_t monotonic_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int pd_afp_wait(pd_afp *afp, uint16_t queue, int timeout_ms)
{
    afp_queue *q;
    int64_t deadline;
    int rc;

    if (queue >= afp->nb_queues)
        return -EINVAL;
    q = &afp->q[queue];
    deadline = timeout_ms < 0 ? INT64_MAX : monotonic_ms() + timeout_ms;
    for (;;) {
        struct pollfd pfd = {.fd = q->fd, .events = POLLIN, .revents = 0};
        int64_t left;

        rc = pd_afp_error(afp);
        if (rc < 0)
            return rc;
        if (rx_ready(afp, q))
            return 1;
        left = deadline == INT64_MAX ? -1 : deadline - monotonic_ms();
        if (deadline != INT64_MAX && left <= 0)
            return 0;
        rc = poll(&pfd, 1, left > INT_MAX ? INT_MAX : (int)left);
        if (rc < 0)
            return errno == EINTR ? 0 : -errno;
        if (pfd.revents & (POLLERR | POLLHUP | POLLNVAL)) {
            rc = queue_check(afp, q);
            if (rc < 0) {
                atomic_store(&afp->error, rc);
                return rc;
            }
        }
        if (rc == 0)
            return 0;
        /* The kernel calls the socket readable while the block before the
         * one it fills is the application's.  With zero-copy packets held
         * that stays true while the next block is still being filled, so
         * poll() no longer sleeps: nap (1 ms) until the kernel retires it. */
        if (!rx_ready(afp, q)) {
            struct timespec pause = {0, 1000000L};
            nanosleep(&pause, NULL);
        }
    }
}

static void queue_pull_kernel_stats(afp_queue *q)
{
    struct tpacket_stats_v3 ks;
    socklen_t len = sizeof(ks);

    memset(&ks, 0, sizeof(ks));
    if (getsockopt(q->fd, SOL_PACKET, PACKET_STATISTICS, &ks, &len) == 0) {
        /* tp_packets counts drops too. */
        q->st.kernel_packets += ks.tp_packets;
        q->st.kernel_drops += ks.tp_drops;
        q->st.ring_freezes += ks.tp_freeze_q_cnt;
    }
}

static void stats_add(pd_afp_stats *dst, const pd_afp_stats *s)
{
    dst->rx_packets += s->rx_packets;
    dst->rx_bytes += s->rx_bytes;
    dst->tx_packets += s->tx_packets;
    dst->tx_bytes += s->tx_bytes;
    dst->rx_nombuf += s->rx_nombuf;
    dst->rx_malformed += s->rx_malformed;
    dst->tx_errors += s->tx_errors;
    dst->kernel_packets += s->kernel_packets;
    dst->kernel_drops += s->kernel_drops;
    dst->ring_freezes += s->ring_freezes;
    dst->rx_gso_frames += s->rx_gso_frames;
    dst->rx_gso_segments += s->rx_gso_segments;
    dst->rx_gso_failed += s->rx_gso_failed;
    dst->rx_oversize += s->rx_oversize;
}

int pd_afp_stats_get(pd_afp *afp, int queue, pd_afp_stats *out)
{
    uint16_t i;

    if (queue >= (int)afp->nb_queues)
        return -EINVAL;
    memset(out, 0, sizeof(*out));
    for (i = 0; i < afp->nb_queues; i++) {
        if (queue >= 0 && i != queue)
            continue;
        queue_pull_kernel_stats(&afp->q[i]);
        stats_add(out, &afp->q[i].st);
    }
    return 0;
}

void pd_afp_stats_reset(pd_afp *afp)
{
    uint16_t i;

    for (i = 0; i < afp->nb_queues; i++) {
        queue_pull_kernel_stats(&afp->q[i]);
        memset(&afp->q[i].st, 0, sizeof(afp->q[i].st));
    }
}

int pd_afp_ifindex(const pd_afp *afp) { return afp->ifindex; }
int pd_afp_mtu(const pd_afp *afp) { return afp->mtu; }
int pd_afp_vnet_hdr(const pd_afp *afp) { return afp->vnet; }
const uint8_t *pd_afp_mac(const pd_afp *afp) { return afp->mac; }

static uint16_t io_rx(void *ctx, uint16_t queue, pd_pkt **pkts, uint16_t n)
{
    return pd_afp_rx_burst(ctx, queue, pkts, n);
}

static uint16_t io_tx(void *ctx, uint16_t queue, pd_pkt **pkts, uint16_t n)
{
    return pd_afp_tx_burst(ctx, queue, pkts, n);
}

/* Health for native loops: a failure (interface gone, socket error) as
 * pd_afp_check finds it, else -ENETDOWN while the link is down. */
int pd_afp_status(pd_afp *afp)
{
    struct ifreq ifr;
    int rc = pd_afp_check(afp);

    if (rc < 0)
        return rc;
    memset(&ifr, 0, sizeof(ifr));
    memcpy(ifr.ifr_name, afp->ifname, strlen(afp->ifname));
    if (ioctl(afp->q[0].fd, SIOCGIFFLAGS, &ifr) < 0)
        return errno == ENODEV ? -ENODEV : 0;
    return (ifr.ifr_flags & IFF_UP) && (ifr.ifr_flags & IFF_RUNNING) ? 0 : -ENETDOWN;
}

static uint16_t io_tx_ops(void *ctx, uint16_t queue, pd_pkt **pkts, uint16_t n,
                          const pd_pkt_ops *ops)
{
    return pd_afp_tx_burst_ops(ctx, queue, pkts, n, ops);
}

static int io_status(void *ctx)
{
    return pd_afp_status(ctx);
}

/* The queue's socket: TPACKET_V3 makes it readable when a block is retired
 * (full, or block_timeout_ms after its first frame), which is also when
 * rx_burst first sees the block's frames. */
static int io_wait_fd(void *ctx, uint16_t queue)
{
    pd_afp *afp = ctx;
    return queue < afp->nb_queues ? afp->q[queue].fd : -EINVAL;
}

void pd_afp_port_io(pd_afp *afp, pd_port_io *io)
{
    io->ctx = afp;
    io->ops = afp->cfg.zero_copy ? &pd_afp_zc_ops : &pd_buf_ops;
    io->pool = afp->cfg.zero_copy ? (void *)afp : (void *)afp->pool;
    io->rx_burst = io_rx;
    io->tx_burst = io_tx;
    io->status = io_status;
    io->wait_fd = io_wait_fd;
    /* Both kinds are sent by copying their data into the socket. */
    io->tx_burst_ops = io_tx_ops;
    io->tx_kinds = 1u << PD_PKT_KIND_BUF | 1u << PD_PKT_KIND_AFP_ZC;
}
