"""Jaeger's api_v3 over HTTP, answered from the collector's store: what
Jaeger UI asks from v2.15 on (services, operations) and v2.19 on (the search
through trace summaries).

As Jaeger's HTTP gateway answers it (``apiv3/http_gateway.go`` and
``query_parser.go`` in jaegertracing/jaeger, the messages of
``proto/api_v3/query_service.proto`` in jaegertracing/jaeger-idl), GET only:

- ``/api/v3/services`` → ``{"services": [...]}``;
- ``/api/v3/operations?service=&spanKind=`` →
  ``{"operations": [{"name", "spanKind"}]}`` (a span without a kind is
  ``internal``, and ``spanKind=internal`` finds it);
- ``/api/v3/trace-summaries?query.*`` → ``{"summaries": [...]}``, one
  :meth:`~chaostracing._data.summary.TraceSummary.api_v3` per trace found
  (none found: an empty list);
- ``/api/v3/traces?query.*`` and ``/api/v3/traces/{trace_id}`` →
  ``{"result": {"resourceSpans": [...]}}`` in OTLP/JSON
  (:mod:`chaostracing._data.otlpjson`), a search's sent in pieces as it is
  written; none found: 404 ``No traces found``.

The search parameters, camelCase as Jaeger reads them first, then their
older snake_case names: ``query.serviceName``, ``query.operationName``,
``query.startTimeMin`` and ``query.startTimeMax`` (RFC 3339, both required,
the first before the second; a span's start is in ``[min, max)``),
``query.durationMin`` / ``query.durationMax`` (Go durations: ``10ms``,
``1.5s``), ``query.searchDepth`` (traces, default 100; also
``query.num_traces``), ``query.attributes`` (a JSON object of strings,
matched against span, process and log fields), ``query.rawTraces``
(checked, then ignored). Which spans match is
:mod:`chaostracing._data.spanquery`'s one definition, the newest traces
first. ``query.filter`` (Jaeger's experimental structured filter, off by
default there) is refused rather than ignored: ignoring it would answer
more traces than were asked for. Unlike Jaeger's stores, a search without
a service looks at every trace.

Errors are Jaeger's: ``text/plain`` bodies holding
``{"error": {"httpCode": N, "message": "..."}}``; 400 for a malformed
parameter (``malformed parameter query.startTimeMin: ...``), 404 for an
unknown trace or a trace search that found nothing, and for a path the
gateway does not serve (``404 page not found``).

Each endpoint is a function of the store and the query parameters (as
:func:`urllib.parse.parse_qs` gives them) that returns ``(status, content
type, body)``; :data:`ROUTES` is their routing table.
"""
import base64
import binascii
import calendar
import datetime
import json
import re
from typing import (
    Any,
    Callable,
    Dict,
    Iterator,
    List,
    Mapping,
    Optional,
    Tuple,
    Union,
)

from chaostracing._collector.store import SpanStore
from chaostracing._data.gcpause import paused_gc
from chaostracing._data.model import SpanData
from chaostracing._data.otlpjson import resource_spans, traces_data
from chaostracing._data.spanquery import (
    SpanQuery,
    first_value,
    parse_duration_ns,
    parse_go_int,
)
from chaostracing._data.summary import summarize
from chaostracing._data.tags import INTERNAL

__all__ = [
    "DEFAULT_SEARCH_DEPTH",
    "NOT_FOUND",
    "PIECE",
    "ROUTES",
    "Answer",
    "Params",
    "find_traces",
    "get_trace",
    "operations",
    "services",
    "trace_summaries",
]

#: ``(status, content type, body)``: bytes, or pieces of bytes to send as
#: they are produced
Answer = Tuple[int, str, Union[bytes, Iterator[bytes]]]
#: query parameters, as ``urllib.parse.parse_qs`` gives them
Params = Mapping[str, List[str]]
#: ``(store, query parameters, path arguments...)`` -> answer
Endpoint = Callable[..., Answer]

