"""Secure mode of the FEC wire format: keys, sealing and opening.

Every FEC packet (source and repair) travels inside a *secure envelope*
(docs/secure-format.md): a 24-byte clear header (version, type, key id,
AEAD, session id, epoch, packet counter), the inner plain v2 packet
encrypted, and a 16-byte tag.  The AEAD (RFC 5116) is AES-256-GCM (NIST SP
800-38D; Intel ipsec-mb with AES-NI/VAES/AVX-512 when built in, else OpenSSL)
or ChaCha20-Poly1305 (RFC 8439, OpenSSL); per-session keys are derived with
HKDF-SHA256 (RFC 5869) from a master key of the key file; an RFC 4303 §3.4.3
sliding window (``WINDOW`` = 2048 packets per session) drops replays; an
authenticated epoch, newer than the last one accepted for that key id and
remembered in a state file, stops a recorded old session from being replayed
after a restart.  Nothing unauthenticated reaches the FEC decoder: the open
stage runs before it and drops (and counts by reason) whatever fails.

Key file (text, mode 0600, written by ``pydpdk keygen``)::

    pydpdk-keys 1
    key 1 <base64 of 32 bytes>      # previous
    key 2 <base64 of 32 bytes>      # newest: the one senders seal with

Rotation: ``pydpdk keygen --rotate FILE`` adds a key and keeps the previous
one.  Receivers accept every key in their file; senders seal with the newest.
Grace period: an old key stays accepted until it is removed from the file
(the next rotation), so rotate the receivers' file first, or both sides
within the time the old key is kept: traffic is lost only between a sender's
switch and its receiver's reload.  :meth:`KeyFile.changed` and
:meth:`SealStage.reload` / :meth:`OpenStage.reload` let a gateway reload on
SIGHUP or when the file's mtime changes.
"""

from __future__ import annotations

import base64
import binascii
import errno
import os
import secrets
import stat
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Union

from ._pipeline import ExternalStage
from .errors import PydpdkError

_IMPORT_ERROR: ImportError | None = None
try:
    from . import _secure
except ImportError as _exc:  # built without libcrypto
    _secure = None  # type: ignore[assignment]
    _IMPORT_ERROR = _exc

__all__ = [
    "AVAILABLE",
    "SecureError",
    "KeyFileError",
    "KeyFile",
    "Sealer",
    "Opener",
    "SealStage",
    "OpenStage",
    "session_key",
    "info",
    "state_path_for",
]

AVAILABLE = _secure is not None
#: Bytes the envelope adds: 24 clear header + 16 tag.
OVERHEAD = 40
#: Replay window, packets per session (RFC 4303 asks for >= 32; issue: >= 1024).
WINDOW = 2048
KEY_LEN = 32
MAX_KEYS = 2
_MAGIC = "pydpdk-keys 1"
_FEC_ENCAP_KEYS = {"src_mac", "dst_mac", "src_ip", "dst_ip", "src_port", "ttl", "dscp"}


class SecureError(PydpdkError):
    """The secure mode cannot be used (built without libcrypto, bad state file)."""


class KeyFileError(SecureError):
    """A key file is missing, malformed, or readable by group/others."""


def _need() -> Any:
    if _secure is None:
        raise SecureError(errno.ENOTSUP, "pydpdk was built without OpenSSL libcrypto: the "
                          f"secure mode is unavailable ({_IMPORT_ERROR}); install libssl-dev "
                          "and rebuild")
    return _secure


def info() -> str:
    """One line: the crypto libraries and CPU paths in use (``pydpdk info``).

    Returns
    -------
    str
        E.g. the OpenSSL version and the AES-GCM implementation chosen;
        ``"not built (no OpenSSL libcrypto)"`` without the secure mode.
    """
    if _secure is None:
        return "not built (no OpenSSL libcrypto)"
    return str(_secure.info())


