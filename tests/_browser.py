"""Debian's headless Chromium, as the browser tests open pages in it (offline)."""

from __future__ import annotations

import shutil
import subprocess

import pytest

CHROMIUM = "/usr/bin/chromium"
# No network: background networking off; virtual time lets the page's JavaScript draw first.
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--virtual-time-budget=8000",
]


def require_chromium() -> None:
    if shutil.which(CHROMIUM) is None:
        pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium)")


def run(url: str, profile, *extra: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """Chromium on ``url`` with a fresh profile folder and ``extra`` flags (e.g. --dump-dom)."""
    require_chromium()
    return subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *extra, url], capture_output=True, text=True, timeout=timeout)


def dump_dom(url: str, profile) -> str:
    """The page's DOM after its scripts ran."""
    result = run(url, profile, "--dump-dom")
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout
