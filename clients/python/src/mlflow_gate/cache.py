"""The token cache: one JSON file per gate, holding a login per user, in the config folder.

Layout (``mlflow-gate-login status`` prints the folder)::

    <config folder>/mlflow-gate/tokens/https_gate.example.com.json    logins to one gate
    <config folder>/mlflow-gate/tokens/https_gate.example.com.lock    taken while one changes

The folder is 0700 and each file 0600; files are replaced atomically (write a temporary file,
rename it), so a reader never sees half a file. Whoever changes a gate's logins (a refresh, a
login, a logout) holds the gate's lock: an exclusive ``flock`` on the lock file, which serialises
processes, plus a lock per file within this process, which serialises threads (two threads
flocking separately opened files would also exclude each other, but the process lock spares the
file system the contention). Readers take no lock.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import sys
import tempfile
import threading
from pathlib import Path
from typing import Iterator

from .errors import MlflowGateError

FORMAT = 1

# Locking is what makes refreshes safe across threads and processes; the tests turn it off to
# show that their race really is one. Nothing else should.
LOCKING = True

_thread_locks: dict[str, threading.Lock] = {}
_thread_locks_guard = threading.Lock()


def config_dir() -> Path:
    """MLFLOW_GATE_CONFIG_DIR, else the platform's per-user config folder + /mlflow-gate."""
    env = os.environ.get("MLFLOW_GATE_CONFIG_DIR")
    if env:
        return Path(env).expanduser()
    if sys.platform == "win32":
        base = Path(os.environ.get("APPDATA") or Path.home() / "AppData" / "Roaming")
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Application Support"
    else:
        base = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return base / "mlflow-gate"


def _file_key(gate_origin: str) -> str:
    return re.sub(r"[^A-Za-z0-9.-]+", "_", gate_origin.replace("://", "_"))


class GateFile:
    """The cached logins of one gate (identified by its origin)."""

    def __init__(self, gate_origin: str, folder: Path | None = None):
        self.origin = gate_origin
        self.folder = (folder or config_dir()) / "tokens"
        key = _file_key(gate_origin)
        self.path = self.folder / f"{key}.json"
        self.lock_path = self.folder / f"{key}.lock"
        self._stamp: tuple | None = None
        self._data: dict | None = None
        self._memo_guard = threading.Lock()

    # ---- reading -------------------------------------------------------------------------

    def read(self) -> dict:
        """The file's content, re-read only when the file changed since the last read."""
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            with self._memo_guard:
                self._stamp, self._data = None, None
            return empty(self.origin)
        except OSError as e:
            raise MlflowGateError(f"cannot read the token cache {self.path}: {e.strerror}") from None
        stamp = (st.st_ino, st.st_mtime_ns, st.st_size)
        with self._memo_guard:
            if stamp == self._stamp and self._data is not None:
                return self._data
        try:
            with open(self.path, encoding="utf-8") as f:
                data = json.load(f)
        except FileNotFoundError:
            return empty(self.origin)
        except (OSError, ValueError):
            raise MlflowGateError(
                f"the token cache {self.path} is unreadable or damaged: delete it and run `mlflow-gate-login`"
            ) from None
        if not isinstance(data, dict) or data.get("format") != FORMAT or data.get("origin") != self.origin:
            raise MlflowGateError(
                f"the token cache {self.path} is not one this version understands: delete it and run `mlflow-gate-login`"
            )
        data.setdefault("logins", {})
        with self._memo_guard:
            self._stamp, self._data = stamp, data
        return data

    # ---- writing (hold the lock) ---------------------------------------------------------

    def write(self, data: dict) -> None:
        """Replaces the file atomically with data (mode 0600); removes it when no login is left."""
        self._ensure_folder()
        if not data.get("logins"):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.path)
            with self._memo_guard:
                self._stamp, self._data = None, None
            return
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=self.folder)
        try:
            if hasattr(os, "fchmod"):
                os.fchmod(fd, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(data, f, indent=1, sort_keys=True)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Holds this gate's lock: other threads and processes wait here."""
        if not LOCKING:
            yield
            return
        with _thread_lock(str(self.lock_path)):
            self._ensure_folder()
            fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o600)
            try:
                _lock_fd(fd)
                try:
                    yield
                finally:
                    _unlock_fd(fd)
            finally:
                os.close(fd)

    def _ensure_folder(self) -> None:
        try:
            self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as e:
            raise MlflowGateError(f"cannot create the token cache folder {self.folder}: {e.strerror}") from None


def empty(gate_origin: str) -> dict:
    return {"format": FORMAT, "origin": gate_origin, "logins": {}, "current": None}


def all_gates(folder: Path | None = None) -> list[str]:
    """The origins of every gate with a cache file."""
    d = (folder or config_dir()) / "tokens"
    out = []
    for p in sorted(d.glob("*.json")) if d.is_dir() else []:
        try:
            with open(p, encoding="utf-8") as f:
                o = json.load(f).get("origin")
        except (OSError, ValueError, AttributeError):
            continue
        if isinstance(o, str):
            out.append(o)
    return out


def _thread_lock(key: str) -> threading.Lock:
    with _thread_locks_guard:
        lock = _thread_locks.get(key)
        if lock is None:
            lock = _thread_locks[key] = threading.Lock()
        return lock


if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
    import msvcrt

    def _lock_fd(fd: int) -> None:
        os.lseek(fd, 0, os.SEEK_SET)
        while True:
            try:
                msvcrt.locking(fd, msvcrt.LK_LOCK, 1)
                return
            except OSError:  # LK_LOCK gives up after 10 s; keep waiting like flock does
                continue

    def _unlock_fd(fd: int) -> None:
        os.lseek(fd, 0, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)

else:
    import fcntl

    def _lock_fd(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_EX)

    def _unlock_fd(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_UN)