def session_key(master: bytes, session_id: int, epoch: int) -> bytes:
    """The 32-byte session key, as sender and receiver derive it.

    HKDF-SHA256 (RFC 5869) with IKM = *master*, salt = session id (4 bytes
    big-endian) || epoch (8 bytes big-endian), info ``"pydpdk fec v2
    session"`` (docs/secure-format.md).

    Parameters
    ----------
    master : bytes
        A master key of the key file, 32 bytes.
    session_id : int
        FEC session id, 32 bits.
    epoch : int
        Session epoch, 64 bits (the sender's wall clock in ns at session
        start).

    Returns
    -------
    bytes
        The 32-byte AEAD key of that session.

    Raises
    ------
    ValueError
        *master* is not 32 bytes.
    OverflowError
        *session_id* or *epoch* does not fit its width.
    SecureError
        pydpdk was built without libcrypto (ENOTSUP).
    PydpdkError
        HKDF failed in libcrypto (EIO).
    """
    return bytes(_need().session_key(master, session_id, epoch))


def state_path_for(key_path: str | os.PathLike[str]) -> Path:
    """Where the receiver's epoch state lives: beside the key file.

    Parameters
    ----------
    key_path : str or os.PathLike
        The key file.

    Returns
    -------
    pathlib.Path
        ``<key_path>.state``.
    """
    return Path(f"{os.fspath(key_path)}.state")


