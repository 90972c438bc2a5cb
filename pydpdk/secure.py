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
    """One line: the crypto libraries and CPU paths in use (``pydpdk info``)."""
    if _secure is None:
        return "not built (no OpenSSL libcrypto)"
    return str(_secure.info())


def session_key(master: bytes, session_id: int, epoch: int) -> bytes:
    """The 32-byte session key: HKDF-SHA256 (RFC 5869), IKM = *master*, salt =
    session id (4 bytes BE) || epoch (8 bytes BE), info "pydpdk fec v2 session"."""
    return bytes(_need().session_key(master, session_id, epoch))


def state_path_for(key_path: str | os.PathLike[str]) -> Path:
    """Where the receiver's epoch state lives: beside the key file (``FILE.state``)."""
    return Path(f"{os.fspath(key_path)}.state")


class KeyFile:
    """The master keys of a key file: ``keys`` is [(id, 32 bytes)], oldest first;
    the last one is :attr:`current`, the key senders seal with.

    Raises :class:`KeyFileError` (missing, malformed, more than two keys,
    readable by group or others) from :meth:`load`.
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
        return [i for i, _ in self.keys]

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> KeyFile:
        """Read and check a key file (mode must not give group/others any access)."""
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
        """True when the file on disk has another mtime than when loaded."""
        if self.path is None:
            return False
        try:
            return os.stat(self.path).st_mtime_ns != self.mtime_ns
        except OSError:
            return False

    def save(self, path: str | os.PathLike[str], *, force: bool = False) -> None:
        """Write atomically with mode 0600; refuses to replace a file unless
        *force*, and never replaces anything but a regular file (a device,
        FIFO, directory or symlink target is refused: KeyFileError)."""
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
        """A new key file with one random key (id 1) from the OS CSPRNG."""
        kf = cls([(1, secrets.token_bytes(KEY_LEN))])
        kf.save(path, force=force)
        return kf

    @classmethod
    def rotate(cls, path: str | os.PathLike[str]) -> KeyFile:
        """Add a new random key (next id) and keep only the previous newest one."""
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
    """A plain-buffer sealer on the newest key of *keys* (KeyFile, path or
    [(id, key)]): ``.seal(inner) -> bytes``.  See :class:`SealStage` for the
    parameters."""
    kid, key = _keyfile(keys).current
    return _need().Sealer(key, kid, aead, impl, session_id, epoch)


def Opener(keys: KeysLike, *, aead: str = "aes-256-gcm", impl: str = "auto",
           max_sessions: int = 16, derive_per_ms: int = 8, check_inner: bool = True,
           state_path: str | os.PathLike[str] | None = None) -> Any:
    """A plain-buffer opener accepting every key of *keys*:
    ``.open(packet) -> (verdict, inner | None)``.  See :class:`OpenStage`."""
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
    of tailroom (counted ``no_room`` and dropped otherwise).
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
        """Seal with the newest key of *keys* (default: reread the key file);
        True if the sealing key changed.  Safe while the pipeline runs."""
        kf = _keyfile(keys if keys is not None else self.keyfile.path)  # type: ignore[arg-type]
        changed = kf.current != self.keyfile.current
        if changed:
            self.sealer.rekey(*kf.current)
        self.keyfile = kf
        return changed

    @property
    def counters(self) -> dict[str, int]:
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
    ``ethertype`` select what is ours.
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
        """Accept the keys of *keys* (default: reread the key file) from the
        next packet on; True if the set changed.  Safe while the pipeline runs."""
        kf = _keyfile(keys if keys is not None else self.keyfile.path)  # type: ignore[arg-type]
        changed = kf.keys != self.keyfile.keys
        if changed:
            self.opener.set_keys(kf.keys)
        self.keyfile = kf
        return changed

    @property
    def counters(self) -> dict[str, int]:
        d = dict(super().counters)
        d.update(self.opener.stats)
        d.update(foreign=self._handle.foreign, out_full=self._handle.no_room)
        return d
