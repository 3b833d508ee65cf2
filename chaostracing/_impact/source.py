"""Where an impact's spans come from: any Jaeger query API (``chaostracing
collect``'s, or a production Jaeger), or trace files and journals.

Jaeger's query API searches one service at a time and answers whole
traces, so a trace that crosses four services comes back four times. Each
service's own spans are read from its own answer only
(:func:`chaostracing._probes.fetch.read_spans` with the service), so every
span is read once, and the union of the answers is every span of every
service in the time asked. The services are asked on a few threads: the
query service writes one answer while this process reads the previous one.

The HTTP itself is the probes' (:mod:`chaostracing._probes.fetch`): the
same errors, naming the URL without its credentials, the same limits.

Spans reach a back-end a few seconds after they end (OpenTelemetry's SDK
batches them for 5 s by default). :func:`wait_for_late_spans` waits, at
most a given time, until every service that was busy at the end of the run
has sent a span that started after it.
"""
import concurrent.futures
import time
from typing import Any, List, NamedTuple, Optional, Sequence

from chaoslib.exceptions import ActivityFailed

from chaostracing._data.model import SpanData
from chaostracing._probes import fetch

__all__ = ["DEFAULT_LIMIT", "Fetched", "from_query", "trace",
           "wait_for_late_spans"]

#: traces asked for at most per service: beyond, the newest only (said)
DEFAULT_LIMIT = 100_000
#: services asked at once
_WORKERS = 3
#: seconds between two looks for late spans
_POLL = 0.25


class Fetched(NamedTuple):
    """The spans of a time range, and what the query service said."""

    spans: List[SpanData]
    #: every service the query service knows
    services: List[str]
    #: the services whose answer reached the limit (the newest traces only)
    limited: List[str]


def services(url: str, timeout: float) -> List[str]:
    """The service names the query service knows."""
    document = fetch.get_json(url, "/api/services", {}, timeout)
    names = document.get("data") if isinstance(document, dict) else None
    if not isinstance(names, list):
        raise ActivityFailed(f"the trace query service at {fetch.shown(url)}"
                             " did not answer Jaeger's /api/services")
    return sorted({str(n) for n in names})


def from_query(url: str, start_us: int, end_us: int, *, timeout: float,
               limit: int = DEFAULT_LIMIT,
               exclude: Sequence[str] = ()) -> Fetched:
    """Every span the query service at ``url`` holds that started in
    ``[start_us, end_us]`` (and the other spans of their traces), but those
    of the services in ``exclude``.

    :param timeout: seconds for the whole fetch
    :raises ActivityFailed: naming the URL (not its credentials) when the
        query service cannot be reached or answers something else than
        Jaeger's JSON, or when the whole fetch took more than ``timeout``
    """
    deadline = time.monotonic() + timeout
    names = [n for n in services(url, timeout) if n not in exclude]

    def one(service: str) -> List[SpanData]:
        left = deadline - time.monotonic()
        if left <= 0:
            raise ActivityFailed(
                f"the trace query service at {fetch.shown(url)} did not "
                f"answer every service's spans within {timeout:g} s")
        params = {"service": service, "start": str(start_us),
                  "end": str(end_us), "limit": str(limit)}
        document = fetch.get_json(url, "/api/traces", params, left)
        traces = _traces(document)
        spans = fetch.read_spans(document, url, service)
        if traces >= limit:
            limited.append(service)
        return spans

    limited: List[str] = []
    spans: List[SpanData] = []
    with concurrent.futures.ThreadPoolExecutor(
            _WORKERS, thread_name_prefix="chaostracing-impact") as pool:
        for found in pool.map(one, names):
            spans.extend(found)
    return Fetched(spans, names, sorted(limited))


def trace(url: str, trace_id: int, timeout: float) -> List[SpanData]:
    """The spans of one trace (the run's own), or none when the query
    service does not hold it."""
    from chaostracing._data.jaegerjson import read_document
    from chaostracing._data.model import trace_hex

    try:
        document = fetch.get_json(url, f"/api/traces/{trace_hex(trace_id)}",
                                  {}, timeout)
        return read_document(document)
    except (ActivityFailed, ValueError):
        return []  # not there (404), or not readable: the journal will do


def _traces(document: Any) -> int:
    data = document.get("data") if isinstance(document, dict) else None
    return len(data) if isinstance(data, list) else 0


def wait_for_late_spans(url: str, after_us: int, seconds: float, *,
                        exclude: Sequence[str] = ()) -> float:
    """Wait, at most ``seconds``, until every service that sent a span in
    the ``seconds`` before ``after_us`` has sent one that started at or
    after it; return the seconds waited. A service quiet before the end
    is not waited for; one that stays quiet after it costs the whole wait.
    """
    started = time.monotonic()
    deadline = started + seconds
    if seconds <= 0:
        return 0.0
    window_us = int(seconds * 1e6)
    try:
        pending = [n for n in services(url, seconds) if n not in exclude]
    except ActivityFailed:
        return time.monotonic() - started  # the fetch will say why
    while pending and time.monotonic() < deadline:
        still = []
        for service in pending:
            left = deadline - time.monotonic()
            if left <= 0:
                still.append(service)
                continue
            try:
                last = _newest_start(url, service, after_us - window_us,
                                     left)
            except ActivityFailed:
                return time.monotonic() - started
            if last is not None and last < after_us:
                still.append(service)  # busy before the end, not after yet
        pending = still
        if pending:
            time.sleep(min(_POLL, max(deadline - time.monotonic(), 0)))
    return time.monotonic() - started


def _newest_start(url: str, service: str, since_us: int,
                  timeout: float) -> Optional[int]:
    """The start of the newest span of ``service`` since ``since_us``
    (None: none)."""
    params = {"service": service, "start": str(since_us),
              "end": str(time.time_ns() // 1000 + 60_000_000), "limit": "1"}
    document = fetch.get_json(url, "/api/traces", params, timeout)
    spans = fetch.read_spans(document, url, service)
    starts = [s.start_us for s in spans if s.start_us >= since_us]
    return max(starts) if starts else None
