/* C unit tests of the UDP port over the loopback device (IPv4 and IPv6),
 * over native/buf packets: round trips, keepalives, a dead peer,
 * proven and unproven address changes, malformed datagrams, no leaks. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "fec.h"
#include "udp.h"
#include "pd_check.h"

static void sleep_ms(int ms)
{
    struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

static void v4(struct sockaddr_storage *ss, socklen_t *len, const char *ip, uint16_t port)
{
    struct sockaddr_in *s = (struct sockaddr_in *)ss;
    memset(ss, 0, sizeof(*ss));
    s->sin_family = AF_INET;
    s->sin_port = htons(port);
    inet_pton(AF_INET, ip, &s->sin_addr);
    *len = sizeof(*s);
}

static void v6(struct sockaddr_storage *ss, socklen_t *len, const char *ip, uint16_t port)
{
    struct sockaddr_in6 *s = (struct sockaddr_in6 *)ss;
    memset(ss, 0, sizeof(*ss));
    s->sin6_family = AF_INET6;
    s->sin6_port = htons(port);
    inet_pton(AF_INET6, ip, &s->sin6_addr);
    *len = sizeof(*s);
}

static uint16_t port_of(pd_udp *u)
{
    struct sockaddr_storage ss;
    socklen_t len;
    pd_udp_local(u, &ss, &len);
    return ss.ss_family == AF_INET ? ntohs(((struct sockaddr_in *)&ss)->sin_port)
                                   : ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
}

/* Receive from u until `want` data packets arrived or ~2 s passed. */
static unsigned int rx_until(pd_udp *u, pd_pkt **got, unsigned int want)
{
    unsigned int n = 0;
    for (int tries = 0; n < want && tries < 200; tries++) {
        n += pd_udp_rx_burst(u, 0, got + n, (uint16_t)(want - n));
        if (n < want)
            pd_udp_wait(u, 10);
    }
    return n;
}

static void fill(pd_pkt *p, uint32_t len, uint8_t tag)
{
    uint8_t *d = pd_buf_ops.append(p, len);
    for (uint32_t i = 0; i < len; i++)
        d[i] = (uint8_t)(tag + i);
}

/* A FEC source packet (header + 5 payload bytes) of session `sid`. */
static void fec_packet(uint8_t *pkt, uint32_t sid)
{
    fec_hdr h = {.version = FEC_VERSION, .code = FEC_CODE_RS, .k = 10, .m = 4,
                 .session_id = sid, .length = 5};

    fec_hdr_write(pkt, &h);
    memcpy(pkt + FEC_HDR_LEN, "hello", 5);
}

static void test_session_parse(void)
{
    uint8_t pkt[FEC_HDR_LEN + 5];
    uint32_t sid = 0;

    fec_packet(pkt, 0xdeadbeef);
    CHECK(pd_udp_fec_session(pkt, sizeof pkt, &sid) == 0 && sid == 0xdeadbeef);
    CHECK(pd_udp_fec_session(pkt, FEC_HDR_LEN - 1, &sid) == -EINVAL);  /* short */
    CHECK(pd_udp_fec_session(pkt, sizeof pkt - 1, &sid) == -EINVAL);   /* payload cut */
    pkt[7] ^= 1;
    CHECK(pd_udp_fec_session(pkt, sizeof pkt, &sid) == -EINVAL);       /* check wrong */
    fec_packet(pkt, 7);
    pkt[0] = 1;
    CHECK(pd_udp_fec_session(pkt, sizeof pkt, &sid) == -EINVAL);       /* version 1 */
}

