/* net_af_xdp workarounds: see pd_afxdp.h. */
#define _GNU_SOURCE
#include "pd_afxdp.h"

#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_log.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>

#ifndef AF_XDP
#define AF_XDP 44
#endif

struct rte_mempool *pd_afxdp_pool_create(const char *name, unsigned int n, int socket,
                                         int *err)
{
    struct rte_mempool *mp;

    if (name == NULL || n == 0) {
        if (err)
            *err = -EINVAL;
        return NULL;
    }
    /* No per-lcore cache: the count of mbufs out is then exact. */
    mp = rte_pktmbuf_pool_create(name, n, 0, 0, RTE_MBUF_DEFAULT_BUF_SIZE, socket);
    if (mp == NULL) {
        if (err)
            *err = -(rte_errno ? rte_errno : ENOMEM);
        return NULL;
    }
    /* The driver's UMEM spans populated_size objects from the first chunk's
     * address: a pool in several chunks would map memory that is not its. */
    if (mp->nb_mem_chunks != 1) {
        rte_mempool_free(mp);
        if (err)
            *err = -ENOMEM;
        return NULL;
    }
    if (err)
        *err = 0;
    return mp;
}

unsigned int pd_afxdp_pool_free(struct rte_mempool *mp)
{
    unsigned int out;

    if (mp == NULL)
        return 0;
    out = rte_mempool_in_use_count(mp);
    rte_mempool_free(mp);
    return out;
}

struct pd_afxdp_rx_copy {
    uint16_t port_id;
    uint16_t queue;
    struct rte_mempool *to;
    const struct rte_eth_rxtx_callback *cb;
    uint64_t nombuf;
    uint64_t oversize;
};

static uint16_t rx_copy(uint16_t port_id, uint16_t queue, struct rte_mbuf **pkts,
                        uint16_t nb_pkts, uint16_t max_pkts, void *arg)
{
    pd_afxdp_rx_copy *c = arg;
    uint16_t keep = 0;

    (void)port_id;
    (void)queue;
    (void)max_pkts;
    for (uint16_t i = 0; i < nb_pkts; i++) {
        struct rte_mbuf *m = pkts[i];
        uint32_t len = rte_pktmbuf_pkt_len(m);
        struct rte_mbuf *copy = rte_pktmbuf_alloc(c->to);
        char *dst;

        if (copy == NULL) {
            __atomic_fetch_add(&c->nombuf, 1, __ATOMIC_RELAXED);
            rte_pktmbuf_free(m);
            continue;
        }
        dst = len <= UINT16_MAX ? rte_pktmbuf_append(copy, (uint16_t)len) : NULL;
        if (dst == NULL) {
            __atomic_fetch_add(&c->oversize, 1, __ATOMIC_RELAXED);
            rte_pktmbuf_free(copy);
            rte_pktmbuf_free(m);
            continue;
        }
        /* rte_pktmbuf_read copies across segments when it has to. */
        const void *src = rte_pktmbuf_read(m, 0, len, dst);
        if (src != dst)
            memcpy(dst, src, len);
        copy->port = m->port;
        copy->packet_type = m->packet_type;
        copy->ol_flags = m->ol_flags;
        copy->hash = m->hash;
        copy->vlan_tci = m->vlan_tci;
        rte_pktmbuf_free(m);
        pkts[keep++] = copy;
    }
    return keep;
}

int pd_afxdp_rx_copy_add(uint16_t port_id, uint16_t queue, struct rte_mempool *to,
                         pd_afxdp_rx_copy **out)
{
    pd_afxdp_rx_copy *c;

    if (to == NULL || out == NULL)
        return -EINVAL;
    c = calloc(1, sizeof(*c));
    if (c == NULL)
        return -ENOMEM;
    c->port_id = port_id;
    c->queue = queue;
    c->to = to;
    c->cb = rte_eth_add_rx_callback(port_id, queue, rx_copy, c);
    if (c->cb == NULL) {
        int rc = -(rte_errno ? rte_errno : EINVAL);
        free(c);
        return rc;
    }
    *out = c;
    return 0;
}

