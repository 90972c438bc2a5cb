#define _GNU_SOURCE
#include "fec.h"
#include "net.h"
#include "udp.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#ifndef SO_RXQ_OVFL
#define SO_RXQ_OVFL 40
#endif
#ifndef SOL_UDP
#define SOL_UDP 17
#endif
#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif
#ifndef UDP_GRO
#define UDP_GRO 104
#endif
#define PD_UDP_GSO_MAX_SEGS 64u       /* the kernel's UDP_MAX_SEGMENTS */
#define PD_UDP_GSO_MAX_BYTES 60000u   /* payload of one GSO send, under 64 KiB */

static const uint8_t ka_magic[4] = { 'P', 'D', 'K', 'A' };

/* Per-direction scratch arrays: rx and tx may run on two threads. */
typedef struct io_arrays {
    struct mmsghdr msg[PD_BURST_MAX];
    struct iovec iov[PD_BURST_MAX];
} io_arrays;

/* GRO receive state: scratch buffers and where the next datagram starts. */
#define PD_UDP_GRO_BUFS 8
#define PD_UDP_GRO_BUF_SIZE 65536
typedef struct pd_gro {
    uint8_t *buf;                     /* PD_UDP_GRO_BUFS * PD_UDP_GRO_BUF_SIZE */
    struct mmsghdr msg[PD_UDP_GRO_BUFS];
    struct iovec iov[PD_UDP_GRO_BUFS];
    struct sockaddr_storage names[PD_UDP_GRO_BUFS];
    union {
        char buf[CMSG_SPACE(sizeof(int)) * 2 + CMSG_SPACE(sizeof(uint32_t))];
        struct cmsghdr align;
    } ctrl[PD_UDP_GRO_BUFS];
    uint8_t tos[PD_UDP_GRO_BUFS];     /* outer TOS of each message */
    uint32_t seg[PD_UDP_GRO_BUFS];    /* segment size of each message */
    unsigned int count, cur;          /* messages held, the one being split */
    uint32_t off;                     /* offset of the next datagram in it */
} pd_gro;

struct pd_udp {
    int fd;
    int tx_fd;                        /* fd, or the socket bound to cfg.tx_port */
    pd_gro *gro;                      /* non-NULL: UDP_GRO receive */
    int started;
    const pd_pkt_ops *ops;
    void *pool;
    pd_udp_config cfg;
    uint32_t instance_id;

    /* The peer address: written by rx (rebinding), read by tx and tick. */
    atomic_flag peer_lock;
    struct sockaddr_storage peer;
    socklen_t peer_len;

    /* rx-side state (rx thread only) */
    uint32_t peer_instance;           /* id in the peer's keepalives, 0: none yet */
    uint32_t sessions[PD_UDP_SESSIONS];
    unsigned int n_sessions, next_session;
    uint32_t last_session;
    _Atomic uint64_t last_rx_ns;      /* 0: never */
    _Atomic int state;
    uint32_t ovfl_now, ovfl_base;     /* SO_RXQ_OVFL: cumulative drops */

    uint32_t gso_bad_size;            /* tx: GSO refused for runs this long (0: none) */
    uint8_t repair_dscp;              /* tx: highest DSCP (<< 2) of this block's sources */
    uint8_t in_repair;                /* tx: the last FEC packet sent was a repair packet */
    uint8_t tx_tos[PD_BURST_MAX];     /* tx: outer TOS of each datagram of the burst */

    /* keepalive timer: rx and tx threads may both tick */
    _Atomic uint64_t last_ka_ns;

    pd_udp_stats st;
    io_arrays rx, tx;
    struct sockaddr_storage rx_names[PD_BURST_MAX];
    union {
        char buf[CMSG_SPACE(sizeof(uint32_t)) + CMSG_SPACE(sizeof(int))];
        struct cmsghdr align;
    } rx_ctrl[PD_BURST_MAX];
    union {
        char buf[CMSG_SPACE(sizeof(int))];
        struct cmsghdr align;
    } tx_ctrl[PD_BURST_MAX];
};

/* Coarse clock: the timers need milliseconds, not a precise read per burst. */
static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* Offset of the session id in the FEC header (docs/fec-format.md): the
 * per-packet fast path compares it before the full header check. */
#define FEC_SESSION_OFF 12

int pd_udp_fec_session(const uint8_t *p, uint32_t len, uint32_t *session)
{
    fec_hdr h;

    if (!p || fec_hdr_parse(p, len, &h) != 0)
        return -EINVAL;
    if (session)
        *session = h.session_id;
    return 0;
}

static int is_keepalive(const uint8_t *d, uint32_t len)
{
    return len >= 4 && memcmp(d, ka_magic, 4) == 0;
}

/* 1 for a well-formed keepalive (id in *id), 0 for a malformed one. */
static int parse_keepalive(const uint8_t *d, uint32_t len, uint32_t *id)
{
    if (len != PD_UDP_KEEPALIVE_LEN || d[4] != 1)
        return 0;
    *id = get32(d + 8);
    return *id != 0;
}

