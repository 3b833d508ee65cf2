"""Draw traces as a waterfall in the terminal.

Each line is a span, indented under its parent, with its start offset and
duration drawn as a bar scaled to the width available, its duration in ms,
and what happened: the status (and ``deviated`` for a run whose steady state
deviated), a probe's tolerance, a hypothesis's phase, a request's method,
URL and answer. Failed spans are marked ``✗`` (and red on a TTY), a deviated
experiment ``!``.

Span data comes from anywhere (other services, crafted files): every piece
of text is printed as data, never as terminal control sequences (escape
characters, bidirectional overrides and line separators are shown as
``\\x1b``-style escapes), the tree is walked without recursion, however deep,
and spans whose parents form a cycle are still drawn, marked.
"""
import shutil
import unicodedata
from typing import Dict, Iterator, List, Optional, Sequence, Set, Tuple

from chaostracing._data.model import SpanData, is_true, trace_hex
from chaostracing._data.summary import summarize
from chaostracing._data.tags import (
    CHAOSTOOLKIT_DEVIATED,
    CHAOSTOOLKIT_HYPOTHESIS_PHASE,
    CHAOSTOOLKIT_STATUS,
    CHAOSTOOLKIT_STEADY_STATE_MET,
    CHAOSTOOLKIT_TOLERANCE_MET,
    HTTP_METHOD,
    HTTP_REQUEST_METHOD,
    HTTP_RESPONSE_STATUS_CODE,
    HTTP_STATUS_CODE,
    HTTP_TARGET,
    HTTP_URL,
    URL_FULL,
    URL_PATH,
)
from chaostracing._data.text import safe_str

__all__ = ["printable", "render"]

_RED, _YELLOW, _RESET = "\x1b[31m", "\x1b[33m", "\x1b[0m"
_MAX_INDENT = 12  # deeper spans show their depth instead of more indentation


def printable(text: object, limit: int = 400) -> str:
    """``text`` safe to print on a terminal: :func:`safe_str`'s text (any
    value, never raising) of which control characters (C0, C1, DEL),
    bidirectional controls and line separators become visible escapes.

    >>> printable("a\\x1b[2Jb")
    'a\\\\x1b[2Jb'
    """
    text = text[:limit] if type(text) is str else safe_str(text, limit)
    if text.isascii() and text.isprintable():
        return text  # most text: no C0 control and no DEL, nothing to show
    out = []
    for char in text:
        code = ord(char)
        if code < 0x20 or 0x7F <= code < 0xA0 or (
            code > 0xFF
            and unicodedata.category(char) in ("Cf", "Zl", "Zp", "Cs")
        ):
            out.append(f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}")
        else:
            out.append(char)
    return "".join(out)


def render(
    spans: Sequence[SpanData],
    width: Optional[int] = None,
    color: bool = False,
) -> str:
    """The waterfall of ``spans`` as text, one trace after the other."""
    if width is None:
        width = shutil.get_terminal_size((120, 24)).columns
    width = max(40, width)
    by_trace: Dict[int, List[SpanData]] = {}
    for span in spans:
        by_trace.setdefault(span.trace_id, []).append(span)
    out: List[str] = []
    for trace_id, members in by_trace.items():
        out.extend(_render_trace(trace_id, members, width, color))
        out.append("")
    return "\n".join(out).rstrip("\n") + "\n"


