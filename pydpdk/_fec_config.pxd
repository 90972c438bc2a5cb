# cython: language_level=3
# The one converter from pydpdk.fec_config's EncoderConfig / DecoderConfig
# (validated there) to the native fec_encoder_config / fec_decoder_config
# (native/fec/fec.h).  Inline, so every extension that makes a codec (_fec,
# _gateway) compiles it against its own copy of native/fec: the kernel
# pointer it stores comes from the codec's own kernel table.
from libc.string cimport memset

from pydpdk._includes.fec cimport (
    FEC_CODE_RLC,
    FEC_CODE_RS,
    FEC_CODE_XOR,
    fec_decoder_config,
    fec_encoder_config,
    fec_kernel,
    fec_kernel_by_name,
    fec_kernel_default,
    fec_link_report,
)


cdef inline const fec_kernel *config_kernel(object name) except NULL:
    """The kernel named by a validated config (None: this CPU's default)."""
    cdef const fec_kernel *kern = NULL
    if name is None:
        return fec_kernel_default()
    if fec_kernel_by_name(str(name).encode(), &kern) != 0 or kern == NULL:
        # EncoderConfig/DecoderConfig checked it; only a changed CPU gets here.
        raise ValueError(f"FEC kernel {name!r} is not available")
    return kern


cdef inline int code_id(str code) except -1:
    if code == "rs":
        return FEC_CODE_RS
    if code == "xor":
        return FEC_CODE_XOR
    if code == "rlc":
        return FEC_CODE_RLC
    raise ValueError(f"unknown FEC code {code!r}: code must be 'rs', 'xor' or 'rlc'")


cdef inline int encoder_config_to_c(object config, fec_encoder_config *out) except -1:
    """Fill *out* from an EncoderConfig (session_id None: 0, the codec draws one)."""
    memset(out, 0, sizeof(fec_encoder_config))
    out.code = code_id(config.code)
    out.k = config.k
    out.m = config.m
    out.depth = config.depth
    out.window = config.effective_window
    out.max_payload = config.max_payload
    out.timeout = config.deadline_ns
    out.first_block_id = config.first_block_id
    out.kernel = config_kernel(config.kernel)
    out.session_id = config.session_id or 0
    out.max_m = config.max_m or 0
    out.max_depth = config.max_depth or 0
    out.flags = 0
    return 0


cdef inline int decoder_config_to_c(object config, fec_decoder_config *out) except -1:
    """Fill *out* from a DecoderConfig."""
    memset(out, 0, sizeof(fec_decoder_config))
    out.max_payload = config.max_payload
    out.max_blocks = config.max_blocks
    out.max_symbols = config.effective_max_symbols
    out.timeout = config.timeout_ns
    out.cache_entries = config.cache_entries
    out.kernel = config_kernel(config.kernel)
    out.max_sessions = config.max_sessions
    out.measure_window = config.measure_window_ns
    return 0


cdef inline dict link_report_dict(const fec_link_report *r):
    """A native link report (native/fec/fec.h) as the dict the Python layer
    reads (pydpdk.adaptive.LinkReport.from_native): times in ns, run_hist a
    list.  Here so that _fec and _gateway share one copy."""
    return {"window": r.window, "packets": r.packets, "lost": r.lost,
            "loss_runs": r.loss_runs, "arrivals": r.arrivals, "reordered": r.reordered,
            "recovered": r.recovered, "loss_rate": r.loss_rate, "gilbert_p": r.gilbert_p,
            "gilbert_r": r.gilbert_r, "bad_loss": r.bad_loss, "mean_burst": r.mean_burst,
            "reorder_rate": r.reorder_rate, "recovery_mean": r.recovery_mean,
            "recovery_p99": r.recovery_p99, "session_id": r.session_id, "depth": r.depth,
            "run_hist": [r.run_hist[i] for i in range(8)],
            "recent_packets": r.recent_packets, "recent_lost": r.recent_lost}
