"""Jaeger's HTTP query API, answered from the collector's store.

The part Jaeger UI and tools use, in Jaeger's JSON model and envelope
(``{"data", "total", "limit", "offset", "errors"}``), with Jaeger's
parameters, defaults and error bodies (``cmd/query/app`` in
jaegertracing/jaeger):

- ``GET /api/services``: the service names;
- ``GET /api/services/{service}/operations``: its operation names;
  ``GET /api/operations?service=&spanKind=``: ``{"name", "spanKind"}``;
- ``GET /api/traces?service=&operation=&tag=k:v&tags={json}&start=&end=
  &minDuration=&maxDuration=&limit=``: the traces holding a matching span
  (:mod:`chaostracing._data.spanquery`), newest first; ``start``/``end`` in unix
  microseconds (default: the last two days), durations as ``300ms`` or
  ``1.5s``, ``limit`` traces (default 100; 0 or less: all); or
  ``traceID=`` (repeatable) for given traces;
- ``GET /api/traces/{traceID}``: one trace; 404 ``trace not found``;

and, for a browser, ``GET /trace/{traceID}`` (the HTML report of that
trace: point ``tracing_ui_url`` here and the run's trace link opens) and
``GET /`` (the recent traces). Every answer is built from a snapshot of the
store, so queries are consistent while spans arrive.
"""
import html
import json
import time
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

from chaostracing._collector import apiv3
from chaostracing._collector.dependencies import dependencies
from chaostracing._collector.http import (
    PIECE,
    Answer,
    Handler,
    HttpError,
    Request,
    Route,
    Site,
)
from chaostracing._collector.store import SpanStore
from chaostracing._data.gcpause import paused_gc
from chaostracing._data.jaegerjson import trace_json
from chaostracing._data.model import (
    SpanData,
    jaeger_trace_hex,
    parse_id,
    trace_hex,
)
from chaostracing._data.spanquery import (
    DEFAULT_LOOKBACK_US,
    SpanQuery,
    first_value,
    parse_duration_ns,
    parse_go_int,
)
from chaostracing._data.summary import summarize

__all__ = [
    "ROUTES",
    "BadParameter",
    "home",
    "not_found",
    "operations",
    "refuse",
    "search",
    "service_operations",
    "services",
    "site",
    "trace",
    "trace_page",
]

#: traces answered when the search gives no ``limit``, as Jaeger
DEFAULT_LIMIT = 100
#: traces listed on the home page
RECENT = 100
_JSON = "application/json"
_HTML = "text/html; charset=utf-8"
_PAGE_POLICY = ("Content-Security-Policy",
                "default-src 'none'; style-src 'unsafe-inline'")
_NOSNIFF = ("X-Content-Type-Options", "nosniff")


class BadParameter(HttpError):
    """A parameter Jaeger would refuse (400)."""

    def __init__(self, message: str) -> None:
        super().__init__(400, message)


###############################################################################
# The endpoints: (store, request) -> answer
###############################################################################
def services(store: SpanStore, request: Request) -> Answer:
    names = store.services()
    return _json(names, total=len(names))


def service_operations(store: SpanStore, request: Request) -> Answer:
    names = store.operations(request.args["service"])
    return _json(names, total=len(names))


def operations(store: SpanStore, request: Request) -> Answer:
    service = request.first("service")
    if not service:
        raise BadParameter("parameter 'service' is required")
    kinds = store.operation_kinds(service, request.first("spanKind"))
    data = [{"name": name, "spanKind": kind} for name, kind in kinds]
    return _json(data, total=len(data))


def search(store: SpanStore, request: Request) -> Answer:
    params = request.params
    now = _now_us()
    end = _time(params, "end", now)
    start = _time(params, "start", now - DEFAULT_LOOKBACK_US)
    tags = _tags(params)
    limit = _limit(params)
    low = _duration(params, "minDuration")
    high = _duration(params, "maxDuration")
    if low and high and high < low:
        raise BadParameter("'maxDuration' should be greater than "
                           "'minDuration'")
    ids = []
    for text in params.get("traceID", []):
        ids.append(_trace_id(text, "cannot parse traceID param"))
    if ids:
        found, errors = [], []
        for trace_id in ids:
            spans = store.trace(trace_id)
            if spans:
                found.append((trace_id, spans))
            else:
                errors.append({"msg": "trace not found",
                               "traceID": jaeger_trace_hex(trace_id)})
        return _traces(found, errors or None)
    service = request.first("service")
    if not service:
        raise BadParameter("parameter 'service' is required")
    query = SpanQuery(service, request.first("operation"), tags, start, end,
                      low, high)
    return _traces(store.find(query, limit))