static int sa_equal(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
    if (a->ss_family != b->ss_family)
        return 0;
    if (a->ss_family == AF_INET) {
        const struct sockaddr_in *x = (const void *)a, *y = (const void *)b;
        return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
    }
    if (a->ss_family == AF_INET6) {
        const struct sockaddr_in6 *x = (const void *)a, *y = (const void *)b;
        return x->sin6_port == y->sin6_port &&
               memcmp(&x->sin6_addr, &y->sin6_addr, sizeof(x->sin6_addr)) == 0 &&
               x->sin6_scope_id == y->sin6_scope_id;
    }
    return 0;
}

static socklen_t sa_len(int family)
{
    return family == AF_INET ? sizeof(struct sockaddr_in)
         : family == AF_INET6 ? sizeof(struct sockaddr_in6) : 0;
}

static void peer_lock(pd_udp *u)
{
    while (atomic_flag_test_and_set_explicit(&u->peer_lock, memory_order_acquire))
        ;
}

static void peer_unlock(pd_udp *u)
{
    atomic_flag_clear_explicit(&u->peer_lock, memory_order_release);
}

static void peer_copy(pd_udp *u, struct sockaddr_storage *out, socklen_t *len)
{
    peer_lock(u);
    *out = u->peer;
    *len = u->peer_len;
    peer_unlock(u);
}

void pd_udp_config_init(pd_udp_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->keepalive_ns = 1000000000ull;
    cfg->dead_ns = 5000000000ull;
    cfg->rcvbuf = 4 << 20;
    cfg->sndbuf = 4 << 20;
    cfg->dont_fragment = 0;
    cfg->follow_peer = 1;
    cfg->gso = 0;
}

static int set_buffer(int fd, int force_opt, int opt, int bytes)
{
    if (bytes <= 0)
        return 0;
    /* FORCE passes net.core.[rw]mem_max when privileged; else the capped size. */
    if (setsockopt(fd, SOL_SOCKET, force_opt, &bytes, sizeof(bytes)) == 0)
        return 0;
    return setsockopt(fd, SOL_SOCKET, opt, &bytes, sizeof(bytes)) == 0 ? 0 : -errno;
}

static int set_pmtu(int fd, int family, int dont_fragment)
{
    int v;

    if (family == AF_INET) {
        v = dont_fragment ? IP_PMTUDISC_DO : IP_PMTUDISC_DONT;
        return setsockopt(fd, IPPROTO_IP, IP_MTU_DISCOVER, &v, sizeof(v)) == 0 ? 0 : -errno;
    }
    v = dont_fragment ? IPV6_PMTUDISC_DO : IPV6_PMTUDISC_DONT;
    return setsockopt(fd, IPPROTO_IPV6, IPV6_MTU_DISCOVER, &v, sizeof(v)) == 0 ? 0 : -errno;
}

/* The SO_REUSEPORT group's choice of socket: the sender's UDP source
 * port modulo `queues` (classic BPF, SO_ATTACH_REUSEPORT_CBPF), so that a
 * multi-queue peer sending from consecutive ports reaches every queue and
 * each of its queues always the same one.  The program runs with the
 * packet's data at the UDP payload; the header is read through the
 * network-header offset (IPv4: after IHL words; IPv6: no extension
 * headers, else the kernel's hash picks).  An index past the group's
 * sockets also falls back to the hash. */
static int attach_queue_filter(int fd, int family, uint16_t queues)
{
    struct sock_filter v4[] = {
        BPF_STMT(BPF_LDX | BPF_B | BPF_MSH, (uint32_t)SKF_NET_OFF),  /* X = IHL * 4 */
        BPF_STMT(BPF_LD | BPF_H | BPF_IND, (uint32_t)SKF_NET_OFF),   /* source port */
        BPF_STMT(BPF_ALU | BPF_MOD | BPF_K, queues),
        BPF_STMT(BPF_RET | BPF_A, 0),
    };
    struct sock_filter v6[] = {
        BPF_STMT(BPF_LD | BPF_H | BPF_ABS, (uint32_t)(SKF_NET_OFF + 40)),
        BPF_STMT(BPF_ALU | BPF_MOD | BPF_K, queues),
        BPF_STMT(BPF_RET | BPF_A, 0),
    };
    struct sock_fprog prog;

    if (family == AF_INET) {
        prog.len = sizeof(v4) / sizeof(v4[0]);
        prog.filter = v4;
    } else {
        prog.len = sizeof(v6) / sizeof(v6[0]);
        prog.filter = v6;
    }
    return setsockopt(fd, SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF, &prog, sizeof(prog)) == 0
               ? 0 : -errno;
}

/* The socket queue i sends from: the local address, port cfg->tx_port.  It
 * is never read (the peer sends to the group's port); a tiny receive buffer
 * bounds what strays there. */
static int open_tx_socket(pd_udp *u, const pd_udp_config *cfg)
{
    struct sockaddr_storage local = cfg->local;
    int family = local.ss_family, one = 1, small = 4096, fd, rc = 0;

    if (family == AF_INET)
        ((struct sockaddr_in *)&local)->sin_port = htons(cfg->tx_port);
    else
        ((struct sockaddr_in6 *)&local)->sin6_port = htons(cfg->tx_port);
    fd = socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_UDP);
    if (fd < 0)
        return -errno;
    if (family == AF_INET6)
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
    (void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
    rc = set_buffer(fd, SO_SNDBUFFORCE, SO_SNDBUF, cfg->sndbuf);
    if (rc == 0)
        rc = set_pmtu(fd, family, cfg->dont_fragment);
    if (rc == 0 && bind(fd, (const struct sockaddr *)&local, sa_len(family)) != 0)
        rc = -errno;
    if (rc != 0) {
        close(fd);
        return rc;
    }
    u->tx_fd = fd;
    return 0;
}

