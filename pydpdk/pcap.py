"""Native pcap file port: read pcap/pcapng captures, write pcap, without DPDK.

>>> from pydpdk.pcap import PcapPort
>>> with PcapPort(rx_path="in.pcapng", tx_path="out.pcap") as port:
...     port.start()
...     while not port.done:
...         burst = port.rx_burst()
...         port.tx_burst(burst)

``replay_timing=True`` releases packets at the pace recorded in the file
(``speed`` times faster); ``passes=N`` reads the file N times (0: forever).
Built when libpcap was found (meson feature ``pcap``); otherwise importing
this module works but using :class:`PcapPort` or ``BufferPool`` raises
:class:`~pydpdk.errors.BackendUnavailableError` saying how to get it.
"""

from __future__ import annotations

from .errors import BackendUnavailableError

__all__ = ["BufferPool", "PcapPort"]

try:
    from ._native import BufferPool
    from ._native_pcap import PcapPort
except ImportError as _exc:  # built without libpcap
    _reason = str(_exc)

    def __getattr__(name: str) -> object:
        if name in __all__:
            raise BackendUnavailableError(
                "the pcap file backend is not built here (needs libpcap: install "
                f"libpcap-dev and rebuild with -Dpcap=enabled): {_reason}"
            )
        raise AttributeError(name)
