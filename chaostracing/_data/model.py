"""One span model for every span that leaves or enters the process.

A :class:`SpanData` is a finished span as plain data, in Jaeger's model
(tags and log fields as dicts, references as ``(kind, trace id, span id)``): the
UDP sender encodes it, the file provider and ``collect`` write it as Jaeger
JSON, the OTLP exporter converts it, ``show`` draws it, and what arrives
(Jaeger Thrift datagrams, JSON files) is read back into it.

Ids are integers; :func:`trace_hex`, :func:`jaeger_trace_hex` and
:func:`span_hex` are the only places where they become text: trace ids are
32 lower-case hex digits (the form W3C ``traceparent`` and OTLP use) in
logs, headers, OTLP and api_v3, and in Jaeger's own convention in Jaeger
JSON (16 digits when the high 64 bits are zero, as a 64-bit id of
jaeger-client: Jaeger UI shows an id's first 7 digits, so a zero-padded
one would show as ``0000000``); span ids are 16. Readers accept either.

What "failed" means is defined here once (:func:`failed`, the
:attr:`SpanData.failed` property): ``show``, ``report``, the collector's
pages, the trace summary and the probes all count the same spans.
"""
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from chaostracing._data.tags import (
    ERROR,
    HTTP_RESPONSE_STATUS_CODE,
    HTTP_STATUS_CODE,
    HTTP_STATUS_CODES,
    OTEL_STATUS_CODE,
    SPAN_KIND,
    STATUS_ERROR,
)

__all__ = [
    "CHILD_OF",
    "FAILED_TAGS",
    "FOLLOWS_FROM",
    "MAX_TIME_US",
    "Process",
    "SpanData",
    "failed",
    "http_status",
    "is_true",
    "jaeger_trace_hex",
    "marked_error",
    "parse_id",
    "span_hex",
    "times_in_range",
    "trace_hex",
]

#: Jaeger's ``SpanRefType`` values
CHILD_OF, FOLLOWS_FROM = 0, 1
REF_TYPES = {CHILD_OF: "CHILD_OF", FOLLOWS_FROM: "FOLLOWS_FROM"}
_MASK64 = (1 << 64) - 1
_MASK128 = (1 << 128) - 1

#: the latest time a span may start, end or log at, in microseconds since
#: the epoch (in the year 2554): OTLP and api_v3 write times as unsigned
#: 64-bit nanoseconds, which Jaeger UI and OpenTelemetry's parsers read
MAX_TIME_US = _MASK64 // 1000

Tag = Tuple[str, Any]
Reference = Tuple[int, int, int]  # (kind, trace id, span id)


def trace_hex(trace_id: int) -> str:
    """A trace id as text: 32 lower-case hex digits (W3C ``traceparent``,
    OTLP, api_v3, logs); Jaeger JSON writes :func:`jaeger_trace_hex`.

    >>> trace_hex(0x46d7789)
    '000000000000000000000000046d7789'
    """
    return format(trace_id & _MASK128, "032x")


def jaeger_trace_hex(trace_id: int) -> str:
    """A trace id as Jaeger writes it in its JSON model (``model.TraceID``'s
    ``String()``): 16 hex digits when the high 64 bits are zero, else 32.

    >>> jaeger_trace_hex(0x46d7789)
    '00000000046d7789'
    >>> jaeger_trace_hex(1 << 64 | 2)
    '00000000000000010000000000000002'
    """
    trace_id &= _MASK128
    return format(trace_id, "016x" if trace_id <= _MASK64 else "032x")


def span_hex(span_id: int) -> str:
    """A span id as text: 16 lower-case hex digits."""
    return format(span_id & _MASK64, "016x")


def parse_id(text: Any, bits: int = 128) -> int:
    """An id written in hex (at most ``bits`` bits, leading zeros optional).

    :raises ValueError: when ``text`` is not such an id (or is zero).
    """
    if not isinstance(text, str) or not 0 < len(text) <= bits // 4:
        raise ValueError(f"not a {bits}-bit hex id: {text!r:.60}")
    try:
        value = int(text, 16)
    except ValueError:
        raise ValueError(f"not a {bits}-bit hex id: {text!r:.60}") from None
    if value <= 0 or text.strip() != text or text.startswith(("+", "-", "0x")):
        raise ValueError(f"not a {bits}-bit hex id: {text!r:.60}")
    return value


def is_true(value: Any) -> bool:
    """A boolean tag, whichever way a client wrote it."""
    return value is True or (isinstance(value, str) and value.lower() == "true")


def marked_error(tags: Mapping[str, Any]) -> bool:
    """The span marked itself failed: ``error=true``, or OpenTelemetry
    status ERROR. This is what becomes an OTLP status ERROR on export; to
    count failed spans, use :func:`failed`."""
    return (is_true(tags.get(ERROR))
            or tags.get(OTEL_STATUS_CODE) == STATUS_ERROR)


def http_status(tags: Mapping[str, Any]) -> Optional[int]:
    """The HTTP status code a span recorded (old or new OpenTelemetry name;
    an integer, or its digits as text)."""
    for key in HTTP_STATUS_CODES:
        value = tags.get(key)
        if isinstance(value, bool):
            continue
        if isinstance(value, int):
            return value
        if isinstance(value, str) and value.strip().isdigit():
            return int(value.strip())
    return None


