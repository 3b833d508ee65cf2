"""The matching spans among those a query service answered, and the
figures the probes give of them.

A query service answers whole traces: the spans in them are picked again
with the query's own rules (:mod:`chaostracing._data.spanquery`), each
once. **No data is not health**: fewer matching spans than ``min_spans``
fails the activity (:func:`require`), never a silent 0.
"""
import logging
import math
from typing import List

from chaoslib.exceptions import ActivityFailed

from chaostracing._data.model import SpanData
from chaostracing._data.spanquery import SpanQuery, is_error

__all__ = [
    "count",
    "error_ratio",
    "latency_percentile_ms",
    "matching",
    "note_limit",
    "require",
]
logger = logging.getLogger("chaostoolkit")


def matching(spans: List[SpanData], query: SpanQuery) -> List[SpanData]:
    """The spans ``query`` matches, each once (a span may come back in two
    answered traces)."""
    seen = set()
    found = []
    for span in spans:
        key = (span.trace_id, span.span_id)
        if key not in seen and query.matches(span):
            seen.add(key)
            found.append(span)
    return found


def note_limit(spans: List[SpanData], limit: int) -> None:
    """One warning when the answer reached ``limit`` traces: the figure is
    over the newest of them only."""
    traces = len({span.trace_id for span in spans})
    if traces >= limit:
        logger.warning(
            f"chaostracing.probes: the query service answered {traces} "
            f"traces, the limit (limit={limit}): the figure is over the "
            "newest of them only")


def require(spans: List[SpanData], least: float, described: str) -> None:
    """ActivityFailed when fewer than ``least`` spans matched."""
    if len(spans) < least:
        raise ActivityFailed(
            f"no data is not health: {len(spans)} span(s) of {described}, "
            f"fewer than min_spans={least:g}. Is the service traced, do its "
            "spans reach this query service, did it serve requests in the "
            "window (spans arrive a few seconds after they end)?")


def error_ratio(spans: List[SpanData]) -> float:
    """The fraction of ``spans`` that failed (0 when there are none)."""
    if not spans:
        return 0.0
    return sum(1 for span in spans if is_error(span)) / len(spans)


def latency_percentile_ms(spans: List[SpanData], rank: float) -> float:
    """The ``rank``-th percentile (nearest rank) of the durations, in ms
    (0 when there are no spans)."""
    if not spans:
        return 0.0
    durations = sorted(span.duration_us for span in spans)
    index = max(math.ceil(rank / 100 * len(durations)) - 1, 0)
    return durations[index] / 1000


def count(spans: List[SpanData], errors_only: bool = False) -> int:
    """How many ``spans`` (failed ones only, with ``errors_only``)."""
    if errors_only:
        return sum(1 for span in spans if is_error(span))
    return len(spans)
