"""The project's exceptions: what the CLI turns into one clear line and an exit code."""

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
