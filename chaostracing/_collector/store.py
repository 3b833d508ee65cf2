"""The collector's store: every span received, by trace id, bounded.

Receivers (Jaeger UDP, OTLP/HTTP) add spans from their threads; the writer,
``show``/``report`` and the query API read consistent snapshots. The store
is bounded twice: at most ``max_spans`` spans, and at most about
``max_bytes`` bytes of span data (each span's size is estimated from its
strings and fields, :func:`span_size`; each process the stored spans hold,
its name and tags, once, :func:`process_size`). A value's ASCII text
counts a byte a character, other text four, the most CPython takes (names
and keys count a byte a character; the 64 KiB cut counts characters). An
ingest costs what it adds: a trace's size is kept as its spans come and
go, and a trace alone over the bound is measured once, then its new spans
as they come. Beyond either, the oldest traces
are evicted whole (a collector that runs for days keeps answering about the
recent past) and the evicted spans are counted as dropped. A span received
twice (the same trace and span id) is kept once. A span whose times are out
of range (before 1970, or past what OTLP's unsigned 64-bit nanoseconds hold:
a Jaeger Thrift span carries any signed 64-bit number) is refused and
counted (:attr:`SpanStore.malformed`): it alone, not its request.

No single value may fill it: every tag and log value, operation name and
process tag longer than ``max_value`` characters (bytes) is cut at ingest
and ends with the marker the run side writes (``...[truncated; N chars in
all]``, :func:`chaostracing._data.text.truncate`); cut values are counted.

Searches (:meth:`SpanStore.find`, the query API's ``/api/traces``) read only
the traces holding a span of the service asked, and skip those whose spans
of that service all started outside the searched time: each service keeps
the ids of its traces with the first and last start of its spans there.
"""
import collections
import itertools
import threading
from typing import Any, Dict, Iterable, List, Optional, Set, Tuple

from chaostracing._data.model import (
    MAX_TIME_US,
    Process,
    SpanData,
    times_in_range,
)
from chaostracing._data.spanquery import SpanQuery
from chaostracing._data.text import TRUNCATED, truncate

__all__ = [
    "DEFAULT_MAX_BYTES",
    "DEFAULT_MAX_SPANS",
    "MAX_VALUE",
    "SpanStore",
    "process_size",
    "span_size",
]

DEFAULT_MAX_SPANS = 200_000
#: bytes of span data kept at most, by default: 200,000 ordinary spans
#: take about a fifth of it; spans with large values fill it first
DEFAULT_MAX_BYTES = 512 * 1024 * 1024
#: characters (bytes) of one value kept at most
MAX_VALUE = 64 * 1024
#: what a span costs beyond its strings, estimated (CPython: the object,
#: its dicts and lists, the ids as integers); a tag, a log, a reference
_SPAN_COST, _TAG_COST, _LOG_COST, _REF_COST = 600, 120, 200, 120
#: what a process costs beyond its strings and tags, estimated
_PROCESS_COST = 300
#: bytes a character of a tag or log value takes in memory, at most, when
#: the text is not ASCII (CPython keeps 1, 2 or 4 a character, the widest
#: character's size; ``str.isascii`` is a flag, finding the widest is not)
_WIDE = 4


