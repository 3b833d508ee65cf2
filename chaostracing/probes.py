"""Chaos Toolkit probes over the system's own spans: traces as the steady state.

Each probe asks a Jaeger query service (any Jaeger's HTTP API, or
``chaostracing collect``'s) for the traces of the last ``window`` seconds
holding a span of ``service`` (of ``kind``, ``operation`` and ``tags`` when
given), then counts the matching spans themselves, with the same filter
(:mod:`chaostracing._data.spanquery`). The figures are plain numbers, so
chaoslib's tolerances apply::

    {"type": "probe", "name": "orders-rarely-fail",
     "tolerance": {"type": "range", "range": [0, 0.05]},
     "provider": {"type": "python", "module": "chaostracing.probes",
                  "func": "span_error_ratio",
                  "arguments": {"service": "orders", "window": 60}}}

``kind="server"`` (the default) counts the service's entry spans, one per
request it served; ``kind=None`` every span. A span failed when it has
``error=true``, OpenTelemetry status ERROR, or an HTTP status of 500 or more.

**No data is not health**: fewer than ``min_spans`` matching spans fails the
activity, with a message naming the service, operation and window, and so
does a query service that cannot be reached (naming its URL) or answers
something else than Jaeger's JSON: never a silent 0.

Where the query goes: the ``query_url`` argument, else the setting
``tracing_query_url`` (the experiment's configuration, else the environment
variable ``CHAOSTRACING_QUERY_URL``), else ``http://127.0.0.1:16686``.
Credentials in the URL (``https://user:password@jaeger``) are sent as basic
authentication and never appear in a message.

Spans reach a query service a few seconds after they end (OpenTelemetry's
SDK batches them for 5 s by default): let traffic run for a while before
the probe, and choose a window longer than that delay.

The searches ask for at most ``limit`` traces (10,000 by default), the
newest; a probe that reaches that limit says so in one warning, and its
figure is over those traces only.
"""
import json
import logging
import math
import time
from typing import Any, Dict, List, Tuple

from chaoslib.exceptions import ActivityFailed

from chaostracing._data.model import SpanData
from chaostracing._data.spanquery import SpanQuery, is_error
from chaostracing._probes import arguments, counting, fetch

__all__ = ["span_count", "span_error_ratio", "span_latency_percentile"]

logger = logging.getLogger("chaostoolkit")

#: traces asked for at most, unless ``limit`` says otherwise
_DEFAULT_LIMIT = 10_000
#: seconds to wait for the query service
_DEFAULT_TIMEOUT = 30.0


def span_error_ratio(
    service: str,
    operation: str = None,
    window: float = 60,
    kind: str = "server",
    tags: Dict[str, Any] = None,
    min_spans: int = 1,
    query_url: str = None,
    *,
    limit: int = _DEFAULT_LIMIT,
    timeout: float = _DEFAULT_TIMEOUT,
    configuration: Dict[str, Any] = None,
) -> float:
    """The fraction, from 0 to 1, of the matching spans of the last
    ``window`` seconds that failed (``error=true``, OpenTelemetry status
    ERROR, or HTTP status 500 or more).

    :param service: the service name the spans are reported under
    :param operation: only spans of this operation (e.g. ``GET /orders``)
    :param window: seconds back from now
    :param kind: ``server`` (the requests the service served), ``client``,
        ``producer``, ``consumer``, ``internal``, or ``None`` for any span
    :param tags: only spans with these tags (values compared as text)
    :param min_spans: fewer matching spans than this fails the probe
    :param query_url: Jaeger's query service (default: the setting
        ``tracing_query_url``, else ``http://127.0.0.1:16686``)

    Also ``limit`` (traces asked for at most, 10,000) and ``timeout``
    (seconds to wait for the answer, 30).
    """
    least = arguments.min_spans(min_spans)
    spans, described = _matching(
        service, operation, window, kind, tags, query_url, limit, timeout,
        configuration)
    counting.require(spans, least, described)
    if not spans:
        return 0.0
    return sum(1 for span in spans if is_error(span)) / len(spans)


def span_latency_percentile(
    service: str,
    operation: str = None,
    percentile: float = 95,
    window: float = 60,
    kind: str = "server",
    tags: Dict[str, Any] = None,
    min_spans: int = 1,
    query_url: str = None,
    *,
    limit: int = _DEFAULT_LIMIT,
    timeout: float = _DEFAULT_TIMEOUT,
    configuration: Dict[str, Any] = None,
) -> float:
    """The ``percentile``-th percentile (nearest rank) of the durations, in
    milliseconds, of the matching spans of the last ``window`` seconds.

    :param service: the service name the spans are reported under
    :param operation: only spans of this operation (e.g. ``GET /orders``)
    :param percentile: above 0, at most 100 (100: the longest span)
    :param window: seconds back from now
    :param kind: ``server`` (the requests the service served), ``client``,
        ``producer``, ``consumer``, ``internal``, or ``None`` for any span
    :param tags: only spans with these tags (values compared as text)
    :param min_spans: fewer matching spans than this fails the probe
    :param query_url: Jaeger's query service (default: the setting
        ``tracing_query_url``, else ``http://127.0.0.1:16686``)

    Also ``limit`` (traces asked for at most, 10,000) and ``timeout``
    (seconds to wait for the answer, 30).
    """
    rank = arguments.number(percentile, "percentile",
                            "a number above 0, at most 100")
    if not 0 < rank <= 100:
        raise ActivityFailed(f"percentile is {percentile!r}: expected a number "
                             "above 0, at most 100")
    least = arguments.min_spans(min_spans)
    spans, described = _matching(
        service, operation, window, kind, tags, query_url, limit, timeout,
        configuration)
    counting.require(spans, least, described)
    if not spans:
        return 0.0
    durations = sorted(span.duration_us for span in spans)
    index = max(math.ceil(rank / 100 * len(durations)) - 1, 0)
    return durations[index] / 1000


