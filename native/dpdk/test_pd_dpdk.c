/* C unit tests of the DPDK shim that need no running EAL: mbuf ops on a
 * hand-built mbuf, forwarding-config validation, log capture, a refused
 * EAL init.  (The EAL-dependent parts are tested from Python, where one EAL
 * serves the whole session.) */
#define _GNU_SOURCE
#include "pd_dpdk.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <rte_log.h>
#include <rte_mbuf.h>
#include "pd_check.h"

#define ROOM 2048

/* A single-segment mbuf with ROOM bytes of buffer, as a pool would hand out. */
static struct rte_mbuf *make_mbuf(void)
{
    struct rte_mbuf *m = calloc(1, sizeof(*m) + ROOM);

    if (m == NULL)
        return NULL;
    m->buf_addr = (char *)(m + 1);
    m->buf_len = ROOM;
    m->data_off = RTE_PKTMBUF_HEADROOM;
    m->nb_segs = 1;
    m->next = NULL;
    return m;
}

static void test_mbuf_ops(void)
{
    const pd_pkt_ops *ops = &pd_mbuf_ops;
    struct rte_mbuf *m = make_mbuf();
    pd_pkt *p = (pd_pkt *)m;
    uint8_t *d;

    CHECK(m != NULL);
    if (m == NULL)
        return;
    CHECK(strcmp(ops->name, "mbuf") == 0);
    CHECK(ops->data_len(p) == 0);
    CHECK(ops->headroom(p) == RTE_PKTMBUF_HEADROOM);
    CHECK(ops->tailroom(p) == ROOM - RTE_PKTMBUF_HEADROOM);

    d = ops->append(p, 10);
    CHECK(d == ops->data(p));
    memcpy(d, "0123456789", 10);
    CHECK(ops->data_len(p) == 10 && m->pkt_len == 10);

    d = ops->prepend(p, 4);
    CHECK(d != NULL && d == ops->data(p));
    memcpy(d, "HDR:", 4);
    CHECK(ops->data_len(p) == 14);
    CHECK(memcmp(ops->data(p), "HDR:0123456789", 14) == 0);

    CHECK(ops->adj(p, 4) != NULL);
    CHECK(ops->trim(p, 5) == 0);
    CHECK(ops->data_len(p) == 5);
    CHECK(memcmp(ops->data(p), "01234", 5) == 0);

    /* Refusals leave the packet unchanged. */
    CHECK(ops->trim(p, 6) == -EINVAL);
    CHECK(ops->adj(p, 6) == NULL);
    CHECK(ops->prepend(p, ops->headroom(p) + 1) == NULL);
    CHECK(ops->append(p, ops->tailroom(p) + 1) == NULL);
    CHECK(ops->append(p, 70000) == NULL);
    CHECK(ops->data_len(p) == 5);
    free(m);
}

static void test_port_io(void)
{
    pd_port_io io;

    CHECK(pd_dpdk_port_io(NULL, 0, (struct rte_mempool *)&io) == -EINVAL);
    CHECK(pd_dpdk_port_io(&io, 0, NULL) == -EINVAL);
    CHECK(pd_dpdk_port_io(&io, 3, (struct rte_mempool *)&io) == 0);
    CHECK(io.ops == &pd_mbuf_ops);
    CHECK((uintptr_t)io.ctx == 3);
    CHECK(io.rx_burst != NULL && io.tx_burst != NULL);
}

static void test_fwd_validate(void)
{
    struct pd_fwd_config cfg;
    struct pd_fwd_counters counters;

    memset(&cfg, 0, sizeof(cfg));
    memset(&counters, 0, sizeof(counters));
    cfg.burst = 32;
    CHECK(pd_fwd_validate(NULL) == -EINVAL);
    CHECK(pd_fwd_validate(&cfg) == -EINVAL);          /* no links */
    cfg.n_links = 1;
    CHECK(pd_fwd_validate(&cfg) == 0);
    cfg.burst = 0;
    CHECK(pd_fwd_validate(&cfg) == -EINVAL);
    cfg.burst = PD_BURST_MAX + 1;
    CHECK(pd_fwd_validate(&cfg) == -EINVAL);
    cfg.burst = 32;
    cfg.links[0].tx_port = RTE_MAX_ETHPORTS;
    CHECK(pd_fwd_validate(&cfg) == -EINVAL);
    cfg.n_links = PD_FWD_MAX_LINKS + 1;
    CHECK(pd_fwd_validate(&cfg) == -EINVAL);
    /* pd_fwd_run refuses the same configurations before touching a port. */
    CHECK(pd_fwd_run(&cfg, &counters, NULL, 0) == -EINVAL);
    CHECK(counters.polls == 0);
}

