"""The impact as text: the table ``chaostracing impact`` prints, and the
one line the control logs at the end of a run.

::

    impact: payments errors 0% → 41%, orders p95 38 → 420 ms; recovered
"""
from typing import Any, Dict, List, Optional

from chaostracing._impact.analysis import Impact, UnitResult
from chaostracing._impact.units import EDGE, SERVICE
from chaostracing._impact.verdicts import (
    GONE,
    IMPACTED,
    NEW,
    NOT_ENOUGH_DATA,
    UNCHANGED,
)

__all__ = ["summary_line", "table"]

ARROW = " \u2192 "
#: units named at most in the summary line
_NAMED = 4


def summary_line(impact: Impact) -> str:
    """One line: what was impacted and how, then whether it recovered."""
    impacted = impact.impacted
    if not impacted:
        counts = impact.counts()
        unknown = counts[NOT_ENOUGH_DATA]
        return (f"impact: nothing impacted ({len(impact.results)} unit(s) "
                f"compared" + (f", {unknown} without enough data"
                               if unknown else "") + ")")
    # a service's own unit says it best; an edge or operation only when its
    # service is not named already
    named: List[str] = []
    parts: List[str] = []
    for result in sorted(impacted, key=lambda r: r.unit.kind != SERVICE):
        unit = result.unit
        # an edge is about its callee, as in the blast radius
        about = unit.second if unit.kind == EDGE else unit.first
        if about in named:
            continue
        named.append(about)
        who = unit.first + ARROW + unit.second if unit.kind == EDGE \
            else unit.first
        parts.append(f"{who} {_change(result)}")
    shown = ", ".join(parts[:_NAMED])
    if len(parts) > _NAMED:
        shown += f" (and {len(parts) - _NAMED} more)"
    recovered = {True: "recovered", False: "not recovered",
                 None: "recovery unknown"}[impact.recovered]
    return f"impact: {shown}; {recovered}"


def _change(result: UnitResult) -> str:
    base, during = result.samples["baseline"], result.samples["during"]
    changes = []
    if "errors" in result.during.reasons:
        changes.append(f"errors {_percent(base.error_ratio)}{ARROW}"
                       f"{_percent(during.error_ratio)}")
    if "latency" in result.during.reasons:
        changes.append(f"p95 {_number(base.percentile_ms(95))}{ARROW}"
                       f"{_number(during.percentile_ms(95))} ms")
    return " and ".join(changes)


def table(impact: Impact, everything: bool = False) -> str:
    """The units with their figures before → during → after and their
    verdict, impacted first; then the blast radius, the likely origin and
    the recovery. Unchanged units and those without enough data are
    counted, not listed, unless ``everything``."""
    names = [w.name for w in impact.windows.all][1:]  # after baseline
    header = ["unit", "verdict", "calls", "errors", "p95 ms", "recovered"]
    rows = [header]
    hidden: Dict[str, int] = {}
    for result in impact.results:
        if not everything and result.verdict in (UNCHANGED, NOT_ENOUGH_DATA):
            hidden[result.verdict] = hidden.get(result.verdict, 0) + 1
            continue
        order = ["baseline"] + names
        samples = [result.samples[n] for n in order]
        verdict = result.verdict
        if result.during.reasons:
            verdict += " (" + ", ".join(result.during.reasons) + ")"
        rows.append([
            result.unit.described(),
            verdict,
            ARROW.join(str(s.calls) for s in samples),
            ARROW.join(_percent(s.error_ratio) if s.calls else "-"
                       for s in samples),
            ARROW.join(_number(s.percentile_ms(95)) for s in samples),
            {True: "yes", False: "no", None: ""}[result.recovered]
            if verdict.startswith(IMPACTED) else "",
        ])
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(width) for cell, width
                       in zip(row, widths)).rstrip() for row in rows]
    windows = ARROW.join(["baseline"] + names)
    lines.insert(1, f"(figures: {windows})")
    if len(rows) == 1:
        lines.append("no unit impacted, new or gone")
    if hidden:
        lines.append(", ".join(f"{count} {verdict}" for verdict, count
                               in hidden.items())
                     + " unit(s) not listed (--all lists them)")
    lines.append("")
    lines.append("blast radius: " + (", ".join(impact.blast_radius)
                                     or "none"))
    lines.append("likely origin: " + (", ".join(impact.likely_origin)
                                      or "none"))
    lines.append("recovered: " + _recovered(impact.recovered,
                                            bool(impact.impacted)))
    counts = impact.counts()
    if counts[NEW] or counts[GONE]:
        lines.append(f"new: {counts[NEW]} unit(s), gone: {counts[GONE]}")
    return "\n".join(lines) + "\n"


def _recovered(value: Optional[bool], anything: bool) -> str:
    if not anything:
        return "nothing to recover from"
    return {True: "yes", False: "no",
            None: "unknown (not enough data after the method)"}[value]


def _percent(ratio: float) -> str:
    return f"{ratio * 100:.0f}%"


def _number(value: Any) -> str:
    if value is None:
        return "-"
    return f"{value:.0f}" if value >= 10 else f"{value:.1f}"
