/* C unit tests of the net_af_xdp helpers that need no EAL: finding and
 * closing AF_XDP sockets (as the driver leaves them), argument checks, and
 * the library print hooks when no library is loaded. */
#define _GNU_SOURCE
#include "pd_afxdp.h"

#include <errno.h>
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>
#include "pd_check.h"

#ifndef AF_XDP
#define AF_XDP 44
#endif

static int find(int fd, const int *fds, int n)
{
    for (int i = 0; i < n; i++)
        if (fds[i] == fd)
            return i;
    return -1;
}

static void test_sockets(void)
{
    int fds[64], n, i, other;
    uint64_t inodes[64];
    int xsk = socket(AF_XDP, SOCK_RAW | SOCK_CLOEXEC, 0);

    if (xsk < 0) {
        /* no AF_XDP here (old kernel, no CAP_NET_RAW): nothing to find */
        n = pd_afxdp_sockets(fds, inodes, 64);
        CHECK(n == 0);
        printf("SKIP AF_XDP sockets: %d\n", errno);
        return;
    }
    other = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    n = pd_afxdp_sockets(fds, inodes, 64);
    CHECK(n >= 1);
    i = find(xsk, fds, n);
    CHECK(i >= 0);
    CHECK(find(other, fds, n) < 0);          /* only AF_XDP ones */
    if (i >= 0) {
        CHECK(pd_afxdp_close_socket(xsk, inodes[i] + 1) == 0);   /* not that socket */
        CHECK(pd_afxdp_close_socket(other, inodes[i]) == 0);     /* not AF_XDP */
        CHECK(pd_afxdp_close_socket(xsk, inodes[i]) == 1);
        CHECK(pd_afxdp_close_socket(xsk, inodes[i]) == 0);       /* already closed */
    }
    n = pd_afxdp_sockets(fds, inodes, 64);
    CHECK(find(xsk, fds, n) < 0);
    close(other);
}

static void test_arguments(void)
{
    int fds[1];
    uint64_t inodes[1];
    uint64_t a = 1, b = 1;
    int err = 0;

    CHECK(pd_afxdp_sockets(NULL, inodes, 1) == -EINVAL);
    CHECK(pd_afxdp_sockets(fds, inodes, -1) == -EINVAL);
    CHECK(pd_afxdp_sockets(fds, inodes, 0) == 0);
    CHECK(pd_afxdp_close_socket(-1, 0) == -EBADF);
    CHECK(pd_afxdp_pool_create(NULL, 1, 0, &err) == NULL && err == -EINVAL);
    CHECK(pd_afxdp_pool_free(NULL) == 0);
    CHECK(pd_afxdp_rx_copy_add(0, 0, NULL, NULL) == -EINVAL);
    CHECK(pd_afxdp_rx_copy_remove(NULL) == 0);
    pd_afxdp_rx_copy_stats(NULL, &a, &b);
    CHECK(a == 0 && b == 0);
}

int main(void)
{
    test_sockets();
    test_arguments();
    /* This test program does not load the af_xdp PMD: nothing to touch. */
    CHECK(pd_afxdp_quiet_libs() == 0);
    if (!failures)
        printf("ok\n");
    return pd_check_result();
}