class SpanStore:
    """Thread-safe, bounded, indexed by trace, service and operation."""

    def __init__(self, max_spans: int = 500_000,
                 max_bytes: int = DEFAULT_MAX_BYTES,
                 max_value: int = MAX_VALUE) -> None:
        self.max_spans = max_spans
        self.max_bytes = max_bytes
        self.max_value = max_value
        self._lock = threading.Lock()
        self._traces: collections.OrderedDict[int, Dict[int, SpanData]] = (
            collections.OrderedDict())
        #: service -> (operation, span kind) -> number of stored spans
        self._operations: Dict[str, Dict[Tuple[str, str], int]] = {}
        #: service -> trace id -> [first, last] start (µs) of the service's
        #: spans in that trace; traces in the order they came
        self._service_traces: Dict[str, Dict[int, List[int]]] = {}
        #: trace id -> estimated bytes of its stored spans
        self._trace_bytes: Dict[int, int] = {}
        #: the traces whose bytes are their spans' measured sizes (see
        #: :meth:`_evict`): a datagram's spans added to one are measured
        self._exact: Set[int] = set()
        #: id of each process stored spans hold -> [the process, how many
        #: stored spans hold it, its estimated bytes]: a process is
        #: counted once, while a span holds it (an OTLP request makes its
        #: own; its tags are not the spans')
        self._processes: Dict[int, List[Any]] = {}
        self._count = 0
        #: estimated bytes of the stored spans
        self.bytes = 0
        #: spans evicted to stay under max_spans / under max_bytes
        self.dropped = 0
        self.dropped_for_bytes = 0
        #: values cut at ingest (over max_value)
        self.values_cut = 0
        #: spans refused at ingest: a time before 1970 or past
        #: :data:`~chaostracing._data.model.MAX_TIME_US` (what Jaeger
        #: Thrift's signed 64-bit times allow), which no OTLP or api_v3
        #: reader would read
        self.malformed = 0
        #: spans ever added (duplicates excluded)
        self.received = 0
        #: bumped at every change, so a writer knows when to write
        self.generation = 0

    def __len__(self) -> int:
        return self._count

    def add(self, spans: Iterable[SpanData]) -> int:
        """Store ``spans``; return how many were new."""
        return self.ingest(spans)[0]

    def ingest(self, spans: Iterable[SpanData], wire: Optional[int] = None
               ) -> Tuple[int, int]:
        """Store ``spans`` (their long values cut); return how many were
        new, and how many of them are not stored once the store made room
        (OTLP's ``partial_success.rejected_spans``: only this request's
        spans, not the older ones evicted for them).

        :param wire: the bytes ``spans`` came in, when no value they hold
            can be longer (a datagram's text is the datagram's): shorter
            than ``max_value``, it spares looking at each value, and the
            spans' sizes are estimated from it
        """
        spans = list(spans)
        limit = self.max_value
        cut: Optional[_Cut] = None
        estimated = wire is not None and wire <= limit
        if estimated and spans:
            # the datagram's process is counted as a process, not in the
            # spans' share
            wire = max(0, (wire or 0) - _strings_of_process(spans[0].process))
            share = wire // len(spans)
            sizes = [_fields(span) + share for span in spans]
        else:
            sizes, cut = self._measured(spans)
        added = total = 0
        uncounted: List[int] = []  # duplicates, refused
        with self._lock:
            if cut is not None:
                self.values_cut += cut.count
            # the loop every span goes through: lookups held in locals
            stored = self._traces
            trace_bytes = self._trace_bytes
            operations = self._operations
            service_traces = self._service_traces
            processes = self._processes
            exact = self._exact if estimated else ()
            last_process: Optional[Process] = None
            # what depends on the process only: spans of a request share one
            held: List[Any] = []
            kinds: Dict[Tuple[str, str], int] = {}
            traces: Dict[int, List[int]] = {}
            for number, span in enumerate(spans):
                start = span.start_us
                duration = span.duration_us
                if (start < 0 or duration < 0
                        or start + duration > MAX_TIME_US
                        or (span.logs and not times_in_range(span))):
                    self.malformed += 1
                    uncounted.append(number)
                    continue
                trace_id = span.trace_id
                trace = stored.get(trace_id)
                if trace is None:
                    trace = stored[trace_id] = {}
                    trace_bytes[trace_id] = 0
                elif span.span_id in trace:
                    uncounted.append(number)
                    continue
                trace[span.span_id] = span
                size = sizes[number]
                if exact and trace_id in exact:
                    size = _measure(span)
                trace_bytes[trace_id] += size
                total += size
                process = span.process
                if process is not last_process:
                    last_process = process
                    entry = processes.get(id(process))
                    if entry is None:
                        entry = processes[id(process)] = [
                            process, 0, process_size(process)]
                        total += entry[2]
                    held = entry
                    service = process.service_name
                    kinds = operations.setdefault(service, {})
                    traces = service_traces.setdefault(service, {})
                held[1] += 1
                key = (span.operation_name, span.kind)
                kinds[key] = kinds.get(key, 0) + 1
                starts = traces.get(trace_id)
                if starts is None:
                    traces[trace_id] = [start, start]
                elif start < starts[0]:
                    starts[0] = start
                elif start > starts[1]:
                    starts[1] = start
                added += 1
            self.bytes += total
            self._count += added
            self.received += added
            if added:
                self.generation += 1
            before = self.dropped
            self._evict()
            rejected = 0
            if self.dropped != before:  # were any of these evicted?
                skip = set(uncounted)
                for number, span in enumerate(spans):
                    if number not in skip and span.span_id not in \
                            self._traces.get(span.trace_id, ()):
                        rejected += 1
        return added, rejected

    def _measured(self, spans: List[SpanData]
                  ) -> Tuple[List[int], Optional["_Cut"]]:
        """The sizes of ``spans``, measured, and their long values cut (in
        place in ``spans``)."""
        limit = self.max_value
        sizes = []
        cut: Optional[_Cut] = None
        processes: Dict[int, Process] = {}  # each process checked once
        last: Optional[Process] = None  # spans of a request share one
        for number, span in enumerate(spans):
            size = _measure(span)
            if span.process is last and size <= limit:
                sizes.append(size)
                continue
            last = span.process
            process = processes.get(id(span.process))
            if process is None:
                process = processes[id(span.process)] = span.process
                if _longest_of_process(process) > limit:
                    cut = cut or _Cut(limit)
                    process = processes[id(span.process)] = cut.process(
                        process)
            # no value is longer than the span's size: most need no look
            if size > limit or process is not span.process:
                cut = cut or _Cut(limit)
                span = spans[number] = cut.span(span, process)
                size = _measure(span)
                last = None  # its process is to be replaced in every span
            sizes.append(size)
        return sizes, cut

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

    def _full(self) -> bool:
        return self._count > self.max_spans or self.bytes > self.max_bytes

    def _evict(self) -> None:
        while self._full() and len(self._traces) > 1:
            for_bytes = self._count <= self.max_spans
            trace_id, oldest = self._traces.popitem(last=False)
            for span in oldest.values():
                self._index(span, -1)
                self._release(span.process)
            self._exact.discard(trace_id)
            self._unindex_trace(trace_id, {s.service_name
                                           for s in oldest.values()})
            self.bytes -= self._trace_bytes.pop(trace_id)
            self._count -= len(oldest)
            self.dropped += len(oldest)
            if for_bytes:
                self.dropped_for_bytes += len(oldest)
        if self._full() and self._traces:  # one huge trace: cut its oldest
            ((trace_id, trace),) = self._traces.items()
            # its spans measured, as each one's size is taken off: once,
            # then the spans added to it are measured as they come (an
            # ingest costs what it adds, not the whole trace again)
            if trace_id not in self._exact:
                exact = sum(_measure(span) for span in trace.values())
                self.bytes += exact - self._trace_bytes[trace_id]
                self._trace_bytes[trace_id] = exact
                self._exact.add(trace_id)
            services = set()
            while self._full() and trace:
                for_bytes = self._count <= self.max_spans
                span = trace.pop(next(iter(trace)))
                self._index(span, -1)
                self._release(span.process)
                services.add(span.service_name)
                size = span_size(span)
                self._trace_bytes[trace_id] -= size
                self.bytes -= size
                self._count -= 1
                self.dropped += 1
                if for_bytes:
                    self.dropped_for_bytes += 1
            self._unindex_trace(trace_id, services)
            if not trace:
                del self._traces[trace_id]
                del self._trace_bytes[trace_id]
                self._exact.discard(trace_id)

    def _release(self, process: Process) -> None:
        """A stored span no longer holds ``process``: its bytes go with
        the last one."""
        held = self._processes[id(process)]
        held[1] -= 1
        if not held[1]:
            del self._processes[id(process)]
            self.bytes -= held[2]