/* A multi-queue peer: its address, one of its span of source ports. */
static int in_peer_span(const pd_udp *u, const struct sockaddr_storage *from)
{
    const struct sockaddr_storage *p = &u->peer;
    unsigned int port, base;

    if (u->cfg.peer_port_span < 2 || from->ss_family != p->ss_family)
        return 0;
    if (p->ss_family == AF_INET) {
        const struct sockaddr_in *x = (const void *)from, *y = (const void *)p;
        if (x->sin_addr.s_addr != y->sin_addr.s_addr)
            return 0;
        port = ntohs(x->sin_port);
        base = ntohs(y->sin_port);
    } else {
        const struct sockaddr_in6 *x = (const void *)from, *y = (const void *)p;
        if (memcmp(&x->sin6_addr, &y->sin6_addr, sizeof(x->sin6_addr)) != 0 ||
            x->sin6_scope_id != y->sin6_scope_id)
            return 0;
        port = ntohs(x->sin6_port);
        base = ntohs(y->sin6_port);
    }
    return port >= base && port - base < u->cfg.peer_port_span;
}

int pd_udp_open(pd_udp **out, const pd_udp_config *cfg, const pd_pkt_ops *ops, void *pool)
{
    pd_udp *u;
    int family, one = 1, rc;

    if (!out)
        return -EINVAL;
    *out = NULL;
    if (!cfg || !ops || !pool)
        return -EINVAL;
    family = cfg->local.ss_family;
    if ((family != AF_INET && family != AF_INET6) || cfg->peer.ss_family != family ||
        cfg->local_len < sa_len(family) || cfg->peer_len < sa_len(family))
        return -EINVAL;
    if (cfg->keepalive_ns && cfg->dead_ns && cfg->dead_ns <= cfg->keepalive_ns)
        return -EINVAL;      /* the peer would look dead between two keepalives */
    if ((family == AF_INET && ((const struct sockaddr_in *)&cfg->peer)->sin_port == 0) ||
        (family == AF_INET6 && ((const struct sockaddr_in6 *)&cfg->peer)->sin6_port == 0))
        return -EINVAL;

    u = calloc(1, sizeof(*u));
    if (!u)
        return -ENOMEM;
    u->cfg = *cfg;
    u->ops = ops;
    u->pool = pool;
    atomic_flag_clear(&u->peer_lock);
    u->peer = cfg->peer;
    u->peer_len = sa_len(family);
    u->instance_id = cfg->instance_id;
    while (u->instance_id == 0) {
        if (getrandom(&u->instance_id, sizeof(u->instance_id), 0) != sizeof(u->instance_id))
            u->instance_id = (uint32_t)now_ns() ^ (uint32_t)getpid() << 16;
    }
    u->fd = socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_UDP);
    if (u->fd < 0) {
        rc = -errno;
        free(u);
        return rc;
    }
    if (family == AF_INET6) {
        /* an IPv6 port speaks IPv6 only: v4-mapped peers would not match */
        setsockopt(u->fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
    }
    rc = set_buffer(u->fd, SO_RCVBUFFORCE, SO_RCVBUF, cfg->rcvbuf);
    if (rc == 0)
        rc = set_buffer(u->fd, SO_SNDBUFFORCE, SO_SNDBUF, cfg->sndbuf);
    if (rc == 0)
        rc = set_pmtu(u->fd, family, cfg->dont_fragment);
    if (rc == 0 && setsockopt(u->fd, SOL_SOCKET, SO_RXQ_OVFL, &one, sizeof(one)) != 0)
        rc = -errno;
    if (rc == 0 && cfg->tos &&
        (family == AF_INET ? setsockopt(u->fd, IPPROTO_IP, IP_RECVTOS, &one, sizeof(one))
                           : setsockopt(u->fd, IPPROTO_IPV6, IPV6_RECVTCLASS, &one,
                                        sizeof(one))) != 0)
        rc = -errno;
    if (rc == 0 && cfg->reuseport_queues > 1 &&
        setsockopt(u->fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) != 0)
        rc = -errno;
    if (rc == 0 && bind(u->fd, (const struct sockaddr *)&cfg->local, sa_len(family)) != 0)
        rc = -errno;
    /* after bind: a socket that has a group of its own cannot join another */
    if (rc == 0 && cfg->reuseport_queues > 1)
        rc = attach_queue_filter(u->fd, family, cfg->reuseport_queues);
    u->tx_fd = u->fd;
    if (rc == 0 && cfg->tx_port)
        rc = open_tx_socket(u, cfg);
    if (rc == 0 && cfg->gro) {
        u->gro = calloc(1, sizeof(*u->gro));
        if (u->gro)
            u->gro->buf = malloc((size_t)PD_UDP_GRO_BUFS * PD_UDP_GRO_BUF_SIZE);
        if (!u->gro || !u->gro->buf)
            rc = -ENOMEM;
        else if (setsockopt(u->fd, IPPROTO_UDP, UDP_GRO, &one, sizeof(one)) != 0)
            rc = -errno;
    }
    if (rc != 0) {
        if (u->gro)
            free(u->gro->buf);
        free(u->gro);
        if (u->tx_fd != u->fd)
            close(u->tx_fd);
        close(u->fd);
        free(u);
        return rc;
    }
    u->state = PD_UDP_PEER_WAITING;
    *out = u;
    return 0;
}

