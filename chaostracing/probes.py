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

:func:`blast_radius` answers another question: did the fault stay where it
was allowed to go? It compares the method's window with the baseline
before it for every service, edge and operation (docs/impact.md), and
needs the chaostracing control in the experiment (to know when the method
ran) and scipy (the ``[impact]`` extra)::

    {"type": "probe", "name": "the-fault-stayed-in-payments",
     "tolerance": true,
     "provider": {"type": "python", "module": "chaostracing.probes",
                  "func": "blast_radius",
                  "arguments": {"allowed": ["payments"], "baseline": 60}}}
"""
import logging
from typing import Any, Dict, List, Optional

from chaoslib.exceptions import ActivityFailed

from chaostracing._data.model import SpanData
from chaostracing._probes import arguments, counting, fetch, query

__all__ = ["blast_radius", "span_count", "span_error_ratio",
           "span_latency_percentile"]

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
    search = arguments.search(
        service=service, operation=operation, window=window, kind=kind,
        tags=tags, query_url=query_url, limit=limit, timeout=timeout,
        configuration=configuration)
    spans = _matching(search)
    _require(spans, least, search)
    return counting.error_ratio(spans)


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
    rank = arguments.percentile(percentile)
    least = arguments.min_spans(min_spans)
    search = arguments.search(
        service=service, operation=operation, window=window, kind=kind,
        tags=tags, query_url=query_url, limit=limit, timeout=timeout,
        configuration=configuration)
    spans = _matching(search)
    _require(spans, least, search)
    return counting.latency_percentile_ms(spans, rank)


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
    search = arguments.search(
        service=service, operation=operation, window=window, kind=kind,
        tags=tags, query_url=query_url, limit=limit, timeout=timeout,
        configuration=configuration)
    return counting.count(_matching(search), errors_only)


def blast_radius(
    allowed: List[str] = None,
    baseline: float = 60,
    min_spans: int = 20,
    query_url: str = None,
    wait: float = 10,
    *,
    alpha: float = 0.01,
    error_rise: float = 0.05,
    latency_rise: float = 0.2,
    latency_ms: float = 5,
    limit: int = 100_000,
    timeout: float = _DEFAULT_TIMEOUT,
    configuration: Dict[str, Any] = None,
) -> bool:
    """True when the fault stayed inside ``allowed``: no service outside
    that list was impacted during the method, compared with the
    ``baseline`` seconds before it. With ``"tolerance": true`` the run
    deviates when the bulkheads did not hold.

    Impacted: the service's (or one of its operations') error ratio rose
    significantly (Fisher's exact test, p < ``alpha``, and at least
    ``error_rise``) or its latency did (Mann-Whitney U, p < ``alpha``, and
    the p95 up by ``latency_rise`` and ``latency_ms``); a callee whose
    calls are impacted counts too, its caller not. Fewer than ``min_spans``
    spans is never counted as impacted. One log line and the probe's span
    name the services found impacted. Before the method has run, there is
    nothing to compare: true. Needs the chaostracing control in the
    experiment (it knows when the method ran) and scipy (the ``[impact]``
    extra).

    :param allowed: the services the fault may touch
    :param baseline: seconds before the method compared with it
    :param min_spans: fewer spans than this in a window: not enough data
    :param query_url: Jaeger's query service (default: the setting
        ``tracing_query_url``, else ``http://127.0.0.1:16686``)
    :param wait: seconds to wait at most for the services' late spans
        (stops as soon as each busy service sent one after the method)

    Also the thresholds ``alpha`` (0.01), ``error_rise`` (0.05),
    ``latency_rise`` (0.2), ``latency_ms`` (5), ``limit`` (traces asked
    for per service, 100,000) and ``timeout`` (seconds for the whole
    query, 30).
    """
    from chaostracing._impact import endofrun
    from chaostracing._impact.verdicts import Thresholds

    services = _services(allowed)
    seconds = arguments.number(baseline, "baseline",
                               "a number of seconds above 0")
    least = arguments.min_spans(min_spans)
    most_wait = arguments.number(wait, "wait", "a number of seconds, 0 or "
                                 "more")
    thresholds = Thresholds(
        min_spans=max(int(least), 1),
        alpha=arguments.number(alpha, "alpha", "a probability"),
        error_rise=arguments.number(error_rise, "error_rise", "a fraction"),
        latency_rise=arguments.number(latency_rise, "latency_rise",
                                      "a fraction"),
        latency_ms=arguments.number(latency_ms, "latency_ms",
                                    "milliseconds"))
    most = arguments.number(limit, "limit", "a number of traces")
    total = arguments.number(timeout, "timeout", "seconds above 0")
    if seconds <= 0 or most_wait < 0 or most < 1 or total <= 0:
        raise ActivityFailed(
            f"baseline is {baseline!r}, wait {wait!r}, limit {limit!r}, "
            f"timeout {timeout!r}: expected a baseline and a timeout above "
            "0, a wait of 0 or more, a limit of at least 1")
    url = arguments.resolve_query_url(query_url, configuration)
    return endofrun.blast_radius(
        services, url, seconds, wait_s=most_wait, timeout=total,
        thresholds=thresholds, limit=int(most))


def _services(allowed: Any) -> List[str]:
    """``allowed`` as a list of service names (a ``${...}`` substitution
    may give them as text, separated by commas)."""
    if allowed is None:
        return []
    if isinstance(allowed, str):
        return [s.strip() for s in allowed.split(",") if s.strip()]
    names: Optional[List[str]] = None
    if isinstance(allowed, (list, tuple)) and all(
            isinstance(s, str) for s in allowed):
        names = list(allowed)
    if names is None:
        raise ActivityFailed(f"allowed is {allowed!r:.80}: expected a list of "
                             'service names, such as ["payments"]')
    return names


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
        url = arguments.resolve_query_url(None, None)
        document = fetch.get_json(url, "/api/services", {}, 5.0)
        services = document.get("data") if isinstance(document, dict) else None
        return {"query_url": fetch.shown(url),
                "services": [str(s) for s in services or []]}
    except ActivityFailed as error:
        return {"query_url": None, "error": str(error)}


###############################################################################
# The query
###############################################################################
def _matching(search: arguments.Search) -> List[SpanData]:
    """The spans ``search`` matches: the query service's answer, a whole
    trace for each matching span, picked again with the same rules."""
    asked = query.build(search)
    document = fetch.get_json(search.url, "/api/traces", asked.params,
                              search.timeout)
    spans = fetch.read_spans(document, search.url, search.service)
    counting.note_limit(spans, search.limit)
    return counting.matching(spans, asked.spans)


def _require(spans: List[SpanData], least: float,
             search: arguments.Search) -> None:
    counting.require(spans, least, search.described(fetch.shown(search.url)))
