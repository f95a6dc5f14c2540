"""Progress in Jupyter: a real notebook, executed by nbclient in a real IPython kernel, runs
``search.run``; its saved output holds the header, the trial lines and the summary."""

from __future__ import annotations

import html
import json
import os
import re

import pytest

pytestmark = pytest.mark.slow


def _execute(cells: list[str], cwd) -> list[dict]:
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    client = nbclient.NotebookClient(notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(cwd)}})
    client.execute()
    nbformat.write(notebook, str(cwd / "run.ipynb"))  # the saved notebook, as a user keeps it
    saved = nbformat.read(str(cwd / "run.ipynb"), as_version=4)
    return [output for cell in saved.cells for output in cell.get("outputs", [])]


def _text(outputs: list[dict]) -> str:
    """Every output's text as the saved notebook holds it (stream text, display plain text)."""
    parts = []
    for output in outputs:
        if output.get("output_type") == "stream":
            parts.append(output["text"])
        data = output.get("data", {})
        if "text/html" in data:  # rich's HTML (its plain text twin carries ANSI codes): the text without the tags
            parts.append(html.unescape(re.sub(r"<[^>]+>", "", data["text/html"])))
        elif "text/plain" in data:
            parts.append(data["text/plain"])
    return "\n".join(parts)


def test_search_run_in_a_notebook_without_ipywidgets_prints_a_line_per_trial(tiny_space, tmp_path):
    url = f"sqlite:///{tmp_path}/s.db"
    outputs = _execute(
        [
            "import sys\nsys.modules['ipywidgets'] = None  # as where ipywidgets is not installed",
            f"import search\nstudy = search.run({str(tiny_space)!r}, trials=3, storage={url!r}, workers=1)",
        ],
        tmp_path,
    )
    text = _text(outputs)
    assert "study tiny on" in text and "of 3 trials finished" in text, text  # the header
    lines = [line for line in text.splitlines() if line.startswith("trial ")]
    assert len([line for line in lines if "finished" in line and "/3" in line]) == 3, text  # one line per trial
    assert "study tiny: 3 of 3 trials finished; best trial #" in text, text  # the summary
    assert "== Status ==" not in text and "Trial Status" not in text  # nothing of Ray Tune's reporters


def test_search_run_in_a_notebook_with_ipywidgets_draws_the_live_table(tiny_space, tmp_path):
    pytest.importorskip("ipywidgets")
    url = f"sqlite:///{tmp_path}/s.db"
    outputs = _execute([f"import search\nstudy = search.run({str(tiny_space)!r}, trials=2, storage={url!r}, workers=1)"], tmp_path)
    text = _text(outputs)
    assert "study tiny on" in text and "study tiny: 2 of 2 trials finished; best trial #" in text, text
    widgets = [o for o in outputs if "application/vnd.jupyter.widget-view+json" in o.get("data", {})]
    assert widgets, json.dumps(outputs)[:2000]  # rich's live table, drawn in an ipywidgets Output
    assert not [line for line in text.splitlines() if line.startswith("trial ")]  # the table, not lines
    assert os.path.exists(tmp_path / "run.ipynb")