#: every tag :func:`failed` reads: a reader that keeps only some tags (the
#: impact's) keeps these
FAILED_TAGS = frozenset((ERROR, OTEL_STATUS_CODE) + HTTP_STATUS_CODES)


def failed(tags: Mapping[str, Any]) -> bool:
    """Failed: ``error=true``, OpenTelemetry status ERROR, or an HTTP status
    of 500 or more (a server answered an error its instrumentation did not
    mark). The one definition: :attr:`SpanData.failed`,
    :func:`~chaostracing._data.spanquery.is_error`, the viewers, the
    collector and the probes all read it."""
    # show and report ask it of every span, twice: the common cases first
    get = tags.get
    error = get(ERROR)
    if error is not None and is_true(error):
        return True
    if get(OTEL_STATUS_CODE) == STATUS_ERROR:
        return True
    code = get(HTTP_STATUS_CODE)
    if type(code) is int:
        return code >= 500
    if code is None and get(HTTP_RESPONSE_STATUS_CODE) is None:
        return False
    status = http_status(tags)
    return status is not None and status >= 500


class Process:
    """The process that reported spans: a service name and its tags."""

    __slots__ = ("service_name", "tags", "_key")

    def __init__(self, service_name: str, tags: Sequence[Tag] = ()) -> None:
        self.service_name = service_name
        self.tags: Tuple[Tag, ...] = tuple(tags)
        self._key: Optional[Tuple[Any, ...]] = None

    @property
    def key(self) -> Tuple[Any, ...]:
        """Equal for processes with the same name and tags."""
        if self._key is None:
            self._key = (self.service_name, tuple(
                (k, type(v).__name__, v) for k, v in self.tags))
        return self._key

    def __eq__(self, other: Any) -> bool:
        return isinstance(other, Process) and self.key == other.key

    def __hash__(self) -> int:
        return hash(self.key)

    def __repr__(self) -> str:
        return f"Process({self.service_name!r}, {len(self.tags)} tags)"


class SpanData:
    """A finished span, as plain data (see the module documentation).

    ``parent_id`` is 0 for a root; ``references`` holds the references
    other than the parent (``follows_from`` ones, or links), as
    ``(kind, trace_id, span_id)``.
    """

    __slots__ = (
        "trace_id", "span_id", "parent_id", "flags", "operation_name",
        "start_us", "duration_us", "references", "tags", "logs", "process",
        "warnings",
    )

    def __init__(
        self,
        trace_id: int,
        span_id: int,
        parent_id: int = 0,
        flags: int = 1,
        operation_name: str = "",
        start_us: int = 0,
        duration_us: int = 0,
        references: Optional[List[Reference]] = None,
        tags: Optional[Dict[str, Any]] = None,
        logs: Optional[List[Tuple[int, Dict[str, Any]]]] = None,
        process: Optional[Process] = None,
        warnings: Optional[List[str]] = None,
    ) -> None:
        self.trace_id = trace_id
        self.span_id = span_id
        self.parent_id = parent_id or 0
        self.flags = flags
        self.operation_name = operation_name
        self.start_us = start_us
        self.duration_us = duration_us
        self.references = references or []
        self.tags = tags if tags is not None else {}
        self.logs = logs or []
        self.process = process or _UNKNOWN
        self.warnings = warnings

    # -- reading ---------------------------------------------------------------
    @property
    def service_name(self) -> str:
        return self.process.service_name

    @property
    def trace_id_hex(self) -> str:
        return trace_hex(self.trace_id)

    @property
    def end_us(self) -> int:
        return self.start_us + self.duration_us

    @property
    def kind(self) -> str:
        """``span.kind`` (``server``, ``client``...), or ``""``."""
        value = self.tags.get(SPAN_KIND)
        return value.lower() if isinstance(value, str) else ""

    @property
    def failed(self) -> bool:
        """Failed, as :func:`failed` defines it."""
        return failed(self.tags)

    def replace(self, **changes: Any) -> "SpanData":
        values = {name: getattr(self, name) for name in self.__slots__}
        values.update(changes)
        return SpanData(**values)

    def __repr__(self) -> str:
        return (
            f"SpanData({self.operation_name!r}, trace={self.trace_id_hex}, "
            f"span={span_hex(self.span_id)}, parent={span_hex(self.parent_id)})"
        )


def times_in_range(span: SpanData) -> bool:
    """Whether the span's start, end and log times are all within 0 and
    :data:`MAX_TIME_US` (a Jaeger Thrift span carries any signed 64-bit
    number): the collector refuses the other spans at ingest (the Jaeger
    JSON reader refuses only times past 2**62 µs; what reaches a writer
    outside this range is clamped there)."""
    start = span.start_us
    duration = span.duration_us
    if not (0 <= start and 0 <= duration
            and start + duration <= MAX_TIME_US):
        return False
    for timestamp, _ in span.logs:
        if not 0 <= timestamp <= MAX_TIME_US:
            return False
    return True


_UNKNOWN = Process("unknown")
