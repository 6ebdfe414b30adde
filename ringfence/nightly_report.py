"""The nightly HTML report: one self-contained file per night.

Plots are drawn with matplotlib's Agg backend and embedded as base64 PNG
data URIs; styles are inline. The file loads nothing from anywhere, so it
can be mailed or archived as is. It holds account and ring ids, counts and
scores, never identifier values.
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Sequence
from typing import Any

import pandas as pd

__all__ = ["render_report"]

_TOP_RINGS = 25
_MAX_LISTED = 200
_STATUS_ORDER = ("new", "grown", "shrunk", "changed", "merged", "split", "same")


def _png(values: Sequence[float], *, bins: Any, xlabel: str, title: str) -> str:
    """A histogram of ``values`` as a PNG ``data:`` URI."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 3.6), dpi=100)
    try:
        _hist(ax, values, bins)
        ax.set_xlabel(xlabel)
        ax.set_ylabel("rings")
        ax.set_title(title, fontsize=10)
        fig.tight_layout()
        buf = io.BytesIO()
        fig.savefig(buf, format="png")
    finally:
        plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _hist(ax: Any, values: Sequence[float], bins: Any) -> None:
    from matplotlib.ticker import MaxNLocator

    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    if len(values):
        ax.hist(values, bins=bins, color="#4c72b0", edgecolor="white")
    else:
        ax.text(0.5, 0.5, "no rings", ha="center", va="center",
                transform=ax.transAxes)


def _table(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> str:
    if not rows:
        return "<p><em>none</em></p>"
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(_cell(r.get(c)))}</td>" for c in columns)
        + "</tr>"
        for r in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:,.2f}" if abs(value) >= 100 else f"{value:.3f}"
    return str(value)


def _ids(ids: Sequence[str]) -> str:
    if not ids:
        return "<em>none</em>"
    shown = ", ".join(html.escape(str(i)) for i in ids[:_MAX_LISTED])
    more = len(ids) - _MAX_LISTED
    return shown + (f" … and {more} more" if more > 0 else "")


def render_report(record: dict[str, Any], rings: pd.DataFrame) -> str:
    """Render a night's run record and rings as one HTML page.

    Args:
        record: The run record written by :func:`ringfence.nightly.run_night`.
        rings: The run's rings (``GraphStore.rings(run_id)``).

    Returns:
        The HTML text.
    """
    sizes = [int(s) for s in rings["size"]] if len(rings) else []
    scores = [float(s) for s in rings["score"]] if len(rings) else []
    top = (rings.sort_values(["score", "ring_id"], ascending=[False, True])
           .head(_TOP_RINGS) if len(rings) else rings)
    top_rows = [
        {"ring_id": str(rid), "size": int(size), "score": float(score),
         "exposure": float(exposure), "status": str(status)}
        for rid, size, score, exposure, status in zip(
            top["ring_id"].tolist(), top["size"].tolist(), top["score"].tolist(),
            top["exposure"].tolist(), top["status"].tolist(), strict=True)
    ] if len(top) else []
    size_bins = range(2, max(sizes, default=2) + 2)
    size_png = _png(sizes, bins=list(size_bins), xlabel="members",
                    title="Ring sizes")
    score_png = _png(scores, bins=[i / 20 for i in range(21)],
                     xlabel="ring score", title="Ring scores")

    changes = record["changes"]
    status_rows = [
        {"status": s, "rings": len(changes["rings"].get(s, [])),
         "ids": ", ".join(changes["rings"].get(s, [])[:20])
         + (" …" if len(changes["rings"].get(s, [])) > 20 else "")}
        for s in _STATUS_ORDER if s in changes["rings"]
    ]
    inputs = [{"table": i["table"], "file": i["path"], "bytes": i["bytes"],
               "sha256": i["sha256"][:16] + "…"} for i in record["inputs"]]
    loads = [{"file": r["source"], "read": r["rows_read"],
              "accepted": r["rows_accepted"], "rejected": r["rows_rejected"]}
             for r in record["loads"]]
    metrics = [{"metric": k, "value": v} for k, v in record["metrics"].items()]
    exp = record["export"]
    model = record.get("model")
    esc = html.escape
    title = f"ringfence night {record['date']}"
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{esc(title)}</title>
<style>
body {{ font-family: sans-serif; margin: 1.5em; color: #222; max-width: 70em; }}
table {{ border-collapse: collapse; margin: 0.6em 0 1.2em; font-size: 0.9em; }}
td, th {{ border: 1px solid #ccc; padding: 2px 8px; text-align: left; }}
.plots img {{ margin-right: 1em; border: 1px solid #ddd; }}
</style></head><body>
<h1>{esc(title)}</h1>
<p>Run <code>{esc(record['run_id'])}</code>, previous run
<code>{esc(str(record.get('previous_run_id')))}</code>; store {esc(record['store'])};
{record['seconds']:.1f} s. Flagged accounts exported: <b>{exp['rows']}</b>
({exp['added']} added, {exp['removed']} removed).
{('GNN model ' + esc(str(model.get('version')))) if model else 'No GNN.'}</p>
<h2>Changes since the previous run</h2>
{_table(status_rows, ["status", "rings", "ids"])}
<p>Rings gone: {_ids(changes['rings_gone'])}</p>
<p>Accounts added to the flagged list: {_ids(changes['flagged_added'])}</p>
<p>Accounts removed from the flagged list: {_ids(changes['flagged_removed'])}</p>
<h2>Rings</h2>
<div class="plots"><img alt="ring size histogram" src="{size_png}">
<img alt="ring score histogram" src="{score_png}"></div>
<h3>Top {len(top_rows)} rings by score</h3>
{_table(top_rows, ["ring_id", "size", "score", "exposure", "status"])}
<h2>Inputs</h2>
{_table(inputs, ["table", "file", "bytes", "sha256"])}
{_table(loads, ["file", "read", "accepted", "rejected"])}
<h2>Detection metrics</h2>
{_table(metrics, ["metric", "value"])}
</body></html>
"""
