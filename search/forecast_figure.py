"""Draw a forecast figure's data (``search.worker.forecast_view``, or ``search predict``'s
input tail and forecast) as plotly figures and HTML.

A leaf that reads plain JSON-ready dicts and imports neither torch nor Ray: the driver writes
the dashboard's HTML artifact with it when it keeps a new best checkpoint, and the results
side draws the report's section and ``search predict --plot`` with it (the driver and the
results side may not import each other, so it lives beside them).

- forecast: one panel per series shown (the test part's actual values, the model's forecasts
  and the naive and seasonal-naive forecasts on the same rows, each forecast's test MAE and
  RMSE in the legend; where the view holds ``bands``, the model's prediction intervals shaded
  around its forecast, the wider level lighter), then the residual panel: the mean absolute error by step ahead, and the
  model's error (actual minus forecast) over time;
- classify: the confusion matrix of the test windows (rows: the true class);
- text: the prompt, the model's greedy continuation (characters equal to the real text at the
  same position marked) and the real continuation;
- predict: per series, the input's tail and the forecast after its last row (with its
  ``bands`` shaded where the view holds them).

``search.forecast_svg`` draws the same forecast panels or confusion matrix as a static image.
"""

from __future__ import annotations

import html
from dataclasses import dataclass

COLORS = {"actual": "#212529", "model": "#1f77b4", "naive": "#8d99ae", "seasonal_naive": "#e76f51", "forecast": "#1f77b4"}
LABELS = {"model": "model", "naive": "naive", "seasonal_naive": "seasonal naive"}
DASH = {"model": "solid", "naive": "dot", "seasonal_naive": "dash"}
PLOT_CONFIG = {"displaylogo": False, "responsive": True}
PANEL_HEIGHT = 280  # pixels per series panel
BAND_RGB = "31,119,180"  # the model's blue; a level's band is shaded with it, the widest lightest
BAND_ALPHA = (0.28, 0.14)  # the narrowest level's opacity, the widest's (levels between: evenly)


@dataclass
class Part:
    """One piece of the figure: a plotly figure, or HTML (text), or a note saying why not."""

    key: str
    title: str
    caption: str
    figure: object | None = None
    html: str = ""
    note: str = ""


def parts(view: dict) -> list[Part]:
    """The pieces that draw ``view``, by its task."""
    if view.get("error"):
        return [Part("forecast", "Forecast", "", note=f"the figure could not be built: {view['error']}")]
    draw = {"forecast": _forecast_parts, "classify": _classify_parts, "text": _text_parts, "predict": _predict_parts}.get(view.get("task"))
    if draw is None:
        return [Part("forecast", "Forecast", "", note=f"unknown figure data (task {view.get('task')!r})")]
    return draw(view)


def fragment(view: dict, prefix: str = "fig") -> tuple[str, int]:
    """(HTML of every piece without plotly.js, the number of plotly figures in it)."""
    out, drawn = [], 0
    for p in parts(view):
        out.append(f'<div class="forecast-part" id="{prefix}-{p.key}-part"><h3>{html.escape(p.title)}</h3>')
        if p.caption:
            out.append(f'<p class="caption">{html.escape(p.caption)}</p>')
        if p.figure is not None:
            out.append(p.figure.to_html(full_html=False, include_plotlyjs=False, div_id=f"{prefix}-{p.key}", config=PLOT_CONFIG))
            drawn += 1
        elif p.html:
            out.append(p.html)
        else:
            out.append(f'<div class="note" data-skipped="{p.key}">{html.escape(p.note)}</div>')
        out.append("</div>")
    return "".join(out), drawn


PAGE_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 0 auto; max-width: 1200px;
       padding: 1.5rem; color: #212529; }
