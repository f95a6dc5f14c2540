"""Where a study's artifacts (learning curves, checkpoints) live: Optuna's artifact store.

Default: a folder beside a SQLite file (``studies.db`` -> ``studies-artifacts/``); for a
server database, ``$SEARCH_ARTIFACTS`` or ``./search-artifacts``. optuna-dashboard serves the
same folder (``search dashboard`` finds it the same way).

A study records the folder it was searched with (its ``artifacts`` user attr, an absolute
path), so a reader on another machine that mounts the same folder at the same path finds
them without being told (``find_artifact_dir``).
"""

from __future__ import annotations

import os
from pathlib import Path

from optuna.artifacts import FileSystemArtifactStore

from storage._files import make_private_folder
from storage._urls import sqlite_path


def artifact_dir(url: str, override: str | os.PathLike | None = None) -> Path:
    if override:
        return Path(override)
    if os.environ.get("SEARCH_ARTIFACTS"):
        return Path(os.environ["SEARCH_ARTIFACTS"])
    db = sqlite_path(url)
    if db is not None:
        return db.parent / f"{db.stem}-artifacts"
    return Path("search-artifacts")


def find_artifact_dir(url: str, override: str | os.PathLike | None = None, recorded: str | None = None) -> Path:
    """The folder a reader reads a study's artifacts from: ``override`` (``--artifacts``) when
    given; else the folder the study recorded, when it exists here (a shared mount); else the
    default for ``url`` (e.g. a SQLite file and its folder moved together)."""
    if override:
        return Path(override)
    if recorded and Path(recorded).is_dir():
        return Path(recorded)
    return artifact_dir(url)


def open_artifact_store(url: str, override: str | os.PathLike | None = None) -> FileSystemArtifactStore:
    """The artifact store of ``url``; its folder is created readable by its owner only
    (``storage._files``)."""
    path = artifact_dir(url, override)
    make_private_folder(path)
    return FileSystemArtifactStore(str(path))
