"""The span model written as OTLP/JSON: what Jaeger's api_v3 answers for
traces (``/api/v3/traces``), the reverse of :mod:`chaostracing._data.otlp`.

A ``TracesData`` object, ``{"resourceSpans": [...]}``, as OpenTelemetry
collector's ``ptrace.JSONMarshaler`` writes it (which Jaeger uses): ids in
hex (trace ids 32 digits, span ids 16), enums as numbers (``"kind": 2``,
``"status": {"code": 2}``), 64-bit integers as decimal strings
(``startTimeUnixNano``, ``intValue``), zero values and empty lists left out,
and ``resource``, ``scope`` and ``status`` always written.

Why by hand: opentelemetry-proto's messages through protobuf's
``json_format`` write ids in base64 (proto3's JSON mapping, not OTLP's),
and would make the query API depend on the ``[opentelemetry]`` extra. The
mapping is the one :mod:`chaostracing._data.otlp` reads, turned around, as
Jaeger turns its model into OTLP:

- a span's process is its resource (``service.name`` and the process's
  tags); ``otel.scope.name`` / ``otel.scope.version`` are its scope; spans
  are grouped by trace, then resource, then scope, in the order they
  started;
- ``span.kind`` is the span's kind (:data:`~chaostracing._data.tags.SPAN_KINDS`,
  the one table; without it, unspecified);
- ERROR (``error=true`` or ``otel.status_code=ERROR``,
  :func:`~chaostracing._data.model.marked_error`) or OK is the status, with
  ``otel.status_description`` as its message;
- logs are events (the ``event`` field is the event's name); references
  other than the parent are links.

Read back by :mod:`chaostracing._data.otlp`, a span comes out as it went
in, except that a status ERROR reads back as ``error=true`` plus
``otel.status_code=ERROR``, a ``CHILD_OF`` reference to another trace as
``FOLLOWS_FROM``, and structured values as their JSON text.
"""
import base64
import math
from typing import Any, Dict, Iterable, List, Optional, Tuple

from chaostracing._data.model import (
    MAX_TIME_US,
    SpanData,
    marked_error,
    span_hex,
    trace_hex,
)
from chaostracing._data.tags import (
    ERROR,
    EVENT,
    OTEL_SCOPE_NAME,
    OTEL_SCOPE_VERSION,
    OTEL_STATUS_CODE,
    OTEL_STATUS_DESCRIPTION,
    SERVICE_NAME,
    SPAN_KIND,
    STATUS_OK,
    kind_of_tag,
)
from chaostracing._data.text import safe_str

__all__ = ["nanos", "resource_spans", "traces_data"]

#: OTLP's ``Status.StatusCode`` values
_STATUS_OK, _STATUS_ERROR = 1, 2
_INT64 = 1 << 63


def traces_data(traces: Iterable[Tuple[int, List[SpanData]]]
                ) -> Dict[str, Any]:
    """``{"resourceSpans": [...]}`` holding ``(trace id, spans)`` traces,
    one after the other (Jaeger merges the traces of an answer so)."""
    out: List[Dict[str, Any]] = []
    for _, spans in traces:
        out.extend(resource_spans(spans))
    return {"resourceSpans": out}


def resource_spans(spans: Iterable[SpanData]) -> List[Dict[str, Any]]:
    """The ``ResourceSpans`` of ``spans``: one per process, each with one
    ``ScopeSpans`` per instrumentation scope."""
    # process -> scope -> spans, all in the order the spans started
    grouped: Dict[Any, Dict[Tuple[str, str], List[Dict[str, Any]]]] = {}
    processes: Dict[Any, Any] = {}
    for span in sorted(spans, key=_order):
        scope = _scope(span.tags)
        process = span.process
        processes.setdefault(process.key, process)
        grouped.setdefault(process.key, {}).setdefault(scope, []).append(
            _span(span, scope))
    out = []
    for key, scopes in grouped.items():
        process = processes[key]
        attributes = [_key_value(SERVICE_NAME, process.service_name)]
        attributes.extend(_key_value(k, v) for k, v in process.tags
                          if k != SERVICE_NAME)
        out.append({
            "resource": {"attributes": attributes},
            "scopeSpans": [
                {"scope": _scope_json(scope), "spans": members}
                for scope, members in scopes.items()
            ],
        })
    return out


