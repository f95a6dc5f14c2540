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


def screenshot(url: str, profile, out, width: int = 1200, height: int = 1000):
    """A PNG screenshot of ``url`` after its scripts ran (the window's size, from the top, or
    from the element a ``#fragment`` names), as an (H, W, 3) uint8 array."""
    result = run(url, profile, f"--window-size={width},{height}", f"--screenshot={out}", "--hide-scrollbars")
    assert result.returncode == 0, result.stderr[-2000:]
    return read_png(out)


def read_png(path):
    """An 8-bit RGB or RGBA, non-interlaced PNG (what Chromium writes) as an (H, W, 3) array."""
    import struct
    import zlib

    import numpy as np

    data = open(path, "rb").read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    pos, chunks, header = 8, [], None
    while pos < len(data):
        (length,), kind = struct.unpack(">I", data[pos : pos + 4]), data[pos + 4 : pos + 8]
        body = data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            chunks.append(body)
        pos += 12 + length
    width, height, depth, color, _, _, interlace = header
    assert depth == 8 and color in (2, 6) and interlace == 0, header
    bpp = 3 if color == 2 else 4
    raw = zlib.decompress(b"".join(chunks))
    stride = width * bpp
    out = np.zeros((height, stride), dtype=np.uint8)
    prev = np.zeros(stride, dtype=np.int64)
    for y in range(height):
        kind, line = raw[y * (stride + 1)], np.frombuffer(raw, np.uint8, stride, y * (stride + 1) + 1).astype(np.int64)
        if kind == 1:  # Sub: a running sum per channel
            line = line.reshape(-1, bpp).cumsum(axis=0).reshape(-1) % 256
        elif kind == 2:  # Up
            line = (line + prev) % 256
        elif kind in (3, 4):  # Average, Paeth: each byte needs its left neighbour's result
            line = np.array(_unfilter(kind, line.tolist(), prev.tolist(), bpp), dtype=np.int64)
        out[y] = line
        prev = line
    return out.reshape(height, width, bpp)[:, :, :3]


def _unfilter(kind: int, line: list[int], prev: list[int], bpp: int) -> list[int]:
    for i in range(len(line)):
        a = line[i - bpp] if i >= bpp else 0
        b = prev[i]
        if kind == 3:
            line[i] = (line[i] + (a + b) // 2) & 255
            continue
        c = prev[i - bpp] if i >= bpp else 0
        p = a + b - c
        pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
        line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
    return line


def colored_pixels(image) -> int:
    """Pixels of a clear colour (a plotly trace), not white, grey or the dark text and axes."""
    spread = image.max(axis=2).astype(int) - image.min(axis=2).astype(int)
    return int((spread > 60).sum())


def plotly_lines(dom: str, div_id: str, min_length: int = 40) -> int:
    """Scatter traces drawn as lines inside the plotly figure ``div_id`` of a dumped DOM: those
    with a ``path.js-line`` whose ``d`` has at least ``min_length`` characters (a trace broken
    by gaps draws several paths and counts once; legend samples are not traces; a line of width
    0, the bound of a shaded band, draws nothing)."""
    import re

    start = dom.find(f'id="{div_id}"')
    if start < 0:
        return 0
    end = dom.find('class="plotly-graph-div', dom.find(">", start))  # the next figure
    body = dom[start : end if end > 0 else len(dom)]
    traces = body.split('<g class="trace scatter')[1:]
    drawn = r'class="js-line"[^>]*?\sd="([^"]*)"(?![^>]*stroke-width: 0px)'
    return sum(any(len(d) >= min_length for d in re.findall(drawn, t)) for t in traces)


def ink_pixels(image) -> int:
    """Pixels that are not (near) white: lines, markers, text, grid."""
    return int((image.min(axis=2) < 230).sum())


def undrawn_copy(html_file, div_ids, out):
    """A copy of a page whose plotly figures ``div_ids`` are not drawn: their ``Plotly.newPlot``
    calls become no-ops and their divs keep their size, so nothing else on the page moves. The
    control of a screenshot test: what the drawn figures add is the difference."""
    import re
    from pathlib import Path

    text = Path(html_file).read_text()
    for div in div_ids:
        text, n = re.subn(r'Plotly\.newPlot\(\s*"' + re.escape(div) + '"', f'(function () {{}})("{div}"', text)
        assert n == 1, f"no Plotly.newPlot call for {div}"
    Path(out).write_text(text)
    return Path(out)


def plotly_fills(dom: str, div_id: str, min_length: int = 40) -> int:
    """Shaded areas drawn inside the plotly figure ``div_id`` of a dumped DOM: ``path.js-fill``
    whose ``d`` has at least ``min_length`` characters (a legend's sample swatch is shorter)."""
    import re

    start = dom.find(f'id="{div_id}"')
    if start < 0:
        return 0
    end = dom.find('class="plotly-graph-div', dom.find(">", start))
    body = dom[start : end if end > 0 else len(dom)]
    return sum(len(d) >= min_length for d in re.findall(r'class="js-fill"[^>]*?\sd="([^"]*)"', body))


def legend_names(dom: str, div_id: str) -> list[str]:
    """The legend entries' texts of the plotly figure ``div_id`` of a dumped DOM."""
    import html
    import re

    start = dom.find(f'id="{div_id}"')
    if start < 0:
        return []
    end = dom.find('class="plotly-graph-div', dom.find(">", start))
    body = dom[start : end if end > 0 else len(dom)]
    return [html.unescape(t) for t in re.findall(r'class="legendtext"[^>]*>([^<]*)<', body)]
