"""Small helpers the commands share: a secret file's first line, an ``--out`` file checked before
any work, and the command that opens the dashboard."""

from __future__ import annotations

import os
from pathlib import Path

from search.errors import UsageError


def dashboard_command(url: str) -> str:
    """The command that opens the dashboard on ``url``; a URL with a password is left to
    ``$SEARCH_STORAGE`` or ``--storage-file`` rather than printed as a flag."""
    from storage import mask_url, url_password

    if url_password(url):
        return f"search dashboard (storage {mask_url(url)} from $SEARCH_STORAGE or --storage-file FILE)"
    return f"search dashboard --storage {mask_url(url)}"


def plain_dashboard_command(url: str, artifacts: str) -> str:
    """optuna-dashboard's own command on ``url`` and the study's artifact folder: without
    ``--artifact-dir`` every artifact download answers 400 (curves, checkpoints, forecasts).
    A password is printed masked (give it through the URL yourself); artifacts in an object
    store are not a folder optuna-dashboard's command line can read."""
    import shlex

    from storage import is_object_store, mask_url

    if is_object_store(artifacts):
        return f"optuna-dashboard {shlex.quote(mask_url(url))} (its command line reads artifacts from a folder only; {artifacts} is served by search dashboard)"
    return f"optuna-dashboard {shlex.quote(mask_url(url))} --artifact-dir {shlex.quote(str(artifacts))}"


def _out_file(path: str | None, flag: str = "--out", *, make_folder: bool = False) -> Path | None:
    """The file ``--out`` names, checked before any work: not a folder, in a folder that
    exists (or, with ``make_folder``, can be made) and can be written."""
    if path is None:
        return None
    out = Path(path)
    if out.is_dir():
        raise UsageError(f"{flag} {out}: is a folder; give a file name, e.g. {out / 'out.csv'}")
    folder = out.parent
    while make_folder and not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if not folder.is_dir():
        what = "is a file, not a folder" if folder.exists() else "does not exist"
        raise UsageError(f"{flag} {out}: folder {folder} {what}; create it, or write elsewhere")
    if not os.access(folder, os.W_OK | os.X_OK) or (out.exists() and not os.access(out, os.W_OK)):
        raise UsageError(f"{flag} {out}: cannot write there (permission denied); write elsewhere")
    return out


def _write(out: Path, text: str, flag: str = "--out") -> None:
    """Write ``text`` to ``out``; an OS error is one line naming the flag."""
    try:
        from storage import open_private

        with open_private(out, "w", encoding="utf-8") as f:
            f.write(text)
    except OSError as exc:
        raise UsageError(f"{flag} {out}: cannot write: {exc.strerror or exc}") from None


def _first_line(path: str, flag: str) -> str:
    """The first line of a secret's file, without its line end; one-line errors naming ``flag``."""
    try:
        with open(path, encoding="utf-8") as f:
            return f.readline().rstrip("\r\n")
    except OSError as exc:
        raise UsageError(f"{flag} {path}: cannot read it ({exc.strerror})") from None
    except UnicodeDecodeError:
        raise UsageError(f"{flag} {path}: not UTF-8 text") from None