static void test_bad_config(pd_buf_pool *hp)
{
    pd_udp_config cfg;
    pd_udp *u = (pd_udp *)1;

    pd_udp_config_init(&cfg);
    CHECK(pd_udp_open(&u, &cfg, &pd_buf_ops, hp) == -EINVAL);   /* no addresses */
    CHECK(u == NULL);
    v4(&cfg.local, &cfg.local_len, "127.0.0.1", 0);
    v6(&cfg.peer, &cfg.peer_len, "::1", 9);
    CHECK(pd_udp_open(&u, &cfg, &pd_buf_ops, hp) == -EINVAL);   /* families differ */
    v4(&cfg.peer, &cfg.peer_len, "127.0.0.1", 0);
    CHECK(pd_udp_open(&u, &cfg, &pd_buf_ops, hp) == -EINVAL);   /* peer port 0 */
    v4(&cfg.peer, &cfg.peer_len, "127.0.0.1", 9);
    cfg.dead_ns = cfg.keepalive_ns;
    CHECK(pd_udp_open(&u, &cfg, &pd_buf_ops, hp) == -EINVAL);   /* dead <= keepalive */
    pd_udp_config_init(&cfg);
    v4(&cfg.local, &cfg.local_len, "192.0.2.77", 0);           /* not ours */
    v4(&cfg.peer, &cfg.peer_len, "127.0.0.1", 9);
    CHECK(pd_udp_open(&u, &cfg, &pd_buf_ops, hp) == -EADDRNOTAVAIL);
    CHECK(pd_buf_pool_in_use(hp) == 0);
}