class KeyFile:
    """The master keys of a key file: ``keys`` is [(id, 32 bytes)], oldest first;
    the last one is :attr:`current`, the key senders seal with.

    Not thread-safe (a value object; :meth:`save` writes atomically).

    Parameters
    ----------
    keys : sequence of (int, bytes)
        1 or 2 ``(key id, key)`` pairs, oldest first; ids distinct in
        1..255, keys 32 bytes.
    path : pathlib.Path, optional
        The file the keys were read from or saved to.
    mtime_ns : int, default 0
        Its modification time in ns when read (see :meth:`changed`).

    Raises
    ------
    KeyFileError
        Not 1 or 2 keys, ids not distinct or out of range, or a key not 32
        bytes (EINVAL).
    """

    def __init__(self, keys: Sequence[tuple[int, bytes]], path: Path | None = None,
                 mtime_ns: int = 0) -> None:
        keys = [(int(i), bytes(k)) for i, k in keys]
        if not 1 <= len(keys) <= MAX_KEYS:
            raise KeyFileError(errno.EINVAL, f"a key file holds 1..{MAX_KEYS} keys "
                               f"(current and previous), got {len(keys)}")
        ids = [i for i, _ in keys]
        if len(set(ids)) != len(ids) or not all(1 <= i <= 255 for i in ids):
            raise KeyFileError(errno.EINVAL, f"key ids must be distinct, within 1..255: {ids}")
        if any(len(k) != KEY_LEN for _, k in keys):
            raise KeyFileError(errno.EINVAL, f"keys are {KEY_LEN} bytes")
        self.keys = keys
        self.path = path
        self.mtime_ns = mtime_ns

    def __repr__(self) -> str:
        return f"<KeyFile {self.path} ids={[i for i, _ in self.keys]}>"

    @property
    def current(self) -> tuple[int, bytes]:
        """(id, key) senders seal with: the newest key."""
        return self.keys[-1]

    @property
    def ids(self) -> list[int]:
        """Key ids, oldest first (list of int)."""
        return [i for i, _ in self.keys]

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> KeyFile:
        """Read and check a key file.

        Parameters
        ----------
        path : str or os.PathLike
            The key file; its mode must give group and others no access.

        Returns
        -------
        KeyFile
            Its keys, with *path* and its mtime.

        Raises
        ------
        KeyFileError
            The file cannot be read (its errno), is not a regular file,
            gives group/others access (EPERM), is not ASCII, or is
            malformed (EINVAL; the message names the line).
        """
        p = Path(path)
        try:
            fd = os.open(p, os.O_RDONLY | os.O_CLOEXEC | getattr(os, "O_NOFOLLOW", 0))
        except OSError as exc:
            raise KeyFileError(exc.errno or errno.EIO, f"cannot read key file {p}: "
                               f"{exc.strerror}") from exc
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                raise KeyFileError(errno.EINVAL, f"key file {p} is not a regular file")
            if st.st_mode & 0o077:
                raise KeyFileError(errno.EPERM, f"key file {p} has mode "
                                   f"{stat.S_IMODE(st.st_mode):04o}: readable by group or "
                                   f"others; run 'chmod 600 {p}'")
            with os.fdopen(os.dup(fd), "r", encoding="ascii", errors="strict") as f:
                text = f.read(65536)
        except UnicodeDecodeError as exc:
            raise KeyFileError(errno.EINVAL, f"key file {p} is not ASCII text") from exc
        finally:
            os.close(fd)
        lines = [ln.split("#", 1)[0].strip() for ln in text.splitlines()]
        lines = [ln for ln in lines if ln]
        if not lines or lines[0] != _MAGIC:
            raise KeyFileError(errno.EINVAL, f"key file {p}: first line must be {_MAGIC!r}")
        keys = []
        for n, ln in enumerate(lines[1:], 2):
            parts = ln.split()
            try:
                if len(parts) != 3 or parts[0] != "key":
                    raise ValueError
                kid = int(parts[1])
                key = base64.b64decode(parts[2], validate=True)
            except (ValueError, binascii.Error):
                raise KeyFileError(errno.EINVAL, f"key file {p}: line {n} is not "
                                   "'key <id> <base64 of 32 bytes>'") from None
            keys.append((kid, key))
        try:
            return cls(keys, p, st.st_mtime_ns)
        except KeyFileError as exc:
            raise KeyFileError(errno.EINVAL, f"key file {p}: {exc.strerror}") from None

    def changed(self) -> bool:
        """Whether the file on disk has another mtime than when loaded.

        Returns
        -------
        bool
            True if the file changed since :meth:`load` or :meth:`save`;
            False without a path or when it cannot be stat'ed.
        """
        if self.path is None:
            return False
        try:
            return os.stat(self.path).st_mtime_ns != self.mtime_ns
        except OSError:
            return False

    def save(self, path: str | os.PathLike[str], *, force: bool = False) -> None:
        """Write atomically (temporary file, fsync, rename) with mode 0600.

        Sets ``path`` and ``mtime_ns`` to the new file's.

        Parameters
        ----------
        path : str or os.PathLike
            Where to write.
        force : bool, default False
            Replace an existing regular file (anything else is never
            replaced: a device, FIFO, directory or symlink).

        Raises
        ------
        KeyFileError
            The file exists without *force* (EEXIST), is not a regular file
            (EINVAL), its directory does not exist (ENOENT), or writing
            failed (its errno; no key material is left behind).
        """
        p = Path(path)
        if os.path.lexists(p):
            if not force:
                raise KeyFileError(errno.EEXIST, f"{p} exists: pass --force to overwrite")
            mode = os.lstat(p).st_mode
            if not stat.S_ISREG(mode):
                raise KeyFileError(errno.EINVAL, f"{p} is not a regular file: refusing to "
                                   "replace it with a key file")
        if not p.parent.is_dir():
            raise KeyFileError(errno.ENOENT, f"cannot write {p}: directory {p.parent} "
                               "does not exist")
        body = _MAGIC + "\n" + "".join(
            f"key {i} {base64.b64encode(k).decode()}\n" for i, k in self.keys)
        tmp = p.with_name(f".{p.name}.{os.getpid()}.tmp")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        except OSError as exc:
            raise KeyFileError(exc.errno or errno.EIO, f"cannot write {p}: {exc.strerror}") \
                from None
        try:
            try:
                os.fchmod(fd, 0o600)
                os.write(fd, body.encode())
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(tmp, p)
        except BaseException as exc:       # no key material left behind
            tmp.unlink(missing_ok=True)
            if isinstance(exc, OSError):
                raise KeyFileError(exc.errno or errno.EIO,
                                   f"cannot write {p}: {exc.strerror}") from None
            raise
        self.path = p
        self.mtime_ns = os.stat(p).st_mtime_ns

    @classmethod
    def generate(cls, path: str | os.PathLike[str], *, force: bool = False) -> KeyFile:
        """A new key file with one random key (id 1) from the OS CSPRNG.

        Parameters
        ----------
        path : str or os.PathLike
            Where to write it (mode 0600).
        force : bool, default False
            Replace an existing regular file.

        Returns
        -------
        KeyFile
            The new keys.

        Raises
        ------
        KeyFileError
            As :meth:`save`.
        """
        kf = cls([(1, secrets.token_bytes(KEY_LEN))])
        kf.save(path, force=force)
        return kf

    @classmethod
    def rotate(cls, path: str | os.PathLike[str]) -> KeyFile:
        """Add a new random key (next id) and keep only the previous newest one.

        Parameters
        ----------
        path : str or os.PathLike
            An existing key file, rewritten atomically.

        Returns
        -------
        KeyFile
            The rotated keys: ``[previous newest, new]``.

        Raises
        ------
        KeyFileError
            As :meth:`load` and :meth:`save`.
        """
        old = cls.load(path)
        new_id = old.current[0] % 255 + 1
        kf = cls([old.current, (new_id, secrets.token_bytes(KEY_LEN))])
        kf.save(path, force=True)
        return kf


