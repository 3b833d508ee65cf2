"""Draw a trace as a waterfall in the terminal.

Each line is a span, indented under its parent, with its start offset and
duration drawn as a bar scaled to the width available, its duration in ms,
status and a few key tags. Failed spans are marked ``✗`` (and red on a TTY).
"""
import shutil
from typing import Any, Dict, Iterable, List, Optional, Sequence

__all__ = ["render"]

_KEY_TAGS = (
    "chaostoolkit.status",
    "chaostoolkit.tolerance_met",
    "chaostoolkit.steady_state_met",
    "chaostoolkit.hypothesis.phase",
    "http.method",
    "http.status_code",
)
_RED, _DIM, _RESET = "\x1b[31m", "\x1b[2m", "\x1b[0m"


def render(
    spans: Sequence[Any],
    width: Optional[int] = None,
    color: bool = False,
) -> str:
    """The waterfall of ``spans`` as text, one trace after the other.

    ``spans`` need ``trace_id``, ``span_id``, ``parent_id``,
    ``operation_name``, ``start_us``, ``duration_us`` and ``tags``.
    """
    if width is None:
        width = shutil.get_terminal_size((120, 24)).columns
    by_trace: Dict[int, List[Any]] = {}
    for span in spans:
        by_trace.setdefault(span.trace_id, []).append(span)
    out: List[str] = []
    for trace_id, members in by_trace.items():
        out.extend(_render_trace(trace_id, members, width, color))
        out.append("")
    return "\n".join(out).rstrip("\n") + "\n"


def _render_trace(trace_id, spans, width, color) -> List[str]:
    ids = {s.span_id for s in spans}
    children: Dict[int, List[Any]] = {}
    roots = []
    for span in spans:
        if span.parent_id and span.parent_id in ids:
            children.setdefault(span.parent_id, []).append(span)
        else:
            roots.append(span)
    start = min(s.start_us for s in spans)
    end = max(s.start_us + s.duration_us for s in spans)
    total = max(end - start, 1)
    errors = sum(1 for s in spans if _failed(s))
    head = (
        f"trace {format(trace_id, '032x' if trace_id >> 64 else '016x')}"
        f"  {len(spans)} spans  {total / 1000:.1f} ms"
        + (f"  {errors} error(s)" if errors else "")
    )
    lines = [head]
    rows = list(_walk(sorted(roots, key=_start), children, 0))
    label_width = min(
        max(len(_label(s, depth)) for s, depth in rows), max(24, width // 3)
    )
    # label │bar│ duration, mark and key tags (cut at the width)
    bar_width = max(10, width - label_width - 3 - 15 - min(40, width // 4))
    for span, depth in rows:
        label = _label(span, depth)[:label_width].ljust(label_width)
        offset = int((span.start_us - start) / total * bar_width)
        length = max(1, int(span.duration_us / total * bar_width))
        length = min(length, bar_width - offset) or 1
        bar = (" " * offset + "█" * length).ljust(bar_width)
        failed = _failed(span)
        mark = "✗" if failed else " "
        info = f"{span.duration_us / 1000:9.1f} ms {mark} {_tags(span)}"
        line = f"{label} │{bar}│{info}"[:width].rstrip()
        if color and failed:
            line = _RED + line + _RESET
        lines.append(line)
    return lines


def _walk(spans: Iterable[Any], children, depth):
    for span in spans:
        yield span, depth
        kids = sorted(children.get(span.span_id, []), key=_start)
        yield from _walk(kids, children, depth + 1)


def _start(span: Any) -> int:
    return span.start_us


def _label(span: Any, depth: int) -> str:
    return "  " * depth + span.operation_name


def _failed(span: Any) -> bool:
    return span.tags.get("error") in (True, "true", "True")


def _tags(span: Any) -> str:
    parts = []
    for key in _KEY_TAGS:
        if key in span.tags:
            parts.append(f"{key.rsplit('.', 1)[-1]}={span.tags[key]}")
    return " ".join(parts)
