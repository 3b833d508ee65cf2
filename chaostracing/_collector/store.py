"""The collector's store: every span received, by trace id, bounded.

Receivers (Jaeger UDP, OTLP/HTTP) add spans from their threads; the writer,
``show``/``report`` and the query API read consistent snapshots. At most
``max_spans`` spans are kept: beyond, the oldest traces are evicted whole
(a collector that runs for days keeps answering about the recent past) and
the evicted spans are counted as dropped. A span received twice (the same
trace and span id) is kept once.

Searches (:meth:`SpanStore.find`, the query API's ``/api/traces``) read only
the traces holding a span of the service asked, and skip those whose spans
of that service all started outside the searched time: each service keeps
the ids of its traces with the first and last start of its spans there.
"""
import collections
import itertools
import threading
from typing import Dict, Iterable, List, Optional, Tuple

from chaostracing._data.model import SpanData
from chaostracing._data.spanquery import SpanQuery

__all__ = ["SpanStore"]


class SpanStore:
    """Thread-safe, bounded, indexed by trace, service and operation."""

    def __init__(self, max_spans: int = 500_000) -> None:
        self.max_spans = max_spans
        self._lock = threading.Lock()
        self._traces: collections.OrderedDict[int, Dict[int, SpanData]] = (
            collections.OrderedDict())
        #: service -> (operation, span kind) -> number of stored spans
        self._operations: Dict[str, Dict[Tuple[str, str], int]] = {}
        #: service -> trace id -> [first, last] start (µs) of the service's
        #: spans in that trace; traces in the order they came
        self._service_traces: Dict[str, Dict[int, List[int]]] = {}
        self._count = 0
        #: spans evicted to stay under max_spans
        self.dropped = 0
        #: spans ever added (duplicates excluded)
        self.received = 0
        #: bumped at every change, so a writer knows when to write
        self.generation = 0

    def __len__(self) -> int:
        return self._count

    def add(self, spans: Iterable[SpanData]) -> int:
        """Store ``spans``; return how many were new."""
        added = 0
        with self._lock:
            for span in spans:
                trace = self._traces.get(span.trace_id)
                if trace is None:
                    trace = self._traces[span.trace_id] = {}
                elif span.span_id in trace:
                    continue
                trace[span.span_id] = span
                self._index(span, 1)
                traces = self._service_traces.setdefault(
                    span.process.service_name, {})
                starts = traces.get(span.trace_id)
                if starts is None:
                    traces[span.trace_id] = [span.start_us, span.start_us]
                elif span.start_us < starts[0]:
                    starts[0] = span.start_us
                elif span.start_us > starts[1]:
                    starts[1] = span.start_us
                added += 1
            self._count += added
            self.received += added
            if added:
                self.generation += 1
            self._evict()
        return added

    def spans(self) -> List[SpanData]:
        """Every stored span (a copy)."""
        with self._lock:
            return [s for trace in self._traces.values()
                    for s in trace.values()]

    def trace(self, trace_id: int) -> Optional[List[SpanData]]:
        with self._lock:
            trace = self._traces.get(trace_id)
            return list(trace.values()) if trace is not None else None

    def traces(self) -> List[Tuple[int, List[SpanData]]]:
        """``(trace id, spans)`` for every trace, newest last."""
        with self._lock:
            return [(tid, list(t.values())) for tid, t in self._traces.items()]

    def recent(self, count: int) -> List[Tuple[int, List[SpanData]]]:
        """The ``count`` traces received last, ``(trace id, spans)``, newest
        first."""
        with self._lock:
            return [(tid, list(self._traces[tid].values()))
                    for tid in itertools.islice(reversed(self._traces), count)]

    def services(self) -> List[str]:
        with self._lock:
            return sorted(self._operations)

    def operations(self, service: str) -> List[str]:
        """The operation names of ``service``."""
        with self._lock:
            operations = self._operations.get(service, {})
            return sorted({name for name, _ in operations})

    def operation_kinds(self, service: str, kind: str = ""
                        ) -> List[Tuple[str, str]]:
        """``(operation, span kind)`` of ``service`` (only ``kind``, if
        given); the kind is ``""`` for spans without ``span.kind``."""
        with self._lock:
            return sorted(key for key in self._operations.get(service, {})
                          if not kind or key[1] == kind)

    def find(self, query: SpanQuery, limit: int = 0
             ) -> List[Tuple[int, List[SpanData]]]:
        """The traces holding a span ``query`` matches, newest first (by
        their first span's start), at most ``limit`` of them (0: all)."""
        found = []
        low = query.start_us if query.start_us is not None else -1
        high = query.end_us if query.end_us is not None else 1 << 62
        with self._lock:
            traces = (self._service_traces.get(query.service, {})
                      if query.service is not None else {})
            for trace_id, (first, last) in traces.items():
                if last < low or first > high:  # none of its spans can match
                    continue
                trace = self._traces[trace_id]
                if query.any_match(trace.values()):
                    spans = list(trace.values())
                    found.append((min(s.start_us for s in spans), trace_id,
                                  spans))
        found.sort(key=lambda item: item[:2], reverse=True)
        if limit > 0:
            del found[limit:]
        return [(trace_id, spans) for _, trace_id, spans in found]

    # -- internals -------------------------------------------------------------
    def _index(self, span: SpanData, delta: int) -> None:
        operations = self._operations.setdefault(span.service_name, {})
        key = (span.operation_name, span.kind)
        count = operations.get(key, 0) + delta
        if count > 0:
            operations[key] = count
        else:
            operations.pop(key, None)
            if not operations:
                self._operations.pop(span.service_name, None)

    def _unindex_trace(self, trace_id: int, services: Iterable[str]) -> None:
        """Forget ``trace_id`` for the services with no span left in it."""
        left = {s.service_name for s in self._traces.get(trace_id, {}).values()}
        for service in set(services) - left:
            traces = self._service_traces.get(service)
            if traces is not None:
                traces.pop(trace_id, None)
                if not traces:
                    del self._service_traces[service]

    def _evict(self) -> None:
        while self._count > self.max_spans and len(self._traces) > 1:
            trace_id, oldest = self._traces.popitem(last=False)
            for span in oldest.values():
                self._index(span, -1)
            self._unindex_trace(trace_id, {s.service_name
                                           for s in oldest.values()})
            self._count -= len(oldest)
            self.dropped += len(oldest)
        if self._count > self.max_spans:  # one huge trace: cut its oldest
            ((trace_id, trace),) = self._traces.items()
            services = set()
            while self._count > self.max_spans:
                span = trace.pop(next(iter(trace)))
                self._index(span, -1)
                services.add(span.service_name)
                self._count -= 1
                self.dropped += 1
            self._unindex_trace(trace_id, services)