void pd_udp_close(pd_udp *u)
{
    if (!u)
        return;
    if (u->tx_fd >= 0 && u->tx_fd != u->fd)
        close(u->tx_fd);
    if (u->fd >= 0)
        close(u->fd);
    if (u->gro)
        free(u->gro->buf);
    free(u->gro);
    free(u);
}

int pd_udp_start(pd_udp *u)
{
    uint8_t scratch[256];

    if (!u)
        return -EINVAL;
    /* what queued while stopped is stale */
    while (recv(u->fd, scratch, sizeof(scratch), MSG_DONTWAIT | MSG_TRUNC) >= 0)
        ;
    u->gso_bad_size = 0;      /* routes and MTUs may have changed */
    if (u->gro)
        u->gro->count = u->gro->cur = 0;
    u->started = 1;
    return 0;
}

void pd_udp_stop(pd_udp *u)
{
    if (u)
        u->started = 0;
}

static void send_keepalive(pd_udp *u)
{
    uint8_t ka[PD_UDP_KEEPALIVE_LEN] = { 0 };
    struct sockaddr_storage peer;
    socklen_t len;

    memcpy(ka, ka_magic, 4);
    ka[4] = 1;
    put32(ka + 8, u->instance_id);
    peer_copy(u, &peer, &len);
    if (sendto(u->tx_fd, ka, sizeof(ka), MSG_DONTWAIT, (struct sockaddr *)&peer, len) ==
        (ssize_t)sizeof(ka))
        u->st.keepalives_tx++;
    else
        u->st.keepalive_errors++;
}

static void tick(pd_udp *u, uint64_t now)
{
    uint64_t last = atomic_load_explicit(&u->last_ka_ns, memory_order_relaxed);
    uint64_t heard;

    if (u->cfg.keepalive_ns && (last == 0 || now - last >= u->cfg.keepalive_ns) &&
        atomic_compare_exchange_strong(&u->last_ka_ns, &last, now))
        send_keepalive(u);
    heard = atomic_load_explicit(&u->last_rx_ns, memory_order_relaxed);
    if (u->cfg.dead_ns && atomic_load(&u->state) == PD_UDP_PEER_UP && heard &&
        now - heard > u->cfg.dead_ns) {
        int up = PD_UDP_PEER_UP;
        if (atomic_compare_exchange_strong(&u->state, &up, PD_UDP_PEER_DEAD))
            u->st.dead_events++;
    }
}

void pd_udp_tick(pd_udp *u)
{
    if (u && u->started)
        tick(u, now_ns());
}

/* Remember a FEC session id the current peer uses (bounded, oldest out). */
static void note_session(pd_udp *u, const uint8_t *d, uint32_t len)
{
    uint32_t sid;

    if (len < FEC_HDR_LEN || d[0] != FEC_VERSION)
        return;
    sid = get32(d + FEC_SESSION_OFF);
    if (sid == u->last_session)        /* the common case: one check per packet */
        return;
    if (pd_udp_fec_session(d, len, &sid) != 0)
        return;
    u->last_session = sid;
    for (unsigned int i = 0; i < u->n_sessions; i++)
        if (u->sessions[i] == sid)
            return;
    u->sessions[u->next_session] = sid;
    u->next_session = (u->next_session + 1) % PD_UDP_SESSIONS;
    if (u->n_sessions < PD_UDP_SESSIONS)
        u->n_sessions++;
}

static int known_session(const pd_udp *u, uint32_t sid)
{
    for (unsigned int i = 0; i < u->n_sessions; i++)
        if (u->sessions[i] == sid)
            return 1;
    return 0;
}

/* A datagram from another address: does it prove to be our peer? */
static int proves_peer(const pd_udp *u, const uint8_t *d, uint32_t len)
{
    uint32_t id;

    if (!u->cfg.follow_peer)
        return 0;
    if (is_keepalive(d, len))
        return parse_keepalive(d, len, &id) && u->peer_instance && id == u->peer_instance;
    return pd_udp_fec_session(d, len, &id) == 0 && known_session(u, id);
}

static void heard_from_peer(pd_udp *u, uint64_t now)
{
    int s = atomic_load_explicit(&u->state, memory_order_relaxed);

    atomic_store_explicit(&u->last_rx_ns, now ? now : 1, memory_order_relaxed);
    if (s != PD_UDP_PEER_UP)
        atomic_store(&u->state, PD_UDP_PEER_UP);
}

/* The outer TOS / traffic class in a received message's control data (IPv4
 * gives one byte, IPv6 an int); 0 when absent. */
