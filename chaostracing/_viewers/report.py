"""``chaostracing report``: traces as one self-contained HTML file.

The file needs nothing else (no network, no asset; it works from ``file://``
offline and attached to a CI run or a post-mortem): the spans are embedded
once, as JSON, in a ``<script type="application/json">`` block, and a small
script draws them with ``textContent`` only, never ``innerHTML``, so a span
named ``<img src=x onerror=...>`` or a log holding ``</script>`` shows as
text. A Content-Security-Policy forbids the page any request.

The page is package data, kept as what it is: ``report.html`` (the frame),
``report.css`` and ``report.js`` (linted by ESLint in the test suite), read
once per process and put together here into one file, with the title and
the data.

What it shows: a trace picker; the run's title, status, deviation and
duration; the span tree, collapsible, with waterfall bars to scale and one
colour per service; failed spans and a deviated experiment marked; a span's
tags, logs and references on click; links to Jaeger UI when its address is
known. Every span of every trace is an element with ``data-span-id``,
``data-parent-id`` (empty for a root), ``data-service`` and, when failed,
``data-error="true"``; the picker and collapsing only hide them.

With an impact (``chaostracing impact -o``), the page opens with an
**Impact** section: the service graph as inline SVG (a node per service,
an edge per caller and callee, each coloured by its verdict, the edges
labelled with their calls and what changed), then the table of units. The
impact comes as data (its JSON, and the graph's layout); this module knows
nothing of how it was computed.
"""
import functools
import html
import json
import pkgutil
import re
from typing import Any, Dict, List, Optional, Sequence, Set

from chaostracing._data.jaegerjson import group_by_trace
from chaostracing._data.model import (
    CHILD_OF,
    FOLLOWS_FROM,
    REF_TYPES,
    SpanData,
    is_true,
    span_hex,
    trace_hex,
)
from chaostracing._data.summary import summarize
from chaostracing._data.tags import (
    CHAOSTOOLKIT_DEVIATED,
    CHAOSTOOLKIT_STATUS,
    CHAOSTOOLKIT_TYPE,
)
from chaostracing._data.text import safe_str

__all__ = ["render", "report_data"]

REPORT_FILE = "chaostracing-report.html"
_MAX_VALUE = 4096  # characters of a tag or field value shown in the page
#: the page's placeholders, each replaced once (a title holding
#: ``{{data}}`` stays text)
_PLACEHOLDER = re.compile(r"\{\{(title|style|script|data)\}\}")
#: what the embedded JSON must not hold as such (see _script_json)
_JSON_IN_SCRIPT = (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"),
                   ("\u2028", "\\u2028"), ("\u2029", "\\u2029"))