int pd_afxdp_rx_copy_remove(pd_afxdp_rx_copy *c)
{
    int rc;

    if (c == NULL)
        return 0;
    rc = rte_eth_remove_rx_callback(c->port_id, c->queue, c->cb);
    /* Unlinked (no lcore runs it: the caller does not poll the port), so
     * ethdev leaves its memory to us. */
    if (rc == 0)
        rte_free((void *)(uintptr_t)c->cb);
    free(c);
    return rc;
}

void pd_afxdp_rx_copy_stats(const pd_afxdp_rx_copy *c, uint64_t *nombuf, uint64_t *oversize)
{
    *nombuf = c ? __atomic_load_n(&c->nombuf, __ATOMIC_RELAXED) : 0;
    *oversize = c ? __atomic_load_n(&c->oversize, __ATOMIC_RELAXED) : 0;
}

/* The inode of fd if it is an AF_XDP socket (<0 if not, or not open).
 * AF_XDP sockets have no getsockname(): SO_DOMAIN says what they are. */
static int xdp_socket_inode(int fd, uint64_t *inode)
{
    struct stat st;
    int domain = 0;
    socklen_t len = sizeof(domain);

    if (fstat(fd, &st) != 0 || !S_ISSOCK(st.st_mode))
        return -ENOTSOCK;
    if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &len) != 0 || domain != AF_XDP)
        return -EAFNOSUPPORT;
    *inode = (uint64_t)st.st_ino;
    return 0;
}

int pd_afxdp_sockets(int *fds, uint64_t *inodes, int max)
{
    DIR *dir;
    struct dirent *e;
    int n = 0;

    if (fds == NULL || inodes == NULL || max < 0)
        return -EINVAL;
    dir = opendir("/proc/self/fd");
    if (dir == NULL)
        return -errno;
    while ((e = readdir(dir)) != NULL && n < max) {
        char *end;
        long fd = strtol(e->d_name, &end, 10);
        uint64_t ino;

        if (*e->d_name == '\0' || *end != '\0' || fd < 0 || fd == dirfd(dir))
            continue;
        if (xdp_socket_inode((int)fd, &ino) == 0) {
            fds[n] = (int)fd;
            inodes[n] = ino;
            n++;
        }
    }
    closedir(dir);
    return n;
}

int pd_afxdp_close_socket(int fd, uint64_t inode)
{
    uint64_t now;

    if (fd < 0)
        return -EBADF;
    if (xdp_socket_inode(fd, &now) != 0 || now != inode)
        return 0;
    return close(fd) == 0 ? 1 : -errno;
}

/* libxdp and libbpf print functions share this shape (level, format, args). */
typedef int (*pd_lib_print_fn)(int level, const char *fmt, va_list ap);
typedef pd_lib_print_fn (*pd_lib_set_print_fn)(pd_lib_print_fn fn);

static int lib_to_dpdk_log(int level, const char *fmt, va_list ap)
{
    (void)level;
    return rte_vlog(RTE_LOG_DEBUG, RTE_LOGTYPE_PMD, fmt, ap);
}

int pd_afxdp_quiet_libs(void)
{
    static const char *const libs[][2] = {
        {"libxdp.so.1", "libxdp_set_print"},
        {"libbpf.so.1", "libbpf_set_print"},
        {"libbpf.so.0", "libbpf_set_print"},
    };
    int done = 0;

    for (size_t i = 0; i < sizeof(libs) / sizeof(libs[0]); i++) {
        /* RTLD_NOLOAD: only a library the PMD already brought in. */
        void *h = dlopen(libs[i][0], RTLD_NOW | RTLD_NOLOAD);
        pd_lib_set_print_fn set;

        if (h == NULL)
            continue;
        *(void **)&set = dlsym(h, libs[i][1]);
        if (set != NULL) {
            set(lib_to_dpdk_log);
            done = 1;
        }
        dlclose(h);
    }
    return done;
}
