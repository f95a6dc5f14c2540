"""Secrets stay off the command line: --storage-file, the --storage password warning and its
masking in the process's own command line, the dashboard's --password refusal and
--password-file, and the dashboard's usage errors (one line, exit 2)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from search.cli import main
from tests.conftest import REPO

SECRET_URL = "postgresql+psycopg://searcher:hunter2-secret@127.0.0.1:1/studies"


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_storage_file_is_read(tmp_path, capsys):
    url_file = tmp_path / "storage.url"
    url_file.write_text(f"sqlite:///{tmp_path / 'none.db'}\n")
    code, _, err = run(capsys, "studies", "--storage-file", str(url_file))
    assert code == 2 and "none.db: no such database file" in err  # the file's URL was used


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["studies", "--storage", "sqlite:///a.db", "--storage-file", "f"], "--storage and --storage-file: give one of them"),
        (["studies", "--storage-file", "/no/such/file"], "--storage-file /no/such/file: cannot read it"),
        (["dashboard", "--password", "pw"], "--password: a password on the command line is visible to every local user; set $SEARCH_DASHBOARD_PASSWORD or use --password-file FILE"),
        (["dashboard", "--password=pw"], "--password: a password on the command line"),
        (["dashboard", "--password-file", "/no/such/file"], "--password-file /no/such/file: cannot read it"),
        (["dashboard", "--certfile", "/no/cert.pem", "--keyfile", "/no/key.pem"], "--certfile /no/cert.pem: no such file"),
    ],
)
def test_usage_errors_are_one_line_exit_2(capsys, argv, message):
    code, out, err = run(capsys, *argv)
    assert code == 2 and message in err
    assert err.count("\n") == 1 and "Traceback" not in err and "pw" not in err.replace("password", "")


def test_empty_secret_files_are_refused(tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.write_text("\n")
    assert run(capsys, "dashboard", "--password-file", str(empty))[0] == 2
    assert run(capsys, "studies", "--storage-file", str(empty))[0] == 2


def test_a_password_in_storage_warns_in_one_masked_line(capsys):
    code, out, err = run(capsys, "studies", "--storage", SECRET_URL)
    assert code == 2  # nothing listens on port 1
    warning = [line for line in err.splitlines() if line.startswith("warning:")]
    assert len(warning) == 1 and "$SEARCH_STORAGE or use --storage-file FILE" in warning[0]
    assert "searcher:***@" in warning[0]
    assert "hunter2" not in out + err


def test_a_storage_password_is_masked_in_the_process_command_line(tmp_path):
    # The process reads its own /proc/self/cmdline after main() parsed its arguments, as Ray
    # does (psutil) when the driver connects.
    code = (
        "import sys\n"
        "from search.cli import main\n"
        "main(sys.argv[1:])\n"
        "print(open('/proc/self/cmdline', 'rb').read().decode(errors='replace'))\n"
        "print(' '.join(sys.argv))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-c", code, "studies", "--storage", SECRET_URL], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    cmdline, argv = done.stdout.splitlines()[-2:]
    assert "searcher:***@127.0.0.1:1/studies" in cmdline and "studies --storage" in cmdline
    assert "hunter2" not in cmdline and "hunter2" not in argv
    assert "masked from here on" in done.stderr and "hunter2" not in done.stderr


def test_the_dashboard_refuses_an_open_public_bind(tmp_path, capsys, monkeypatch):
    import optuna

    monkeypatch.delenv("SEARCH_DASHBOARD_PASSWORD", raising=False)
    url = f"sqlite:///{tmp_path / 'studies.db'}"
    optuna.create_study(storage=url)
    code, _, err = run(capsys, "dashboard", "--storage", url, "--host", "0.0.0.0", "--port", "0")
    assert code == 2 and err.startswith("error: --host 0.0.0.0:") and err.count("\n") == 1


def test_a_query_string_secret_is_warned_about_and_hidden_from_the_command_line(tmp_path):
    url = "postgresql+psycopg://searcher@127.0.0.1:1/studies?sslmode=disable&sslpassword=qs-secret-41&Access_Key=qs-key-42"
    code = (
        "import sys\n"
        "from search.cli import main\n"
        "main(sys.argv[1:])\n"
        "print(open('/proc/self/cmdline', 'rb').read().decode(errors='replace'))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-c", code, "studies", "--storage", url], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    cmdline = done.stdout.splitlines()[-1]
    assert "sslpassword=***" in cmdline and "Access_Key=***" in cmdline and "studies --storage" in cmdline
    assert "qs-secret" not in cmdline and "qs-key" not in cmdline
    warning = [line for line in done.stderr.splitlines() if line.startswith("warning:")]
    assert len(warning) == 1 and "a secret (sslpassword=, Access_Key=)" in warning[0] and "masked from here on" in warning[0]
    assert "qs-secret" not in done.stderr and "qs-key" not in done.stderr
