# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""The FEC gateway stages as pipeline elements (private; see pydpdk.pipeline).

Wraps native/gateway (gateway.h): FecEncodeStage and FecDecodeStage, the
codec of native/fec behind an encapsulation and an MTU policy.  The element
bases are pydpdk._pipeline's (_pipeline.pxd).
"""

import errno
import ipaddress

from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t
from libc.string cimport memcpy, memset

from pydpdk._burst cimport PacketPool
from pydpdk._includes.fec cimport (
    FEC_CODE_XOR,
    FEC_DEFAULT_MAX_SESSIONS,
    FEC_HDR_LEN,
    fec_control_state,
    fec_decoder_stats,
    fec_encoder_stats,
    fec_link_report,
    fec_random_session_id,
)
from pydpdk._includes.gateway cimport (
    PD_ENCAP_ETHER,
    PD_ENCAP_NONE,
    PD_ENCAP_UDP,
    PD_ETHERTYPE_FEC,
    pd_encap_cfg,
    pd_encap_len,
    pd_fec_dec_stage,
    pd_fec_dec_stage_bind,
    pd_fec_dec_stage_cfg,
    pd_fec_dec_stage_control_stats,
    pd_fec_dec_stage_create,
    pd_fec_dec_stage_destroy,
    pd_fec_dec_stage_link_report,
    pd_fec_dec_stage_peer_report,
    pd_fec_dec_stage_stats,
    pd_fec_enc_stage,
    pd_fec_enc_stage_bind,
    pd_fec_enc_stage_cfg,
    pd_fec_enc_stage_control_counts,
    pd_fec_enc_stage_create,
    pd_fec_enc_stage_destroy,
    pd_fec_enc_stage_get_params,
    pd_fec_enc_stage_mtu,
    pd_fec_enc_stage_set_params,
    pd_fec_enc_stage_stats,
    pd_fec_stage_pair,
    pd_gateway_counters,
)
from pydpdk._fec_config cimport (
    code_id,
    decoder_config_to_c,
    encoder_config_to_c,
    link_report_dict,
)
from pydpdk._pipeline cimport Stage, counters_dict, raise_errno

# telemetry: counters registered for DPDK's /pydpdk endpoints (docs/telemetry.md)
from pydpdk._telemetry cimport Registration, register_fec_dec_stage, register_fec_enc_stage

from pydpdk.fec_config import DecoderConfig, EncoderConfig, check_code


cdef int parse_mac(value, uint8_t *out) except -1:
    cdef int i
    if isinstance(value, (bytes, bytearray)):
        raw = bytes(value)
    else:
        raw = bytes.fromhex(str(value).replace(":", "").replace("-", ""))
    if len(raw) != 6:
        raise ValueError(f"not a MAC address: {value!r}")
    for i in range(6):
        out[i] = raw[i]
    return 0


cdef dict fill_encap(pd_encap_cfg *e, dict given):
    """Encapsulation options (keywords of the FEC stages) into *e*; returns them
    with the defaults filled in."""
    unknown = set(given) - set(ENCAP_DEFAULTS)
    if unknown:
        raise TypeError(f"unknown encapsulation option(s): {', '.join(sorted(unknown))}")
    opts = dict(ENCAP_DEFAULTS, **given)
    memset(e, 0, sizeof(pd_encap_cfg))
    encap = opts["encap"]
    if encap == "udp":
        e.kind = PD_ENCAP_UDP
    elif encap in ("ether", "l2"):
        e.kind = PD_ENCAP_ETHER
    elif encap in ("none", "udp-socket"):
        e.kind = PD_ENCAP_NONE      # a UdpPort carries the FEC packet as its payload
    elif encap == "none-tos":
        e.kind = PD_ENCAP_NONE      # ... and (UdpPort tos=True) adds the outer TOS after it
        e.tos_trailer = 1
    else:
        raise ValueError(f"encapsulation must be 'udp' or 'ether' ('none': bare FEC packets for "
                         f"a UdpPort, 'none-tos': one with tos=True), got {encap!r}")
    parse_mac(opts["src_mac"], e.src_mac)
    parse_mac(opts["dst_mac"], e.dst_mac)
    # IPv4 or IPv6 outer header (both addresses of one version)
    src, dst = ipaddress.ip_address(opts["src_ip"]), ipaddress.ip_address(opts["dst_ip"])
    if src.version != dst.version:
        raise ValueError(f"src_ip and dst_ip must both be IPv4 or both IPv6, got "
                         f"{opts['src_ip']!r} and {opts['dst_ip']!r}")
    if dst.version == 6:
        if dst.is_multicast or dst.is_unspecified:
            raise ValueError(f"dst_ip must be a unicast address, got {opts['dst_ip']!r}")
        e.ipv6 = 1
        memcpy(e.src_ip6, <const char *>src.packed, 16)
        memcpy(e.dst_ip6, <const char *>dst.packed, 16)
    else:
        e.src_ip = int(src)
        e.dst_ip = int(dst)
    for label in ("src_port", "dst_port"):
        if not 1 <= opts[label] <= 65535:
            raise ValueError(f"{label} must be within 1..65535, got {opts[label]}")
    e.src_port = <uint16_t>opts["src_port"]
    e.dst_port = <uint16_t>opts["dst_port"]
    if not 0x0600 <= opts["ethertype"] <= 0xffff:
        raise ValueError(f"ethertype must be within 0x0600..0xffff, got {opts['ethertype']:#x}")
    e.ethertype = <uint16_t>opts["ethertype"]
    if not 1 <= opts["ttl"] <= 255:
        raise ValueError(f"ttl must be within 1..255, got {opts['ttl']}")
    e.ttl = <uint8_t>opts["ttl"]
    return opts


ENCAP_DEFAULTS = dict(encap="udp", src_mac="02:00:00:00:00:01", dst_mac="02:00:00:00:00:02",
                      src_ip="192.0.2.1", dst_ip="192.0.2.2", src_port=4790, dst_port=4790,
                      ethertype=PD_ETHERTYPE_FEC, ttl=64)


cdef class FecEncodeStage(Stage):
    """Protect frames: FEC header + encapsulation on each, parity packets from *pool*.

    *session_id* is the wire session id (docs/fec-format.md), 1..2**32-1;
    None draws a random one (reported as ``config["session_id"]``).

    MTU policy (an edge device's): with *wan_mtu* (bytes of IP packet the
    WAN carries, e.g. the WAN interface's MTU; 0 = no policy, frames over
    *max_payload* are dropped as ``too_big``) the stage subtracts its own
    overhead (outer header, FEC header, repair length field) and handles
    LAN frames that no longer fit: TCP SYN/SYN-ACK MSS lowered (*clamp_mss*),
    IPv4 with DF and IPv6 answered with ICMP "fragmentation needed" (RFC
    1191) / "packet too big" (RFC 4443) towards the sender (*icmp*; sent
    through the paired FecDecodeStage, sourced from *icmp_source* — an IPv4
    and/or IPv6 address, or a list of both — else from the original
    destination), IPv4 without DF fragmented (*fragment*).  Everything is
    counted: ``mss_clamped``, ``icmp_too_big``, ``fragmented``/``fragments``,
    ``mtu_dropped``, ``reply_dropped``.  ``config`` says what applies
    (``max_frame``, ``ip_mtu``, ``mss``).  ValueError when *wan_mtu* leaves
    no room for a minimal IPv4 packet.  The wire format is
    docs/fec-format.md (v2); Reed-Solomon over GF(2^8) or XOR parity.

    Parameters
    ----------
    pool : PacketPool
        The chain's pool; parity packets are allocated from it.
    code : {"rs", "xor", "rlc"}
        Reed-Solomon, XOR parity (``m`` must be 1) or the sliding-window
        code.  This and the FEC settings below (*k*, *m*, *depth*,
        *deadline*, *max_payload*, *kernel*, *session_id*, *max_m*,
        *max_depth*, *window*) are :class:`pydpdk.fec_config.EncoderConfig`'s,
        with its names, units, defaults and errors.
    k : int, default 10
        Source packets per block, ``k >= 1``.
    m : int, default 4
        Repair packets per block, ``m >= 1``, ``k + m <= 255``.
    depth : int, default 1
        Interleaving depth (blocks filled in turn), 1..1024; 1 for rlc.
    deadline : float or None, default 0.005
        Seconds after a block's first packet at which it is closed with
        what it has (its parity sent); 0 or None: only full blocks.
    max_payload : int, default 1518
        Largest frame protected, bytes, 1..65000.
    kernel : str, optional
        GF(2^8) kernel name (e.g. "avx2"); None: the fastest this CPU has.
    session_id : int, optional
        Wire session id, 1..2**32-1; None draws a random one.
    wan_mtu : int, default 0
        IP MTU of the WAN in bytes, 0..65535; 0: no MTU policy.
    clamp_mss : bool, default True
        Lower the MSS of TCP SYNs (with *wan_mtu*).
    icmp : bool, default True
        Answer oversize DF frames with ICMP (with *wan_mtu*).
    fragment : bool, default True
        Fragment oversize IPv4 frames without DF (with *wan_mtu*).
    icmp_source : str or sequence of str, optional
        IPv4 and/or IPv6 source address of the ICMP replies.
    max_m : int, optional
        Largest m :meth:`set_params` may switch to (memory is sized for it);
        None: *m*.
    max_depth : int, optional
        Largest depth :meth:`set_params` may switch to; None: *depth*.
    window : int, optional
        ``code="rlc"`` only: source packets each repair covers, k..255
        (None: k); docs/fec-format.md, "RLC".
    config : EncoderConfig, optional
        All the FEC settings at once; the FEC keywords above are then
        ignored.
    **encap
        Encapsulation: ``encap`` ("udp" default, "ether", or "none" for a
        UdpPort), ``src_mac``, ``dst_mac`` (default 02:00:00:00:00:01 and
        :02), ``src_ip``, ``dst_ip`` (default 192.0.2.1 and .2; two IPv6
        addresses make an Ethernet/IPv6/UDP outer header, RFC 8200),
        ``src_port``, ``dst_port`` (1..65535, default 4790), ``ethertype``
        (0x0600..0xffff, default 0x88B5) and ``ttl`` (1..255, default 64).

    Raises
    ------
    ValueError
        A parameter out of range, an unknown code, kernel or encapsulation,
        a bad address, or a *wan_mtu* that leaves no room.
    TypeError
        An unknown encapsulation keyword, a FEC setting of the wrong type,
        or a *config* that is not an EncoderConfig.
    FecError
        *kernel* cannot run on this CPU (ENOTSUP).
    PoolError
        *pool* is closed.
    PydpdkError
        The native stage cannot be created (ENOMEM).
    """

    cdef pd_fec_enc_stage *enc
    cdef readonly dict config
    """The configuration in effect (dict): the encapsulation options, ``code``,
    ``k``, ``m``, ``depth``, ``deadline`` (s), ``max_payload``, ``session_id``,
    ``overhead_bytes`` (encapsulation + FEC header), ``wan_mtu``,
    ``max_frame``, ``ip_mtu``, ``mss`` (bytes; 0 without MTU policy),
    ``icmp``, ``fragment`` (bool) and ``icmp_source``."""
    cdef readonly Registration telemetry   # /pydpdk/fec/encoder,<telemetry.id>
    """The telemetry registration (``/pydpdk/fec/encoder,<telemetry.id>``)."""
    cdef readonly object fec_config
    """The FEC settings (:class:`pydpdk.fec_config.EncoderConfig`)."""

    def __init__(self, PacketPool pool not None, str code="rs", k=10, m=4, depth=1,
                 deadline=0.005, max_payload=1518, kernel=None, session_id=None,
                 unsigned int wan_mtu=0, bint clamp_mss=True, bint icmp=True,
                 bint fragment=True, icmp_source=None, max_m=None, max_depth=None,
                 window=None, config=None,
                 **encap):
        cdef pd_fec_enc_stage_cfg cfg
        cdef int err = 0
        cdef uint32_t sid = 0
        cdef uint32_t max_frame = 0, ip_mtu = 0, mss4 = 0
        pool.check_open()
        if config is None:
            config = EncoderConfig(code=code, k=k, m=m, depth=depth, window=window,
                                   max_payload=max_payload, deadline=deadline, kernel=kernel,
                                   session_id=session_id, max_m=max_m, max_depth=max_depth)
        elif not isinstance(config, EncoderConfig):
            raise TypeError(f"config must be an EncoderConfig, got {type(config).__name__}")
        memset(&cfg, 0, sizeof(cfg))
        opts = fill_encap(&cfg.encap, encap)
        if wan_mtu:
            if wan_mtu > 65535:
                raise ValueError(f"wan_mtu must be within 0..65535, got {wan_mtu}")
            cfg.mtu.wan_mtu = wan_mtu
            cfg.mtu.clamp_mss = clamp_mss
            cfg.mtu.no_icmp = not icmp
            cfg.mtu.no_fragment = not fragment
            sources = ([] if icmp_source is None else [icmp_source]
                       if isinstance(icmp_source, str) else list(icmp_source))
            for text in sources:
                addr = ipaddress.ip_address(text)
                if addr.version == 4:
                    cfg.mtu.has_src4 = 1
                    memcpy(cfg.mtu.src4, <char *>addr.packed, 4)
                else:
                    cfg.mtu.has_src6 = 1
                    memcpy(cfg.mtu.src6, <char *>addr.packed, 16)
        encoder_config_to_c(config, &cfg.fec)
        # The wire session id (docs/fec-format.md): random per stage unless
        # given (e.g. one per queue); drawn here so config can report it.
        if config.session_id is None:
            err = fec_random_session_id(&sid)
            if err < 0:
                raise_errno(err, "cannot draw a random FEC session id")
            cfg.fec.session_id = sid
        sid = cfg.fec.session_id
        self.enc = pd_fec_enc_stage_create(&cfg, pool.ops, pool.pool, &err)
        if self.enc == NULL:
            if err == -errno.EINVAL and wan_mtu:
                raise ValueError(f"wan_mtu {wan_mtu} leaves no room for a LAN frame after "
                                 f"{pd_encap_len(&cfg.encap) + FEC_HDR_LEN} bytes of "
                                 "encapsulation")
            raise_errno(err, "cannot create the FEC encoder stage")
        self.use_pool(pool)
        self._name = "fec-encode"
        pd_fec_enc_stage_mtu(self.enc, &max_frame, &ip_mtu, &mss4)
        code, k, m = config.code, config.k, config.m
        self.fec_config = config
        self.config = dict(opts, code=code, k=k, m=m, depth=config.depth,
                           deadline=config.deadline or 0.0,
                           window=cfg.fec.window if code == "rlc" else None,
                           max_payload=config.max_payload, session_id=sid,
                           overhead_bytes=pd_encap_len(&cfg.encap) + FEC_HDR_LEN,
                           wan_mtu=wan_mtu, max_frame=max_frame, ip_mtu=ip_mtu,
                           mss=mss4, icmp=bool(wan_mtu and icmp),
                           fragment=bool(wan_mtu and fragment),
                           icmp_source=icmp_source)
        pd_fec_enc_stage_bind(self.enc, &self.st)
        self.telemetry = register_fec_enc_stage(self.enc, f"{code}({k},{m})")

    def __dealloc__(self):
        if self.telemetry is not None:
            self.telemetry.close()     # before the counters go
        pd_fec_enc_stage_destroy(self.enc)

    def set_params(self, str code, unsigned int k, unsigned int m, unsigned int depth=1):
        """Switch code, k, m and depth while the pipeline runs (adaptive FEC).

        Taken at the next packet, after the open blocks close with their
        parity.  Thread-safe (one atomic word).

        Parameters
        ----------
        code : str
            ``"rs"`` or ``"xor"`` (a block code).
        k, m : int
            Source and repair packets per block; m within the stage's max_m.
        depth : int, default 1
            Interleaving depth, within the stage's max_depth.

        Raises
        ------
        ValueError
            An unknown code, bad k/m, or beyond max_m / max_depth (an rlc
            stage does not switch).
        """
        if code not in ("rs", "xor"):
            raise ValueError(f"a stage switches between the block codes 'rs' and 'xor', "
                             f"got {code!r}")
        check_code(code, k, m)
        if depth < 1 or pd_fec_enc_stage_set_params(self.enc, code_id(code), k, m, depth) != 0:
            raise ValueError(f"cannot switch to {code}({k},{m}) depth {depth}: beyond "
                             "max_m / max_depth of this stage")

    @property
    def params(self):
        """(code, k, m, depth) in force."""
        cdef int code = 0
        cdef unsigned k = 0, m = 0, depth = 0
        pd_fec_enc_stage_get_params(self.enc, &code, &k, &m, &depth)
        return ("xor" if code == FEC_CODE_XOR else "rs", k, m, depth)

    @property
    def control_counts(self):
        """Link-report control packets sent to the peer, and dropped."""
        cdef uint64_t sent = 0, dropped = 0
        pd_fec_enc_stage_control_counts(self.enc, &sent, &dropped)
        return {"sent": sent, "dropped": dropped}

    @property
    def counters(self):
        """The encoder's counters (dict of str to int), safe to read while it runs.

        ``packets_in``, ``bytes_in`` (what entered the element),
        ``packets_out``, ``bytes_out`` (what left it), ``drops`` (packets it
        freed), ``bursts`` (non-empty bursts processed) and ``time_ns`` (time
        spent inside, ns); the codec's ``source_packets``,
        ``source_bytes``, ``repair_packets``, ``repair_bytes``, ``blocks``
        (closed), ``blocks_partial`` (closed by deadline or flush before k),
        ``no_buffer`` (parity not made: pool empty); and the gateway's
        ``no_headroom``, ``too_big`` (over *max_payload*), ``out_full``
        (output array full), ``mss_clamped``, ``icmp_too_big``,
        ``mtu_dropped``, ``fragmented``, ``fragments``, ``reply_dropped``
        and ``icmp_limited`` (ICMP rate limit).  Dropped frames are counted
        in exactly one of these.
        """
        cdef fec_encoder_stats s
        cdef pd_gateway_counters g
        pd_fec_enc_stage_stats(self.enc, &s, &g)
        d = counters_dict(&self.st.c)
        d.update(source_packets=s.source_packets, source_bytes=s.source_bytes,
                 repair_packets=s.repair_packets, repair_bytes=s.repair_bytes,
                 blocks=s.blocks, blocks_partial=s.blocks_partial, no_buffer=s.no_buffer,
                 no_headroom=g.no_headroom, too_big=g.too_big, out_full=g.out_full,
                 mss_clamped=g.mss_clamped, icmp_too_big=g.icmp_too_big,
                 mtu_dropped=g.mtu_dropped, fragmented=g.fragmented, fragments=g.fragments,
                 reply_dropped=g.reply_dropped, icmp_limited=g.icmp_limited)
        return d


cdef class FecDecodeStage(Stage):
    """Rebuild frames: strip encapsulation, hand originals on at once, rebuild lost ones.

    *max_sessions* (2..4096, max_sessions * max_blocks <= 2**20) sender
    sessions are decoded side by side (docs/fec-format.md, "Sessions").
    Malformed or foreign packets are counted and dropped, never raised.

    Parameters
    ----------
    pool : PacketPool
        The chain's pool; rebuilt frames are allocated from it.
    timeout : float or None, default 0.05
        Seconds after a block's first packet at which an incomplete block
        is given up (its losses counted); 0 or None: never by time.  This
        and the FEC settings below (*max_blocks*, *max_payload*,
        *cache_entries*, *kernel*, *max_sessions*, *measure_window*,
        *report_interval*, *max_symbols*) are
        :class:`pydpdk.fec_config.DecoderConfig`'s, with its names, units,
        defaults and errors.
    max_blocks : int, default 256
        Blocks in flight (all sessions), 1..65536.
    max_payload : int, default 1518
        Largest frame, bytes, 1..65000 (as the encoder's).
    cache_entries : int, default 64
        Decoding matrices cached, 0..65536.
    kernel : str, optional
        GF(2^8) kernel name; None: the fastest this CPU has.
    max_sessions : int, default FEC_DEFAULT_MAX_SESSIONS
        Sender sessions decoded side by side, 2..4096.
    measure_window : float, default 0.0
        Seconds of link measurement (loss, bursts, reordering, recovery
        delay; docs/fec-format.md, "Link report"); 0: off.
    report_interval : float, default 0.1
        Seconds between the link reports this stage publishes.
    send_reports : bool, default False
        Hand each report to the paired encoder stage, which sends it to the
        peer in a control packet (an adaptive tunnel).
    max_symbols : int, optional
        Stored packet copies, 255..2**24; None: ``max(255, 32 * max_blocks)``.
    config : DecoderConfig, optional
        All the FEC settings at once; the FEC keywords above are then
        ignored.
    **encap
        Encapsulation: ``encap`` ("udp" default, "ether", or "none" for a
        UdpPort), ``src_mac``, ``dst_mac`` (default 02:00:00:00:00:01 and
        :02), ``src_ip``, ``dst_ip`` (default 192.0.2.1 and .2; two IPv6
        addresses make an Ethernet/IPv6/UDP outer header, RFC 8200),
        ``src_port``, ``dst_port`` (1..65535, default 4790), ``ethertype``
        (0x0600..0xffff, default 0x88B5) and ``ttl`` (1..255, default 64).
        Packets whose outer header does not match are ``foreign``.

    Raises
    ------
    ValueError
        A parameter out of range, an unknown kernel or encapsulation, or
        ``max_sessions * max_blocks > 2**20``.
    TypeError
        An unknown encapsulation keyword, a FEC setting of the wrong type,
        or a *config* that is not a DecoderConfig.
    FecError
        *kernel* cannot run on this CPU (ENOTSUP).
    PoolError
        *pool* is closed.
    PydpdkError
        The native stage cannot be created (ENOMEM).
    """

    cdef pd_fec_dec_stage *dec
    cdef object replies_of
    cdef readonly object fec_config
    """The FEC settings (:class:`pydpdk.fec_config.DecoderConfig`)."""
    cdef readonly Registration telemetry   # /pydpdk/fec/decoder,<telemetry.id>
    """The telemetry registration (``/pydpdk/fec/decoder,<telemetry.id>``)."""

    def __init__(self, PacketPool pool not None, timeout=0.05, max_blocks=256,
                 max_payload=1518, cache_entries=64, kernel=None,
                 max_sessions=FEC_DEFAULT_MAX_SESSIONS, measure_window=0.0,
                 report_interval=0.1, bint send_reports=False, max_symbols=None,
                 config=None, **encap):
        cdef pd_fec_dec_stage_cfg cfg
        cdef int err = 0
        pool.check_open()
        if config is None:
            config = DecoderConfig(max_payload=max_payload, max_blocks=max_blocks,
                                   max_symbols=max_symbols, timeout=timeout,
                                   cache_entries=cache_entries, kernel=kernel,
                                   max_sessions=max_sessions, measure_window=measure_window,
                                   report_interval=report_interval)
        elif not isinstance(config, DecoderConfig):
            raise TypeError(f"config must be a DecoderConfig, got {type(config).__name__}")
        memset(&cfg, 0, sizeof(cfg))
        fill_encap(&cfg.encap, encap)
        decoder_config_to_c(config, &cfg.fec)
        cfg.report_interval = <uint64_t>(config.report_interval * 1e9)
        cfg.send_reports = send_reports
        self.fec_config = config
        self.dec = pd_fec_dec_stage_create(&cfg, pool.ops, pool.pool, &err)
        if self.dec == NULL:
            raise_errno(err, "cannot create the FEC decoder stage")
        self.use_pool(pool)
        self._name = "fec-decode"
        pd_fec_dec_stage_bind(self.dec, &self.st)
        self.telemetry = register_fec_dec_stage(self.dec, "decoder")

    def link_report(self):
        """(generation, report dict) of this side's newest link measurement
        (published every report_interval), or None before the first."""
        cdef fec_link_report rep
        gen = pd_fec_dec_stage_link_report(self.dec, &rep)
        return None if gen == 0 else (gen, link_report_dict(&rep))

    def peer_report(self):
        """(generation, report dict) of the newest report received from the
        peer in a control packet, or None before the first."""
        cdef fec_link_report rep
        cdef uint32_t sender = 0
        gen = pd_fec_dec_stage_peer_report(self.dec, &rep, &sender)
        if gen == 0:
            return None
        d = link_report_dict(&rep)
        d["sender"] = sender
        return gen, d

    @property
    def control_stats(self):
        """Link reports received: accepted, malformed, old, unknown."""
        cdef fec_control_state st
        pd_fec_dec_stage_control_stats(self.dec, &st)
        return {"accepted": st.accepted, "malformed": st.malformed, "old": st.old,
                "unknown": st.unknown}

    def send_replies_of(self, FecEncodeStage enc):
        """Send *enc*'s ICMP replies (MTU policy) on this stage's output.

        In a tunnel the decoder's output goes towards the LAN the encoder
        reads from.  Call before the pipeline runs.

        Parameters
        ----------
        enc : FecEncodeStage or None
            The encoder to pair with (kept alive while paired); None unpairs.
        """
        pd_fec_stage_pair(enc.enc if enc is not None else NULL, self.dec)
        self.replies_of = enc              # keeps the encoder alive while paired

    def __dealloc__(self):
        if self.telemetry is not None:
            self.telemetry.close()     # before the counters go
        pd_fec_dec_stage_destroy(self.dec)

    @property
    def counters(self):
        """The decoder's counters (dict of str to int), safe to read while it runs.

        ``packets_in``, ``bytes_in`` (what entered the element),
        ``packets_out``, ``bytes_out`` (what left it), ``drops`` (packets it
        freed), ``bursts`` (non-empty bursts processed) and ``time_ns`` (time
        spent inside, ns); the codec's ``received``, ``delivered``
        (originals handed on), ``recovered`` (rebuilt), ``unrecoverable``
        (known lost, not rebuilt), ``duplicate``, ``late``, ``malformed``,
        ``repair_unused``, ``no_buffer`` (rebuilt frames lost: pool empty),
        ``blocks_evicted``, ``blocks_expired``, ``unconfirmed``, ``resyncs``,
        ``control``, ``sessions_opened``, ``sessions_evicted``; and the
        gateway's ``foreign`` (not our encapsulation), ``out_full``,
        ``ecn_marked`` (CE copied to ECT frames), ``ecn_dropped``
        (Not-ECT frames under a CE outer header, RFC 6040) and
        ``bad_checksum`` (IPv6 outer header with a wrong or zero UDP
        checksum, RFC 8200).
        """
        cdef fec_decoder_stats s
        cdef pd_gateway_counters g
        pd_fec_dec_stage_stats(self.dec, &s, &g)
        d = counters_dict(&self.st.c)
        d.update(received=s.received, delivered=s.delivered, recovered=s.recovered,
                 unrecoverable=s.unrecoverable, duplicate=s.duplicate, late=s.late,
                 malformed=s.malformed, repair_unused=s.repair_unused, no_buffer=s.no_buffer,
                 blocks_evicted=s.blocks_evicted, blocks_expired=s.blocks_expired,
                 unconfirmed=s.unconfirmed, resyncs=s.resyncs, control=s.control,
                 sessions_opened=s.sessions_opened, sessions_evicted=s.sessions_evicted,
                 foreign=g.foreign, out_full=g.out_full, ecn_marked=g.ecn_marked,
                 ecn_dropped=g.ecn_dropped, bad_checksum=g.bad_checksum)
        return d
