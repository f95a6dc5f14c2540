"""A forecast figure's data (``search.worker.forecast_view``) drawn as a static SVG image,
without plotly: the forecast panels (actual values, the model's and the naive forecasts, the
prediction bands where the view holds them) or the confusion matrix. optuna-dashboard previews
images among a trial's artifacts but only links HTML, so the driver uploads this beside the
interactive page (``search.forecast_figure``). A leaf like it: plain dicts in, text out."""

from __future__ import annotations

import html

from search.forecast_figure import COLORS, panel_title, band_fill, band_levels, fmt, legend_name

SVG_WIDTH = 900
SVG_PANEL = 240  # pixels per series panel
SVG_LEGEND_ROW = 18  # pixels per row of the legend
SVG_LEFT, SVG_RIGHT, SVG_TOP, SVG_BOTTOM = 64, 16, 26, 28  # plot margins inside a panel


def svg(view: dict) -> str | None:
    """A static SVG of ``view`` that optuna-dashboard previews among a trial's artifacts (it
    shows images inline, not HTML): the forecast panels (no residuals), or the confusion
    matrix; None for other figures (text) or a view that says why it has none."""
    if view.get("error"):
        return None
    if view.get("task") == "forecast" and view.get("series"):
        return _svg_forecast(view)
    if view.get("task") == "classify" and view.get("counts"):
        return _svg_confusion(view)
    return None


def _svg_doc(width: int, height: int, body: list[str]) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        f'font-family="sans-serif" font-size="11"><rect width="{width}" height="{height}" fill="#ffffff"/>{"".join(body)}</svg>\n'
    )


def _svg_text(x: float, y: float, text: str, anchor: str = "start", color: str = "#495057", size: int = 11) -> str:
    return f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" fill="{color}" font-size="{size}">{html.escape(text)}</text>'


def _svg_forecast(view: dict) -> str:
    panels, kinds = view["series"], list(view["metrics"])
    levels = band_levels(panels[0].get("bands"))
    legend = [("actual", "actual")] + [(k, legend_name(k, view["metrics"][k])) for k in kinds] + [(f"band {v}", f"{v} % interval") for v in levels]
    body, x, y = [], 8.0, 12
    for kind, name in legend:  # legend rows on top, a new row where the width ends
        width = 34 + 6.2 * len(name)
        if x > 8 and x + width > SVG_WIDTH:
            x, y = 8.0, y + SVG_LEGEND_ROW
        if kind.startswith("band "):
            body.append(f'<rect x="{x:.1f}" y="{y - 5}" width="22" height="10" fill="{band_fill(kind[5:], levels)}"/>')
        else:
            body.append(f'<line x1="{x:.1f}" y1="{y}" x2="{x + 22:.1f}" y2="{y}" stroke="{COLORS[kind]}" stroke-width="2"{_svg_dash(kind)}/>')
        body.append(_svg_text(x + 26, y + 4, name))
        x += width
    top = y + 12
    for i, p in enumerate(panels):
        body.append(_svg_panel(view, p, kinds, top + i * SVG_PANEL))
    return _svg_doc(SVG_WIDTH, top + SVG_PANEL * len(panels), body)


def _svg_dash(kind: str) -> str:
    return {"naive": ' stroke-dasharray="2,3"', "seasonal_naive": ' stroke-dasharray="7,4"'}.get(kind, "")


def _svg_panel(view: dict, p: dict, kinds: list[str], top: float) -> str:
    """One series: its box, three y labels, the first and last x labels, a line per trace."""
    bands = p.get("bands") or {}
    values = [v for trace in (p["actual"], *p["forecasts"].values(), *(b[k] for b in bands.values() for k in ("lo", "hi"))) for v in trace if v is not None]
    low, high = (min(values), max(values)) if values else (0.0, 1.0)
    high = high if high > low else low + 1.0
    x0, x1 = SVG_LEFT, SVG_WIDTH - SVG_RIGHT
    y0, y1 = top + SVG_TOP, top + SVG_PANEL - SVG_BOTTOM
    n = max(len(p["x"]) - 1, 1)

    def xy(i: int, v: float) -> str:
        return f"{x0 + (x1 - x0) * i / n:.1f},{y1 - (y1 - y0) * (v - low) / (high - low):.1f}"

    out = [f'<rect x="{x0}" y="{y0}" width="{x1 - x0}" height="{y1 - y0}" fill="none" stroke="#dee2e6"/>']
    out.append(_svg_text((x0 + x1) / 2, top + 16, panel_title(p), "middle", "#212529", 12))
    for frac in (0.0, 0.5, 1.0):
        v = low + (high - low) * frac
        out.append(_svg_text(x0 - 6, y1 - (y1 - y0) * frac + 4, f"{v:.4g}", "end"))
    out.append(_svg_text(x0, y1 + 16, str(p["x"][0])))
    out.append(_svg_text(x1, y1 + 16, str(p["x"][-1]), "end"))
    thinned = len(p["x"]) < p["points"] or view["horizon"] == 1
    levels = band_levels(bands)
    for level in levels:  # each band a closed polygon: along its upper bound, back along its lower
        ring = [(i, v) for i, v in enumerate(bands[level]["hi"]) if v is not None]
        ring += [(i, v) for i, v in reversed(list(enumerate(bands[level]["lo"]))) if v is not None]
        if ring:
            out.append(f'<path d="M{" L".join(xy(i, v) for i, v in ring)} Z" fill="{band_fill(level, levels)}" stroke="none" data-band="{level}"/>')
    for kind, trace in [("actual", p["actual"])] + [(k, p["forecasts"][k]) for k in kinds]:
        d, pen_up = [], True
        for i, v in enumerate(trace):
            new_window = kind != "actual" and not thinned and i > 0 and p["path"][i] != p["path"][i - 1]
            if v is None or new_window:
                pen_up = True
            if v is not None:
                d.append(("M" if pen_up else "L") + xy(i, v))
                pen_up = False
        width = 2 if kind == "model" else 1.3
        out.append(f'<path d="{" ".join(d)}" fill="none" stroke="{COLORS[kind]}" stroke-width="{width}"{_svg_dash(kind)}/>')
    return "".join(out)


def _svg_confusion(view: dict) -> str:
    classes, counts = view["classes"], view["counts"]
    cell, left, top = min(90, 560 // max(len(classes), 1)), 110, 40
    largest = max(max(row) for row in counts) or 1
    body = [_svg_text(8, 18, f"test windows by true (rows) and predicted class (columns); accuracy {fmt(view.get('accuracy'))}", color="#212529", size=12)]
    for i, row in enumerate(counts):
        body.append(_svg_text(left - 8, top + cell * i + cell / 2 + 4, classes[i], "end"))
        for j, count in enumerate(row):
            shade = count / largest  # white to the plot's blue
            fill = "#{:02x}{:02x}{:02x}".format(*(round(255 + (c - 255) * shade) for c in (0x08, 0x30, 0x6B)))
            body.append(f'<rect x="{left + cell * j}" y="{top + cell * i}" width="{cell}" height="{cell}" fill="{fill}" stroke="#ffffff"/>')
            ink = "#ffffff" if shade > 0.5 else "#212529"
            body.append(_svg_text(left + cell * j + cell / 2, top + cell * i + cell / 2 + 4, str(count), "middle", ink, 12))
    for j, name in enumerate(classes):
        body.append(_svg_text(left + cell * j + cell / 2, top + cell * len(classes) + 16, name, "middle"))
    return _svg_doc(max(left + cell * len(classes) + 20, 520), top + cell * len(classes) + 30, body)