static int cmsg_tos(const struct cmsghdr *c, uint8_t *tos)
{
    if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_TOS) {
        *tos = *(const uint8_t *)CMSG_DATA(c);
        return 1;
    }
    if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_TCLASS) {
        int v;
        memcpy(&v, CMSG_DATA(c), sizeof(v));
        *tos = (uint8_t)v;
        return 1;
    }
    return 0;
}

static uint8_t note_ovfl(pd_udp *u, struct msghdr *mh)
{
    uint8_t tos = 0;

    for (struct cmsghdr *c = CMSG_FIRSTHDR(mh); c; c = CMSG_NXTHDR(mh, c)) {
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SO_RXQ_OVFL) {
            uint32_t v;
            memcpy(&v, CMSG_DATA(c), sizeof(v));
            u->ovfl_now = v;
        } else {
            cmsg_tos(c, &tos);
        }
    }
    return tos;
}

/* Allocate up to n packets (all or nothing per try, halving on failure). */
static unsigned int alloc_some(pd_udp *u, pd_pkt **pkts, unsigned int n)
{
    while (n) {
        if (u->ops->alloc_bulk(u->pool, pkts, n) == 0)
            return n;
        n /= 2;
    }
    return 0;
}

/* One received datagram from `from`: 1 to deliver it, 0 when it was consumed
 * (keepalive) or dropped (counted). */
static int classify(pd_udp *u, const struct sockaddr_storage *from, const uint8_t *d,
                    uint32_t len, uint64_t now)
{
    if (len == 0) {
        u->st.rx_malformed++;
        return 0;
    }
    if (!sa_equal(from, &u->peer) && !in_peer_span(u, from)) {
        if (u->cfg.peer_port_span > 1 || !proves_peer(u, d, len)) {
            u->st.rx_unknown_source++;
            return 0;
        }
        peer_lock(u);
        u->peer = *from;
        u->peer_len = sa_len(u->peer.ss_family);
        peer_unlock(u);
        u->st.peer_changes++;
    }
    if (is_keepalive(d, len)) {
        uint32_t id;
        if (parse_keepalive(d, len, &id)) {
            u->peer_instance = id;
            u->st.keepalives_rx++;
            heard_from_peer(u, now);
        } else {
            u->st.rx_malformed++;
        }
        return 0;
    }
    heard_from_peer(u, now);
    note_session(u, d, len);
    u->st.rx_packets++;
    u->st.rx_bytes += len;
    return 1;
}

/* GRO receive: coalesced datagrams land in big scratch buffers and are
 * copied out one per packet; what does not fit this burst waits for the next. */
static uint16_t rx_gro(pd_udp *u, pd_pkt **pkts, uint16_t n, uint64_t now)
{
    pd_gro *g = u->gro;
    unsigned int out = 0;

    while (out < n) {
        const uint8_t *base, *d;
        uint32_t len, l;

        if (g->cur >= g->count) {
            int r;
            for (unsigned int i = 0; i < PD_UDP_GRO_BUFS; i++) {
                struct msghdr *mh = &g->msg[i].msg_hdr;
                g->iov[i].iov_base = g->buf + (size_t)i * PD_UDP_GRO_BUF_SIZE;
                g->iov[i].iov_len = PD_UDP_GRO_BUF_SIZE;
                mh->msg_name = &g->names[i];
                mh->msg_namelen = sizeof(g->names[i]);
                mh->msg_iov = &g->iov[i];
                mh->msg_iovlen = 1;
                mh->msg_control = g->ctrl[i].buf;
                mh->msg_controllen = sizeof(g->ctrl[i].buf);
                mh->msg_flags = 0;
            }
            r = recvmmsg(u->fd, g->msg, PD_UDP_GRO_BUFS, MSG_DONTWAIT, NULL);
            if (r <= 0)
                break;
            g->count = (unsigned int)r;
            g->cur = 0;
            g->off = 0;
            for (int i = 0; i < r; i++) {
                struct msghdr *mh = &g->msg[i].msg_hdr;
                g->seg[i] = g->msg[i].msg_len;
                g->tos[i] = 0;
                for (struct cmsghdr *c = CMSG_FIRSTHDR(mh); c; c = CMSG_NXTHDR(mh, c)) {
                    if (cmsg_tos(c, &g->tos[i]))
                        continue;
                    if (c->cmsg_level == SOL_UDP && c->cmsg_type == UDP_GRO) {
                        int seg;
                        memcpy(&seg, CMSG_DATA(c), sizeof(seg));
                        if (seg > 0)
                            g->seg[i] = (uint32_t)seg;
                    } else if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SO_RXQ_OVFL) {
                        memcpy(&u->ovfl_now, CMSG_DATA(c), sizeof(u->ovfl_now));
                    }
                }
                if (g->seg[i] < g->msg[i].msg_len)
                    u->st.rx_coalesced += (g->msg[i].msg_len + g->seg[i] - 1) / g->seg[i];
                if (mh->msg_flags & MSG_TRUNC) {      /* cannot happen below 64 KiB */
                    u->st.rx_malformed++;
                    g->msg[i].msg_len = 0;
                }
            }
        }
        len = g->msg[g->cur].msg_len;
        if (g->off >= len || g->seg[g->cur] == 0) {
            if (len == 0 && g->off == 0 && !(g->msg[g->cur].msg_hdr.msg_flags & MSG_TRUNC))
                u->st.rx_malformed++;            /* an empty datagram */
            g->cur++;
            g->off = 0;
            continue;
        }
        base = g->iov[g->cur].iov_base;
        d = base + g->off;
        l = len - g->off < g->seg[g->cur] ? len - g->off : g->seg[g->cur];
        g->off += l;
        if (!classify(u, &g->names[g->cur], d, l, now))
            continue;
        if (u->ops->alloc_bulk(u->pool, &pkts[out], 1) != 0) {
            u->st.rx_nombuf++;                   /* this one is lost: counted */
            u->st.rx_packets--;
            u->st.rx_bytes -= l;
            break;
        }
        if (u->ops->tailroom(pkts[out]) < l + (u->cfg.tos ? 1u : 0u)) {
            u->st.rx_malformed++;
            u->st.rx_packets--;
            u->st.rx_bytes -= l;
            u->ops->free_bulk(&pkts[out], 1);
            continue;
        }
        memcpy(u->ops->append(pkts[out], l), d, l);
        if (u->cfg.tos)
            *u->ops->append(pkts[out], 1) = g->tos[g->cur];
        out++;
    }
    return (uint16_t)out;
}

