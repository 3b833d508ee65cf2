"""One trace in a few figures: its root, services, time span and counts.

``show``'s heading, ``report``'s trace summary and the collector's list of
recent traces are read from :func:`summarize`, and so will be Jaeger's
api_v3 ``/api/v3/trace-summaries`` (``traceId``, ``rootServiceName``,
``rootOperationName``, ``minStartTimeUnixNano``, ``maxEndTimeUnixNano``,
``spanCount``, ``errorSpanCount``, ``orphanSpanCount``, and ``services``
with ``name``, ``spanCount``, ``errorSpanCount``): :meth:`TraceSummary.api_v3`
is that answer's entry.

The definitions, as Jaeger UI reads a trace:

- the **root** is the earliest span (by start, then span id) whose parent
  is not in the trace: a span without a parent, or one whose parent is
  missing; a span that names itself as its parent counts as a root too.
  When every span's parent is in the trace (a cycle), the earliest span;
- an **orphan** is a span whose parent is named but missing from the trace
  (Jaeger UI shows it as a root and counts it);
- a span **failed** as :func:`chaostracing._data.model.failed` says;
- times are microseconds since the epoch: the first start, the last end.
"""
from collections import Counter
from typing import Any, Dict, Iterable, List, NamedTuple, Optional, Tuple

from chaostracing._data.model import SpanData, failed, trace_hex
from chaostracing._data.otlpjson import nanos

__all__ = ["ServiceSummary", "TraceSummary", "summarize"]


class ServiceSummary(NamedTuple):
    """A service's share of a trace."""

    name: str
    span_count: int
    error_count: int


class TraceSummary(NamedTuple):
    """What :func:`summarize` says of a trace (see the module documentation)."""

    trace_id: int
    #: the root span (see the module documentation)
    root: SpanData
    #: by name
    services: Tuple[ServiceSummary, ...]
    start_us: int
    end_us: int
    span_count: int
    error_count: int
    orphan_count: int

    @property
    def root_service(self) -> str:
        return self.root.service_name

    @property
    def root_operation(self) -> str:
        return self.root.operation_name

    @property
    def duration_us(self) -> int:
        return self.end_us - self.start_us

    @property
    def service_names(self) -> List[str]:
        return [service.name for service in self.services]

    def api_v3(self) -> Dict[str, Any]:
        """This summary as an entry of Jaeger's api_v3 ``TraceSummary``
        (times as decimal strings of nanoseconds, as proto3's JSON writes
        64-bit integers, within the unsigned 64-bit range)."""
        return {
            "traceId": trace_hex(self.trace_id),
            "rootServiceName": self.root_service,
            "rootOperationName": self.root_operation,
            "minStartTimeUnixNano": nanos(self.start_us),
            "maxEndTimeUnixNano": nanos(self.end_us),
            "spanCount": self.span_count,
            "errorSpanCount": self.error_count,
            "orphanSpanCount": self.orphan_count,
            "services": [
                {"name": s.name, "spanCount": s.span_count,
                 "errorSpanCount": s.error_count}
                for s in self.services
            ],
        }


def summarize(spans: Iterable[SpanData],
              trace_id: Optional[int] = None) -> TraceSummary:
    """The summary of one trace's ``spans`` (at least one), in one pass
    over them after indexing their ids.

    :param trace_id: the trace's id (default: the first span's)
    :raises ValueError: when ``spans`` is empty
    """
    members = spans if isinstance(spans, list) else list(spans)
    if not members:
        raise ValueError("a trace has at least one span")
    # a few passes of comprehensions and builtins: a third faster than one
    # Python loop doing it all (show and report call it on every trace)
    ids = {span.span_id for span in members}
    roots = [span for span in members
             if span.parent_id not in ids or span.parent_id == span.span_id]
    orphans = sum(1 for span in roots
                  if span.parent_id and span.parent_id not in ids)
    root = min(roots or members, key=_order)
    counts = Counter(span.process.service_name for span in members)
    failures = Counter(span.process.service_name for span in members
                       if failed(span.tags))
    return TraceSummary(
        trace_id=members[0].trace_id if trace_id is None else trace_id,
        root=root,
        services=tuple(ServiceSummary(name, counts[name], failures[name])
                       for name in sorted(counts)),
        start_us=min(span.start_us for span in members),
        end_us=max(span.start_us + span.duration_us for span in members),
        span_count=len(members),
        error_count=sum(failures.values()),
        orphan_count=orphans,
    )


def _order(span: SpanData) -> Tuple[int, int]:
    return span.start_us, span.span_id