def report_data(spans: Sequence[SpanData], ui_url: Optional[str] = None,
                impact: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
    """The JSON the page is drawn from (``impact``: ``{"result": the impact's
    JSON, "graph": its layout}``, or None)."""
    traces: List[Dict[str, Any]] = []
    for trace_id, members in group_by_trace(spans).items():
        members = sorted(members, key=lambda s: (s.start_us, s.span_id))
        ids = {s.span_id for s in members}
        summary = summarize(members, trace_id)
        # a run's trace is titled by its experiment, even when the run
        # joined a trace a CI pipeline started
        root = next((s for s in members
                     if s.tags.get(CHAOSTOOLKIT_TYPE) == "experiment"),
                    summary.root)
        start = summary.start_us
        traces.append({
            "traceID": trace_hex(trace_id),
            "title": root.operation_name,
            "status": _text(root.tags.get(CHAOSTOOLKIT_STATUS, "")),
            "deviated": is_true(root.tags.get(CHAOSTOOLKIT_DEVIATED)),
            "rebuilt": bool(root.warnings),
            "start": start,
            "duration": max(summary.duration_us, 1),
            "services": summary.service_names,
            "errors": summary.error_count,
            "spans": [_span(s, ids, start) for s in members],
        })
    traces.sort(key=lambda t: t["start"])
    return {"traces": traces,
            "uiUrl": ui_url if _is_http(ui_url) else None,
            "impact": impact}


def render(spans: Sequence[SpanData], ui_url: Optional[str] = None,
           title: str = "chaostracing report",
           impact: Optional[Dict[str, Any]] = None) -> str:
    """The report page of ``spans`` (with an Impact section when
    ``impact`` is given: see :func:`report_data`)."""
    data = json.dumps(report_data(spans, ui_url, impact), ensure_ascii=False,
                      separators=(",", ":"), default=str)
    parts = dict(_assets(), title=html.escape(safe_str(title)),
                 data=_script_json(data))
    return _PLACEHOLDER.sub(lambda match: parts[match.group(1)], _frame())


def _script_json(text: str) -> str:
    """JSON text made safe to sit inside a ``<script>`` element.

    JSON may hold anything HTML's script parsing reacts to: ``</script>``
    would end the block early, and ``<!--`` (with ``<script``) switches the
    parser into a state where the real end tag no longer ends it, so ``<``
    is written ``\\u003c``; ``>`` and ``&`` too, so that no ``-->``, end
    tag or character reference can form in any parser. U+2028 and U+2029
    are valid in JSON but were line terminators inside JavaScript strings
    before ES2019: escaped, the block stays valid as JavaScript as well.
    Each is written as a JSON ``\\u`` escape, so ``JSON.parse`` of the
    block's ``textContent`` reads the original text back.
    """
    for char, escape in _JSON_IN_SCRIPT:
        text = text.replace(char, escape)
    return text


@functools.lru_cache(maxsize=1)
def _frame() -> str:
    return _read("report.html")


@functools.lru_cache(maxsize=1)
def _assets() -> Dict[str, str]:
    return {"style": _read("report.css"), "script": _read("report.js")}


def _read(name: str) -> str:
    data = pkgutil.get_data(__name__.rpartition(".")[0], name)
    if data is None:  # pragma: no cover - a loader without get_data
        raise OSError(f"chaostracing's {name} cannot be read: reinstall "
                      "chaostoolkit-opentracing")
    return data.decode("utf-8")


def _span(span: SpanData, ids: Set[int], start: int) -> Dict[str, Any]:
    parent = span.parent_id if span.parent_id in ids and \
        span.parent_id != span.span_id else 0
    return {
        "id": span_hex(span.span_id),
        "parent": span_hex(parent) if parent else "",
        "name": _text(span.operation_name),
        "service": _text(span.service_name),
        "start": span.start_us - start,
        "duration": span.duration_us,
        "error": span.failed,
        "deviated": is_true(span.tags.get(CHAOSTOOLKIT_DEVIATED)),
        "kind": span.kind,
        "tags": [[_text(k), _value(v)] for k, v in span.tags.items()],
        "logs": [[ts, [[_text(k), _value(v)] for k, v in fields.items()]]
                 for ts, fields in span.logs],
        "refs": [[REF_TYPES[FOLLOWS_FROM] if kind == FOLLOWS_FROM
                  else REF_TYPES[CHILD_OF], trace_hex(t), span_hex(s)]
                 for kind, t, s in span.references],
        "process": [[_text(k), _value(v)] for k, v in span.process.tags],
        "warnings": [_text(w) for w in span.warnings or ()],
    }


def _value(value: Any) -> Any:
    if value is True or value is False or isinstance(value, (int, float)):
        if isinstance(value, float) and value != value:
            return str(value)  # NaN: JSON has none
        return value
    if isinstance(value, (bytes, bytearray)):
        return bytes(value[:_MAX_VALUE // 2]).hex()
    return _text(value)


def _text(value: Any) -> str:
    if type(value) is str and len(value) <= _MAX_VALUE:
        return value  # most of them, a few per span: no second call
    return safe_str(value, _MAX_VALUE)


def _is_http(url: Optional[str]) -> bool:
    return isinstance(url, str) and url.startswith(("http://", "https://"))