static void test_log_capture(void)
{
    char buf[64];

    CHECK(pd_dpdk_log_capture_end(buf, sizeof(buf)) == 0 && buf[0] == '\0');
    CHECK(pd_dpdk_log_capture_begin() == 0);
    CHECK(pd_dpdk_log_capture_begin() == -EBUSY);
    rte_log(RTE_LOG_ERR, RTE_LOGTYPE_USER1, "first line\n");
    rte_log(RTE_LOG_ERR, RTE_LOGTYPE_USER1, "the reason it failed\n");
    CHECK(pd_dpdk_log_capture_end(buf, sizeof(buf)) > 0);
    CHECK(strstr(buf, "the reason it failed") != NULL);
    /* A small buffer keeps the tail, NUL-terminated. */
    CHECK(pd_dpdk_log_capture_begin() == 0);
    rte_log(RTE_LOG_ERR, RTE_LOGTYPE_USER1, "0123456789\n");
    CHECK(pd_dpdk_log_capture_end(buf, 6) == 5);
    CHECK(strcmp(buf, "6789\n") == 0);
}

/* rte_eal_init's own printing (usage on stdout, getopt and FATAL lines on
 * stderr) must not reach the process's stdout/stderr; the stderr part joins
 * the log capture.  Bad arguments leave the EAL uninitialised. */
static void test_eal_init_prints_nothing(void)
{
    char opt[] = "--no-such-option", prog[] = "test_pd_dpdk";
    char *argv[] = {prog, opt, NULL};
    char buf[1024];
    int sink = memfd_create("test-sink", MFD_CLOEXEC);
    int saved_out = dup(STDOUT_FILENO), saved_err = dup(STDERR_FILENO);
    int capture_rc, init_rc;

    CHECK(sink >= 0 && saved_out >= 0 && saved_err >= 0);
    if (sink < 0 || saved_out < 0 || saved_err < 0)
        return;
    fflush(stdout);
    fflush(stderr);
    dup2(sink, STDOUT_FILENO);
    dup2(sink, STDERR_FILENO);
    /* No CHECK until stderr is back: its messages would go to the sink. */
    capture_rc = pd_dpdk_log_capture_begin();
    init_rc = pd_dpdk_eal_init(2, argv);
    pd_dpdk_log_capture_end(buf, sizeof(buf));
    fflush(stdout);
    fflush(stderr);
    dup2(saved_out, STDOUT_FILENO);
    dup2(saved_err, STDERR_FILENO);
    close(saved_out);
    close(saved_err);
    CHECK(capture_rc == 0);
    CHECK(init_rc == -EINVAL);
    CHECK(lseek(sink, 0, SEEK_END) == 0); /* nothing printed */
    close(sink);
    CHECK(strstr(buf, "unrecognized option '--no-such-option'") != NULL);
    CHECK(strstr(buf, "Usage") == NULL);
}

/* Argument checks that come before any EAL call. */
static void test_argument_checks(void)
{
    uint16_t a, b;
    char long_name[64];

    memset(long_name, 'x', sizeof(long_name) - 1);
    long_name[sizeof(long_name) - 1] = '\0';
    CHECK(pd_dpdk_ring_pair(NULL, "b", 64, &a, &b) == -EINVAL);
    CHECK(pd_dpdk_ring_pair("a", "a", 64, &a, &b) == -EINVAL);
    CHECK(pd_dpdk_ring_pair("a", "b", 64, NULL, &b) == -EINVAL);
    CHECK(pd_dpdk_ring_pair(long_name, "b", 64, &a, &b) == -ENAMETOOLONG);
    CHECK(pd_dpdk_ring_pair_free(long_name, "b") == -EINVAL);
    CHECK(pd_dpdk_get_dev_info(0, NULL) == -EINVAL);
}

int main(void)
{
    test_mbuf_ops();
    test_port_io();
    test_fwd_validate();
    test_log_capture();
    test_eal_init_prints_nothing();
    test_argument_checks();
    return pd_check_result();
}
