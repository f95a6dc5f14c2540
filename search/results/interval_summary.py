"""The served forecaster's prediction intervals beside the classical baselines' own, for
``search best`` and the report's summary.

A forecasting study scores every trial's intervals on its test part (``search.worker.uncertainty``:
the trial attrs ``test_coverage_80``, ``test_interval_score_80``, ...) and records MSTL's,
AutoETS's and AutoTheta's own intervals (statsforecast's ``level=``) on exactly the same test
targets (``search.worker.stat_baselines``: ``baseline_mstl_test_interval_score_80``, ...). The
figures shown are the served forecaster's (``served["intervals"]["test"]``) where the study
records them, else the best trial's; the ratio is against the baseline with the lowest interval
score over the same levels:

    test intervals of trial #3: coverage 79.6 % at 80 %, 94.1 % at 95 %; interval score 0.84x MSTL

A study made before intervals (no ``coverage_*`` figure) has no line.
"""

from __future__ import annotations

import math
import re
from typing import Any

_COVERAGE = re.compile(r"^coverage_(\d+(?:\.\d+)?)$")


def figures_shown(summary: dict[str, Any]) -> tuple[dict[str, Any], str] | None:
    """The test interval figures to show for a ``best_summary`` and whose they are: the served
    forecaster's recorded ones (``served["intervals"]["test"]``), else the best trial's own
    (its ``test_*`` metrics); None when neither holds a coverage."""
    served = summary.get("served") or {}
    recorded = (served.get("intervals") or {}).get("test") if isinstance(served.get("intervals"), dict) else None
    if isinstance(recorded, dict) and _levels(recorded):
        return recorded, f"the served forecaster ({served.get('label', 'served')})"
    if _levels(summary.get("test") or {}):
        return summary["test"], f"trial #{summary['trial']}"
    return None


def _levels(figures: dict[str, Any]) -> list[str]:
    """The levels with a coverage figure, as their key suffix ('80', '97.5'), ascending."""
    found = [m.group(1) for m in (_COVERAGE.match(k) for k, v in figures.items() if isinstance(v, (int, float))) if m]
    return sorted(found, key=float)


def _mean_score(figures: dict[str, Any], levels: list[str]) -> float | None:
    values = [figures.get(f"interval_score_{level}") for level in levels]
    if not values or not all(isinstance(v, (int, float)) and math.isfinite(v) for v in values):
        return None
    return sum(values) / len(values)


def baseline_scores(study_attrs: dict[str, Any], labels: dict[str, str], levels: list[str], part: str = "test") -> dict[str, float]:
    """Each statistical baseline's (``labels``: name -> label) mean interval score over
    ``levels`` on ``part``, by label; only the baselines that recorded every one of those levels."""
    out = {}
    for name, label in labels.items():
        score = _mean_score({k[len(f"baseline_{name}_{part}_"):]: v for k, v in study_attrs.items() if k.startswith(f"baseline_{name}_{part}_")}, levels)
        if score is not None and score > 0:
            out[label] = score
    return out


def interval_summary(summary: dict[str, Any], study_attrs: dict[str, Any], labels: dict[str, str], running: list[str] = ()) -> dict[str, Any] | None:
    """What ``search best`` shows about intervals (see the module docstring) for a
    ``best_summary`` and its study's attrs: whose figures, the coverage per level, the mean
    interval score, the statistical baselines' (``labels``: name -> label; ``running``: the
    labels still running beside the trials) and the ratio to the best of them, and ``line``;
    None without interval figures (an old study, another task)."""
    shown = figures_shown(summary)
    if shown is None:
        return None
    figures, whose = shown
    levels = _levels(figures)
    coverage = ", ".join(f"{figures[f'coverage_{level}']:.1f} % at {level} %" for level in levels)
    score = _mean_score(figures, levels)
    out: dict[str, Any] = {"of": whose, "levels": [float(level) for level in levels],
                           "coverage": {level: figures[f"coverage_{level}"] for level in levels}, "interval_score": score}  # fmt: skip
    theirs = baseline_scores(study_attrs, labels, levels)
    pending = list(running)
    text = f"interval score {score:.4g}" if score is not None else ""
    if theirs and score is not None:
        out["baselines"] = theirs
        ranked = sorted(theirs.items(), key=lambda kv: kv[1])
        shown_ratios = ranked[:1] if not pending else ranked  # a stronger one may still come: none leads
        out["versus"] = {"baseline": ranked[0][0], "ratio": score / ranked[0][1]}
        text = "interval score " + ", ".join(f"{score / base:.2f}x {label}" for label, base in shown_ratios)
    if pending:
        text += "".join(f", {label}: running" for label in pending)
    out["line"] = f"test intervals of {whose}: coverage {coverage}" + (f"; {text}" if text else "")
    return out
