"""The service graph of an impact, laid out for the report page's SVG.

Services are nodes, edges the calls between them; each is coloured by its
verdict, each edge labelled with its calls and what changed. The layout is
layered: a service stands one column right of its furthest caller (a
cycle is cut where it closes), callers' order kept down each column. The
page only draws what this computes, so the report needs no layout code
and no network.
"""
from typing import Any, Dict, List, Set, Tuple

from chaostracing._impact.analysis import Impact, UnitResult
from chaostracing._impact.units import EDGE, SERVICE
from chaostracing._impact.verdicts import IMPACTED, UNCHANGED

__all__ = ["layout"]

#: the node's box, and the space between columns and rows (SVG units)
NODE_W, NODE_H, COLUMN, ROW, MARGIN = 170, 38, 270, 74, 24


def layout(impact: Impact) -> Dict[str, Any]:
    """``{"width", "height", "nodes": [...], "edges": [...]}``: a node has
    ``name``, ``verdict`` (its service unit's; ``impacted`` for a callee an
    impacted edge put in the blast radius; ``none`` for a service with no
    entry span), ``origin`` (likely origin), ``x``, ``y``, ``w``, ``h``; an
    edge ``caller``, ``callee``, ``verdict``, ``label``, and its ends
    ``x1``, ``y1``, ``x2``, ``y2``."""
    edges = [r for r in impact.results if r.unit.kind == EDGE]
    verdict = {r.unit.first: r.verdict for r in impact.results
               if r.unit.kind == SERVICE}
    names: List[str] = []
    for result in impact.results:
        for name in result.unit.services:
            if name not in names:
                names.append(name)
    for name in impact.blast_radius:
        if verdict.get(name) != IMPACTED:
            verdict[name] = IMPACTED
    depth = _depths(sorted(names), [(r.unit.first, r.unit.second)
                                    for r in edges])
    columns: Dict[int, List[str]] = {}
    for name in sorted(names, key=lambda n: (depth[n], n)):
        columns.setdefault(depth[name], []).append(name)
    place: Dict[str, Dict[str, Any]] = {}
    for column, members in columns.items():
        for row, name in enumerate(members):
            place[name] = {
                "name": name, "verdict": verdict.get(name, "none"),
                "origin": name in impact.likely_origin,
                "x": MARGIN + column * COLUMN, "y": MARGIN + row * ROW,
                "w": NODE_W, "h": NODE_H,
            }
    drawn = []
    for result in edges:
        a, b = place[result.unit.first], place[result.unit.second]
        drawn.append({
            "caller": result.unit.first, "callee": result.unit.second,
            "verdict": result.verdict, "label": _label(result),
            "x1": a["x"] + NODE_W, "y1": a["y"] + NODE_H // 2,
            "x2": b["x"], "y2": b["y"] + NODE_H // 2,
        })
    rows = max((len(m) for m in columns.values()), default=0)
    return {
        "width": MARGIN * 2 + max(len(columns) - 1, 0) * COLUMN + NODE_W,
        "height": MARGIN * 2 + max(rows - 1, 0) * ROW + NODE_H + 16,
        "nodes": [place[n] for n in names],
        "edges": drawn,
    }


def _depths(names: List[str],
            pairs: List[Tuple[str, str]]) -> Dict[str, int]:
    """Each service's column: the longest chain of callers above it, a
    cycle cut where it closes."""
    callees: Dict[str, List[str]] = {}
    called: Set[str] = set()
    for caller, callee in pairs:
        if caller != callee:
            callees.setdefault(caller, []).append(callee)
            called.add(callee)
    depth = {name: 0 for name in names}
    roots = [n for n in names if n not in called] or names[:1]
    for root in roots:
        stack: List[Tuple[str, int, Tuple[str, ...]]] = [(root, 0, (root,))]
        while stack:
            name, level, path = stack.pop()
            if level < depth[name] and name != root:
                continue
            depth[name] = max(depth[name], level)
            for callee in callees.get(name, ()):
                if callee not in path and level + 1 > depth[callee]:
                    stack.append((callee, level + 1, path + (callee,)))
    return depth


def _label(result: UnitResult) -> str:
    base, during = result.samples["baseline"], result.samples["during"]
    calls = f"{base.calls} \u2192 {during.calls} calls"
    if result.verdict == IMPACTED:
        changes = []
        if "errors" in result.during.reasons:
            changes.append(f"errors {base.error_ratio * 100:.0f}% \u2192 "
                           f"{during.error_ratio * 100:.0f}%")
        if "latency" in result.during.reasons:
            changes.append(f"p95 {base.percentile_ms(95) or 0:.0f} \u2192 "
                           f"{during.percentile_ms(95) or 0:.0f} ms")
        return calls + ", " + ", ".join(changes)
    if result.verdict == UNCHANGED:
        return calls
    return f"{calls} ({result.verdict})"