KeysLike = Union[KeyFile, str, "os.PathLike[str]", Iterable[tuple[int, bytes]]]


def _keyfile(keys: KeysLike) -> KeyFile:
    if isinstance(keys, KeyFile):
        return keys
    if isinstance(keys, (str, os.PathLike)):
        return KeyFile.load(keys)
    return KeyFile(list(keys))


def Sealer(keys: KeysLike, *, aead: str = "aes-256-gcm", impl: str = "auto",
           session_id: int = 0, epoch: int = 0) -> Any:
    """A plain-buffer sealer on the newest key of *keys*: ``.seal(inner) -> bytes``.

    The object also has ``rekey(key_id, key)``, ``state`` and ``stats``
    (see :class:`SealStage`); not thread-safe.

    Parameters
    ----------
    keys : KeyFile or str or os.PathLike or iterable of (int, bytes)
        The keys, a key file to load, or ``(key id, 32-byte key)`` pairs.
    aead : {"aes-256-gcm", "chacha20-poly1305"}
        The AEAD (RFC 5116; AES-GCM: NIST SP 800-38D, ChaCha20-Poly1305:
        RFC 8439).
    impl : {"auto", "ipsec-mb", "openssl"}
        Crypto library; "auto" takes ipsec-mb for AES-GCM when built in.
    session_id : int, default 0
        Session id of every envelope; 0 follows each inner v2 packet's.
    epoch : int, default 0
        Epoch of every envelope; 0 takes the wall clock (ns) at each
        session start.

    Returns
    -------
    pydpdk._secure.Sealer
        The sealer; ``seal(inner)`` returns ``len(inner) + 40`` bytes.

    Raises
    ------
    KeyFileError
        *keys* cannot be loaded or is malformed.
    ValueError
        Unknown *aead* or *impl*.
    SecureError
        Built without libcrypto (ENOTSUP).
    PydpdkError
        *impl* does not provide *aead* in this build (ENOTSUP).
    """
    kid, key = _keyfile(keys).current
    return _need().Sealer(key, kid, aead, impl, session_id, epoch)