/* Two ports on loopback: a -> b and b -> a, then b follows a proven move. */
static void test_pair(pd_buf_pool *hp, int family)
{
    const char *lo = family == AF_INET ? "127.0.0.1" : "::1";
    void (*addr)(struct sockaddr_storage *, socklen_t *, const char *, uint16_t) =
        family == AF_INET ? v4 : v6;
    pd_udp_config ca, cb;
    pd_udp *a = NULL, *b = NULL;
    pd_pkt *tx[8], *rx[64];
    pd_udp_stats st;
    unsigned int n;
    uint16_t pa, pb;

    /* b's address is needed for a's peer: open b first with a dummy peer
     * port, then point it at a by a proven-address datagram (below). */
    pd_udp_config_init(&cb);
    cb.keepalive_ns = 50000000ull;     /* 50 ms */
    cb.dead_ns = 300000000ull;         /* 300 ms */
    addr(&cb.local, &cb.local_len, lo, 0);
    addr(&cb.peer, &cb.peer_len, lo, 9);
    CHECK(pd_udp_open(&b, &cb, &pd_buf_ops, hp) == 0);
    if (!b)
        return;
    pb = port_of(b);

    pd_udp_config_init(&ca);
    ca.keepalive_ns = 50000000ull;
    ca.dead_ns = 300000000ull;
    addr(&ca.local, &ca.local_len, lo, 0);
    addr(&ca.peer, &ca.peer_len, lo, pb);
    CHECK(pd_udp_open(&a, &ca, &pd_buf_ops, hp) == 0);
    if (!a) {
        pd_udp_close(b);
        return;
    }
    pa = port_of(a);
    CHECK(pa != 0 && pa != pb);
    CHECK(pd_udp_start(a) == 0 && pd_udp_start(b) == 0);

    /* stopped/ wrong queue: nothing moves */
    CHECK(pd_udp_rx_burst(a, 1, rx, 4) == 0);

    /* a -> b: b does not know a (its peer is port 9): unknown source, and
     * v1-style data proves nothing */
    CHECK(pd_buf_ops.alloc_bulk(hp, tx, 4) == 0);
    for (int i = 0; i < 4; i++)
        fill(tx[i], 100 + (uint32_t)i, (uint8_t)i);
    CHECK(pd_udp_tx_burst(a, 0, tx, 4) == 4);
    sleep_ms(20);
    n = rx_until(b, rx, 4);
    CHECK(n == 0);
    pd_udp_stats_get(b, &st);
    CHECK(st.rx_unknown_source >= 4);
    CHECK(st.peer_state == PD_UDP_PEER_WAITING);

    /* Without a proof nothing is followed; with follow_peer b learns a only
     * from ids it saw from its current peer, and it has seen none. */
    CHECK(st.peer_changes == 0);
    pd_udp_close(b);

    /* b again, this time pointing at a */
    addr(&cb.peer, &cb.peer_len, lo, pa);
    addr(&cb.local, &cb.local_len, lo, pb);
    CHECK(pd_udp_open(&b, &cb, &pd_buf_ops, hp) == 0);
    if (!b) {
        pd_udp_close(a);
        return;
    }
    CHECK(pd_udp_start(b) == 0);

    CHECK(pd_buf_ops.alloc_bulk(hp, tx, 8) == 0);
    for (int i = 0; i < 8; i++)
        fill(tx[i], 60 + 100 * (uint32_t)i, (uint8_t)(i * 3));
    CHECK(pd_udp_tx_burst(a, 0, tx, 8) == 8);
    n = rx_until(b, rx, 8);
    CHECK(n == 8);
    for (unsigned int i = 0; i < n; i++) {
        uint8_t *d = pd_buf_ops.data(rx[i]);
        CHECK(pd_buf_ops.data_len(rx[i]) == 60 + 100 * i);
        CHECK(d[0] == (uint8_t)(i * 3) && d[59] == (uint8_t)(i * 3 + 59));
    }
    pd_buf_ops.free_bulk(rx, n);
    pd_udp_stats_get(a, &st);
    CHECK(st.tx_packets == 12 && st.tx_errors == 0);
    CHECK(st.keepalives_tx >= 1);

    /* keepalives both ways: both up */
    for (int i = 0; i < 10; i++) {
        sleep_ms(20);
        CHECK(pd_udp_rx_burst(a, 0, rx, 8) == 0);
        CHECK(pd_udp_rx_burst(b, 0, rx, 8) == 0);
    }
    pd_udp_stats_get(a, &st);
    CHECK(st.keepalives_rx >= 1 && st.peer_state == PD_UDP_PEER_UP);
    pd_udp_stats_get(b, &st);
    CHECK(st.keepalives_rx >= 1 && st.peer_state == PD_UDP_PEER_UP);
    CHECK(st.rx_packets == 8 && st.rx_unknown_source == 0);

    /* FEC v2 data from a: b remembers the session id */
    CHECK(pd_buf_ops.alloc_bulk(hp, tx, 1) == 0);
    fec_packet(pd_buf_ops.append(tx[0], FEC_HDR_LEN + 5), 0x12345678);
    CHECK(pd_udp_tx_burst(a, 0, tx, 1) == 1);
    n = rx_until(b, rx, 1);
    CHECK(n == 1);
    pd_buf_ops.free_bulk(rx, n);

    /* a "moves": a plain socket at another port sends (1) an unknown
     * session, (2) a known session with a broken CRC, (3) the known one. */
    {
        int fd = socket(family, SOCK_DGRAM, 0);
        struct sockaddr_storage bs, me;
        socklen_t bl, ml = sizeof(me);
        uint8_t h[FEC_HDR_LEN + 5], buf[64];
        uint16_t moved;

        addr(&bs, &bl, lo, pb);
        addr(&me, &ml, lo, 0);
        CHECK(bind(fd, (struct sockaddr *)&me, ml) == 0);
        ml = sizeof(me);
        getsockname(fd, (struct sockaddr *)&me, &ml);
        moved = family == AF_INET ? ntohs(((struct sockaddr_in *)&me)->sin_port)
                                  : ntohs(((struct sockaddr_in6 *)&me)->sin6_port);
        fec_packet(h, 0x11111111);
        sendto(fd, h, sizeof h, 0, (struct sockaddr *)&bs, bl);
        fec_packet(h, 0x12345678);
        h[FEC_HDR_LEN - 1] ^= 0xff;
        sendto(fd, h, sizeof h, 0, (struct sockaddr *)&bs, bl);
        sleep_ms(20);
        CHECK(pd_udp_rx_burst(b, 0, rx, 8) == 0);
        pd_udp_stats_get(b, &st);
        CHECK(st.rx_unknown_source == 2 && st.peer_changes == 0);

        fec_packet(h, 0x12345678);
        sendto(fd, h, sizeof h, 0, (struct sockaddr *)&bs, bl);
        n = rx_until(b, rx, 1);
        CHECK(n == 1);                       /* delivered: it is the peer */
        pd_buf_ops.free_bulk(rx, n);
        pd_udp_stats_get(b, &st);
        CHECK(st.peer_changes == 1);
        /* b now sends to the new address */
        CHECK(pd_buf_ops.alloc_bulk(hp, tx, 1) == 0);
        fill(tx[0], 33, 0x40);
        CHECK(pd_udp_tx_burst(b, 0, tx, 1) == 1);
        sleep_ms(20);
        {
            ssize_t got;
            do {   /* skip b's keepalives (also sent to the new address) */
                got = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
            } while (got == PD_UDP_KEEPALIVE_LEN && memcmp(buf, "PDKA", 4) == 0);
            CHECK(got == 33 && buf[0] == 0x40);
        }
        {
            struct sockaddr_storage cur;
            socklen_t cl;
            pd_udp_peer(b, &cur, &cl);
            CHECK((family == AF_INET ? ntohs(((struct sockaddr_in *)&cur)->sin_port)
                                     : ntohs(((struct sockaddr_in6 *)&cur)->sin6_port)) ==
                  moved);
        }
        /* malformed: an empty datagram and a broken keepalive */
        sendto(fd, buf, 0, 0, (struct sockaddr *)&bs, bl);
        sendto(fd, "PDKA", 4, 0, (struct sockaddr *)&bs, bl);
        sleep_ms(20);
        CHECK(pd_udp_rx_burst(b, 0, rx, 8) == 0);
        pd_udp_stats_get(b, &st);
        CHECK(st.rx_malformed == 2);
        close(fd);
    }

    /* a's keepalives (from its old address, a's own instance id) move b back */
    for (int i = 0; i < 20; i++) {
        sleep_ms(20);
        pd_udp_rx_burst(a, 0, rx, 8);     /* a ticks: sends keepalives */
        CHECK(pd_udp_rx_burst(b, 0, rx, 8) == 0);
    }
    pd_udp_stats_get(b, &st);
    CHECK(st.peer_changes == 2);

    /* a goes silent: b reports it dead within dead_ns + a tick */
    for (int i = 0; i < 30; i++) {
        sleep_ms(20);
        CHECK(pd_udp_rx_burst(b, 0, rx, 8) == 0);
    }
    pd_udp_stats_get(b, &st);
    CHECK(st.peer_state == PD_UDP_PEER_DEAD);
    CHECK(st.dead_events == 1);
    CHECK(st.last_rx_age_ns >= 300000000ull);
    /* and back up once a speaks again */
    for (int i = 0; i < 10; i++) {
        sleep_ms(20);
        pd_udp_rx_burst(a, 0, rx, 8);
        pd_udp_rx_burst(b, 0, rx, 8);
    }
    pd_udp_stats_get(b, &st);
    CHECK(st.peer_state == PD_UDP_PEER_UP && st.dead_events == 1);

    pd_udp_stop(a);
    pd_udp_stop(b);
    pd_udp_close(a);
    pd_udp_close(b);
    CHECK(pd_buf_pool_in_use(hp) == 0);
}

