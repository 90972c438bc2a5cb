"""The FEC tunnel over the kernel's UDP stack: a routed WAN, no MAC configuration.

>>> from pydpdk.udp import UdpPort
>>> with UdpPort("198.51.100.7:4790", pool, bind="0.0.0.0:4790") as wan:
...     wan.start()
...     burst = wan.rx_burst(max_packets=32)   # one packet per datagram payload
...     wan.tx_burst(burst)                    # each packet one datagram to the peer

Every packet is one datagram; its bytes are the UDP payload (one FEC wire
packet in a gateway: encapsulation "none").  Batches move with one
``recvmmsg``/``sendmmsg`` per burst, without the GIL, into and out of any
pool (native buffers or DPDK mbufs).  Routing, ARP/NDP, the WAN MTU (and
fragmentation, unless ``dont_fragment=True``) are the kernel's.

Keepalives (12-byte datagrams, ``PDKA`` + version + instance id) go to the
peer every ``keepalive`` seconds; a peer silent for ``dead_after`` seconds is
``"dead"`` in ``stats()["peer_state"]`` and counted in ``dead_events``.  A
peer that moves (NAT rebinding, roaming) is followed once a datagram from
its new address proves it is the same peer: a keepalive with the instance
id its keepalives had, or a FEC v2 packet of a session id already seen from
the old address.  Anything else from an unknown address is dropped and
counted (``rx_unknown_source``).  See docs/udp-transport.md.
"""

from __future__ import annotations

from .errors import BackendUnavailableError

__all__ = ["PEER_STATES", "UdpPort", "fec_session_id", "format_hostport", "split_hostport"]

try:
    from ._udp import PEER_STATES, UdpPort, fec_session_id, format_hostport, split_hostport
except ImportError as _exc:  # not Linux: the extension is not built
    _reason = str(_exc)

    def __getattr__(name: str) -> object:
        if name in __all__:
            raise BackendUnavailableError(
                f"the UDP socket port is not built here (Linux only): {_reason}"
            )
        raise AttributeError(name)