class _Cut:
    """Cuts the values of spans longer than ``limit``, and counts them."""

    __slots__ = ("limit", "count")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.count = 0

    def span(self, span: SpanData, process: Process) -> SpanData:
        """A copy of ``span`` with its long values cut and ``process`` (the
        caller's span is never changed)."""
        limit = self.limit
        changes: Dict[str, Any] = {}
        if process is not span.process:
            changes["process"] = process
        if _long(span.operation_name, limit):
            changes["operation_name"] = self.value(span.operation_name)
        if any(_long(k, limit) or _long(v, limit)
               for k, v in span.tags.items()):
            changes["tags"] = {self.value(k): self.value(v)
                               for k, v in span.tags.items()}
        if any(_long(k, limit) or _long(v, limit)
               for _, fields in span.logs for k, v in fields.items()):
            changes["logs"] = [(ts, {self.value(k): self.value(v)
                                     for k, v in fields.items()})
                               for ts, fields in span.logs]
        return span.replace(**changes) if changes else span

    def process(self, process: Process) -> Process:
        """A copy of ``process`` with its long values cut."""
        return Process(self.value(process.service_name),
                       [(self.value(k), self.value(v))
                        for k, v in process.tags])

    def value(self, value: Any) -> Any:
        limit = self.limit
        if isinstance(value, str) and len(value) > limit:
            self.count += 1
            return truncate(value, limit)
        if isinstance(value, (bytes, bytearray)) and len(value) > limit:
            self.count += 1
            marker = TRUNCATED.format(n=len(value)).encode("ascii")
            return bytes(value[:limit - len(marker)]) + marker
        return value


