"""Bad inputs a hostile new user tries: data files, space files, command lines, storage URLs.

Every one, run in-process through ``search.cli.main``, must exit 2 with at most three lines,
each starting ``error:``, naming the key, flag or file it is about (and for data the row),
with no traceback, no password, and no storage or any other file made.

``bad_inputs/*.yaml`` say what they expect on their first line, as ``bad_spaces/`` do:
``expect: KEYS | FRAGMENTS`` (dotted keys, or texts with a space, then texts that must
appear); the data files they name are in ``bad_inputs/data/``. ``COMMANDS`` below are the
command lines and storage URLs, run in a folder holding a few damaged files (``files``).
"""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import pytest

from search.cli import main

HERE = Path(__file__).resolve().parent / "bad_inputs"
SPACES = sorted(HERE.glob("*.yaml"))
GOOD = str(HERE / "good" / "good.yaml")
SECRET = "s3cret"

# (arguments, texts that must appear, texts that must not); FILES: the damaged files' folder.
COMMANDS = [
    (["run", GOOD, "--trials", "1", "--storage", "sqlite:///missing/s.db"], ["--storage", "folder missing does not exist"], []),
    (["run", GOOD, "--trials", "1", "--storage", "sqlite:///afile/s.db"], ["--storage", "folder afile is a file, not a folder"], []),
    (["run", GOOD, "--trials", "1", "--storage", "sqlite:///junk.db"], ["--storage sqlite:///junk.db", "is not a SQLite database"], []),
    (["run", GOOD, "--trials", "1", "--storage", "sqlite:///other.db"], ["--storage sqlite:///other.db", "not an Optuna study storage (tables: people)"], []),
    (["run", GOOD, "--trials", "1", "--storage", "sqlite:///damaged.db"], ["--storage sqlite:///damaged.db", "is damaged"], []),
    (["run", GOOD, "--trials", "1", "--storage", "sqlite:///folder.db"], ["--storage", "is a folder"], []),
    (["run", GOOD, "--trials", "1", "--storage", f"postgresql+psycopg://bob:p@{SECRET}@127.0.0.1:1/db"], ["--storage", "percent-encoded (%40)", "bob:***@127.0.0.1:1/db"], [SECRET]),
    (["studies", "--storage", f"nonsense://bob:{SECRET}@host/db"], ["--storage nonsense://bob:***@host/db", "not a database URL"], [SECRET]),
    (["studies", "--storage", f"postgresql+psycopg://bob@127.0.0.1:1/db?password={SECRET}"], ["--storage", "password=***", "cannot connect"], [SECRET]),
    (["studies", "--storage", f"postgresql+psycopg://bob:{SECRET}%40x@127.0.0.1:1/db"], ["--storage postgresql+psycopg://bob:***@127.0.0.1:1/db", "cannot connect"], [SECRET]),
    (["run", GOOD, "--trials", "1", "--storage", "sqlite:///s.db", "--artifacts", "afile/arts"], ["--artifacts afile/arts", "cannot make the artifact folder"], []),
    (["studies", "--storage", "sqlite:///nope.db"], ["--storage sqlite:///nope.db", "no such database file"], []),
    (["trials", "s", "--storage", "sqlite:///junk.db"], ["--storage sqlite:///junk.db", "is not a SQLite database"], []),
    (["dashboard", "--storage", "sqlite:///damaged.db"], ["--storage sqlite:///damaged.db", "is damaged"], []),
    (["dashboard", "--storage", f"postgresql+psycopg://bob:p@{SECRET}@127.0.0.1:1/db"], ["--storage", "percent-encoded"], [SECRET]),
    (["storage", "upgrade", "--storage", "sqlite:///other.db"], ["--storage sqlite:///other.db", "not an Optuna study storage"], []),
    (["storage", "upgrade", "--storage", f"postgresql+psycopg://bob:{SECRET}@127.0.0.1:1/db"], ["--storage postgresql+psycopg://bob:***@127.0.0.1:1/db", "cannot connect"], [SECRET]),
    (["export", "s", "--out", "missing/x.csv"], ["--out missing/x.csv", "folder missing does not exist"], []),
    (["export", "s", "--out", "folder.db"], ["--out folder.db", "is a folder"], []),
    (["report", "s", "--out", "afile/r.html"], ["--out afile/r.html", "folder afile is a file, not a folder"], []),
    (["predict", "s", "--input", "nope.csv"], ["--input nope.csv", "no such file"], []),
    (["predict", "s", "--input", "afile", "--out", "missing/f.csv"], ["--out missing/f.csv", "does not exist"], []),
    (["run", GOOD, "--trials", "0"], ["--trials 0", "at least 1"], []),
    (["run", GOOD, "--trials", "ten"], ["--trials", "invalid int value"], []),
    (["run", GOOD, "--trials", "1", "--workers", "0"], ["--workers 0", "at least 1"], []),
    (["run", GOOD, "--trials", "1", "--max-failures", "0"], ["--max-failures 0"], []),
    (["run", GOOD, "--trials", "1", "--cpus-per-trial", "0"], ["--cpus-per-trial 0", "> 0"], []),
    (["run", GOOD, "--trials", "1", "--set", "train.epochs"], ["--set", "expected KEY=VALUE"], []),
    (["run", GOOD, "--trials", "1", "--set", "train.epochs=[1"], ["--set", "not valid YAML"], []),
    (["run", GOOD, GOOD, "--trials", "1", "--study", "s"], ["--study", "give one space"], []),
    (["validate", GOOD, "--set", "data.duplicates=newest"], ["error: --set data.duplicates: 'newest' is not one of"], []),
    (["validate", GOOD, "--set", "resources.max_params=10"], ["good.yaml", "model.layer_sizes", "resources.max_params 10"], []),
    (["validate", GOOD, "--set", "data.path=../data/nope.csv"], ["error: --set data.path: no such file"], []),
    (["validate", GOOD, "--set", "data.season=600"], ["error: --set data.season: 600 is longer than half the training part"], []),
    (["run", GOOD, "--trials", "1", "--storage", "sqlite://"], ["--storage sqlite://", "in-memory SQLite database vanishes"], []),
    (["run", GOOD, "--trials", "1", "--storage", "sqlite:///:memory:"], ["--storage sqlite:///:memory:", "in-memory"], []),
    (["run", GOOD, "--trials", "1", "--storage", "sqlite:///file:x?mode=memory&uri=true"], ["--storage", "in-memory"], []),
    (["run", GOOD, "--trials", "1", "--storage", "sqlite:///s.db", "--study", ""], ["--study ''", "the study name is empty"], []),
    (["run", GOOD, "--trials", "1", "--storage", "sqlite:///s.db", "--study", "../../../x"], ["--study '../../../x'", "letters, digits"], []),
    (["run", GOOD, "--trials", "1", "--storage", "sqlite:///s.db", "--study", ".hidden"], ["--study '.hidden'", "(not first)"], []),
    (["run", GOOD, "--trials", "1", "--storage", "mysql://bob@127.0.0.1:1/db"], ["--storage mysql://bob@127.0.0.1:1/db", "driver is not installed", "install a Python driver for mysql"], ["psycopg"]),
    (["dashboard", "--port", "70000", "--storage", "sqlite:///s.db"], ["--port 70000", "1 to 65535"], []),
    (["report", "s", "--out", "missing/r.html"], ["--out missing/r.html", "folder missing does not exist"], []),
    (["predict", "s", "--input", "folder.db"], ["--input folder.db", "is a folder"], []),
    (["validate", GOOD, "--set", "train.epochs=1e20"], ["--set train.epochs: expected an integer"], []),
    (["validate", GOOD, "--set", "data.max_gap=-3"], ["--set data.max_gap: -3 is out of range"], []),
]