def Opener(keys: KeysLike, *, aead: str = "aes-256-gcm", impl: str = "auto",
           max_sessions: int = 16, derive_per_ms: int = 8, check_inner: bool = True,
           state_path: str | os.PathLike[str] | None = None) -> Any:
    """A plain-buffer opener accepting every key of *keys*.

    ``.open(packet) -> (verdict, inner | None)``: verdict ``"ok"`` with the
    inner packet, or the drop reason with None (see :class:`OpenStage`).
    Not thread-safe.

    Parameters
    ----------
    keys : KeyFile or str or os.PathLike or iterable of (int, bytes)
        The keys, a key file to load, or ``(key id, 32-byte key)`` pairs.
    aead : {"aes-256-gcm", "chacha20-poly1305"}
        The AEAD, as the sender's.
    impl : {"auto", "ipsec-mb", "openssl"}
        Crypto library.
    max_sessions : int, default 16
        Size of the session table, 1..4096.
    derive_per_ms : int, default 8
        Most HKDF derivations for unknown sessions per millisecond.
    check_inner : bool, default True
        Require the inner packet to be v2 with the envelope's session id.
    state_path : str or os.PathLike, optional
        File keeping the last accepted epoch per key id across restarts
        (None: none).

    Returns
    -------
    pydpdk._secure.Opener
        The opener.

    Raises
    ------
    KeyFileError
        *keys* cannot be loaded or is malformed.
    ValueError
        Unknown *aead* or *impl*, or *max_sessions* out of range.
    SecureError
        Built without libcrypto (ENOTSUP).
    PydpdkError
        *state_path* is not a state file (EINVAL), or *impl* does not
        provide *aead* (ENOTSUP).
    """
    kf = _keyfile(keys)
    return _need().Opener(kf.keys, aead, impl, max_sessions, derive_per_ms, check_inner,
                          None if state_path is None else os.fspath(state_path))


def _outer(encap: dict[str, Any]) -> tuple[str, int, int]:
    unknown = set(encap) - {"encap", "dst_port", "ethertype"} - _FEC_ENCAP_KEYS
    if unknown:
        raise TypeError(f"unknown encapsulation option(s): {', '.join(sorted(unknown))}")
    return (str(encap.get("encap", "udp")), int(encap.get("dst_port", 0)),
            int(encap.get("ethertype") or 0x88B5))