def _long(value: Any, limit: int) -> bool:
    return isinstance(value, (str, bytes, bytearray)) and len(value) > limit


def _longest_of_process(process: Process) -> int:
    longest = len(process.service_name)
    for key, value in process.tags:
        longest = max(longest, len(key), len(value)
                      if isinstance(value, (str, bytes, bytearray)) else 0)
    return longest


def _measure(span: SpanData) -> int:
    """The bytes a span takes, estimated (see :func:`span_size`): one quick
    pass over its fields, at ingest. It is also a bound on its longest
    value (see :meth:`SpanStore.ingest`)."""
    size = len(span.operation_name)
    for key, value in span.tags.items():
        kind = type(value)
        size += len(key) + (
            (len(value) if value.isascii() else _WIDE * len(value))
            if kind is str else len(value) if kind is bytes else 8)
    size += _TAG_COST * len(span.tags) + _LOG_COST * len(span.logs)
    for _, fields in span.logs:
        for key, value in fields.items():
            kind = type(value)
            size += _TAG_COST + len(key) + (
                (len(value) if value.isascii() else _WIDE * len(value))
                if kind is str else len(value) if kind is bytes else 8)
    return size + _SPAN_COST + _REF_COST * len(span.references)


def _strings_of_process(process: Process) -> int:
    """The characters of a process's name and text tags."""
    size = len(process.service_name)
    for key, value in process.tags:
        if isinstance(value, str):
            size += len(key) + (len(value) if value.isascii()
                                else _WIDE * len(value))
        elif isinstance(value, bytes):
            size += len(key) + len(value)
        else:
            size += len(key)
    return size


def process_size(process: Process) -> int:
    """The bytes a stored process takes, estimated as a span's (counted
    once for the stored spans that hold it)."""
    return (_PROCESS_COST + _strings_of_process(process)
            + _TAG_COST * len(process.tags))


def _fields(span: SpanData) -> int:
    """What a span costs beyond its strings (with :func:`_measure`'s
    costs): added to its share of the bytes it came in."""
    return (_SPAN_COST + _TAG_COST * len(span.tags) + _LOG_COST
            * len(span.logs) + _REF_COST * len(span.references))


def span_size(span: SpanData) -> int:
    """The bytes a stored span takes, estimated: its strings and a cost per
    field (the store's ``max_bytes`` counts these)."""
    return _measure(span)