def trace(store: SpanStore, request: Request) -> Answer:
    trace_id = _trace_id(request.args["trace_id"], "cannot parse traceID")
    spans = store.trace(trace_id)
    if not spans:
        return refuse(404, "trace not found")
    return _traces([(trace_id, spans)])


def home(store: SpanStore, request: Request) -> Answer:
    return _page(200, _home(store))


def trace_page(store: SpanStore, request: Request) -> Answer:
    from chaostracing._viewers.report import render

    text = request.args["trace_id"]
    try:
        trace_id = _trace_id(text, "not a trace id")
    except BadParameter:
        return _page(400, _message_page(
            "Not a trace id", f"{text[:64]} is not a trace id (1 to 32 "
            "hexadecimal digits)."))
    spans = store.trace(trace_id)
    if not spans:
        return _page(404, _message_page(
            "Trace not found", f"No trace {trace_hex(trace_id)} was "
            "received (or it was evicted, over --max-spans or --max-bytes)."))
    body = render(spans, title=f"trace {trace_hex(trace_id)}")
    return Answer(200, _HTML, body.encode("utf-8"), (_NOSNIFF,))


def _plain(endpoint: Callable[..., apiv3.Answer]) -> Handler:
    """A route's handler for an endpoint of ``(store, query parameters,
    path arguments...)`` that returns ``(status, content type, body)``
    (api_v3's and ``/api/dependencies``)."""

    def handler(store: SpanStore, request: Request) -> Answer:
        status, kind, body = endpoint(store, request.params, **request.args)
        return Answer(status, kind, body, (_NOSNIFF,))

    return handler


#: the query API's routing table: Jaeger's paths, then the pages
ROUTES: List[Route] = [
    Route("GET", "/api/services", services),
    Route("GET", "/api/services/{service}/operations", service_operations),
    Route("GET", "/api/operations", operations),
    Route("GET", "/api/traces", search),
    Route("GET", "/api/traces/{trace_id}", trace),
    Route("GET", "/api/dependencies", _plain(dependencies)),
    *(Route("GET", pattern, _plain(endpoint))
      for pattern, endpoint in apiv3.ROUTES),
    Route("GET", "/", home),
    Route("GET", "/trace/{trace_id}", trace_page),
]


def refuse(status: int, message: str) -> Answer:
    """Jaeger's error envelope (``errors: [{code, msg}]``)."""
    return _json(None, errors=[{"code": status, "msg": message}],
                 status=status)


def not_found(request: Request) -> Answer:
    """Jaeger's 404 under ``/api/``, a page elsewhere."""
    if request.path.startswith("/api/v3/"):  # Go's ServeMux, as Jaeger's
        status, kind, body = apiv3.NOT_FOUND
        return Answer(status, kind, body, (_NOSNIFF,))
    if request.path.startswith("/api/") or request.path == "/api":
        return refuse(404, "404 page not found")
    return _page(404, _message_page("Not found", "There is nothing at this "
                                    "address."))


def site(store: SpanStore) -> Site:
    """The query API's port: its routes, over ``store``."""
    return Site("--query-port", ROUTES, store, refuse, not_found)


# -- answers -------------------------------------------------------------------
def _json(data: Any, total: int = 0,
          errors: Optional[List[Dict[str, Any]]] = None,
          status: int = 200) -> Answer:
    body = json.dumps({"data": data, "total": total, "limit": 0,
                       "offset": 0, "errors": errors},
                      separators=(",", ":")).encode("ascii")
    return Answer(status, _JSON, body, (_NOSNIFF,))


def _traces(found: List[Tuple[int, List[SpanData]]],
            errors: Optional[List[Dict[str, Any]]] = None) -> Answer:
    return Answer(200, _JSON, _traces_pieces(found, errors), (_NOSNIFF,))


def _page(status: int, text: str) -> Answer:
    return Answer(status, _HTML, text.encode("utf-8"),
                  (_PAGE_POLICY, _NOSNIFF))


def _traces_pieces(found: List[Tuple[int, List[SpanData]]],
                   errors: Optional[List[Dict[str, Any]]] = None
                   ) -> Iterator[bytes]:
    """Traces in Jaeger's envelope, each written by :func:`trace_json`, in
    pieces of about :data:`PIECE` bytes: a large search is sent as it is
    written, and concurrent searches hold a piece each, not their whole
    answer."""
    pending: List[str] = ['{"data":[']
    traces = iter(enumerate(found))
    done = False
    while not done:
        size = 0
        with paused_gc():  # not while sending: a slow reader could hold it
            for number, (trace_id, spans) in traces:
                text = trace_json(trace_id, spans)
                if number:
                    pending.append(",")
                pending.append(text)
                size += len(text)
                if size >= PIECE:
                    break
            else:
                done = True
                pending.append('],"total":0,"limit":0,"offset":0,"errors":')
                pending.append(json.dumps(errors, separators=(",", ":")))
                pending.append("}")
            piece = "".join(pending).encode("ascii")
        pending = []
        yield piece


