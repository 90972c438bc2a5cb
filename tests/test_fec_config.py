"""One FEC vocabulary (issue 15): every FEC API validates its settings through
pydpdk.fec_config, so the same bad value gives the same exception and message
from the config, the codec objects, the pipeline stages and the CLI."""

from __future__ import annotations

import errno
import os
import subprocess
import sys

import pytest

from pydpdk import _fec, fec
from pydpdk.errors import FecError
from pydpdk.fec_config import DecoderConfig, EncoderConfig, FecConfigError

BufferPool = pytest.importorskip("pydpdk._native").BufferPool

# (settings, exception, text of the message) the encoder side refuses
BAD_ENCODER = [
    (dict(k=0), FecConfigError, "at least 1"),
    (dict(m=0), FecConfigError, "at least 1"),
    (dict(k=200, m=56), FecConfigError, "k \\+ m must be at most 255"),
    (dict(code="ldpc"), FecConfigError, "unknown FEC code"),
    (dict(code="xor", m=2), FecConfigError, "m == 1"),
    (dict(depth=0), FecConfigError, "depth must be 1..1024"),
    (dict(depth=1025), FecConfigError, "depth must be 1..1024"),
    (dict(max_payload=0), FecConfigError, "max_payload must be 1..65000"),
    (dict(max_payload=_fec.MAX_PAYLOAD + 1), FecConfigError, "max_payload must be 1..65000"),
    (dict(deadline=-0.001), FecConfigError, "deadline must be >= 0"),
    (dict(deadline=float("nan")), FecConfigError, "deadline must be >= 0"),
    (dict(kernel="sse9"), FecConfigError, "unknown FEC kernel"),
    (dict(session_id=0), FecConfigError, "session_id"),
    (dict(session_id=2**32), FecConfigError, "session_id"),
    (dict(window=12), FecConfigError, "window applies to code 'rlc' only"),
    (dict(code="rlc", k=4, window=3), FecConfigError, "window must be k..255"),
    (dict(code="rlc", depth=2), FecConfigError, "rlc: depth must be 1"),
    (dict(max_m=3), FecConfigError, "max_m must be 4..254"),
    (dict(max_depth=2000), FecConfigError, "max_depth must be 1..1024"),
    (dict(k="ten"), TypeError, "k must be an integer"),
    (dict(deadline="5ms"), TypeError, "deadline must be a number"),
]

BAD_DECODER = [
    (dict(max_payload=0), FecConfigError, "max_payload must be 1..65000"),
    (dict(max_payload=65001), FecConfigError, "max_payload must be 1..65000"),
    (dict(max_blocks=0), FecConfigError, "max_blocks must be 1..65536"),
    (dict(timeout=-1.0), FecConfigError, "timeout must be >= 0"),
    (dict(cache_entries=-1), FecConfigError, "cache_entries must be 0..65536"),
    (dict(kernel="sse9"), FecConfigError, "unknown FEC kernel"),
    (dict(max_sessions=1), FecConfigError, "max_sessions must be 2..4096"),
    (dict(max_sessions=4096, max_blocks=257), FecConfigError,
     "max_sessions \\* max_blocks must be at most"),
    (dict(measure_window=-1.0), FecConfigError, "measure_window must be >= 0"),
    (dict(measure_window=1e-6), FecConfigError, "measure_window must be 0"),
    (dict(report_interval=0.0), FecConfigError, "report_interval must be > 0"),
    (dict(max_blocks=1.5), TypeError, "max_blocks must be an integer"),
]


@pytest.fixture
def pool():
    p = BufferPool(capacity=64)
    yield p
    p.close()


def _error(fn, *args, **kwargs):
    with pytest.raises(Exception) as info:
        fn(*args, **kwargs)
    return info.value


@pytest.mark.parametrize(("settings", "error", "match"), BAD_ENCODER,
                         ids=[repr(s) for s, _, _ in BAD_ENCODER])
def test_encoder_settings_rejected_alike_everywhere(pool, settings, error, match):
    from pydpdk.pipeline import FecEncodeStage

    want = _error(EncoderConfig, **settings)
    assert type(want) is error and isinstance(want, (ValueError, TypeError))
    with pytest.raises(error, match=match):
        EncoderConfig(**settings)
    kwargs = dict(settings)
    k, m = kwargs.pop("k", 10), kwargs.pop("m", 4)
    for got in (_error(fec.Encoder, k, m, **kwargs),
                _error(FecEncodeStage, pool, k=k, m=m, **kwargs)):
        assert type(got) is type(want) and str(got) == str(want), (got, want)
    if isinstance(want, FecConfigError):
        assert isinstance(want, ValueError) and want.field


@pytest.mark.parametrize(("settings", "error", "match"), BAD_DECODER,
                         ids=[repr(s) for s, _, _ in BAD_DECODER])
def test_decoder_settings_rejected_alike_everywhere(pool, settings, error, match):
    from pydpdk.pipeline import FecDecodeStage

    with pytest.raises(error, match=match):
        DecoderConfig(**settings)
    want = _error(DecoderConfig, **settings)
    for got in (_error(fec.Decoder, **settings), _error(FecDecodeStage, pool, **settings)):
        assert type(got) is type(want) and str(got) == str(want), (got, want)


