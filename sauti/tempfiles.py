"""Temporary files written beside their target and renamed into place, and the clean-up of those a
crashed writer left behind.

A writer names its temporary :func:`temp_path` (``.<name>.<pid>.<thread>.tmp``, a file or a folder
such as a Zarr store), so that :func:`remove_stale_temps` can tell whose it is: one whose process
is still running on this machine is left alone (a live writer owns it), one whose process is gone —
or older than :data:`STALE_AFTER_S`, whoever wrote it — is removed.
"""

from __future__ import annotations

import errno
import logging
import os
import re
import shutil
import threading
import time
from pathlib import Path

log = logging.getLogger(__name__)

STALE_AFTER_S = 24 * 3600
"""A temporary this old is removed even if its process id is running (ids are reused)."""
_TEMP_RE = re.compile(r"^\..+\.(?P<pid>\d+)\.\d+\.tmp$")


def temp_path(path: str | Path) -> Path:
    """Where this process and thread write ``path`` before renaming it into place."""
    path = Path(path)
    return path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")


def process_running(pid: int) -> bool:
    """Whether a process of that id runs on this machine (ours included)."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except OSError as exc:
        return exc.errno == errno.EPERM  # running, under another user
    return True


def remove_stale_temps(folder: str | Path, *, now: float | None = None) -> list[Path]:
    """Remove the temporaries in ``folder`` that no live writer owns; return what was removed.

    Only names made by :func:`temp_path` are considered; anything else in the folder is left alone.

    Examples
    --------
    >>> remove_stale_temps("ws/cubes")  # doctest: +SKIP
    [PosixPath('ws/cubes/.cube_admin2_M.nc.4711.139872.tmp')]
    """
    folder = Path(folder)
    if not folder.is_dir():
        return []
    now = time.time() if now is None else now
    removed = []
    for entry in folder.iterdir():
        match = _TEMP_RE.match(entry.name)
        if match is None:
            continue
        try:
            age = now - entry.lstat().st_mtime
        except FileNotFoundError:  # its writer renamed or removed it just now
            continue
        if process_running(int(match["pid"])) and age < STALE_AFTER_S:
            continue
        try:
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()
        except FileNotFoundError:
            continue
        log.info("removed %s, left by a writer that stopped before finishing", entry)
        removed.append(entry)
    return removed