def expectations(path: Path) -> tuple[list[str], list[str]]:
    head = path.read_bytes().splitlines()[0].decode("utf-8", errors="replace")
    match = re.search(r"expect:\s*(.+)", head)
    assert match, f"{path.name}: no 'expect:' on its first line"
    keys, _, fragments = match.group(1).strip().partition("|")
    return [k.strip() for k in keys.split(",")], [f.strip() for f in fragments.split("|") if f.strip()]


def test_the_corpus_is_large_enough():
    assert len(SPACES) + len(COMMANDS) >= 60
    assert len(list((HERE / "data").iterdir())) >= 20


def _error_lines(code: int, out: str, err: str, limit: int = 3) -> list[str]:
    assert code == 2, out + err
    assert "Traceback" not in out + err
    lines = [line for line in err.splitlines() if line.strip()]
    assert 1 <= len(lines) <= limit, err
    # a password given in --storage is also warned about (it was on the command line)
    assert all(line.startswith(("error: ", "warning: --storage")) and len(line) <= 700 for line in lines), err
    errors = [line for line in lines if line.startswith("error: ")]
    assert errors, err
    return errors


@pytest.mark.parametrize("path", SPACES, ids=[p.name for p in SPACES])
def test_bad_input_file(path, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    db = tmp_path / "s.db"
    for argv in (["validate", str(path)], ["run", str(path), "--trials", "1", "--storage", f"sqlite:///{db}"]):
        code = main(argv)
        out, err = capsys.readouterr()
        lines = _error_lines(code, out, err)
        assert all(line.startswith(f"error: {path}") for line in lines), err
        keys, fragments = expectations(path)
        for key in keys:
            assert any(f": {key}: " in line or (" " in key and key in line) for line in lines), f"{key!r} not named in:\n{err}"
        for fragment in fragments:
            assert fragment in err, f"{fragment!r} not in:\n{err}"
        if "data/" in path.read_text(errors="replace") and any(f.startswith("row") for f in fragments):
            assert re.search(r"\brows? \d+", err), err
        assert not db.exists() and not list(tmp_path.iterdir()), "nothing written"


@pytest.fixture
def files(tmp_path):
    """A folder with a text file posing as a database, a SQLite file of another program, a
    damaged one, a plain file and a folder named like a database."""
    (tmp_path / "junk.db").write_text("my notes, not a database\n")
    with sqlite3.connect(tmp_path / "other.db") as conn:
        conn.execute("CREATE TABLE people (name TEXT)")
        conn.executemany("INSERT INTO people VALUES (?)", [("x" * 400,)] * 100)
    data = bytearray((tmp_path / "other.db").read_bytes())
    data[100:4096] = b"\xff" * (4096 - 100)
    (tmp_path / "damaged.db").write_bytes(bytes(data))
    (tmp_path / "afile").write_text("a file\n")
    (tmp_path / "folder.db").mkdir()
    return tmp_path


@pytest.mark.parametrize("argv, expected, hidden", COMMANDS, ids=[" ".join(a[:1] + a[2:] if a[1:2] == [GOOD] else a).replace(GOOD, "GOOD")[:80] for a, _, _ in COMMANDS])
def test_bad_command_line(argv, expected, hidden, files, capsys, monkeypatch):
    monkeypatch.chdir(files)
    before = {p: p.read_bytes() if p.is_file() else None for p in files.rglob("*")}
    code = main(argv)
    out, err = capsys.readouterr()
    _error_lines(code, out, err)
    for text in expected:
        assert text in err, f"{text!r} not in:\n{err}"
    for text in hidden:
        assert text not in out + err, f"{text!r} shown in:\n{err}"
    after = {p: p.read_bytes() if p.is_file() else None for p in files.rglob("*")}
    assert after == before, "a rejected command wrote or changed a file"


def test_a_space_file_beyond_the_size_bound_is_refused_at_once(tmp_path, capsys):
    import time

    big = tmp_path / "big.yaml"
    big.write_text("description: '" + "x" * (2 << 20) + "'\n")
    start = time.perf_counter()
    code = main(["validate", str(big)])
    elapsed = time.perf_counter() - start
    lines = _error_lines(code, *capsys.readouterr())
    assert lines == [f"error: {big}: {big.stat().st_size} bytes, more than a space file's 1048576 bytes; a space is a page of keys (see spaces/lstm.yaml)"]
    assert elapsed < 0.5


def test_an_alias_bomb_is_refused_at_once_in_little_memory(capsys):
    import time
    import tracemalloc

    tracemalloc.start()
    start = time.perf_counter()
    code = main(["validate", str(HERE / "yaml_alias_bomb.yaml")])
    elapsed = time.perf_counter() - start
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    _error_lines(code, *capsys.readouterr())
    assert elapsed < 0.5 and peak < 50 << 20, (elapsed, peak)


@pytest.mark.parametrize("kind", ["fifo", "device", "loop", "folder"])
def test_special_files_are_refused_before_they_are_opened(kind, tmp_path, capsys, monkeypatch):
    """A named pipe would block the reader for ever (no writer); a device, a symbolic link loop
    or a folder is no dataset. Each, as the space file, as data.path or as predict's input, is
    one line naming the file, refused before it is opened."""
    import os

    monkeypatch.chdir(tmp_path)
    special = tmp_path / f"special.{'yaml' if kind != 'folder' else 'csv'}"
    if kind == "fifo":
        os.mkfifo(special)
    elif kind == "device":
        special = Path("/dev/null")
    elif kind == "loop":
        special.symlink_to(special.name)
    else:
        special.mkdir()
    what = {"fifo": "is a named pipe (FIFO)", "device": "is a device", "loop": "is a symbolic link loop", "folder": "is a folder"}[kind]
    space = tmp_path / "space.yaml"
    space.write_text(f"model: {{family: lstm, layer_sizes: '8'}}\ndata: {{path: {special}, time_column: date, target: y, lookback: 5}}\n")
    for argv, named in (
        (["validate", str(special)], str(special)),
        (["validate", str(space)], "data.path"),
        (["run", str(space), "--trials", "1", "--storage", "sqlite:///s.db"], "data.path"),
        (["predict", "s", "--input", str(special), "--storage", "sqlite:///s.db"], "--input"),
    ):
        code = main(argv)
        lines = _error_lines(code, *capsys.readouterr())
        assert len(lines) == 1 and named in lines[0] and (what in lines[0] or (kind == "folder" and "folder" in lines[0])), lines
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted({"space.yaml", special.name} - {"null"})


def test_a_bad_storage_url_from_a_file_or_the_environment_names_its_source(files, capsys, monkeypatch):
    monkeypatch.chdir(files)
    (files / "url.txt").write_text("sqlite:///junk.db\n")
    lines = _error_lines(main(["studies", "--storage-file", "url.txt"]), *capsys.readouterr())
    assert lines == ["error: --storage-file url.txt: --storage sqlite:///junk.db: junk.db is not a SQLite database (it starts with b'my notes'); give a study storage, or a new file name"]
    monkeypatch.setenv("SEARCH_STORAGE", "sqlite:///junk.db")
    lines = _error_lines(main(["studies"]), *capsys.readouterr())
    assert lines[0].startswith("error: $SEARCH_STORAGE: --storage sqlite:///junk.db: ")
