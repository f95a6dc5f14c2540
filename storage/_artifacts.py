"""Where a study's artifacts (learning curves, checkpoints) live: Optuna's artifact store.

Default: a folder beside a SQLite file (``studies.db`` -> ``studies-artifacts/``); for a
server database, ``$SEARCH_ARTIFACTS`` or ``./search-artifacts``. optuna-dashboard serves the
same folder (``search dashboard`` finds it the same way).

The artifacts may also live in an S3-compatible object store: ``--artifacts s3://BUCKET/PREFIX``
(or ``$SEARCH_ARTIFACTS``), through Optuna's own ``Boto3ArtifactStore`` (boto3 reads the
credentials, the region and ``$AWS_ENDPOINT_URL`` the usual way). A study records where its
artifacts are (its ``artifacts`` user attr: an absolute folder or the ``s3://`` URL), so a
reader on another machine finds them without being told (``find_artifacts``).
"""

from __future__ import annotations

import os
from pathlib import Path

from optuna.artifacts import FileSystemArtifactStore

from storage._files import make_private_folder, open_private
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


S3 = "s3://"


def is_object_store(location: str | os.PathLike | None) -> bool:
    """Whether an artifact location is an object store URL (``s3://BUCKET/PREFIX``)."""
    return str(location or "").startswith(S3)


def _given(override: str | os.PathLike | None) -> str | None:
    return str(override) if override else os.environ.get("SEARCH_ARTIFACTS") or None


def artifact_location(url: str, override: str | os.PathLike | None = None) -> str:
    """Where the artifacts of a search on ``url`` go, as a study records it: the ``s3://``
    URL as given, else the folder as an absolute path."""
    given = _given(override)
    if is_object_store(given):
        return given
    return str(artifact_dir(url, override).resolve())


def find_artifacts(url: str, override: str | os.PathLike | None = None, recorded: str | None = None) -> str:
    """The location a reader reads a study's artifacts from: ``override`` (``--artifacts``)
    when given; else what the study recorded, when it is an object store or a folder that
    exists here (a shared mount); else the default for ``url`` (e.g. a SQLite file and its
    folder moved together)."""
    if override:
        return str(override)
    if recorded and (is_object_store(recorded) or Path(recorded).is_dir()):
        return recorded
    return artifact_location(url)


def log_dir(url: str, override: str | os.PathLike | None = None) -> Path:
    """A local folder for a search's own logs: in the artifact folder, or ``./search-logs``
    when the artifacts go to an object store."""
    if is_object_store(_given(override)):
        return Path("search-logs")
    return artifact_dir(url, override) / "logs"


class ObjectStoreError(Exception):
    """An object store location that cannot serve (no boto3, no such bucket, no access)."""


class PrefixedS3Store:
    """Optuna's ``Boto3ArtifactStore`` with every artifact id under a key prefix, so one bucket
    holds the artifacts of several deployments (``s3://BUCKET/PREFIX``)."""

    def __init__(self, location: str):
        try:
            import boto3
            import botocore.exceptions
            from optuna.artifacts import Boto3ArtifactStore
        except ImportError:
            raise ObjectStoreError(f"{location}: an s3:// artifact store needs boto3; pip install 'sequence-search[s3]'") from None
        bucket, _, prefix = location[len(S3):].partition("/")
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        client = boto3.client("s3")
        try:
            client.head_bucket(Bucket=bucket)  # fail now, in one line, not at the first upload
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
            raise ObjectStoreError(f"{location}: cannot reach the bucket: {str(exc).splitlines()[0]}") from None
        self.inner = Boto3ArtifactStore(bucket, client)

    def open_reader(self, artifact_id: str):
        return self.inner.open_reader(self.prefix + artifact_id)

    def write(self, artifact_id: str, content_body) -> None:
        self.inner.write(self.prefix + artifact_id, content_body)

    def remove(self, artifact_id: str) -> None:
        self.inner.remove(self.prefix + artifact_id)


class PrivateFileSystemArtifactStore(FileSystemArtifactStore):
    """Optuna's folder store whose files are created readable by their owner only
    (``storage._files.open_private``: the mode whatever the umask, also in an existing folder
    that others can read)."""

    def write(self, artifact_id: str, content_body) -> None:
        import shutil

        filepath = self._get_filepath(artifact_id)
        with open_private(filepath, "wb") as f:
            shutil.copyfileobj(content_body, f)


def open_artifact_store(url: str, override: str | os.PathLike | None = None):
    """The artifact store of ``url``: an S3 bucket for an ``s3://`` location, else a folder,
    created readable by its owner only, as is every file written into it (``storage._files``)."""
    given = _given(override)
    if is_object_store(given):
        return PrefixedS3Store(given)
    path = artifact_dir(url, override)
    make_private_folder(path)
    return PrivateFileSystemArtifactStore(str(path))