def span_count(
    service: str,
    operation: str = None,
    window: float = 60,
    kind: str = "server",
    tags: Dict[str, Any] = None,
    errors_only: bool = False,
    query_url: str = None,
    *,
    limit: int = _DEFAULT_LIMIT,
    timeout: float = _DEFAULT_TIMEOUT,
    configuration: Dict[str, Any] = None,
) -> int:
    """How many matching spans (failed ones only, with ``errors_only``)
    started in the last ``window`` seconds.

    :param service: the service name the spans are reported under
    :param operation: only spans of this operation (e.g. ``GET /orders``)
    :param window: seconds back from now
    :param kind: ``server`` (the requests the service served), ``client``,
        ``producer``, ``consumer``, ``internal``, or ``None`` for any span
    :param tags: only spans with these tags (values compared as text)
    :param errors_only: count only the failed spans
    :param query_url: Jaeger's query service (default: the setting
        ``tracing_query_url``, else ``http://127.0.0.1:16686``)

    Also ``limit`` (traces asked for at most, 10,000) and ``timeout``
    (seconds to wait for the answer, 30).
    """
    spans, _ = _matching(
        service, operation, window, kind, tags, query_url, limit, timeout,
        configuration)
    if errors_only:
        return sum(1 for span in spans if is_error(span))
    return len(spans)


###############################################################################
# Discovery (``chaos discover chaostoolkit-opentracing``)
###############################################################################
def discover(discover_system: bool = True) -> Dict[str, Any]:
    """These probes, with their arguments and documentation, and (with
    ``discover_system``) the services the query service knows."""
    from chaoslib.discovery.discover import (
        discover_probes,
        initialize_discovery_result,
    )

    from chaostracing._version import __version__

    result: Dict[str, Any] = initialize_discovery_result(
        "chaostoolkit-opentracing", __version__, "tracing")
    result["activities"].extend(discover_probes(__name__))
    if discover_system:
        result["system"] = _system()
    return result


def _system() -> Dict[str, Any]:
    try:
        url = arguments.query_url(None, None)
        document = fetch.get_json(url, "/api/services", {}, 5.0)
        services = document.get("data") if isinstance(document, dict) else None
        return {"query_url": fetch.shown(url),
                "services": [str(s) for s in services or []]}
    except ActivityFailed as error:
        return {"query_url": None, "error": str(error)}


###############################################################################
# The query
###############################################################################
def _matching(
    service: Any, operation: Any, window: Any, kind: Any, tags: Any,
    query_url: Any, limit: Any, timeout: Any, configuration: Any,
) -> Tuple[List[SpanData], str]:
    """The matching spans, and how to name them in a message."""
    if not isinstance(service, str) or not service:
        raise ActivityFailed(f"service is {service!r}: expected the name of a "
                             "service, as its spans report it")
    if operation is not None and not isinstance(operation, str):
        raise ActivityFailed(f"operation is {operation!r}: expected an "
                             "operation name, or null for any")
    seconds = arguments.number(window, "window", "a number of seconds above 0")
    if not 0 < seconds <= 366 * 24 * 3600:
        raise ActivityFailed(f"window is {window!r}: expected a number of "
                             "seconds above 0")
    wanted = arguments.tags(tags)
    if kind not in (None, ""):
        if not isinstance(kind, str) or kind.lower() not in arguments.KINDS:
            raise ActivityFailed(
                f"kind is {kind!r}: expected one of "
                + ", ".join(repr(k) for k in arguments.KINDS)
                + ", or null for any")
        wanted["span.kind"] = kind.lower()
    most = arguments.number(limit, "limit", "a number of traces, at least 1")
    wait = arguments.number(timeout, "timeout", "a number of seconds above 0")
    if most < 1 or most != int(most) or wait <= 0:
        raise ActivityFailed(f"limit is {limit!r} and timeout {timeout!r}: "
                             "expected at least 1 trace and a timeout above 0")
    url = arguments.query_url(query_url, configuration)

    end = time.time_ns() // 1000
    start = end - int(seconds * 1_000_000)
    query = SpanQuery(service, operation or None, wanted, start, end)
    params = {"service": service, "start": str(start), "end": str(end),
              "limit": str(int(most))}
    if operation:
        params["operation"] = operation
    if wanted:
        params["tags"] = json.dumps(wanted)
    document = fetch.get_json(url, "/api/traces", params, wait)
    spans = fetch.read_spans(document, url, service)
    traces = len({span.trace_id for span in spans})
    if traces >= most:
        logger.warning(
            f"chaostracing.probes: the query service answered {traces} "
            f"traces, the limit (limit={int(most)}): the figure is over the "
            "newest of them only")
    seen = set()
    matching = []
    for span in spans:
        key = (span.trace_id, span.span_id)
        if key not in seen and query.matches(span):
            seen.add(key)
            matching.append(span)
    described = (
        f"service {service!r}"
        + (f", operation {operation!r}" if operation else "")
        + (f", kind {kind.lower()!r}" if kind else "")
        + (f", tags {arguments.tags(tags)!r}" if tags else "")
        + f", in the last {seconds:g} s at {fetch.shown(url)}")
    return matching, described
