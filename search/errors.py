"""The service's exceptions, one tree: what the CLI turns into one clear line and an exit code.

    SearchError
    ├── UsageError            a bad command line (exit 2)
    │   ├── StorageError      the --storage URL cannot serve
    │   │   └── StorageNotFoundError
    │   └── StudyNotFoundError
    ├── ConfigError           problems in a space file, one line each (exit 2)
    │   └── DataError         the dataset it names cannot serve
    ├── StudyMismatchError    the study was made from another space (exit 2)
    ├── NoResultError         no completed trial yet (exit 1)
    ├── SearchStopped         a search stopped by failures in a row (exit 1)
    └── CheckpointError       a checkpoint that is refused: changed, unverifiable or old (exit 1)

A leaf: imports nothing, so every part of the service (workers included) may raise these.
"""

from __future__ import annotations


class SearchError(Exception):
    """Base class. ``exit_code`` is what the CLI exits with."""

    exit_code = 1


class UsageError(SearchError):
    """A bad command line (flag value, missing argument)."""

    exit_code = 2


class ConfigError(SearchError):
    """One or more problems in a space file; each is one line naming the file and key."""

    exit_code = 2

    def __init__(self, problems: list[str]):
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


class DataError(ConfigError):
    """The dataset a space names cannot serve (missing file, missing column, gaps under
    ``missing: error``...). A config error: the fix is in the space or the data."""


class StudyMismatchError(SearchError):
    """The study in the storage was made from a different space."""

    exit_code = 2


class StorageError(UsageError):
    """The ``--storage`` URL cannot serve: a bad URL, a missing driver, an unreachable server.
    (``search.store`` turns the ``storage`` package's own error into this one.)"""


class StorageNotFoundError(StorageError):
    """A SQLite URL whose database file does not exist, given to a command that only reads
    (the file is not created)."""


class StudyNotFoundError(UsageError):
    """The study name is not in the storage; the message lists the names that are."""


class NoResultError(SearchError):
    """The study holds no completed trial yet."""

    exit_code = 1


class SearchStopped(SearchError):
    """A search stopped before the study held its trials (failures in a row); ``study`` is the
    study as it stands."""

    exit_code = 1

    def __init__(self, message: str, study=None):
        super().__init__(message)
        self.study = study


class CheckpointError(SearchError):
    """A trial's checkpoint is refused: its bytes do not match the digest the driver recorded,
    no digest was recorded, or it is in a format that is no longer read (format 1, a pickle)."""

    exit_code = 1