h1 { font-size: 1.5rem; margin: 0 0 .6rem; } h3 { font-size: 1.05rem; margin: 1.4rem 0 .3rem; }
.caption { color: #6c757d; margin: 0 0 .4rem; font-size: .9rem; }
.note { background: #f8f9fa; border-left: 4px solid #adb5bd; padding: .6rem .9rem; margin: .4rem 0; }
"""
TEXT_CSS = """
.text-sample { font-family: ui-monospace, monospace; white-space: pre-wrap; background: #f8f9fa; padding: .6rem .9rem;
               margin: .3rem 0 .8rem; border-radius: 4px; }
.text-sample .same { background: #c7ecd9; }
"""


def page(view: dict, title: str, lines: list[str] = (), plotly_artifact: str | None = None) -> str:
    """A self-contained HTML page (plotly.js embedded once, no network) drawing ``view``.

    ``plotly_artifact``: the id of the study's one plotly.js artifact, which the page loads
    instead of embedding it (4.6 MB per trial otherwise). From optuna-dashboard (``search
    dashboard`` or optuna-dashboard's own command) a trial's artifact is served at
    ``/artifacts/STUDY/TRIAL/ID`` and the study's at ``/artifacts/STUDY/ID``: ``../ID``. Opened
    from the artifact folder, where every artifact is a file named by its id: ``ID``."""
    body, _ = fragment(view)
    if plotly_artifact is not None:
        ident = html.escape(plotly_artifact)
        script = (
            f'<script type="text/javascript" src="../{ident}"></script>\n'
            f"<script type=\"text/javascript\">if (!window.Plotly) document.write('<script src=\"{ident}\"><\\/script>');</script>"
        )
    else:
        from plotly.offline import get_plotlyjs

        script = f'<script type="text/javascript">{get_plotlyjs()}</script>'

    intro = "".join(f'<p class="caption">{html.escape(line)}</p>' for line in lines)
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)}</title>
<style>{PAGE_CSS}{TEXT_CSS}</style>
{script}
</head>
<body>
<h1>{html.escape(title)}</h1>
{intro}
{body}
</body>
</html>
"""


# -- forecast


def fmt(v) -> str:
    return "-" if v is None else f"{v:.4g}"


def legend_name(kind: str, metrics: dict | None) -> str:
    """``model (test MAE 0.41, RMSE 0.52)``: the forecast's metrics over every test window."""
    m = metrics or {}
    return f"{LABELS.get(kind, kind)} (test MAE {fmt(m.get('mae'))}, RMSE {fmt(m.get('rmse'))})"


def broken(x: list, y: list, path: list[int], thinned: bool) -> tuple[list, list]:
    """The points with a gap (None) wherever the drawn window changes, so each window's
    forecast is its own line; a thinned panel stays one line."""
    if thinned or not path:
        return x, y
    xs, ys = [x[0]], [y[0]]
    for i in range(1, len(x)):
        if path[i] != path[i - 1]:
            xs.append(None)
            ys.append(None)
        xs.append(x[i])
        ys.append(y[i])
    return xs, ys


def _forecast_parts(view: dict) -> list[Part]:
    panels = view.get("series") or []
    if not panels:
        return [Part("forecast", "Forecast", "", note="the test part holds no window to forecast")]
    return [_forecast_part(view, panels), _residual_part(view, panels)]


def _forecast_part(view: dict, panels: list[dict]) -> Part:
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    horizon, kinds = view["horizon"], list(view["metrics"])
    titles = [panel_title(p) for p in panels]
    fig = make_subplots(rows=len(panels), cols=1, subplot_titles=titles, vertical_spacing=min(0.12, 0.3 / len(panels)))
    for row, p in enumerate(panels, start=1):
        thinned = len(p["x"]) < p["points"]
        add_bands(fig, p["x"], p.get("bands"), row)
        fig.add_trace(go.Scatter(x=p["x"], y=p["actual"], name="actual", mode="lines", line={"color": COLORS["actual"], "width": 1.5},
                                 legendgroup="actual", showlegend=row == 1), row=row, col=1)  # fmt: skip
        for kind in kinds:
            x, y = broken(p["x"], p["forecasts"][kind], p["path"], thinned or horizon == 1)
            fig.add_trace(
                go.Scatter(
                    x=x, y=y, mode="lines", name=legend_name(kind, view["metrics"][kind]), legendgroup=kind, showlegend=row == 1,
                    line={"color": COLORS[kind], "dash": DASH[kind], "width": 2 if kind == "model" else 1.2},
                ),  # fmt: skip
                row=row,
                col=1,
            )
        fig.update_yaxes(title_text=view["target"], row=row, col=1)
    fig.update_xaxes(title_text=view["x_title"], row=len(panels), col=1)
    fig.update_layout(template="plotly_white", height=120 + PANEL_HEIGHT * len(panels), margin={"t": 40, "l": 60, "r": 30, "b": 50})
    return Part("forecast", "Forecasts against the truth", _forecast_caption(view, panels), figure=fig)


def band_levels(bands: dict | None) -> list[str]:
    """The levels of a panel's ``bands`` (``{"80": {"lo": [...], "hi": [...]}}``), widest first."""
    return sorted(bands or {}, key=float, reverse=True)


def band_fill(level: str, levels: list[str]) -> str:
    """The fill colour of ``level`` among ``levels`` (widest first): lighter for a wider band."""
    i, n = levels.index(level), len(levels)
    alpha = BAND_ALPHA[0] if n == 1 else BAND_ALPHA[1] + (BAND_ALPHA[0] - BAND_ALPHA[1]) * i / (n - 1)
    return f"rgba({BAND_RGB},{alpha:.2f})"


def add_bands(fig, x: list, bands: dict | None, row: int) -> None:
    """Shade each level's band on panel ``row``, widest first so the narrower lies on top: its
    lower bound, then its upper bound filled down to it (neither draws a line) (``tonexty``); the legend
    names each once, ``80 % interval``."""
    import plotly.graph_objects as go

    levels = band_levels(bands)
    for level in levels:
        group = f"band-{level}"
        fig.add_trace(go.Scatter(x=x, y=bands[level]["lo"], mode="lines", line={"width": 0, "color": band_fill(level, levels)}, hoverinfo="skip",
                                 legendgroup=group, showlegend=False), row=row, col=1)  # fmt: skip
        fig.add_trace(go.Scatter(x=x, y=bands[level]["hi"], mode="lines", line={"width": 0, "color": band_fill(level, levels)}, fill="tonexty", fillcolor=band_fill(level, levels),
                                 name=f"{level} % interval", legendgroup=group, showlegend=row == 1, hoverinfo="skip"), row=row, col=1)  # fmt: skip


def panel_title(p: dict) -> str:
    name = f"series {p['name']}: " if p["name"] else ""
    m = p["metrics"]
    scores = ", ".join(f"{LABELS[k]} MAE {fmt(m[k]['mae'])}" for k in m)
    return f"{name}{scores}"


def _forecast_caption(view: dict, panels: list[dict]) -> str:
    h = view["horizon"]
    how = (
        "each test row's one-step-ahead forecast"
        if h == 1
        else f"the {h}-step forecasts of the windows {h} rows apart, each drawn from its origin over its whole horizon"
    )
    season = f"; seasonal naive repeats the value {view['season']} rows earlier" if view.get("season") else "; no season: no seasonal naive"
    shown = ""
    if view["series_total"] > len(panels):
        names = ", ".join(p["name"] for p in panels)
        shown = f" Showing the first {len(panels)} of {view['series_total']} series ({names}); the legend's metrics cover all of them."
    thinned = [p for p in panels if len(p["x"]) < p["points"]]
    thin = f" Long test parts are thinned to at most {view['max_points']} points per line, the last row kept." if thinned else ""
    levels = band_levels(panels[0].get("bands"))
    bands = f" Shaded: the model's {' and '.join(f'{v} %' for v in reversed(levels))} prediction intervals (calibrated on the validation part), the wider lighter." if levels else ""
    return f"The test part's actual {view['target']} and {how}, in the data's units; naive repeats the origin's value{season}.{shown}{thin}{bands}"


def _residual_part(view: dict, panels: list[dict]) -> Part:
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    fig = make_subplots(rows=1, cols=2, subplot_titles=["mean absolute error by step ahead", "model error over time (actual - forecast)"])
    steps = list(range(1, view["horizon"] + 1))
    for kind, errors in view["error_by_step"].items():
        fig.add_trace(go.Scatter(x=steps, y=errors, mode="lines+markers", name=LABELS[kind], legendgroup=kind,
                                 line={"color": COLORS[kind], "dash": DASH[kind]}), row=1, col=1)  # fmt: skip
    for p in panels:
        resid = [None if a is None or f is None else a - f for a, f in zip(p["actual"], p["forecasts"]["model"])]
        name = f"model error, series {p['name']}" if p["name"] else "model error"
        line = {"width": 1} if len(panels) > 1 else {"width": 1, "color": COLORS["model"]}  # one colour per series
        fig.add_trace(go.Scatter(x=p["x"], y=resid, mode="lines", name=name, line=line), row=1, col=2)
    fig.add_hline(y=0, line={"color": "#adb5bd", "width": 1}, row=1, col=2)
    fig.update_xaxes(title_text="step ahead", dtick=1 if view["horizon"] <= 24 else None, row=1, col=1)
    fig.update_xaxes(title_text=view["x_title"], row=1, col=2)
    fig.update_yaxes(title_text=f"MAE ({view['target']})", rangemode="tozero", row=1, col=1)
    fig.update_layout(template="plotly_white", height=360, margin={"t": 40, "l": 60, "r": 30, "b": 50})
    caption = "Left: each forecast's mean absolute error at each step ahead, over every test window. Right: the model's error on the rows drawn above."
    return Part("residuals", "Residuals", caption, figure=fig)


# -- classify and text


def _classify_parts(view: dict) -> list[Part]:
    import plotly.graph_objects as go

    classes, counts = view["classes"], view["counts"]
    fig = go.Figure(go.Heatmap(z=counts, x=classes, y=classes, colorscale="Blues", text=counts, texttemplate="%{text}",
                               hovertemplate="true %{y}, predicted %{x}: %{z} windows<extra></extra>"))  # fmt: skip
    fig.update_xaxes(title_text="predicted class", type="category", side="bottom")
    fig.update_yaxes(title_text="true class", type="category", autorange="reversed")
    fig.update_layout(template="plotly_white", height=max(320, 120 + 50 * len(classes)), width=None, margin={"t": 30, "l": 80, "r": 30, "b": 60})
    caption = f"The {view['windows']} test windows by true and predicted class; accuracy {fmt(view.get('accuracy'))}"
    if view.get("majority_class") is not None:
        caption += f" (always predicting the majority class {view['majority_class']!r}: {fmt(view.get('majority_accuracy'))})"
    return [Part("confusion", "Confusion matrix", caption + ".", figure=fig)]


def _text_parts(view: dict) -> list[Part]:
    generated, real = view["generated"], view["real"]
    marked = "".join(
        f'<span class="same">{html.escape(c)}</span>' if i < len(real) and c == real[i] else html.escape(c) for i, c in enumerate(generated)
    )
    body = (
        f"<style>{TEXT_CSS}</style>"
        f'<p class="caption">prompt (the start of the test part)</p><div class="text-sample" id="text-prompt">{html.escape(view["prompt"])}</div>'
        f'<p class="caption">the model\'s greedy continuation ({view["matching"]} of {view["compared"]} characters equal to the real text at the same position, marked)</p>'
        f'<div class="text-sample" id="text-generated">{marked}</div>'
        f'<p class="caption">the real continuation</p><div class="text-sample" id="text-real">{html.escape(real)}</div>'
    )
    return [Part("continuation", "A sample continuation", "", html=body)]


# -- search predict


def _predict_parts(view: dict) -> list[Part]:
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    panels = view["series"]
    titles = [f"series {p['name']}" if p["name"] else "" for p in panels]
    fig = make_subplots(rows=len(panels), cols=1, subplot_titles=titles, vertical_spacing=min(0.12, 0.3 / len(panels)))
    for row, p in enumerate(panels, start=1):
        fig.add_trace(go.Scatter(x=p["x"], y=p["actual"], name="input", mode="lines", line={"color": COLORS["actual"], "width": 1.5},
                                 legendgroup="input", showlegend=row == 1), row=row, col=1)  # fmt: skip
        if p.get("bands"):  # from the input's last row, where the forecast line starts: a one-step band has an area too
            start = p["actual"][-1]
            bands = {level: {"lo": [start, *b["lo"]], "hi": [start, *b["hi"]]} for level, b in p["bands"].items()}
            add_bands(fig, [p["x"][-1], *p["forecast_x"]], bands, row)
        # the forecast starts at the input's last row, so the two lines meet
        fig.add_trace(go.Scatter(x=[p["x"][-1], *p["forecast_x"]], y=[p["actual"][-1], *p["forecast"]], name=f"forecast ({_steps(view['horizon'])})",
                                 mode="lines+markers", line={"color": COLORS["forecast"], "width": 2}, marker={"size": 5},
                                 legendgroup="forecast", showlegend=row == 1), row=row, col=1)  # fmt: skip
        fig.update_yaxes(title_text=view["target"], row=row, col=1)
    fig.update_xaxes(title_text=view["x_title"], row=len(panels), col=1)
    fig.update_layout(template="plotly_white", height=120 + PANEL_HEIGHT * len(panels), margin={"t": 40, "l": 60, "r": 30, "b": 50})
    caption = f"The last {view['tail']} rows of the input and the model's forecast of the {_steps(view['horizon'])} after its last row."
    levels = band_levels(panels[0].get("bands") if panels else None)
    if levels:
        caption += f" Shaded: its {' and '.join(f'{v} %' for v in reversed(levels))} prediction intervals, the wider lighter."
    if view["series_total"] > len(panels):
        caption += f" Showing the first {len(panels)} of {view['series_total']} series."
    return [Part("predict", "Forecast after the input", caption, figure=fig)]


def _steps(n: int) -> str:
    return f"{n} step" if n == 1 else f"{n} steps"