uint16_t pd_udp_rx_burst(pd_udp *u, uint16_t queue, pd_pkt **pkts, uint16_t n)
{
    pd_pkt *got[PD_BURST_MAX];
    unsigned int have, out = 0;
    uint64_t now;
    int r;

    if (!u || !u->started || queue != 0 || n == 0)
        return 0;
    now = now_ns();
    tick(u, now);
    if (n > PD_BURST_MAX)
        n = PD_BURST_MAX;
    if (u->gro)
        return rx_gro(u, pkts, n, now);
    have = alloc_some(u, got, n);
    if (!have) {
        u->st.rx_nombuf++;
        return 0;
    }
    for (unsigned int i = 0; i < have; i++) {
        /* with tos, one byte stays free for the TOS trailer: a datagram
         * that fills the rest is reported truncated, not cut */
        uint32_t room = u->ops->tailroom(got[i]) - (u->cfg.tos ? 1u : 0u);
        struct msghdr *mh = &u->rx.msg[i].msg_hdr;

        u->rx.iov[i].iov_base = u->ops->append(got[i], room);
        u->rx.iov[i].iov_len = room;
        mh->msg_name = &u->rx_names[i];
        mh->msg_namelen = sizeof(u->rx_names[i]);
        mh->msg_iov = &u->rx.iov[i];
        mh->msg_iovlen = 1;
        mh->msg_control = u->rx_ctrl[i].buf;
        mh->msg_controllen = sizeof(u->rx_ctrl[i].buf);
        mh->msg_flags = 0;
    }
    r = recvmmsg(u->fd, u->rx.msg, have, MSG_DONTWAIT, NULL);
    if (r < 0)
        r = 0;
    for (int i = 0; i < r; i++) {
        struct msghdr *mh = &u->rx.msg[i].msg_hdr;
        pd_pkt *p = got[i];
        uint32_t room = (uint32_t)u->rx.iov[i].iov_len, len = u->rx.msg[i].msg_len;
        uint8_t tos = note_ovfl(u, mh);

        u->ops->trim(p, room - (len < room ? len : room));
        got[i] = NULL;
        if (mh->msg_flags & MSG_TRUNC) {
            u->st.rx_malformed++;
            u->ops->free_bulk(&p, 1);
            continue;
        }
        if (classify(u, &u->rx_names[i], u->rx.iov[i].iov_base, len, now)) {
            if (u->cfg.tos)
                *u->ops->append(p, 1) = tos;
            pkts[out++] = p;
        } else
            u->ops->free_bulk(&p, 1);
    }
    /* buffers recvmmsg did not fill go back */
    for (unsigned int i = (unsigned int)r; i < have; i++)
        u->ops->trim(got[i], (uint32_t)u->rx.iov[i].iov_len);
    if ((unsigned int)r < have)
        u->ops->free_bulk(got + r, have - (unsigned int)r);
    return (uint16_t)out;
}

static void count_tx_error(pd_udp *u, int err)
{
    u->st.tx_errors++;
    if (err == EMSGSIZE)
        u->st.tx_oversize++;
    else if (err == ENETUNREACH || err == EHOSTUNREACH || err == ENETDOWN ||
             err == EHOSTDOWN || err == EADDRNOTAVAIL)
        u->st.tx_unreachable++;
}

/* End of the run of datagrams from `from` that one UDP GSO send can carry:
 * equal lengths (the last may be shorter), at most UDP_MAX_SEGMENTS and
 * 64 KiB of payload. */
static unsigned int gso_run(const pd_udp *u, unsigned int from, unsigned int n)
{
    size_t seg = u->tx.iov[from].iov_len, total = seg;
    unsigned int j = from + 1;

    while (j < n && j - from < PD_UDP_GSO_MAX_SEGS) {
        size_t len = u->tx.iov[j].iov_len;
        if (len > seg || len == 0 || total + len > PD_UDP_GSO_MAX_BYTES ||
            u->tx_tos[j] != u->tx_tos[from])        /* one GSO send, one TOS */
            break;
        total += len;
        j++;
        if (len < seg)
            break;                       /* a shorter one ends the run */
    }
    return j;
}

