"""The files the storage creates are readable by their owner only: the SQLite database (its
``-wal`` and ``-shm`` files take the database file's permissions from SQLite) ``0600``, the
artifact folder ``0700``. They hold every trial's params and values and the best models.

``$SEARCH_FILE_MODE`` (octal, e.g. ``640`` to let the file's group read) changes the mode of
files created from then on; folders get the same bits plus search (``x``) where read is set.
The process's umask still applies on top. Existing files and folders are left as they are.
"""

from __future__ import annotations

import os
from pathlib import Path

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
    gets ``folder_mode()``, parents the umask's default."""
    if path.is_dir():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        path.mkdir(mode=folder_mode())
    except FileExistsError:
        pass
