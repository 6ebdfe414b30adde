"""Pictures of one ring: its accounts and the identifiers they share.

The picture holds the ring's members and every identifier that two or more
members hold, with an edge from each member to each of its shared
identifiers. Identifiers are coloured by kind; hubs (above their kind's
degree cap, or allow-listed: they link nothing) are drawn as diamonds with
a thick dashed border. Identifiers held by one member only are left out:
they say nothing about the ring and would bury what does.

Layout is networkx's spring layout with a fixed seed, so the same ring is
drawn the same way every time. :func:`write_png` draws with matplotlib's
Agg backend; :func:`write_html` writes one self-contained HTML file with an
inline SVG (hover a node for its details) and needs no network.
"""

from __future__ import annotations

import html
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ringfence.config import Config
from ringfence.graph.base import GraphStore
from ringfence.identify import IdentifierRules
from ringfence.queries import ring_view

__all__ = ["KIND_COLOURS", "RingPicture", "ring_picture", "write_html", "write_png"]

#: Fill colour of each built-in identifier kind.
KIND_COLOURS: dict[str, str] = {
    "national_id": "#d62728",
    "phone": "#1f77b4",
    "email": "#2ca02c",
    "device": "#9467bd",
    "ip": "#8c564b",
    "address": "#ff7f0e",
}
_EXTRA_COLOURS = ("#17becf", "#bcbd22", "#e377c2", "#7f7f7f", "#aec7e8",
                  "#98df8a", "#c5b0d5")
_DECISION_COLOURS = {"decline": "#f4cccc", "review": "#fff2cc", "allow": "#eeeeee"}
_LAYOUT_SEED = 7


@dataclass(slots=True)
class RingPicture:
    """A ring as nodes and edges with positions in [0, 1] x [0, 1].

    Attributes:
        ring_id: The ring.
        run_id: Its run.
        score: Ring score.
        status: Lineage status.
        accounts: ``{"node", "account_id", "decision", "x", "y"}`` per member.
        identifiers: ``{"node", "kind", "display", "members", "degree",
            "hub", "x", "y"}`` per shared identifier (no keys: national ids
            appear only masked).
        edges: ``(account node, identifier node)`` pairs.
    """

    ring_id: str
    run_id: str
    score: float
    status: str
    accounts: list[dict[str, Any]] = field(default_factory=list)
    identifiers: list[dict[str, Any]] = field(default_factory=list)
    edges: list[tuple[str, str]] = field(default_factory=list)

    def colour(self, kind: str) -> str:
        """Fill colour of ``kind`` (extra kinds get a stable colour each)."""
        if kind in KIND_COLOURS:
            return KIND_COLOURS[kind]
        extra = sorted({i["kind"] for i in self.identifiers} - set(KIND_COLOURS))
        return _EXTRA_COLOURS[extra.index(kind) % len(_EXTRA_COLOURS)]

    def kinds(self) -> list[str]:
        """Kinds present, built-in order first."""
        present = {i["kind"] for i in self.identifiers}
        ordered = [k for k in KIND_COLOURS if k in present]
        return ordered + sorted(present - set(KIND_COLOURS))


def ring_picture(
    store: GraphStore, config: Config, ring_id: str, run_id: str | None = None
) -> RingPicture:
    """Build the picture of a ring from the store's read primitives.

    Raises:
        InputError: No such ring in the run.
    """
    import networkx as nx

    view = ring_view(store, ring_id, run_id)
    rules = IdentifierRules(config)
    members = [str(m) for m in view["members"]]
    decision = {str(m["account_id"]): m["decision"] for m in view["member_decisions"]}
    links = store.links(members)
    holders: dict[tuple[str, str], list[str]] = {}
    display: dict[tuple[str, str], str] = {}
    for account_id, kind, key, disp in zip(
        links["account_id"], links["kind"], links["key"], links["display"],
        strict=True,
    ):
        ident = (str(kind), str(key))
        holders.setdefault(ident, []).append(str(account_id))
        display[ident] = str(disp)
    shared = sorted(i for i, accs in holders.items() if len(accs) >= 2)
    held = store.sharers(shared, limit=1) if shared else None
    degree = {} if held is None else {
        (str(k), str(v)): int(d)
        for k, v, d in zip(held["kind"], held["key"], held["degree"], strict=True)
    }

    pic = RingPicture(ring_id=str(view["ring_id"]), run_id=str(view["run_id"]),
                      score=float(view["score"]), status=str(view["status"]))
    graph = nx.Graph()
    for n, account_id in enumerate(members):
        node = f"a{n}"
        graph.add_node(node)
        pic.accounts.append({"node": node, "account_id": account_id,
                             "decision": decision.get(account_id) or "allow"})
    node_of = {a["account_id"]: a["node"] for a in pic.accounts}
    for n, ident in enumerate(shared):
        node = f"i{n}"
        deg = degree.get(ident, len(holders[ident]))
        pic.identifiers.append({
            "node": node, "kind": ident[0], "display": display[ident],
            "members": len(holders[ident]), "degree": deg,
            "hub": rules.hub_reason(ident[0], ident[1], deg) is not None,
        })
        for account_id in sorted(holders[ident]):
            graph.add_edge(node_of[account_id], node)
            pic.edges.append((node_of[account_id], node))

    # A spring layout started from Kamada-Kawai: the latter spreads chains
    # and clusters evenly over the page, the springs then untangle
    # neighbours. Both are deterministic with the fixed seed.
    start = nx.kamada_kawai_layout(graph) if graph.number_of_nodes() > 2 else None
    k = 1.2 / math.sqrt(max(graph.number_of_nodes(), 1))
    pos = nx.spring_layout(graph, pos=start, seed=_LAYOUT_SEED, k=k, iterations=60)
    xs = [float(p[0]) for p in pos.values()] or [0.0]
    ys = [float(p[1]) for p in pos.values()] or [0.0]
    span_x = (max(xs) - min(xs)) or 1.0
    span_y = (max(ys) - min(ys)) or 1.0
    for item in (*pic.accounts, *pic.identifiers):
        x, y = pos[item["node"]]
        item["x"] = (float(x) - min(xs)) / span_x
        item["y"] = (float(y) - min(ys)) / span_y
    return pic


