"""The files the storage creates are readable by their owner only: the SQLite database (its
``-wal`` and ``-shm`` files take the database file's permissions from SQLite) ``0600``, the
artifact folder ``0700``. They hold every trial's params and values and the best models.

``$SEARCH_FILE_MODE`` (octal, e.g. ``640`` to let the file's group read) changes the mode of
files created from then on; folders get the same bits plus search (``x``) where read is set.
The files the project writes itself (artifacts, logs, ``--out`` files: :func:`open_private`)
get exactly that mode, whatever the process's umask (set on the open file, so no other
thread's files are touched); the database takes it with the umask on top. Existing files
and folders are left as they are.
"""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path
from typing import IO

MODE_ENV = "SEARCH_FILE_MODE"
DEFAULT_FILE_MODE = 0o600


def file_mode() -> int:
    """The mode new files are created with: ``$SEARCH_FILE_MODE`` (octal) or 0600."""
    value = os.environ.get(MODE_ENV, "").strip()
    if not value:
        return DEFAULT_FILE_MODE
    try:
        mode = int(value, 8)
    except ValueError:
        mode = -1
    if not 0 <= mode <= 0o777 or not mode & 0o600 == 0o600:
        raise ValueError(f"${MODE_ENV}={value!r}: give an octal file mode that lets the owner read and write, e.g. 600 or 640")
    return mode


def folder_mode(mode: int | None = None) -> int:
    """The folder mode matching a file mode: the same bits, plus ``x`` wherever ``r`` is set."""
    mode = file_mode() if mode is None else mode
    return mode | ((mode & 0o444) >> 2)


def create_private_file(path: Path) -> None:
    """Create ``path`` empty with ``file_mode()`` unless it exists (its folder must exist)."""
    if path.exists() or not path.parent.is_dir():
        return  # an existing file keeps its mode; a missing folder is the database's error to report
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, file_mode())
    except FileExistsError:  # another driver created it a moment ago
        return
    os.close(fd)


def make_private_folder(path: Path) -> None:
    """Create the folder ``path`` (and missing parents) unless it exists; the folder itself
    gets ``folder_mode()`` exactly, parents the umask's default."""
    if path.is_dir():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        path.mkdir(mode=folder_mode())
    except FileExistsError:
        return
    os.chmod(path, folder_mode())


def open_private(path: str | os.PathLike, mode: str = "w", **kwargs) -> IO:
    """``open(path, mode)`` for writing (``w``, ``wb``, ``a``, ``ab``), where a file it
    creates gets ``file_mode()`` exactly, whatever the umask (``os.open`` with that mode, then
    ``fchmod``); an existing file keeps its mode."""
    flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if mode.startswith("a") else os.O_TRUNC)
    wanted = file_mode()
    try:
        fd = os.open(path, flags | os.O_EXCL, wanted)
        os.fchmod(fd, wanted)
    except FileExistsError:
        fd = os.open(path, flags)
    try:
        return os.fdopen(fd, mode, **kwargs)
    except BaseException:
        os.close(fd)
        raise


def make_private_folders(path: Path) -> None:
    """``path`` and its missing parents, each made with ``folder_mode()`` exactly (set after
    ``mkdir``, whatever the umask); existing folders keep theirs."""
    missing = []
    while not path.exists() and path != path.parent:
        missing.append(path)
        path = path.parent
    for folder in reversed(missing):
        try:
            folder.mkdir(mode=folder_mode())
        except FileExistsError:
            continue
        os.chmod(folder, folder_mode())


def warn_if_readable(path: str | os.PathLike, flag: str, file: IO | None = None) -> bool:
    """One warning line when a secret's file (``--password-file``, ``--keyfile``) can be read
    by its group or by everyone; whether it warned."""
    try:
        bits = stat.S_IMODE(os.stat(path).st_mode)
    except OSError:
        return False  # the reader's own error names it
    if not bits & 0o044:
        return False
    who = "everyone" if bits & 0o004 else "its group"
    print(f"warning: {flag} {path}: {who} can read it (mode {bits:04o}); chmod 600 {path}", file=file or sys.stderr, flush=True)
    return True
