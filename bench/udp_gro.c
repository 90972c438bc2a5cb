/* UDP receive cost with and without UDP_GRO when datagrams arrive coalesced.
 *
 *   cc -O2 -o /tmp/udp_gro bench/udp_gro.c
 *   ip netns exec B /tmp/udp_gro recv 0 3 &    # recvmmsg, 32 x 2 KiB buffers
 *   ip netns exec A /tmp/udp_gro send 3000000 ADDR_OF_B
 *   ip netns exec B /tmp/udp_gro recv 1 3 &    # UDP_GRO + one copy per datagram
 *   ip netns exec A /tmp/udp_gro send 3000000 ADDR_OF_B
 *
 * The sender sends 1400-byte datagrams in UDP GSO runs of 32 (over a veth
 * the run reaches the receiver whole); the receiver counts datagrams for 3 s
 * after the first and prints its own CPU time per datagram.  Mode 1 is what
 * UdpPort(gro=True) does: split each coalesced buffer into per-datagram
 * buffers with one copy each.  Port 9999.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>

#ifndef SOL_UDP
#define SOL_UDP 17
#endif
#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif
#ifndef UDP_GRO
#define UDP_GRO 104
#endif
#define N 32
#define LEN 1400

static double cpu_s(void)
{
    struct rusage r;
    getrusage(RUSAGE_SELF, &r);
    return r.ru_utime.tv_sec + r.ru_stime.tv_sec + (r.ru_utime.tv_usec + r.ru_stime.tv_usec) / 1e6;
}

static double mono_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

static int send_runs(long total, const char *addr)
{
    static char buf[N][LEN];
    struct iovec iov[N];
    struct sockaddr_in d = { .sin_family = AF_INET, .sin_port = htons(9999) };
    union { char b[CMSG_SPACE(sizeof(uint16_t))]; struct cmsghdr a; } ctrl;
    struct msghdr m = { .msg_name = &d, .msg_namelen = sizeof(d), .msg_iov = iov,
                        .msg_iovlen = N, .msg_control = ctrl.b, .msg_controllen = sizeof(ctrl.b) };
    struct cmsghdr *c = CMSG_FIRSTHDR(&m);
    uint16_t seg = LEN;
    int fd = socket(AF_INET, SOCK_DGRAM, 0), big = 8 << 20;
    long sent = 0;

    if (fd < 0 || inet_pton(AF_INET, addr, &d.sin_addr) != 1)
        return 2;
    setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &big, sizeof(big));
    for (int i = 0; i < N; i++) {
        iov[i].iov_base = buf[i];
        iov[i].iov_len = LEN;
    }
    c->cmsg_level = SOL_UDP;
    c->cmsg_type = UDP_SEGMENT;
    c->cmsg_len = CMSG_LEN(sizeof(seg));
    memcpy(CMSG_DATA(c), &seg, sizeof(seg));
    while (sent < total)
        if (sendmsg(fd, &m, 0) > 0)
            sent += N;
    return 0;
}

static int receive(int gro, double secs)
{
    static char bufs[N][2048], big[65536];
    struct iovec iov[N];
    struct mmsghdr mm[N];
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(9999) };
    struct timeval tv = { 0, 200000 };
    int fd = socket(AF_INET, SOCK_DGRAM, 0), one = 1, rbuf = 32 << 20;
    long got = 0;
    double t0 = 0, c0 = 0;

    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0)
        return 2;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rbuf, sizeof(rbuf));
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    if (gro)
        setsockopt(fd, IPPROTO_UDP, UDP_GRO, &one, sizeof(one));
    memset(mm, 0, sizeof(mm));
    for (int i = 0; i < N; i++) {
        iov[i].iov_base = bufs[i];
        iov[i].iov_len = sizeof(bufs[i]);
        mm[i].msg_hdr.msg_iov = &iov[i];
        mm[i].msg_hdr.msg_iovlen = 1;
    }
    for (;;) {
        int r, n = 0;
        if (!gro) {
            r = recvmmsg(fd, mm, N, 0, NULL);
            n = r;
        } else {
            union { char b[64]; struct cmsghdr a; } ctrl;
            struct iovec v = { big, sizeof(big) };
            struct msghdr h = { .msg_iov = &v, .msg_iovlen = 1, .msg_control = ctrl.b,
                                .msg_controllen = sizeof(ctrl.b) };
            int seg;
            r = (int)recvmsg(fd, &h, 0);
            seg = r;
            for (struct cmsghdr *c = CMSG_FIRSTHDR(&h); c; c = CMSG_NXTHDR(&h, c))
                if (c->cmsg_level == SOL_UDP && c->cmsg_type == UDP_GRO)
                    memcpy(&seg, CMSG_DATA(c), sizeof(seg));
            for (int off = 0; r > 0 && seg > 0 && off < r; off += seg, n++)
                memcpy(bufs[n % N], big + off, (size_t)(r - off < seg ? r - off : seg));
        }
        if (r <= 0) {
            if (t0 > 0)
                break;              /* the sender is done */
            continue;
        }
        if (t0 == 0) {
            t0 = mono_s();
            c0 = cpu_s();
        }
        got += n;
        if (mono_s() - t0 > secs)
            break;
    }
    printf("%s: %ld datagrams in %.2f s: %.0f kpps, receiver CPU %.0f ns/datagram\n",
           gro ? "UDP_GRO + copy" : "recvmmsg", got, mono_s() - t0,
           got / (mono_s() - t0) / 1e3, (cpu_s() - c0) * 1e9 / (got ? got : 1));
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 4 && strcmp(argv[1], "send") == 0)
        return send_runs(atol(argv[2]), argv[3]);
    if (argc == 4 && strcmp(argv[1], "recv") == 0)
        return receive(atoi(argv[2]), atof(argv[3]));
    fprintf(stderr, "usage: udp_gro send COUNT ADDR | udp_gro recv 0|1 SECONDS\n");
    return 2;
}
