"""Test frames and a dependency-free classic pcap reader/writer for the CLI.

:func:`make_frames` builds Ethernet/IPv4/UDP frames whose IPv4 header and
UDP checksums are correct (RFC 791, RFC 768), so tcpdump and tshark accept
them.  :func:`read_pcap` reads every record of a classic pcap file and
raises :class:`~pydpdk.errors.CaptureFileError` naming the record when one
is cut off or was cut by the snap length, instead of returning it short.
The full readers (pcapng, interfaces, resolutions) are in :mod:`pydpdk.pcap`.
"""

from __future__ import annotations

import errno
import os
import struct
import time
from pathlib import Path

from .errors import CaptureFileError

__all__ = ["internet_checksum", "make_frames", "read_pcap", "write_pcap"]

_MAGICS = {0xA1B2C3D4: 1_000_000, 0xA1B23C4D: 1_000_000_000}
_LINKTYPE_ETHERNET = 1


def internet_checksum(data: bytes) -> int:
    """The 16-bit ones' complement checksum of RFC 1071."""
    if len(data) % 2:
        data += b"\0"
    total: int = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def make_frames(count: int, size: int) -> list[bytes]:
    """*count* distinct Ethernet/IPv4/UDP frames of *size* bytes (46..65535).

    The payload carries the frame's index; IPv4 header and UDP checksums
    are filled in.  ValueError for a size out of range or a negative count.
    """
    if not 46 <= size <= 65535:
        raise ValueError(f"frame size must be between 46 and 65535 bytes, got {size}")
    if count < 0:
        raise ValueError(f"frame count must be >= 0, got {count}")
    frames = []
    payload_len = size - 42
    src, eth = bytes([10, 0, 0, 1]), bytes.fromhex("020000000002" "020000000001" "0800")
    for i in range(count):
        dst = bytes([10, 0, 1, 1 + i % 250])
        payload = (i.to_bytes(4, "big") * (payload_len // 4 + 1))[:payload_len]
        sport, length = 40000 + i % 1000, 8 + payload_len
        pseudo = src + dst + struct.pack("!BBH", 0, 17, length)
        udp_csum = internet_checksum(pseudo + struct.pack("!HHHH", sport, 40999, length, 0)
                                     + payload) or 0xFFFF
        udp = struct.pack("!HHHH", sport, 40999, length, udp_csum) + payload
        ip = bytearray(struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), i & 0xFFFF, 0, 64,
                                   17, 0, src, dst))
        ip[10:12] = internet_checksum(bytes(ip)).to_bytes(2, "big")
        frames.append(eth + bytes(ip) + udp)
    return frames


def write_pcap(path: str | os.PathLike[str], frames: list[bytes]) -> None:
    """Write *frames* as an Ethernet pcap (microsecond timestamps, now)."""
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, _LINKTYPE_ETHERNET))
        now = int(time.time())
        for i, frame in enumerate(frames):
            f.write(struct.pack("<IIII", now, i % 1_000_000, len(frame), len(frame)))
            f.write(frame)


def read_pcap(path: str | os.PathLike[str]) -> list[bytes]:
    """Every frame of a classic pcap file, in order.

    Raises
    ------
    FileNotFoundError, PermissionError, IsADirectoryError
        When the file cannot be read.
    CaptureFileError
        When it is not a pcap file, or a record is cut off or holds fewer
        bytes than the frame had (the message names the record, from 1 as
        tshark numbers them, and its byte offset).
    """
    name = os.fsdecode(path)
    data = Path(path).read_bytes()
    if len(data) < 24:
        raise CaptureFileError(errno.EBADMSG, f"{name}: not a pcap file ({len(data)} bytes)")
    for endian in "<>":
        if struct.unpack_from(endian + "I", data)[0] in _MAGICS:
            break
    else:
        raise CaptureFileError(errno.EBADMSG, f"{name}: not a pcap file (magic "
                                              f"{struct.unpack_from('<I', data)[0]:#010x})")
    frames, offset, number = [], 24, 0
    while offset < len(data):
        number += 1
        if offset + 16 > len(data):
            raise CaptureFileError(errno.EBADMSG, f"{name}: record {number} at byte {offset}: "
                                                  f"header cut off")
        caplen, orig = struct.unpack_from(endian + "II", data, offset + 8)
        if offset + 16 + caplen > len(data):
            raise CaptureFileError(errno.EBADMSG, f"{name}: record {number} at byte {offset}: "
                                                  f"cut off ({len(data) - offset - 16} of "
                                                  f"{caplen} bytes)")
        if caplen < orig:
            raise CaptureFileError(errno.EBADMSG, f"{name}: record {number} at byte {offset}: "
                                                  f"holds {caplen} of {orig} bytes (snap length)")
        frames.append(data[offset + 16:offset + 16 + caplen])
        offset += 16 + caplen
    return frames