class SealStage(ExternalStage):
    """Pipeline stage after the FEC encoder: seals each FEC packet in place.

    *pool*: the chain's packet pool.  *keys*: KeyFile, key file path or
    [(id, key)]; sealing uses the newest.  *aead* "aes-256-gcm" (default) or
    "chacha20-poly1305"; *impl* "auto" | "ipsec-mb" | "openssl".
    *session_id* 0 follows the inner v2 packet's session id (offset 12);
    *epoch* 0 = wall clock (ns) at each session start.  Encapsulation
    keywords as the FEC stages' (``encap`` "udp" | "ether" | "none"; the others
    are accepted and ignored): the envelope goes after the outer header, whose
    IPv4/UDP lengths are rewritten.  Packets need 24 bytes of headroom and 16
    of tailroom (counted ``no_room`` and dropped otherwise).  Runs GIL-free
    in the pipeline's loop; :meth:`reload` may be called from another thread.

    Parameters
    ----------
    pool : PacketPool
        The chain's packet pool.
    keys : KeyFile or str or os.PathLike or iterable of (int, bytes)
        The keys, a key file to load, or ``(key id, 32-byte key)`` pairs.
    aead : {"aes-256-gcm", "chacha20-poly1305"}
        The AEAD.
    impl : {"auto", "ipsec-mb", "openssl"}
        Crypto library.
    session_id : int, default 0
        0 follows each inner packet's session id.
    epoch : int, default 0
        0: wall clock (ns) at each session start.
    **encap
        Encapsulation keywords as the FEC stages': ``encap`` ("udp",
        "ether" or "none"), ``dst_port``, ``ethertype``; ``src_mac``,
        ``dst_mac``, ``src_ip``, ``dst_ip``, ``src_port``, ``ttl`` and
        ``dscp`` are accepted and ignored.

    Raises
    ------
    TypeError
        An unknown encapsulation keyword.
    KeyFileError
        *keys* cannot be loaded or is malformed.
    ValueError
        Unknown *aead*, *impl* or encapsulation, or a port/ethertype out of
        range.
    SecureError
        Built without libcrypto (ENOTSUP).
    PydpdkError
        *impl* does not provide *aead*, or the native stage cannot be made.
    """

    def __init__(self, pool: Any, keys: KeysLike, *, aead: str = "aes-256-gcm",
                 impl: str = "auto", session_id: int = 0, epoch: int = 0,
                 **encap: Any) -> None:
        kind, dst_port, ethertype = _outer(encap)
        self.keyfile = _keyfile(keys)
        kid, key = self.keyfile.current
        self.sealer = _need().Sealer(key, kid, aead, impl, session_id, epoch)
        self._handle = self.sealer.stage(pool, kind, 0, ethertype)
        super().__init__(self._handle.capsule(), self._handle, pool, "secure-seal")

    def reload(self, keys: KeysLike | None = None) -> bool:
        """Seal with the newest key of *keys* from the next packet on (new epoch).

        Safe while the pipeline runs (e.g. on SIGHUP).

        Parameters
        ----------
        keys : KeyFile or str or os.PathLike or iterable of (int, bytes), optional
            The new keys; None rereads the key file the stage was made from.

        Returns
        -------
        bool
            True if the sealing key changed.

        Raises
        ------
        KeyFileError
            The keys cannot be loaded or are malformed.
        """
        kf = _keyfile(keys if keys is not None else self.keyfile.path)  # type: ignore[arg-type]
        changed = kf.current != self.keyfile.current
        if changed:
            self.sealer.rekey(*kf.current)
        self.keyfile = kf
        return changed

    @property
    def counters(self) -> dict[str, int]:
        """The stage's counters (dict of str to int), read while it runs.

        The pipeline's per-element keys (``packets_in``, ``bytes_in``,
        ``packets_out``, ``bytes_out``, ``drops``, ``bursts``, ``time_ns``),
        the sealer's ``sealed`` (packets), ``bytes`` (inner bytes sealed),
        ``sessions`` (sessions started), ``malformed`` (not a v2 packet:
        dropped), ``rekeys``, and the stage's ``foreign`` (outer header not
        ours: dropped) and ``no_room`` (no 24 bytes headroom / 16 tailroom:
        dropped).
        """
        d = dict(super().counters)
        d.update(self.sealer.stats)
        d.update(foreign=self._handle.foreign, no_room=self._handle.no_room)
        return d