/* A full socket buffer: tx returns short, the caller keeps the tail. */
static void test_tx_backpressure(pd_buf_pool *hp)
{
    pd_udp_config c;
    pd_udp *u = NULL;
    pd_pkt *tx[PD_BURST_MAX];
    unsigned int total = 0, kept = 0;

    pd_udp_config_init(&c);
    c.sndbuf = 4096;                  /* a few datagrams */
    c.keepalive_ns = 0;
    v4(&c.local, &c.local_len, "127.0.0.1", 0);
    v4(&c.peer, &c.peer_len, "127.0.0.1", 9);   /* discard: nobody listens */
    CHECK(pd_udp_open(&u, &c, &pd_buf_ops, hp) == 0);
    if (!u)
        return;
    pd_udp_start(u);
    for (int round = 0; round < 4; round++) {
        uint16_t done;
        CHECK(pd_buf_ops.alloc_bulk(hp, tx, 64) == 0);
        for (int i = 0; i < 64; i++)
            fill(tx[i], 1400, 0);
        done = pd_udp_tx_burst(u, 0, tx, 64);
        total += done;
        kept += 64u - done;
        pd_buf_ops.free_bulk(tx + done, 64u - done);
    }
    CHECK(total + kept == 256);
    CHECK(pd_buf_pool_in_use(hp) == 0);
    pd_udp_close(u);
}