def _render_trace(trace_id: int, spans: List[SpanData], width: int,
                  color: bool) -> List[str]:
    rows = list(_rows(spans))
    summary = summarize(spans, trace_id)
    start = summary.start_us
    total = max(summary.duration_us, 1)
    errors = summary.error_count
    services = summary.service_names
    rebuilt = any(s.warnings and not s.parent_id for s in spans)
    head = (
        f"trace {trace_hex(trace_id)}  {summary.span_count} spans"
        f"  {total / 1000:.1f} ms"
        + (f"  {errors} error(s)" if errors else "")
        + (f"  services: {printable(', '.join(services), 200)}"
           if len(services) > 1 else "")
        + ("  (rebuilt from a journal, not traced)" if rebuilt else "")
    )
    lines = [head]
    labels = [_label(span, depth, note) for span, depth, note in rows]
    texts = [_tags(span) for span, _, _ in rows]
    label_width = min(max(len(label) for label in labels), max(24, width // 3))
    # label │bar│ duration, mark and what happened (cut at the width): the
    # bar gets what the text does not need
    text_width = min(max(len(text) for text in texts), 60)
    bar_width = max(10, width - label_width - 3 - 15 - text_width)
    for (span, _, _), label, text in zip(rows, labels, texts):
        label = label[:label_width].ljust(label_width)
        offset = min(bar_width - 1,
                     int((span.start_us - start) / total * bar_width))
        length = max(1, int(span.duration_us / total * bar_width))
        length = min(length, bar_width - offset) or 1
        bar = (" " * offset + "█" * length).ljust(bar_width)
        failed = span.failed
        deviated = is_true(span.tags.get(CHAOSTOOLKIT_DEVIATED))
        mark = "✗" if failed else "!" if deviated else " "
        info = f"{_duration(span.duration_us)} {mark} {text}"
        line = f"{label} │{bar}│{info}"[:width].rstrip()
        if color and (failed or deviated):
            line = (_RED if failed else _YELLOW) + line + _RESET
        lines.append(line)
    return lines


def _rows(spans: List[SpanData]) -> Iterator[Tuple[SpanData, int, str]]:
    """Spans in tree order, with depth and a note, walked iteratively."""
    ids = {s.span_id for s in spans}
    children: Dict[int, List[SpanData]] = {}
    roots = []
    for span in spans:
        parent = span.parent_id
        if parent and parent in ids and parent != span.span_id:
            children.setdefault(parent, []).append(span)
        else:
            roots.append(span)
    seen: Set[int] = set()
    stack: List[Tuple[SpanData, int, str]] = [
        (s, 0, "") for s in sorted(roots, key=_start, reverse=True)
    ]
    pending = sorted(spans, key=_start)
    # where the search for spans no root reaches goes on: it only moves
    # forward, so that many cycles cost one pass, not one pass each
    cursor = 0
    while True:
        while stack:
            span, depth, note = stack.pop()
            if id(span) in seen:
                continue
            seen.add(id(span))
            yield span, depth, note
            kids = children.get(span.span_id, ())
            for kid in sorted(kids, key=_start, reverse=True):
                if id(kid) not in seen:
                    stack.append((kid, depth + 1, ""))
        # what no root reaches: spans whose parents form a cycle
        while cursor < len(pending) and id(pending[cursor]) in seen:
            cursor += 1
        if cursor == len(pending):
            return
        stack.append((pending[cursor], 0, "(parent cycle)"))


def _duration(us: int) -> str:
    """``    227.2 ms``, or ``      38 µs`` under a millisecond."""
    return f"{us / 1000:9.1f} ms" if us >= 1000 else f"{us:9d} µs"


def _start(span: SpanData) -> int:
    return span.start_us


def _label(span: SpanData, depth: int, note: str) -> str:
    name = printable(span.operation_name, 200)
    if note:
        name = f"{note} {name}"
    if depth > _MAX_INDENT:
        return "  " * _MAX_INDENT + f"[{depth}] " + name
    return "  " * depth + name


def _tags(span: SpanData) -> str:
    """What happened, in a few words: ``completed, deviated``, ``before:
    met``, ``succeeded, in tolerance``, ``GET http://host/orders → 503``."""
    tags = span.tags
    parts = []
    status = tags.get(CHAOSTOOLKIT_STATUS)
    if status is not None:
        parts.append(printable(status, 40))
    if is_true(tags.get(CHAOSTOOLKIT_DEVIATED)):
        parts.append("deviated")
    tolerance = tags.get(CHAOSTOOLKIT_TOLERANCE_MET)
    if tolerance is not None:
        parts.append("in tolerance" if is_true(tolerance)
                     else "out of tolerance")
    text = ", ".join(parts)
    phase = tags.get(CHAOSTOOLKIT_HYPOTHESIS_PHASE)
    met = tags.get(CHAOSTOOLKIT_STEADY_STATE_MET)
    if phase is not None or met is not None:
        state = "" if met is None else ("met" if is_true(met) else "not met")
        text = ": ".join(printable(p, 20) for p in (phase, state) if p)
    method = tags.get(HTTP_METHOD) or tags.get(HTTP_REQUEST_METHOD)
    url = (tags.get(HTTP_URL) or tags.get(URL_FULL)
           or tags.get(HTTP_TARGET) or tags.get(URL_PATH))
    code = tags.get(HTTP_STATUS_CODE, tags.get(HTTP_RESPONSE_STATUS_CODE))
    if method or url:
        request = " ".join(printable(p, 120) for p in (method, url) if p)
        request += f" → {printable(code, 8)}" if code is not None else ""
        text = f"{text} {request}".strip()
    elif code is not None:
        text = f"{text} status code {printable(code, 8)}".strip()
    return text
