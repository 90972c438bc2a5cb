#include "pd_telemetry.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <rte_telemetry.h>
#include <rte_version.h>

/* librte_telemetry's callbacks take no user argument before DPDK 24.03
 * (rte_telemetry_register_cmd_arg), so the registry is a process global. */
static pd_stats_registry *g_reg;

/* Parse a command's parameter: a decimal id, nothing else. */
static int parse_id(const char *params, uint32_t *id)
{
    char *end;
    unsigned long v;
    if (!params || params[0] < '0' || params[0] > '9')
        return -EINVAL;
    errno = 0;
    v = strtoul(params, &end, 10);
    if (errno || *end != '\0' || v > UINT32_MAX)
        return -EINVAL;
    *id = (uint32_t)v;
    return 0;
}

static int list_kind(int kind, struct rte_tel_data *d)
{
    uint32_t ids[RTE_TEL_MAX_ARRAY_ENTRIES];
    unsigned n = pd_stats_list(g_reg, kind, ids, RTE_TEL_MAX_ARRAY_ENTRIES);
    rte_tel_data_start_array(d, RTE_TEL_U64_VAL);
    for (unsigned i = 0; i < n && i < RTE_TEL_MAX_ARRAY_ENTRIES; i++)
        rte_tel_data_add_array_u64(d, ids[i]);
    return 0;
}

/* One flat dict: DPDK 22.11 nests only arrays in dicts, so keys carry the
 * structure ("chain0/stage1/packets_out"). */
static int show_kind(int kind, const char *params, struct rte_tel_data *d)
{
    pd_stats_snap *snap;
    uint32_t id;
    int rc;
    if (parse_id(params, &id) < 0)
        return -EINVAL;
    snap = malloc(sizeof(*snap));
    if (!snap)
        return -ENOMEM;
    rc = pd_stats_snapshot(g_reg, kind, id, snap);
    if (rc == 0) {
        rte_tel_data_start_dict(d);
        for (unsigned i = 0; i < snap->n; i++) {
            const pd_stats_kv *kv = &snap->kv[i];
            if (kv->is_str)
                rte_tel_data_add_dict_string(d, kv->key, kv->str);
            else
                rte_tel_data_add_dict_u64(d, kv->key, kv->u64);
        }
        if (snap->truncated)
            rte_tel_data_add_dict_u64(d, "truncated", snap->truncated);
    }
    free(snap);
    return rc;
}

static int cmd_info(const char *cmd, const char *params, struct rte_tel_data *d)
{
    (void)cmd;
    (void)params;
    rte_tel_data_start_dict(d);
    for (int k = 0; k < PD_STATS_KINDS; k++) {
        char key[32];
        size_t len = strlen(pd_stats_kind_name(k));
        memcpy(key, pd_stats_kind_name(k), len);
        memcpy(key + len, "s", 2);       /* "pipelines", "fec_encoders", ... */
        rte_tel_data_add_dict_u64(d, key, pd_stats_list(g_reg, k, NULL, 0));
    }
    return 0;
}

static int cmd_pipelines(const char *c, const char *p, struct rte_tel_data *d)
{
    (void)c; (void)p;
    return list_kind(PD_STATS_PIPELINE, d);
}

static int cmd_pipeline(const char *c, const char *p, struct rte_tel_data *d)
{
    (void)c;
    return show_kind(PD_STATS_PIPELINE, p, d);
}

static int cmd_encoders(const char *c, const char *p, struct rte_tel_data *d)
{
    (void)c; (void)p;
    return list_kind(PD_STATS_FEC_ENCODER, d);
}

static int cmd_encoder(const char *c, const char *p, struct rte_tel_data *d)
{
    (void)c;
    return show_kind(PD_STATS_FEC_ENCODER, p, d);
}

static int cmd_decoders(const char *c, const char *p, struct rte_tel_data *d)
{
    (void)c; (void)p;
    return list_kind(PD_STATS_FEC_DECODER, d);
}

static int cmd_decoder(const char *c, const char *p, struct rte_tel_data *d)
{
    (void)c;
    return show_kind(PD_STATS_FEC_DECODER, p, d);
}

const char *const pd_telemetry_commands[] = {
    "/pydpdk/info",
    "/pydpdk/pipelines",
    "/pydpdk/pipeline",
    "/pydpdk/fec/encoders",
    "/pydpdk/fec/encoder",
    "/pydpdk/fec/decoders",
    "/pydpdk/fec/decoder",
    NULL,
};

/* At most 63 characters each (librte_telemetry's limit). */
const char *const pd_telemetry_help[] = {
    "Number of pydpdk pipelines and FEC codecs. No parameters",
    "Ids of pydpdk pipelines. No parameters",
    "Counters of every pipeline element. Parameter: pipeline id",
    "Ids of pydpdk FEC encoders. No parameters",
    "FEC encoder counters. Parameter: encoder id",
    "Ids of pydpdk FEC decoders. No parameters",
    "FEC decoder counters. Parameter: decoder id",
    NULL,
};

static const telemetry_cb callbacks[] = {
    cmd_info, cmd_pipelines, cmd_pipeline, cmd_encoders, cmd_encoder, cmd_decoders,
    cmd_decoder,
};

int pd_telemetry_register(pd_stats_registry *reg)
{
    int rc;
    if (!reg)
        return -EINVAL;
    if (g_reg)
        return g_reg == reg ? 0 : -EBUSY;
    g_reg = reg;
    for (unsigned i = 0; pd_telemetry_commands[i]; i++) {
        rc = rte_telemetry_register_cmd(pd_telemetry_commands[i], callbacks[i],
                                        pd_telemetry_help[i]);
        if (rc < 0)
            return rc;     /* the commands already added stay; they work */
    }
    return 0;
}