/* Equal-length runs leave as GSO sends and arrive as separate datagrams. */
static void test_gso(pd_buf_pool *hp, int gso, int gro)
{
    static const uint32_t lens[10] = { 500, 500, 500, 500, 500, 500, 300, 700, 700, 700 };
    pd_udp_config ca, cb;
    pd_udp *a = NULL, *b = NULL;
    pd_pkt *tx[10], *rx[16];
    pd_udp_stats st;
    unsigned int n;

    pd_udp_config_init(&cb);
    cb.keepalive_ns = 0;
    cb.gro = gro;
    v4(&cb.local, &cb.local_len, "127.0.0.1", 0);
    v4(&cb.peer, &cb.peer_len, "127.0.0.1", 9);
    CHECK(pd_udp_open(&b, &cb, &pd_buf_ops, hp) == 0);
    pd_udp_config_init(&ca);
    ca.keepalive_ns = 0;
    ca.gso = gso;
    v4(&ca.local, &ca.local_len, "127.0.0.1", 0);
    v4(&ca.peer, &ca.peer_len, "127.0.0.1", port_of(b));
    CHECK(pd_udp_open(&a, &ca, &pd_buf_ops, hp) == 0);
    if (!a || !b)
        goto out;
    /* b again, at the same port, now with a as its peer */
    v4(&cb.local, &cb.local_len, "127.0.0.1", port_of(b));
    v4(&cb.peer, &cb.peer_len, "127.0.0.1", port_of(a));
    pd_udp_close(b);
    b = NULL;
    CHECK(pd_udp_open(&b, &cb, &pd_buf_ops, hp) == 0);
    if (!b)
        goto out;
    pd_udp_start(a);
    pd_udp_start(b);
    CHECK(pd_buf_ops.alloc_bulk(hp, tx, 10) == 0);
    for (int i = 0; i < 10; i++)
        fill(tx[i], lens[i], (uint8_t)(17 * i));
    CHECK(pd_udp_tx_burst(a, 0, tx, 10) == 10);
    n = rx_until(b, rx, 10);
    CHECK(n == 10);
    if (n != 10) {
        pd_udp_stats_get(b, &st);
        fprintf(stderr, "gso=%d got %u: rx %lu malformed %lu unknown %lu\n", gso, n,
                (unsigned long)st.rx_packets, (unsigned long)st.rx_malformed,
                (unsigned long)st.rx_unknown_source);
    }
    for (unsigned int i = 0; i < n; i++) {
        const uint8_t *d = pd_buf_ops.data(rx[i]);
        CHECK(pd_buf_ops.data_len(rx[i]) == lens[i]);
        CHECK(d[0] == (uint8_t)(17 * i) && d[lens[i] - 1] == (uint8_t)(17 * i + lens[i] - 1));
    }
    pd_buf_ops.free_bulk(rx, n);
    pd_udp_stats_get(b, &st);
    CHECK(st.rx_packets == 10 && st.rx_malformed == 0);
    CHECK(st.rx_coalesced == (gso && gro ? 10u : 0u));
    pd_udp_stats_get(a, &st);
    CHECK(st.tx_packets == 10 && st.tx_errors == 0);
    CHECK(st.tx_gso_sends == (gso ? 2u : 0u));
out:
    pd_udp_close(a);
    pd_udp_close(b);
    CHECK(pd_buf_pool_in_use(hp) == 0);
}

/* Queues: two ports in one SO_REUSEPORT group; senders on ports P and P+1
 * (IPv4 and IPv6) reach queue (port mod 2); queue 1 sends from its tx_port;
 * a port span takes both sender ports as the peer, a stranger port is not. */