###############################################################################
# Parameters, as Jaeger's query parser reads them
###############################################################################
def _now_us() -> int:
    return time.time_ns() // 1000


def _time(params: Dict[str, List[str]], name: str, default: int) -> int:
    text = first_value(params, name)
    if not text:
        return default
    try:
        value = parse_go_int(text)
    except OverflowError:
        value = None
    if value is None:
        raise BadParameter(f"unable to parse param '{name}': expected unix "
                           f"microseconds, got {text[:40]!r}")
    return value


def _limit(params: Dict[str, List[str]]) -> int:
    text = first_value(params, "limit")
    if not text:
        return DEFAULT_LIMIT
    try:
        value = parse_go_int(text, 32)
    except OverflowError:
        value = None
    if value is None:
        raise BadParameter(f"unable to parse param 'limit': expected an "
                           f"integer, got {text[:40]!r}")
    return value


def _duration(params: Dict[str, List[str]], name: str) -> Optional[int]:
    text = first_value(params, name)
    if not text:
        return None
    try:
        return parse_duration_ns(text)
    except ValueError as error:
        raise BadParameter(f"unable to parse param '{name}': {error}") from None


def _tags(params: Dict[str, List[str]]) -> Dict[str, str]:
    tags: Dict[str, str] = {}
    for text in params.get("tag", []):
        key, colon, value = text.partition(":")
        if not colon:
            raise BadParameter("malformed 'tag' parameter, expecting "
                               f"key:value, received: {text[:80]}")
        tags[key] = value
    for text in params.get("tags", []):
        try:
            document = json.loads(text)
        except (ValueError, RecursionError) as error:
            document = error
        if not isinstance(document, dict) or not all(
                isinstance(v, str) for v in document.values()):
            raise BadParameter("malformed 'tags' parameter, cannot unmarshal "
                               "JSON: expected an object of strings such as "
                               '{"error":"true"}')
        tags.update(document)
    return tags


def _trace_id(text: str, what: str) -> int:
    try:
        return parse_id(text, 128)
    except ValueError:
        raise BadParameter(f"{what}: {text[:40]!r} is not 1 to 32 hexadecimal "
                           "digits") from None


###############################################################################
# Pages
###############################################################################
def _home(store: SpanStore) -> str:
    rows = []
    for trace_id, spans in store.recent(RECENT):
        trace = summarize(spans, trace_id)
        rows.append(
            "<tr><td><a href=\"/trace/{id}\">{short}</a></td><td>{name}</td>"
            "<td>{services}</td><td class=n>{count}</td><td class=n>{errors}"
            "</td><td>{when}</td><td class=n>{ms:.1f} ms</td></tr>".format(
                id=trace_hex(trace_id), short=trace_hex(trace_id)[:12],
                name=html.escape(_short(trace.root_operation)),
                services=html.escape(_short(", ".join(trace.service_names))),
                count=trace.span_count, errors=trace.error_count or "",
                when=time.strftime("%Y-%m-%d %H:%M:%S",
                                   time.localtime(trace.start_us / 1e6)),
                ms=trace.duration_us / 1000))
    stored = len(store)
    summary = (f"{stored} span(s) stored, {store.dropped} evicted (over "
               f"--max-spans {store.max_spans}); the {len(rows)} most recent "
               "trace(s) below, newest first.")
    table = ("<table><thead><tr><th>trace</th><th>root span</th><th>services"
             "</th><th>spans</th><th>errors</th><th>started</th><th>duration"
             "</th></tr></thead><tbody>" + "".join(rows)
             + "</tbody></table>") if rows else "<p>No trace received yet.</p>"
    return _shell("chaostracing collect", f"<p>{html.escape(summary)} "
                  "The same data answers Jaeger's query API at "
                  "<a href=\"/api/services\">/api/services</a>.</p>" + table)


def _message_page(title: str, text: str) -> str:
    return _shell(title, f"<p>{html.escape(text)}</p><p><a href=\"/\">Recent "
                  "traces</a></p>")


def _short(text: str, limit: int = 120) -> str:
    return text if len(text) <= limit else text[:limit - 1] + "\u2026"


def _shell(title: str, body: str) -> str:
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)}</title>
<style>
body {{ font: 13px/1.4 system-ui, sans-serif; margin: 16px; color: #1d1d1f; }}
table {{ border-collapse: collapse; }}
th, td {{ text-align: left; padding: 3px 10px 3px 0;
          border-bottom: 1px solid #eee; }}
td.n {{ text-align: right; }}
a {{ color: #0b57d0; }}
</style></head>
<body><h1>{html.escape(title)}</h1>
{body}
</body></html>
"""