class OpenStage(ExternalStage):
    """Pipeline stage before the FEC decoder: verifies, drops and decrypts.

    Accepts every key of *keys*.  Per packet: clear-header checks, key id,
    epoch rule for a new (session, epoch) (newer than the last accepted for
    that key id, remembered in *state_path*; default beside the key file when
    *keys* is a file, ``False`` for none), HKDF derivation (at most
    *derive_per_ms* per millisecond), tag, replay window.  Drops are counted
    by reason in :attr:`counters` (malformed, unknown_key, bad_tag, replayed,
    too_old, stale_epoch, rate_limited; ``foreign`` = not our outer header).
    Encapsulation keywords as :class:`SealStage`; ``dst_port`` (UDP) and
    ``ethertype`` select what is ours.  Runs GIL-free in the pipeline's loop;
    :meth:`reload` may be called from another thread.  Replay window: RFC
    4303 section 3.4.3, ``WINDOW`` packets per session.

    Parameters
    ----------
    pool : PacketPool
        The chain's packet pool.
    keys : KeyFile or str or os.PathLike or iterable of (int, bytes)
        The keys, a key file to load, or ``(key id, 32-byte key)`` pairs.
    aead : {"aes-256-gcm", "chacha20-poly1305"}
        The AEAD, as the sender's.
    impl : {"auto", "ipsec-mb", "openssl"}
        Crypto library.
    state_path : str or os.PathLike or bool, optional
        Epoch state file; None: ``state_path_for(key file)`` when *keys* is
        a file, else none; False: none.
    max_sessions : int, default 16
        Size of the session table, 1..4096.
    derive_per_ms : int, default 8
        Most HKDF derivations for unknown sessions per millisecond.
    check_inner : bool, default True
        Require the inner packet to be v2 with the envelope's session id.
    **encap
        Encapsulation keywords as the FEC stages': ``encap`` ("udp",
        "ether" or "none"), ``dst_port``, ``ethertype``; ``src_mac``,
        ``dst_mac``, ``src_ip``, ``dst_ip``, ``src_port``, ``ttl`` and
        ``dscp`` are accepted and ignored.

    Raises
    ------
    TypeError
        An unknown encapsulation keyword.
    KeyFileError
        *keys* cannot be loaded or is malformed.
    ValueError
        Unknown *aead*, *impl* or encapsulation, or a parameter out of
        range.
    SecureError
        Built without libcrypto (ENOTSUP).
    PydpdkError
        The state file is not one (EINVAL), *impl* does not provide *aead*,
        or the native stage cannot be made.
    """

    def __init__(self, pool: Any, keys: KeysLike, *, aead: str = "aes-256-gcm",
                 impl: str = "auto", state_path: str | os.PathLike[str] | None | bool = None,
                 max_sessions: int = 16, derive_per_ms: int = 8, check_inner: bool = True,
                 **encap: Any) -> None:
        kind, dst_port, ethertype = _outer(encap)
        self.keyfile = _keyfile(keys)
        if state_path is None and self.keyfile.path is not None:
            state_path = state_path_for(self.keyfile.path)
        sp = None if state_path in (None, False) else os.fspath(state_path)  # type: ignore[arg-type]
        self.opener = _need().Opener(self.keyfile.keys, aead, impl, max_sessions,
                                     derive_per_ms, check_inner, sp)
        self._handle = self.opener.stage(pool, kind, dst_port, ethertype)
        super().__init__(self._handle.capsule(), self._handle, pool, "secure-open")

    def reload(self, keys: KeysLike | None = None) -> bool:
        """Accept the keys of *keys* from the next packet on.

        Safe while the pipeline runs (e.g. on SIGHUP).

        Parameters
        ----------
        keys : KeyFile or str or os.PathLike or iterable of (int, bytes), optional
            The new keys; None rereads the key file the stage was made from.

        Returns
        -------
        bool
            True if the set of keys changed.

        Raises
        ------
        KeyFileError
            The keys cannot be loaded or are malformed.
        """
        kf = _keyfile(keys if keys is not None else self.keyfile.path)  # type: ignore[arg-type]
        changed = kf.keys != self.keyfile.keys
        if changed:
            self.opener.set_keys(kf.keys)
        self.keyfile = kf
        return changed

    @property
    def counters(self) -> dict[str, int]:
        """The stage's counters (dict of str to int), read while it runs.

        The pipeline's per-element keys (``packets_in``, ``bytes_in``,
        ``packets_out``, ``bytes_out``, ``drops``, ``bursts``, ``time_ns``),
        the opener's ``opened`` (packets), ``bytes`` (inner bytes),
        ``sessions``, ``derivations`` (HKDF runs), ``state_saves``,
        ``state_errors``, one count per drop reason (``malformed``,
        ``unknown_key``, ``bad_tag``, ``replayed``, ``too_old``,
        ``stale_epoch``, ``rate_limited``), and the stage's ``foreign``
        (outer header not ours: dropped) and ``out_full`` (no room in the
        output: dropped).
        """
        d = dict(super().counters)
        d.update(self.opener.stats)
        d.update(foreign=self._handle.foreign, out_full=self._handle.no_room)
        return d
