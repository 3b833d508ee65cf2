"""Where an impact's spans come from: any Jaeger query API (``chaostracing
collect``'s, or a production Jaeger), or trace files and journals.

Two ways, the cheaper first:

- **trace summaries, then traces by id**, where the query service answers
  Jaeger's api_v3 ``/api/v3/trace-summaries`` (Jaeger 2.19 and later): the
  ids of the traces of the time asked (without a service where the query
  service allows it, else service by service), then those traces, each
  once, through ``/api/traces?traceID=...`` in batches;
- **a search per service** (``/api/traces?service=``) everywhere else.
  Jaeger's search answers whole traces, so a trace that crosses four
  services comes back four times; each service's own spans are read from
  its own answer only (:func:`chaostracing._probes.fetch.read_spans` with
  the service), so every span is still read once, and the union of the
  answers is every span of every service in the time asked.

Either way the requests go out on a few threads: the query service writes
one answer while this process reads the previous one.

The HTTP itself is the probes' (:mod:`chaostracing._probes.fetch`): the
same errors, naming the URL without its credentials, the same limits.

Spans reach a back-end a few seconds after they end (OpenTelemetry's SDK
batches them for 5 s by default). :func:`wait_for_late_spans` waits, at
most a given time, until every service that was busy at the end of the run
has sent a span that started after it.
"""
import concurrent.futures
import datetime
import time
from typing import (
    Any,
    Callable,
    Dict,
    List,
    NamedTuple,
    Optional,
    Sequence,
    Set,
)

from chaoslib.exceptions import ActivityFailed

from chaostracing._data.model import FAILED_TAGS, SpanData
from chaostracing._data.tags import CHAOSTOOLKIT_TYPE, SPAN_KIND
from chaostracing._probes import fetch

__all__ = ["DEFAULT_LIMIT", "Fetched", "from_query", "trace",
           "wait_for_late_spans"]

#: traces asked for at most per service: beyond, the newest only (said)
DEFAULT_LIMIT = 100_000
#: services asked at once
_WORKERS = 3
#: trace ids asked for in one request (a URL of about 4 KB)
_BATCH = 100
#: seconds between two looks for late spans
_POLL = 0.25
#: the only tags an impact reads (its units: the kind, failed; its windows:
#: the run's own spans' level): the others, logs and process tags are not
#: read, which halves the reading of a large answer
TAGS = FAILED_TAGS | {SPAN_KIND, CHAOSTOOLKIT_TYPE}


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
    found = _by_summaries(url, start_us, end_us, names, limit, deadline,
                          timeout)
    if found is None:
        found = _by_service(url, start_us, end_us, names, limit, deadline,
                            timeout)
    if exclude:
        found = found._replace(spans=[
            s for s in found.spans if s.process.service_name not in exclude])
    return found


def _left(url: str, deadline: float, timeout: float) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise ActivityFailed(
            f"the trace query service at {fetch.shown(url)} did not answer "
            f"every query within {timeout:g} s")
    return left


def _by_service(url: str, start_us: int, end_us: int, names: List[str],
                limit: int, deadline: float, timeout: float) -> Fetched:
    limited: List[str] = []

    def one(service: str) -> List[SpanData]:
        params = {"service": service, "start": str(start_us),
                  "end": str(end_us), "limit": str(limit)}
        document = fetch.get_json(url, "/api/traces", params,
                                  _left(url, deadline, timeout))
        if _traces(document) >= limit:
            limited.append(service)
        return fetch.read_spans(document, url, service, TAGS)

    return Fetched(_gather(one, names), names, sorted(limited))


def _by_summaries(url: str, start_us: int, end_us: int, names: List[str],
                  limit: int, deadline: float, timeout: float
                  ) -> Optional[Fetched]:
    """The spans through api_v3's trace summaries, or None when the query
    service does not answer them (no such endpoint: an older Jaeger)."""
    params = {"query.startTimeMin": _rfc3339(start_us),
              "query.startTimeMax": _rfc3339(end_us + 1),
              "query.searchDepth": str(limit)}
    limited: List[str] = []
    try:  # every service at once, where the query service allows it
        ids = _summaries(url, params, _left(url, deadline, timeout))
        if len(ids) >= limit:
            limited.append("all services")
    except fetch.Refused as refused:
        if refused.status == 404:
            return None  # no api_v3 here
        ids = set()
        for service in names:  # Jaeger asks for a service
            try:
                some = _summaries(url, dict(params, **{
                    "query.serviceName": service}),
                    _left(url, deadline, timeout))
            except fetch.Refused as again:
                if again.status in (400, 404) and not ids:
                    return None
                raise
            if len(some) >= limit:
                limited.append(service)
            ids |= some
    ordered = sorted(ids)
    batches = [ordered[i:i + _BATCH] for i in range(0, len(ordered), _BATCH)]

    def one(batch: List[str]) -> List[SpanData]:
        document = fetch.get_json(url, "/api/traces",
                                  [("traceID", i) for i in batch],
                                  _left(url, deadline, timeout))
        return fetch.read_spans(document, url, None, TAGS)

    return Fetched(_gather(one, batches), names, sorted(limited))


def _summaries(url: str, params: Dict[str, str], timeout: float) -> Set[str]:
    document = fetch.get_json(url, "/api/v3/trace-summaries", params,
                              timeout)
    found = document.get("summaries") if isinstance(document, dict) \
        else None
    if not isinstance(found, list):
        raise ActivityFailed(f"the trace query service at {fetch.shown(url)}"
                             " did not answer api_v3's trace summaries")
    return {s["traceId"] for s in found
            if isinstance(s, dict) and isinstance(s.get("traceId"), str)}


def _gather(one: Callable[[Any], List[SpanData]],
            items: Sequence[Any]) -> List[SpanData]:
    spans: List[SpanData] = []
    with concurrent.futures.ThreadPoolExecutor(
            _WORKERS, thread_name_prefix="chaostracing-impact") as pool:
        for found in pool.map(one, items):
            spans.extend(found)
    return spans


def _rfc3339(time_us: int) -> str:
    moment = datetime.datetime.fromtimestamp(time_us // 1_000_000,
                                             datetime.timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S") + \
        f".{time_us % 1_000_000:06d}Z"


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
