"""The collector's store: every span received, by trace id, bounded.

Receivers (Jaeger UDP, OTLP/HTTP) add spans from their threads; the writer,
``show``/``report`` and the query API read consistent snapshots. At most
``max_spans`` spans are kept: beyond, the oldest traces are evicted whole
(a collector that runs for days keeps answering about the recent past) and
the evicted spans are counted as dropped. A span received twice (the same
trace and span id) is kept once.
"""
import collections
import threading
from typing import Dict, Iterable, List, Optional, Tuple

from chaostracing.model import SpanData

__all__ = ["SpanStore"]


class SpanStore:
    """Thread-safe, bounded, indexed by trace, service and operation."""

    def __init__(self, max_spans: int = 500_000) -> None:
        self.max_spans = max_spans
        self._lock = threading.Lock()
        self._traces: "collections.OrderedDict[int, Dict[int, SpanData]]" = (
            collections.OrderedDict())
        #: service -> operation -> number of stored spans
        self._operations: Dict[str, Dict[str, int]] = {}
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
            return [s for trace in self._traces.values() for s in trace.values()]

    def trace(self, trace_id: int) -> Optional[List[SpanData]]:
        with self._lock:
            trace = self._traces.get(trace_id)
            return list(trace.values()) if trace is not None else None

    def traces(self) -> List[Tuple[int, List[SpanData]]]:
        """``(trace id, spans)`` for every trace, newest last."""
        with self._lock:
            return [(tid, list(t.values())) for tid, t in self._traces.items()]

    def services(self) -> List[str]:
        with self._lock:
            return sorted(self._operations)

    def operations(self, service: str) -> List[str]:
        with self._lock:
            return sorted(self._operations.get(service, {}))

    # -- internals --------------------------------------------------------------
    def _index(self, span: SpanData, delta: int) -> None:
        operations = self._operations.setdefault(span.service_name, {})
        count = operations.get(span.operation_name, 0) + delta
        if count > 0:
            operations[span.operation_name] = count
        else:
            operations.pop(span.operation_name, None)
            if not operations:
                self._operations.pop(span.service_name, None)

    def _evict(self) -> None:
        while self._count > self.max_spans and len(self._traces) > 1:
            _, oldest = self._traces.popitem(last=False)
            for span in oldest.values():
                self._index(span, -1)
            self._count -= len(oldest)
            self.dropped += len(oldest)
        if self._count > self.max_spans:  # one huge trace: cut its oldest
            (trace,) = self._traces.values()
            while self._count > self.max_spans:
                key = next(iter(trace))
                self._index(trace.pop(key), -1)
                self._count -= 1
                self.dropped += 1