def test_kernel_this_cpu_cannot_run_is_fec_error_everywhere(pool):
    from pydpdk.pipeline import FecDecodeStage, FecEncodeStage

    unsupported = [n for n in _fec.kernel_names() if not _fec.kernel_supported(n)]
    if not unsupported:
        pytest.skip("this CPU runs every FEC kernel")
    name = unsupported[0]
    for make in (lambda: EncoderConfig(kernel=name), lambda: DecoderConfig(kernel=name),
                 lambda: fec.Encoder(4, 2, kernel=name), lambda: fec.Decoder(kernel=name),
                 lambda: fec.BlockCodec(4, 2, kernel=name),
                 lambda: FecEncodeStage(pool, kernel=name),
                 lambda: FecDecodeStage(pool, kernel=name)):
        with pytest.raises(FecError) as info:
            make()
        assert info.value.errno == errno.ENOTSUP


def test_one_set_of_names_and_one_converter(pool):
    from pydpdk.pipeline import FecDecodeStage, FecEncodeStage

    enc_cfg = EncoderConfig(k=6, m=2, depth=3, deadline=0.02, max_payload=900, session_id=9)
    stage = FecEncodeStage(pool, config=enc_cfg)
    codec = fec.Encoder(config=enc_cfg)
    assert stage.fec_config is enc_cfg and codec.config is enc_cfg
    assert (codec.k, codec.m, codec.depth, codec.max_payload, codec.session_id) == (6, 2, 3, 900, 9)
    assert stage.config["deadline"] == 0.02 and stage.config["session_id"] == 9
    # the same keywords build the same config in both
    kw = dict(k=6, m=2, depth=3, deadline=0.02, max_payload=900, session_id=9)
    assert FecEncodeStage(pool, **kw).fec_config == enc_cfg == fec.Encoder(**kw).config
    # deadline is the one name; the codec's old 'timeout' keyword maps onto it
    assert fec.Encoder(4, 2, timeout=0.25).config.deadline == 0.25

    dec_cfg = DecoderConfig(max_blocks=32, timeout=0.2, cache_entries=8, max_sessions=3,
                            measure_window=0.5)
    assert FecDecodeStage(pool, config=dec_cfg).fec_config is dec_cfg
    dec = fec.Decoder(config=dec_cfg)
    # one default for stored symbols (it was 16 x max_blocks in the stage, 32 x in the codec)
    assert dec.max_symbols == dec_cfg.effective_max_symbols == 32 * 32
    assert FecDecodeStage(pool, max_blocks=32).fec_config.effective_max_symbols == 32 * 32
    # cache_entries is the one name; cache_size and the millisecond keywords still work
    assert fec.Decoder(cache_size=5).config.cache_entries == 5
    assert fec.BlockCodec(4, 2, cache_entries=0).cache_stats == {"hits": 0, "misses": 0}
    old = fec.Decoder(measure_window_ms=250, feedback_interval_ms=20).config
    assert (old.measure_window, old.report_interval) == (0.25, 0.02)
    assert fec.Decoder(measure_window_ms=None).config.measure_window == 0.0
    with pytest.raises(TypeError, match="EncoderConfig"):
        FecEncodeStage(pool, config=dec_cfg)
    with pytest.raises(TypeError, match="DecoderConfig"):
        fec.Decoder(config=enc_cfg)


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env.pop("PYDPDK_BACKEND", None)
    return subprocess.run([sys.executable, "-m", "pydpdk", *args], capture_output=True,
                          text=True, timeout=60, env=env)


@pytest.mark.parametrize(("options", "settings", "option"), [
    (["-k", "200", "-m", "100"], dict(k=200, m=100), "-m"),
    (["--code", "xor", "-m", "2"], dict(code="xor", m=2), "-m"),
    (["--code", "rlc", "-k", "8", "--window", "5"], dict(code="rlc", k=8, window=5), "--window"),
    (["--code", "rs", "--window", "12"], dict(window=12), "--window"),
    (["--code", "rlc", "--depth", "4"], dict(code="rlc", depth=4), "--depth"),
])
def test_cli_gives_the_config_error(pool, options, settings, option):
    from pydpdk.pipeline import FecEncodeStage

    want = _error(EncoderConfig, **settings)
    assert str(_error(FecEncodeStage, pool, **settings)) == str(want)
    proc = _cli("fec", "encode", "--", "--in", "pcap:rx=a.pcap", "--out", "pcap:tx=b.pcap",
                *options)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines()[-1].endswith(f"{option}: {want}"), proc.stderr


def test_demo_defaults_agree_with_the_cli():
    from pydpdk import cli
    from pydpdk.demo import DemoConfig

    args = cli._demo_parser().parse_args([]) if hasattr(cli, "_demo_parser") else None
    if args is None:      # the demo parser is built inside main(): read its help instead
        proc = _cli("demo", "--help")
        assert proc.returncode == 0
        assert f"({','.join(map(str, DemoConfig().sizes))})" in proc.stdout.replace(" ", "")
    else:
        assert tuple(args.sizes) == DemoConfig().sizes
    cfg = DemoConfig()
    enc = cfg.encoder_config()
    assert enc.max_payload == max(cfg.sizes) and enc.deadline == cfg.deadline


def test_same_defaults_everywhere(pool):
    from pydpdk.gateway import GatewayConfig
    from pydpdk.pipeline import FecDecodeStage, FecEncodeStage

    # (the codec's encoder took 2048 bytes and no deadline, its decoder 64
    # blocks, 0.1 s and 32 x max_blocks symbols against the stage's 16 x)
    assert fec.Encoder().config == EncoderConfig() == FecEncodeStage(pool).fec_config
    gw = GatewayConfig(mode="encode", ports={"in": "a", "out": "b"})
    assert gw.encoder_config() == EncoderConfig() and gw.decoder_config() == DecoderConfig()
    assert FecDecodeStage(pool).fec_config == DecoderConfig()
    # the one difference: a codec object measures its link by default
    assert fec.Decoder().config == DecoderConfig(measure_window=1.0)
