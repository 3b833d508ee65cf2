"""Jaeger's ``/api/dependencies``: the calls between services, for Jaeger
UI's System Architecture page.

``GET /api/dependencies?endTs=<unix ms>&lookback=<ms>[&service=]``, as
Jaeger's v1 query API answers it (``http_handler.go`` and
``query_parser.go`` in jaegertracing/jaeger): ``endTs`` defaults to now,
``lookback`` to a day; the answer is the v1 envelope whose ``data`` is
``[{"parent", "child", "callCount"}]``, one entry per pair of services,
``callCount`` a JSON number; with ``service``, only the pairs it is part
of. A malformed number is a 400 in the same envelope.

The edges are :mod:`chaostracing._data.edges`' one definition (a span of
one service whose ``CHILD_OF`` parent is a span of another), counted over
the stored traces that lie whole in ``[endTs - lookback, endTs]``, as
Jaeger's in-memory store does. Calls inside a service are not edges.
"""
import json
import time
from typing import List, Mapping, Optional, Tuple

from chaostracing._collector.store import SpanStore
from chaostracing._data.edges import edges
from chaostracing._data.model import SpanData
from chaostracing._data.spanquery import first_value, parse_go_int

__all__ = ["DEFAULT_LOOKBACK_MS", "dependencies"]

#: what Jaeger looks back over when ``lookback`` is not given: a day
DEFAULT_LOOKBACK_MS = 24 * 3600 * 1000
_JSON = "application/json"


class _Malformed(ValueError):
    pass


def dependencies(store: SpanStore, params: Mapping[str, List[str]]
                 ) -> Tuple[int, str, bytes]:
    """``(status, content type, body)`` of ``/api/dependencies``."""
    try:
        end_ms = _millis(params, "endTs", time.time_ns() // 1_000_000)
        lookback_ms = _millis(params, "lookback", DEFAULT_LOOKBACK_MS)
    except _Malformed as error:
        return _envelope(None, 400, [{"code": 400, "msg": str(error)}])
    low, high = (end_ms - lookback_ms) * 1000, end_ms * 1000
    spans: List[SpanData] = []
    for _, members in store.traces():
        if (min(s.start_us for s in members) >= low
                and max(s.end_us for s in members) <= high):
            spans.extend(members)
    service = first_value(params, "service")
    data = [{"parent": edge.caller, "child": edge.callee,
             "callCount": edge.calls}
            for edge in edges(spans)
            if not service or service in (edge.caller, edge.callee)]
    return _envelope(data)


def _millis(params: Mapping[str, List[str]], name: str, default: int) -> int:
    """``strconv.ParseInt(value, 10, 64)`` of a parameter, or ``default``."""
    text = first_value(params, name)
    if not text:
        return default
    try:
        value = parse_go_int(text)
    except OverflowError:
        raise _Malformed(f"unable to parse param '{name}': strconv.ParseInt: "
                         f"parsing {json.dumps(text[:80])}: value out of "
                         "range") from None
    if value is None:
        raise _Malformed(f"unable to parse param '{name}': strconv.ParseInt: "
                         f"parsing {json.dumps(text[:80])}: invalid syntax")
    return value


def _envelope(data: object, status: int = 200,
              errors: Optional[List[object]] = None
              ) -> Tuple[int, str, bytes]:
    body = json.dumps({"data": data, "total": 0, "limit": 0, "offset": 0,
                       "errors": errors}, separators=(",", ":"))
    return status, _JSON, body.encode("ascii")