/* One sendmsg() with UDP_SEGMENT for datagrams [from, to): 0 sent, or the
 * errno (nothing sent). */
static int send_gso(pd_udp *u, struct sockaddr_storage *peer, socklen_t plen,
                    unsigned int from, unsigned int to)
{
    union {
        char buf[CMSG_SPACE(sizeof(uint16_t)) + CMSG_SPACE(sizeof(int))];
        struct cmsghdr align;
    } ctrl;
    int tos = u->tx_tos[from];
    struct msghdr mh;
    struct cmsghdr *c;
    uint16_t seg = (uint16_t)u->tx.iov[from].iov_len;

    memset(&mh, 0, sizeof(mh));
    memset(&ctrl, 0, sizeof(ctrl));
    mh.msg_name = peer;
    mh.msg_namelen = plen;
    mh.msg_iov = &u->tx.iov[from];
    mh.msg_iovlen = to - from;
    mh.msg_control = ctrl.buf;
    mh.msg_controllen = tos ? sizeof(ctrl.buf) : CMSG_SPACE(sizeof(uint16_t));
    c = CMSG_FIRSTHDR(&mh);
    c->cmsg_level = SOL_UDP;
    c->cmsg_type = UDP_SEGMENT;
    c->cmsg_len = CMSG_LEN(sizeof(uint16_t));
    memcpy(CMSG_DATA(c), &seg, sizeof(seg));
    if (tos) {
        c = CMSG_NXTHDR(&mh, c);
        c->cmsg_level = peer->ss_family == AF_INET ? IPPROTO_IP : IPPROTO_IPV6;
        c->cmsg_type = peer->ss_family == AF_INET ? IP_TOS : IPV6_TCLASS;
        c->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(c), &tos, sizeof(tos));
    }
    return sendmsg(u->tx_fd, &mh, MSG_DONTWAIT) >= 0 ? 0 : errno;
}

/* Outer TOS for one FEC datagram (see pd_udp_config.tos). */
static uint8_t tx_tos_of(pd_udp *u, const uint8_t *d, uint32_t len)
{
    const uint8_t *f = d + FEC_HDR_LEN;
    uint32_t flen = len - FEC_HDR_LEN;
    int inner;
    uint8_t tos;

    if (len < FEC_HDR_LEN || d[0] != FEC_VERSION)
        return 0;
    switch ((d[1] >> 4) & 3) {
    case 1:                                    /* repair: the block's DSCP, Not-ECT */
        u->in_repair = 1;
        return u->repair_dscp;
    case 0:
        if (u->in_repair) {                    /* a new block begins */
            u->in_repair = 0;
            u->repair_dscp = 0;
        }
        break;
    default:
        return 0;
    }
    inner = pd_net_tos(f, flen);
    if (inner < 0)
        return 0;                              /* not IP */
    tos = (uint8_t)inner;
    if ((tos & 0xfc) > u->repair_dscp)
        u->repair_dscp = tos & 0xfc;
    return tos;
}

/* Attach the TOS / traffic class of datagram i as control data (none for 0,
 * the socket's default). */
static void tx_set_tos(pd_udp *u, struct msghdr *mh, unsigned int i, int family)
{
    struct cmsghdr *c;
    int v = u->tx_tos[i];

    if (v == 0)
        return;
    mh->msg_control = u->tx_ctrl[i].buf;
    mh->msg_controllen = sizeof(u->tx_ctrl[i].buf);
    c = CMSG_FIRSTHDR(mh);
    c->cmsg_level = family == AF_INET ? IPPROTO_IP : IPPROTO_IPV6;
    c->cmsg_type = family == AF_INET ? IP_TOS : IPV6_TCLASS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &v, sizeof(v));
}

static int would_block(int err)
{
    return err == EAGAIN || err == EWOULDBLOCK || err == ENOBUFS || err == EINTR;
}

