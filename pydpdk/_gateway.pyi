"""Type stubs for pydpdk._gateway (the FEC stages)."""

from collections.abc import Sequence
from typing import Any

from ._burst import PacketPool
from ._pipeline import Stage
from ._telemetry import Registration
from .fec_config import DecoderConfig, EncoderConfig

ENCAP_DEFAULTS: dict[str, Any]

class FecEncodeStage(Stage):
    config: dict[str, Any]
    @property
    def fec_config(self) -> EncoderConfig: ...
    @property
    def telemetry(self) -> Registration: ...
    def __init__(
        self,
        pool: PacketPool,
        code: str = "rs",
        k: int = 10,
        m: int = 4,
        depth: int = 1,
        deadline: float | None = 0.005,
        max_payload: int = 1518,
        kernel: str | None = None,
        session_id: int | None = None,
        wan_mtu: int = 0,
        clamp_mss: bool = True,
        icmp: bool = True,
        fragment: bool = True,
        icmp_source: str | Sequence[str] | None = None,
        max_m: int | None = None,
        max_depth: int | None = None,
        window: int | None = None,
        config: EncoderConfig | None = None,
        **encap: Any,
    ) -> None: ...
    def set_params(self, code: str, k: int, m: int, depth: int = 1) -> None: ...
    @property
    def params(self) -> tuple[str, int, int, int]: ...
    @property
    def control_counts(self) -> dict[str, int]: ...

class FecDecodeStage(Stage):
    @property
    def fec_config(self) -> DecoderConfig: ...
    @property
    def telemetry(self) -> Registration: ...
    def __init__(
        self,
        pool: PacketPool,
        timeout: float | None = 0.05,
        max_blocks: int = 256,
        max_payload: int = 1518,
        cache_entries: int = 64,
        kernel: str | None = None,
        max_sessions: int = 8,
        measure_window: float = 0.0,
        report_interval: float = 0.1,
        send_reports: bool = False,
        max_symbols: int | None = None,
        config: DecoderConfig | None = None,
        **encap: Any,
    ) -> None: ...
    def link_report(self) -> tuple[int, dict[str, Any]] | None: ...
    def peer_report(self) -> tuple[int, dict[str, Any]] | None: ...
    @property
    def control_stats(self) -> dict[str, int]: ...
    def send_replies_of(self, enc: FecEncodeStage | None) -> None: ...