#: traces searched when ``query.searchDepth`` is not given, as Jaeger
DEFAULT_SEARCH_DEPTH = 100
#: bytes of a trace search's answer written at a time
PIECE = 256 * 1024
_JSON = "application/json"
_TEXT = "text/plain; charset=utf-8"
# [0-9], not \d: \d matches any Unicode digit, which Go's parsers refuse
_RFC3339 = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})"
    r"(?:\.([0-9]+))?(?:(Z)|([+-])([0-9]{2}):([0-9]{2}))\Z")
_GO_BOOLS = {"1": True, "t": True, "T": True, "TRUE": True, "true": True,
             "True": True, "0": False, "f": False, "F": False, "FALSE": False,
             "false": False, "False": False}
_NO_TRACES = "No traces found"


class _Malformed(ValueError):
    """A parameter Jaeger refuses: 400, with this message."""


# -- the endpoints ------------------------------------------------------------
def services(store: SpanStore, params: Params) -> Answer:
    """``{"services": [...]}``: every service that sent spans."""
    return _ok({"services": store.services()})


def operations(store: SpanStore, params: Params) -> Answer:
    """``{"operations": [{"name", "spanKind"}]}`` of ``service`` (of the
    kind ``spanKind``, if given), by name."""
    service = first_value(params, "service")
    wanted = _param(params, "spanKind", "span_kind")[0].lower()
    found = sorted({(name, kind or INTERNAL)
                    for name, kind in store.operation_kinds(service)})
    return _ok({"operations": [{"name": name, "spanKind": kind}
                               for name, kind in found
                               if not wanted or kind == wanted]})


def trace_summaries(store: SpanStore, params: Params) -> Answer:
    """``{"summaries": [...]}`` of the traces a search finds (see the
    module documentation), newest first."""
    try:
        query, depth = _search(params)
    except _Malformed as error:
        return _error(400, str(error))
    with paused_gc():
        found = _find(store, query, depth)
        return _ok({"summaries": [summarize(spans, trace_id).api_v3()
                                  for trace_id, spans in found]})


def find_traces(store: SpanStore, params: Params) -> Answer:
    """``{"result": TracesData}`` of the traces a search finds, or 404."""
    try:
        query, depth = _search(params)
    except _Malformed as error:
        return _error(400, str(error))
    with paused_gc():
        found = _find(store, query, depth)
    if not found:
        return _error(404, _NO_TRACES)
    return 200, _JSON, _traces_pieces(found)


def get_trace(store: SpanStore, params: Params, trace_id: str = "") -> Answer:
    """``{"result": TracesData}`` of one trace (its id in hex, 1 to 32
    digits, or base64 of its 8 or 16 bytes), or 404."""
    try:
        number = _trace_id(trace_id)
        for canonical, old in (("startTime", "start_time"),
                               ("endTime", "end_time")):
            _time_ns(params, canonical, old)
        _bool(params, "rawTraces", "raw_traces")
    except _Malformed as error:
        return _error(400, str(error))
    spans = store.trace(number)
    if not spans:
        return _error(404, _NO_TRACES)
    with paused_gc():
        return _ok({"result": traces_data([(number, spans)])})


def _traces_pieces(found: List[Tuple[int, List[SpanData]]]
                   ) -> Iterator[bytes]:
    """``{"result": TracesData}`` of ``found``, in pieces of about
    :data:`PIECE` bytes, each written when the last was taken: a large
    search is sent as it is written, and concurrent searches hold a piece
    each, not their whole answer."""
    pending = [b'{"result":{"resourceSpans":[']
    size = 0
    for number, (_, spans) in enumerate(found):
        with paused_gc():
            for index, block in enumerate(resource_spans(spans)):
                if number or index:
                    pending.append(b",")
                text = _dumps(block)
                pending.append(text)
                size += len(text)
        if size >= PIECE:
            yield b"".join(pending)
            pending, size = [], 0
    pending.append(b"]}}")
    yield b"".join(pending)