uint16_t pd_udp_tx_burst(pd_udp *u, uint16_t queue, pd_pkt **pkts, uint16_t n)
{
    struct sockaddr_storage peer;
    socklen_t plen;
    unsigned int done = 0;
    uint64_t bytes = 0, sent = 0;

    if (!u || !u->started || queue != 0 || n == 0)
        return 0;
    if (n > PD_BURST_MAX)
        n = PD_BURST_MAX;
    tick(u, now_ns());
    peer_copy(u, &peer, &plen);
    for (unsigned int i = 0; i < n; i++) {
        struct msghdr *mh = &u->tx.msg[i].msg_hdr;

        u->tx.iov[i].iov_base = u->ops->data(pkts[i]);
        u->tx.iov[i].iov_len = u->ops->data_len(pkts[i]);
        memset(mh, 0, sizeof(*mh));
        mh->msg_name = &peer;
        mh->msg_namelen = plen;
        mh->msg_iov = &u->tx.iov[i];
        mh->msg_iovlen = 1;
        u->tx_tos[i] = 0;
        if (u->cfg.tos) {
            u->tx_tos[i] = tx_tos_of(u, u->tx.iov[i].iov_base, (uint32_t)u->tx.iov[i].iov_len);
            tx_set_tos(u, mh, i, peer.ss_family);
        }
    }
    while (done < n) {
        unsigned int end = n, run;
        int r;

        if (u->cfg.gso) {
            /* Runs of equal-length datagrams leave in one GSO send (measured
             * ~3x less CPU per datagram than sendmmsg); sizes the path cannot
             * take whole (over the MTU: the kernel says EINVAL) go plain. */
            run = gso_run(u, done, n);
            if (run - done >= 2 && (u->gso_bad_size == 0 ||
                                    u->tx.iov[done].iov_len < u->gso_bad_size)) {
                int err = send_gso(u, &peer, plen, done, run);
                if (err == 0) {
                    for (unsigned int i = done; i < run; i++)
                        bytes += u->tx.iov[i].iov_len;
                    sent += run - done;
                    done = run;
                    u->st.tx_gso_sends++;
                    continue;
                }
                if (would_block(err))
                    break;
                if (err == EINVAL || err == EIO || err == ENOPROTOOPT || err == EOPNOTSUPP)
                    u->gso_bad_size = (uint32_t)u->tx.iov[done].iov_len;
                /* other errors: the plain path below counts them per datagram */
            }
            end = run;
        }
        r = sendmmsg(u->tx_fd, u->tx.msg + done, end - done, MSG_DONTWAIT);
        if (r > 0) {
            for (int i = 0; i < r; i++)
                bytes += u->tx.iov[done + (unsigned int)i].iov_len;
            sent += (unsigned int)r;
            done += (unsigned int)r;
            continue;
        }
        if (would_block(errno))
            break;                       /* buffer full: the caller keeps the rest */
        count_tx_error(u, errno);        /* this datagram is refused: drop, go on */
        done++;
    }
    u->st.tx_packets += sent;
    u->st.tx_bytes += bytes;
    if (done)
        u->ops->free_bulk(pkts, done);
    return (uint16_t)done;
}

int pd_udp_wait(pd_udp *u, int timeout_ms)
{
    struct pollfd pfd;
    int r;

    if (!u)
        return -EINVAL;
    pfd.fd = u->fd;
    pfd.events = POLLIN;
    pfd.revents = 0;
    r = poll(&pfd, 1, timeout_ms);
    if (r < 0)
        return -errno;
    return r > 0 ? 1 : 0;
}

int pd_udp_stats_get(pd_udp *u, pd_udp_stats *out)
{
    uint64_t heard;

    if (!u || !out)
        return -EINVAL;
    *out = u->st;
    out->kernel_drops = (uint32_t)(u->ovfl_now - u->ovfl_base);
    heard = atomic_load(&u->last_rx_ns);
    out->last_rx_age_ns = heard ? now_ns() - heard : UINT64_MAX;
    out->peer_state = atomic_load(&u->state);
    return 0;
}

void pd_udp_stats_reset(pd_udp *u)
{
    if (!u)
        return;
    memset(&u->st, 0, sizeof(u->st));
    u->ovfl_base = u->ovfl_now;
}

int pd_udp_local(const pd_udp *u, struct sockaddr_storage *out, socklen_t *len)
{
    socklen_t l = sizeof(*out);

    if (!u || !out || !len)
        return -EINVAL;
    if (getsockname(u->fd, (struct sockaddr *)out, &l) != 0)
        return -errno;
    *len = l;
    return 0;
}

int pd_udp_peer(pd_udp *u, struct sockaddr_storage *out, socklen_t *len)
{
    if (!u || !out || !len)
        return -EINVAL;
    peer_copy(u, out, len);
    return 0;
}

int pd_udp_fd(const pd_udp *u)
{
    return u ? u->fd : -EINVAL;
}

int pd_udp_set_tos(pd_udp *u, int on)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    int v = on ? 1 : 0;

    if (!u || getsockname(u->fd, (struct sockaddr *)&ss, &len) != 0)
        return u ? -errno : -EINVAL;
    if ((ss.ss_family == AF_INET ? setsockopt(u->fd, IPPROTO_IP, IP_RECVTOS, &v, sizeof(v))
                                 : setsockopt(u->fd, IPPROTO_IPV6, IPV6_RECVTCLASS, &v,
                                              sizeof(v))) != 0)
        return -errno;
    u->cfg.tos = v;
    return 0;
}

int pd_udp_get_tos(const pd_udp *u)
{
    return u ? u->cfg.tos : 0;
}

uint32_t pd_udp_instance_id(const pd_udp *u)
{
    return u ? u->instance_id : 0;
}

static uint16_t io_rx(void *ctx, uint16_t queue, pd_pkt **pkts, uint16_t n)
{
    return pd_udp_rx_burst(ctx, queue, pkts, n);
}

static uint16_t io_tx(void *ctx, uint16_t queue, pd_pkt **pkts, uint16_t n)
{
    return pd_udp_tx_burst(ctx, queue, pkts, n);
}

static int io_wait_fd(void *ctx, uint16_t queue)
{
    (void)queue;
    return pd_udp_fd(ctx);
}

void pd_udp_port_io(pd_udp *u, pd_port_io *io)
{
    memset(io, 0, sizeof(*io));
    io->ctx = u;
    io->ops = u->ops;
    io->pool = u->pool;
    io->rx_burst = io_rx;
    io->tx_burst = io_tx;
    io->wait_fd = io_wait_fd;
}
