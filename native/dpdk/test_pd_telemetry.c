/* End-to-end C test of the /pydpdk telemetry commands: an EAL with telemetry
 * (no hugepages, own file prefix), a registry with a counter set, and a
 * client on DPDK's telemetry socket as dpdk-telemetry.py would be. */
#define _GNU_SOURCE
#include "pd_telemetry.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <rte_eal.h>
#include <rte_errno.h>
#include "pd_check.h"

static uint64_t counter = 41;

static void fill_counter(const void *obj, pd_stats_snap *out)
{
    pd_stats_put_u64(out, "packets", *(const uint64_t *)obj);
    pd_stats_put_str(out, "where", "test");
}

/* Send one request, return the reply (static buffer). */
static const char *ask(int s, const char *req)
{
    static char buf[1 << 16];
    ssize_t n;
    if (write(s, req, strlen(req)) < 0)
        return "";
    n = read(s, buf, sizeof(buf) - 1);
    buf[n > 0 ? n : 0] = '\0';
    return buf;
}

int main(void)
{
    static pd_stats_registry reg, other;
    char prefix[64], arg_prefix[80], path[100];
    char *argv[] = { "test", "--no-huge", "-m", "64", "--no-pci", "--log-level=error",
                     "--lcores=0", "--no-shconf", arg_prefix, NULL };
    struct sockaddr_un sun = { .sun_family = AF_UNIX };
    uint32_t id, eid;
    int s;

    CHECK(pd_stats_registry_init(&reg) == 0);
    CHECK(pd_stats_registry_init(&other) == 0);
    CHECK(pd_telemetry_register(NULL) == -EINVAL);
    /* Commands may be registered before the EAL starts its telemetry. */
    CHECK(pd_telemetry_register(&reg) == 0);
    CHECK(pd_telemetry_register(&reg) == 0);
    CHECK(pd_telemetry_register(&other) == -EBUSY);
    CHECK(pd_stats_add(&reg, PD_STATS_PIPELINE, "p0", &counter, fill_counter, &id) == 0);
    CHECK(pd_stats_add(&reg, PD_STATS_FEC_ENCODER, "e0", &counter, fill_counter, &eid) == 0);

    snprintf(prefix, sizeof(prefix), "pdtel%d", (int)getpid());
    snprintf(arg_prefix, sizeof(arg_prefix), "--file-prefix=%s", prefix);
    if (rte_eal_init((int)(sizeof(argv) / sizeof(argv[0])) - 1, argv) < 0) {
        fprintf(stderr, "rte_eal_init failed: %s\n", strerror(rte_errno));
        return 1;
    }
    snprintf(path, sizeof(path), "%.80s/dpdk_telemetry.v2", rte_eal_get_runtime_dir());
    memcpy(sun.sun_path, path, sizeof(path));
    s = socket(AF_UNIX, SOCK_SEQPACKET, 0);
    CHECK(s >= 0 && connect(s, (struct sockaddr *)&sun, sizeof(sun)) == 0);
    {
        char greeting[1024];
        ssize_t n = read(s, greeting, sizeof(greeting) - 1);
        greeting[n > 0 ? n : 0] = '\0';
        CHECK(strstr(greeting, "\"version\"") != NULL);
    }
    {
        const char *r = ask(s, "/");
        CHECK(strstr(r, "\"/pydpdk/pipeline\"") && strstr(r, "\"/pydpdk/fec/decoder\""));
    }
    CHECK(strcmp(ask(s, "/pydpdk/pipelines"), "{\"/pydpdk/pipelines\":[0]}") == 0);
    CHECK(strcmp(ask(s, "/pydpdk/pipeline,0"),
                 "{\"/pydpdk/pipeline\":{\"id\":0,\"name\":\"p0\",\"packets\":41,"
                 "\"where\":\"test\"}}") == 0);
    counter = 42;
    CHECK(strstr(ask(s, "/pydpdk/fec/encoder,0"), "\"packets\":42") != NULL);
    CHECK(strcmp(ask(s, "/pydpdk/fec/decoders"), "{\"/pydpdk/fec/decoders\":[]}") == 0);
    CHECK(strstr(ask(s, "/pydpdk/info"), "\"pipelines\":1,\"fec_encoders\":1,"
                                         "\"fec_decoders\":0") != NULL);
    /* Unknown ids and bad parameters answer null. */
    CHECK(strcmp(ask(s, "/pydpdk/pipeline,7"), "{\"/pydpdk/pipeline\":null}") == 0);
    CHECK(strcmp(ask(s, "/pydpdk/pipeline,x"), "{\"/pydpdk/pipeline\":null}") == 0);
    CHECK(strcmp(ask(s, "/pydpdk/pipeline"), "{\"/pydpdk/pipeline\":null}") == 0);
    CHECK(pd_stats_remove(&reg, PD_STATS_PIPELINE, id) == 0);
    CHECK(strcmp(ask(s, "/pydpdk/pipeline,0"), "{\"/pydpdk/pipeline\":null}") == 0);
    CHECK(strcmp(ask(s, "/pydpdk/pipelines"), "{\"/pydpdk/pipelines\":[]}") == 0);
    close(s);
    {
        /* --no-shconf leaves only the telemetry socket in the runtime dir. */
        char dir[100];
        snprintf(dir, sizeof(dir), "%.90s", rte_eal_get_runtime_dir());
        rte_eal_cleanup();
        unlink(path);
        CHECK(rmdir(dir) == 0);
    }
    if (!failures)
        printf("pd_telemetry: all tests passed\n");
    return pd_check_result();
}