#: the routing table: paths (``{trace_id}``: one segment) and endpoints
ROUTES: List[Tuple[str, Endpoint]] = [
    ("/api/v3/services", services),
    ("/api/v3/operations", operations),
    ("/api/v3/trace-summaries", trace_summaries),
    ("/api/v3/traces", find_traces),
    ("/api/v3/traces/{trace_id}", get_trace),
]
#: the answer for a path under ``/api/v3/`` no route has (Go's ServeMux)
NOT_FOUND: Answer = (404, "text/plain; charset=utf-8",
                     b"404 page not found\n")


# -- the search ---------------------------------------------------------------
def _search(params: Params) -> Tuple[SpanQuery, int]:
    """The span filter and the number of traces of a search.

    :raises _Malformed: as Jaeger's ``parseFindTracesQuery``
    """
    service = _param(params, "query.serviceName", "query.service_name")[0]
    operation = _param(params, "query.operationName",
                       "query.operation_name")[0]
    attributes = _attributes(first_value(params, "query.attributes"))
    if first_value(params, "query.filter"):
        raise _Malformed("malformed parameter query.filter: structured "
                         "filters are not supported here (Jaeger's "
                         "jaeger.query.structuredFilters gate)")
    low = _time_ns(params, "query.startTimeMin", "query.start_time_min")
    high = _time_ns(params, "query.startTimeMax", "query.start_time_max")
    if low is None or high is None:
        raise _Malformed("query.startTimeMin and query.startTimeMax are "
                         "required")
    if low >= high:
        raise _Malformed("query.startTimeMin must be before "
                         "query.startTimeMax")
    depth = _depth(params)
    durations = []
    for canonical, old in (("query.durationMin", "query.duration_min"),
                           ("query.durationMax", "query.duration_max")):
        text, name = _param(params, canonical, old)
        try:
            durations.append(parse_duration_ns(text) if text else None)
        except ValueError as error:
            raise _Malformed(f"malformed parameter {name}: {error}") from None
    _bool(params, "query.rawTraces", "query.raw_traces")
    # a span's start in [low, high) ns: in [ceil(low), ceil(high) - 1] µs
    query = SpanQuery(service or None, operation or None, attributes,
                      -(-low // 1000), -(-high // 1000) - 1, *durations)
    return query, depth


def _find(store: SpanStore, query: SpanQuery, depth: int
          ) -> List[Tuple[int, List[SpanData]]]:
    if query.service is not None:  # the store's index of the service
        return store.find(query, depth)
    found = [(min(s.start_us for s in spans), trace_id, spans)
             for trace_id, spans in store.traces() if query.any_match(spans)]
    found.sort(key=lambda item: item[:2], reverse=True)
    return [(trace_id, spans) for _, trace_id, spans in found[:depth]]


def _depth(params: Params) -> int:
    text, name = _param(params, "query.searchDepth", "query.search_depth")
    if not text:
        text, name = first_value(params, "query.num_traces"), "query.num_traces"
    if not text:
        return DEFAULT_SEARCH_DEPTH
    try:
        depth = parse_go_int(text)
    except OverflowError:
        raise _Malformed(f"malformed parameter {name}: strconv.Atoi: parsing "
                         f"{_go_quote(text)}: value out of range") from None
    if depth is None:
        raise _Malformed(f"malformed parameter {name}: strconv.Atoi: parsing "
                         f"{_go_quote(text)}: invalid syntax")
    if depth <= 0:
        raise _Malformed(f"malformed parameter {name}: search depth must be "
                         "greater than 0")
    return depth


def _attributes(text: str) -> Dict[str, str]:
    if not text:
        return {}
    try:
        document = json.loads(text)
    except (ValueError, RecursionError) as error:
        raise _Malformed(f"malformed parameter query.attributes: {error}"
                         ) from None
    if document is None:  # Go reads null into an empty map
        return {}
    if not isinstance(document, dict) or not all(
            isinstance(value, str) for value in document.values()):
        raise _Malformed("malformed parameter query.attributes: expected a "
                         'JSON object of strings such as {"error":"true"}')
    return document


# -- parameters, as Go reads them ---------------------------------------------
def _param(params: Params, canonical: str, deprecated: str) -> Tuple[str, str]:
    """``(value, name)``: the camelCase name's value, else the old one's."""
    value = first_value(params, canonical)
    if value:
        return value, canonical
    return first_value(params, deprecated), deprecated


def _time_ns(params: Params, canonical: str, deprecated: str
             ) -> Optional[int]:
    """Nanoseconds since the epoch of an RFC 3339 time (``None`` when the
    parameter is absent), as Go's ``time.Parse(time.RFC3339Nano, ...)``."""
    text, name = _param(params, canonical, deprecated)
    if not text:
        return None
    match = _RFC3339.match(text)
    try:
        if match is None:
            raise ValueError("expected a time such as "
                             "2006-01-02T15:04:05.999999999Z07:00")
        (year, month, day, hour, minute, second, fraction, zulu, sign,
         offset_hours, offset_minutes) = match.groups()
        fields = (int(year), int(month), int(day), int(hour), int(minute),
                  int(second))
        datetime.datetime(*fields)  # raises for a day or hour out of range
        offset = 0
        if not zulu:
            if int(offset_hours) > 23 or int(offset_minutes) > 59:
                raise ValueError("time zone offset out of range")
            offset = (int(offset_hours) * 60 + int(offset_minutes)) * 60
            offset = offset if sign == "+" else -offset
        seconds = calendar.timegm(fields) - offset
        nanos = int((fraction or "0")[:9].ljust(9, "0"))
    except ValueError as error:
        raise _Malformed(f"malformed parameter {name}: parsing time "
                         f"{_go_quote(text)}: {error}") from None
    return seconds * 1_000_000_000 + nanos


def _bool(params: Params, canonical: str, deprecated: str) -> Optional[bool]:
    """``strconv.ParseBool`` of a parameter (``None`` when absent)."""
    text, name = _param(params, canonical, deprecated)
    if not text:
        return None
    if text not in _GO_BOOLS:
        raise _Malformed(f"malformed parameter {name}: strconv.ParseBool: "
                         f"parsing {_go_quote(text)}: invalid syntax")
    return _GO_BOOLS[text]


def _trace_id(text: str) -> int:
    """A trace id as Jaeger's ``TraceIDFromString`` reads it: 1 to 32 hex
    digits, else base64 (standard or URL-safe, padded or not) of 8 or 16
    bytes."""
    problem = f"strconv.ParseUint: parsing {_go_quote(text)}: invalid syntax"
    if len(text) > 32:
        problem = f"TraceID cannot be longer than 32 hex characters: {text}"
    elif text and all(c in "0123456789abcdefABCDEF" for c in text):
        return int(text, 16)
    elif 0 < len(text) <= 24:
        for alphabet in (None, b"-_"):
            try:
                raw = base64.b64decode(text + "=" * (-len(text) % 4),
                                       altchars=alphabet, validate=True)
            except (ValueError, binascii.Error):
                continue
            if len(raw) in (8, 16):
                return int.from_bytes(raw, "big")
    raise _Malformed(f"malformed parameter trace_id: {problem[:200]}")


def _go_quote(text: str) -> str:
    return json.dumps(text[:80], ensure_ascii=False)


# -- answers ------------------------------------------------------------------
def _ok(document: Any) -> Answer:
    return 200, _JSON, _dumps(document)


def _error(status: int, message: str) -> Answer:
    """Jaeger's ``http.Error`` of a ``GRPCGatewayError``: JSON in a
    ``text/plain`` body ending in a newline."""
    body = _dumps({"error": {"httpCode": status, "message": message}})
    return status, _TEXT, body + b"\n"


def _dumps(document: Any) -> bytes:
    # compact, with <, > and & escaped as Go's encoders write them (and
    # the rest of Unicode escaped too: valid whatever a span holds)
    text = json.dumps(document, separators=(",", ":"))
    return (text.replace("<", "\\u003c").replace(">", "\\u003e")
            .replace("&", "\\u0026").encode("ascii"))
