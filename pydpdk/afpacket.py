"""Native AF_PACKET port: a Linux network interface without DPDK.

>>> from pydpdk.afpacket import AfPacketPort
>>> with AfPacketPort("veth0") as port:   # needs CAP_NET_RAW
...     port.start()
...     burst = port.rx_burst(max_packets=32)
...     sent = port.tx_burst(burst)
...     burst.free()                      # whatever was not sent

Receive uses a TPACKET_V3 mmap ring; transmit one ``sendmmsg`` per burst
(default: measured faster) or a mapped TX ring (``tx_mode="ring"``).  ``queues=N`` spreads the
interface's traffic over N sockets with PACKET_FANOUT.  The port has the
same methods as every pydpdk port (rx_burst, tx_burst, start, stop, close,
stats, context manager).  ``zero_copy=True`` receives without copying:
packets are views of the ring's frames (pool: ``port.ring``, an
AfPacketRing) and hold their ring block until freed or sent.

Where the extension is not built (not Linux), importing this module works
but using any of its names raises :class:`~pydpdk.errors.BackendUnavailableError`
with the reason.  The classes are documented below.
"""

from __future__ import annotations

from .errors import BackendUnavailableError

__all__ = ["AfPacketPort", "AfPacketRing", "BufferPool", "FANOUT_MODES", "TX_MODES"]

try:
    from ._native import (
        FANOUT_MODES,
        TX_MODES,
        AfPacketPort,
        AfPacketRing,
        BufferPool,
    )

    # MTU and offloads of an interface (the gateway's report; not documented API)
    from ._native import interface_info as interface_info
except ImportError as _exc:  # not Linux: the extension is not built
    _reason = str(_exc)

    def __getattr__(name: str) -> object:
        if name in __all__:
            raise BackendUnavailableError(
                f"the native AF_PACKET backend is not built here (Linux only): {_reason}"
            )
        raise AttributeError(name)