def _figure_inches(pic: RingPicture) -> tuple[float, float]:
    n = len(pic.accounts) + len(pic.identifiers)
    width = min(max(10.0, 2.2 * math.sqrt(n)), 24.0)
    return width, width * 0.75


def write_png(pic: RingPicture, path: str | Path, *, dpi: int = 100) -> Path:
    """Draw the ring to a PNG file (at least 1000 x 750 pixels at 100 dpi)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    width, height = _figure_inches(pic)
    fig, ax = plt.subplots(figsize=(width, height), dpi=dpi)
    try:
        where = {i["node"]: (i["x"], i["y"]) for i in (*pic.accounts, *pic.identifiers)}
        for a, i in pic.edges:
            (x0, y0), (x1, y1) = where[a], where[i]
            ax.plot([x0, x1], [y0, y1], color="#999999", linewidth=0.8, zorder=1)
        small = len(pic.accounts) > 25
        for acc in pic.accounts:
            ax.scatter(acc["x"], acc["y"], s=220 if small else 420, marker="o",
                       facecolor=_DECISION_COLOURS.get(acc["decision"], "#eeeeee"),
                       edgecolor="#333333", linewidth=1.0, zorder=3)
            ax.annotate(acc["account_id"], (acc["x"], acc["y"]), fontsize=6 if small
                        else 8, ha="center", va="center", zorder=4)
        for ident in pic.identifiers:
            colour = pic.colour(ident["kind"])
            ax.scatter(ident["x"], ident["y"], s=260 if ident["hub"] else 160,
                       marker="D" if ident["hub"] else "s", facecolor=colour,
                       edgecolor="black" if ident["hub"] else "white",
                       linewidth=2.5 if ident["hub"] else 0.8,
                       linestyle="--" if ident["hub"] else "-", zorder=3)
            label = _short(ident["display"], 22)
            ax.annotate(label, (ident["x"], ident["y"]), xytext=(0, -11),
                        textcoords="offset points", fontsize=6, ha="center",
                        va="top", color="#222222", zorder=4)
        handles = [
            Line2D([], [], marker="s", linestyle="", markerfacecolor=pic.colour(k),
                   markeredgecolor="white", markersize=9, label=k)
            for k in pic.kinds()
        ]
        handles.append(Line2D([], [], marker="D", linestyle="", markersize=9,
                              markerfacecolor="white", markeredgecolor="black",
                              markeredgewidth=2, label="hub (links nothing)"))
        handles += [
            Line2D([], [], marker="o", linestyle="", markersize=9,
                   markerfacecolor=c, markeredgecolor="#333333",
                   label=f"account: {d}")
            for d, c in _DECISION_COLOURS.items()
        ]
        ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.0, 1.0),
                  fontsize=8, frameon=False)
        ax.set_title(f"ring {pic.ring_id}: {len(pic.accounts)} accounts, "
                     f"score {pic.score:.2f}, {pic.status} (run {pic.run_id})",
                     fontsize=10)
        ax.set_xlim(-0.06, 1.06)
        ax.set_ylim(-0.08, 1.06)
        ax.axis("off")
        fig.tight_layout()
        out = Path(path)
        fig.savefig(out, format="png", dpi=dpi)
    finally:
        plt.close(fig)
    return out


def _short(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def write_html(pic: RingPicture, path: str | Path) -> Path:
    """Write the ring as one self-contained HTML file with an inline SVG."""
    out = Path(path)
    out.write_text(render_html(pic), encoding="utf-8")
    return out


def render_html(pic: RingPicture) -> str:
    """The HTML page of :func:`write_html` as text."""
    esc = html.escape
    width_in, height_in = _figure_inches(pic)
    w, h = int(width_in * 80), int(height_in * 80)
    pad = 40

    def px(item: dict[str, Any]) -> tuple[float, float]:
        return (pad + item["x"] * (w - 2 * pad), pad + (1 - item["y"]) * (h - 2 * pad))

    where = {i["node"]: px(i) for i in (*pic.accounts, *pic.identifiers)}
    parts = [f'<svg width="{w}" height="{h}" '
             f'viewBox="0 0 {w} {h}" role="img" '
             f'aria-label="ring {esc(pic.ring_id)}">']
    for a, i in pic.edges:
        (x0, y0), (x1, y1) = where[a], where[i]
        parts.append(f'<line x1="{x0:.1f}" y1="{y0:.1f}" x2="{x1:.1f}" '
                     f'y2="{y1:.1f}" stroke="#999" stroke-width="1"/>')
    for ident in pic.identifiers:
        x, y = where[ident["node"]]
        tip = (f"{ident['kind']} {ident['display']}: {ident['members']} members, "
               f"{ident['degree']} accounts in all")
        if ident["hub"]:
            tip += " (hub: links nothing)"
        fill = pic.colour(ident["kind"])
        if ident["hub"]:
            shape = (f'<polygon points="{x:.1f},{y - 10:.1f} {x + 10:.1f},{y:.1f} '
                     f'{x:.1f},{y + 10:.1f} {x - 10:.1f},{y:.1f}" fill="{fill}" '
                     'stroke="#000" stroke-width="3" stroke-dasharray="4 2"/>')
        else:
            shape = (f'<rect x="{x - 7:.1f}" y="{y - 7:.1f}" width="14" height="14" '
                     f'fill="{fill}" stroke="#fff"/>')
        parts.append(f'<g><title>{esc(tip)}</title>{shape}'
                     f'<text x="{x:.1f}" y="{y + 20:.1f}" font-size="9" '
                     f'text-anchor="middle">{esc(_short(ident["display"], 22))}</text>'
                     '</g>')
    for acc in pic.accounts:
        x, y = where[acc["node"]]
        fill = _DECISION_COLOURS.get(acc["decision"], "#eee")
        parts.append(f'<g><title>{esc(acc["account_id"])}: {esc(acc["decision"])}'
                     f'</title><circle cx="{x:.1f}" cy="{y:.1f}" r="13" '
                     f'fill="{fill}" stroke="#333"/><text x="{x:.1f}" '
                     f'y="{y + 3:.1f}" font-size="8" text-anchor="middle">'
                     f'{esc(_short(acc["account_id"], 12))}</text></g>')
    parts.append("</svg>")

    legend = "".join(
        f'<span class="key"><i style="background:{pic.colour(k)}"></i>{esc(k)}</span>'
        for k in pic.kinds()
    ) + ('<span class="key"><i class="hub"></i>hub (links nothing)</span>')
    ident_rows = "".join(
        f"<tr><td>{esc(i['kind'])}</td><td>{esc(i['display'])}</td>"
        f"<td>{i['members']}</td><td>{i['degree']}</td>"
        f"<td>{'yes' if i['hub'] else ''}</td></tr>"
        for i in pic.identifiers
    )
    member_rows = "".join(
        f"<tr><td>{esc(a['account_id'])}</td><td>{esc(a['decision'])}</td></tr>"
        for a in pic.accounts
    )
    title = f"ring {pic.ring_id}"
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{esc(title)}</title>
<style>
body {{ font-family: sans-serif; margin: 1.5em; color: #222; }}
table {{ border-collapse: collapse; margin: 1em 0; font-size: 0.9em; }}
td, th {{ border: 1px solid #ccc; padding: 2px 8px; text-align: left; }}
.key {{ margin-right: 1.2em; white-space: nowrap; }}
.key i {{ display: inline-block; width: 12px; height: 12px; margin-right: 4px;
          vertical-align: middle; }}
.key i.hub {{ border: 2px dashed #000; transform: rotate(45deg); }}
svg {{ border: 1px solid #ddd; max-width: 100%; height: auto; }}
</style></head><body>
<h1>{esc(title)}</h1>
<p>{len(pic.accounts)} accounts, score {pic.score:.3f}, status {esc(pic.status)},
run {esc(pic.run_id)}. Identifiers held by a single member are not drawn.</p>
<p>{legend}</p>
{"".join(parts)}
<h2>Shared identifiers</h2>
<table><tr><th>kind</th><th>value</th><th>members</th><th>accounts in all</th>
<th>hub</th></tr>{ident_rows}</table>
<h2>Members</h2>
<table><tr><th>account</th><th>decision</th></tr>{member_rows}</table>
</body></html>
"""