static void test_queue_group(pd_buf_pool *hp, int family)
{
    const char *lo = family == AF_INET ? "127.0.0.1" : "::1";
    void (*addr)(struct sockaddr_storage *, socklen_t *, const char *, uint16_t) =
        family == AF_INET ? v4 : v6;
    pd_udp_config cfg;
    pd_udp *q[2] = { NULL, NULL };
    pd_pkt *rx[8];
    int snd[3] = { -1, -1, -1 };
    uint16_t base = (uint16_t)(20000 + (getpid() % 10000) * 4);  /* even */
    struct sockaddr_storage to, me;
    socklen_t tl, ml;
    uint8_t buf[32];

    for (int i = 0; i < 2; i++) {
        pd_udp_config_init(&cfg);
        cfg.keepalive_ns = 0;
        cfg.dead_ns = 0;
        addr(&cfg.local, &cfg.local_len, lo, (uint16_t)(base + 2));
        addr(&cfg.peer, &cfg.peer_len, lo, base);
        cfg.reuseport_queues = 2;
        cfg.peer_port_span = 2;
        cfg.tx_port = i ? (uint16_t)(base + 3) : 0;
        CHECK(pd_udp_open(&q[i], &cfg, &pd_buf_ops, hp) == 0);
        if (!q[i])
            goto out;
        CHECK(pd_udp_start(q[i]) == 0);
    }
    addr(&to, &tl, lo, (uint16_t)(base + 2));
    for (int i = 0; i < 3; i++) {      /* the peer's two ports, and a stranger */
        snd[i] = socket(family, SOCK_DGRAM, 0);
        addr(&me, &ml, lo, i < 2 ? (uint16_t)(base + i) : 0);
        CHECK(snd[i] >= 0 && bind(snd[i], (struct sockaddr *)&me, ml) == 0);
        for (int j = 0; j < 3; j++) {
            memset(buf, 'a' + i, sizeof buf);
            CHECK(sendto(snd[i], buf, sizeof buf, 0, (struct sockaddr *)&to, tl) == sizeof buf);
        }
    }
    sleep_ms(20);
    for (int i = 0; i < 2; i++) {
        pd_udp_stats st;
        unsigned int n = rx_until(q[i], rx, 3);
        CHECK(n == 3);
        for (unsigned int j = 0; j < n; j++)
            CHECK(((uint8_t *)pd_buf_ops.data(rx[j]))[0] == 'a' + i);
        pd_buf_ops.free_bulk(rx, n);
        pd_udp_rx_burst(q[i], 0, rx, 8);   /* the stranger's, if here */
        pd_udp_stats_get(q[i], &st);
        CHECK(st.rx_packets == 3 && st.peer_changes == 0);
    }
    {
        pd_udp_stats s0, s1;
        pd_udp_stats_get(q[0], &s0);
        pd_udp_stats_get(q[1], &s1);
        CHECK(s0.rx_unknown_source + s1.rx_unknown_source == 3);
    }
    /* queue 1 sends from base + 3 to the peer's configured port */
    CHECK(pd_buf_ops.alloc_bulk(hp, rx, 1) == 0);
    fill(rx[0], 10, 7);
    CHECK(pd_udp_tx_burst(q[1], 0, rx, 1) == 1);
    ml = sizeof(me);
    CHECK(recvfrom(snd[0], buf, sizeof buf, 0, (struct sockaddr *)&me, &ml) == 10);
    CHECK((family == AF_INET ? ntohs(((struct sockaddr_in *)&me)->sin_port)
                             : ntohs(((struct sockaddr_in6 *)&me)->sin6_port)) == base + 3);
out:
    for (int i = 0; i < 3; i++)
        if (snd[i] >= 0)
            close(snd[i]);
    pd_udp_close(q[0]);
    pd_udp_close(q[1]);
}

int main(void)
{
    pd_buf_pool *hp = NULL;
    CHECK(pd_buf_pool_create(&hp, 4096, 2048, PD_BUF_DEFAULT_HEADROOM) == 0);

    test_session_parse();
    test_bad_config(hp);
    test_pair(hp, AF_INET);
    test_pair(hp, AF_INET6);
    test_tx_backpressure(hp);
    test_gso(hp, 1, 0);
    test_gso(hp, 0, 0);
    test_gso(hp, 1, 1);     /* coalesced on loopback, split by the port */
    test_gso(hp, 0, 1);
    test_queue_group(hp, AF_INET);
    test_queue_group(hp, AF_INET6);
    if (!failures)
        printf("udp: all tests passed\n");
    return pd_check_result();
}