def _order(span: SpanData) -> Tuple[int, int]:
    return span.start_us, span.span_id


def _scope(tags: Dict[str, Any]) -> Tuple[str, str]:
    name = tags.get(OTEL_SCOPE_NAME)
    if not isinstance(name, str) or not name:
        return "", ""
    version = tags.get(OTEL_SCOPE_VERSION)
    return name, version if isinstance(version, str) else ""


def _scope_json(scope: Tuple[str, str]) -> Dict[str, Any]:
    name, version = scope
    out: Dict[str, Any] = {}
    if name:
        out["name"] = name
    if version:
        out["version"] = version
    return out


def _span(span: SpanData, scope: Tuple[str, str]) -> Dict[str, Any]:
    tags = span.tags
    skip = set()
    out: Dict[str, Any] = {
        "traceId": trace_hex(span.trace_id),
        "spanId": span_hex(span.span_id),
    }
    if span.parent_id:
        out["parentSpanId"] = span_hex(span.parent_id)
    out["name"] = safe_str(span.operation_name)
    kind = kind_of_tag(tags.get(SPAN_KIND))
    if kind is not None:
        out["kind"] = kind.otlp
        skip.add(SPAN_KIND)
    out["startTimeUnixNano"] = nanos(span.start_us)
    out["endTimeUnixNano"] = nanos(span.end_us)
    status = _status(tags)
    if status:
        skip.update((OTEL_STATUS_CODE, OTEL_STATUS_DESCRIPTION))
        if status["code"] == _STATUS_ERROR:
            skip.add(ERROR)
    if scope[0]:
        skip.add(OTEL_SCOPE_NAME)
        if scope[1]:
            skip.add(OTEL_SCOPE_VERSION)
    attributes = [_key_value(k, v) for k, v in tags.items() if k not in skip]
    if attributes:
        out["attributes"] = attributes
    events = [_event(timestamp, fields) for timestamp, fields in span.logs]
    if events:
        out["events"] = events
    links = [{"traceId": trace_hex(trace), "spanId": span_hex(span_id)}
             for _, trace, span_id in span.references]
    if links:
        out["links"] = links
    out["status"] = status
    return out


def nanos(us: int) -> str:
    """A time in microseconds as OTLP's unsigned 64-bit nanoseconds, in
    decimal: never below 0 nor past :data:`MAX_TIME_US` (the collector
    refuses such spans at ingest; a reader that took one anyway gets a
    value every parser reads, rather than an answer none reads)."""
    return str(min(max(us, 0), MAX_TIME_US) * 1000)


def _status(tags: Dict[str, Any]) -> Dict[str, Any]:
    if marked_error(tags):
        status: Dict[str, Any] = {"code": _STATUS_ERROR}
    elif tags.get(OTEL_STATUS_CODE) == STATUS_OK:
        status = {"code": _STATUS_OK}
    else:
        return {}
    message = tags.get(OTEL_STATUS_DESCRIPTION)
    if isinstance(message, str) and message:
        status["message"] = message
    return status


def _event(timestamp: int, fields: Dict[str, Any]) -> Dict[str, Any]:
    out: Dict[str, Any] = {"timeUnixNano": nanos(timestamp)}
    name: Optional[Any] = fields.get(EVENT)
    if name is not None and name != "":
        out["name"] = safe_str(name)
    attributes = [_key_value(k, v) for k, v in fields.items() if k != EVENT]
    if attributes:
        out["attributes"] = attributes
    return out


def _key_value(key: Any, value: Any) -> Dict[str, Any]:
    return {"key": safe_str(key), "value": _any_value(value)}


def _any_value(value: Any) -> Dict[str, Any]:
    if value is True or value is False:
        return {"boolValue": value}
    if isinstance(value, int) and -_INT64 <= value < _INT64:
        return {"intValue": str(value)}
    if isinstance(value, float) and math.isfinite(value):
        return {"doubleValue": value}
    if isinstance(value, (bytes, bytearray)):
        return {"bytesValue": base64.b64encode(bytes(value)).decode("ascii")}
    return {"stringValue": safe_str(value)}
