"""Which spans a trace search matches, decided as Jaeger's query service does.

One definition for both sides of Jaeger's HTTP query API: the collector's
``/api/traces`` answers the traces holding at least one matching span, and
the probes (:mod:`chaostracing.probes`) count the matching spans of what a
query service (the collector, or any Jaeger) answered.

A span matches when its service is the one asked; its operation too, when
one is asked; its start time falls in ``[start, end]`` (microseconds since
the epoch, both ends included); its duration in ``[min, max]`` (either may
be absent); and every asked tag is found, with the same value written as
text, among its tags, its process's tags or its logs' fields (Jaeger's
``KeyValue.AsString``: ``true``/``false``, decimal integers, floats with 10
significant digits, binary as hex).

Durations are written as Go's ``time.ParseDuration`` reads them, as Jaeger
does: ``300ms``, ``1.5s``, ``1h30m``, ``250us`` (or ``µs``), ``10ns``; the
query parameters' integers as its ``strconv`` does (:func:`parse_go_int`),
and a parameter's value as ``url.Values.Get`` gives it (:func:`first_value`).
"""
import re
from typing import Any, Dict, Iterable, List, Mapping, Optional

from chaostracing._data.model import SpanData, failed

__all__ = [
    "DEFAULT_LOOKBACK_US",
    "SpanQuery",
    "first_value",
    "is_error",
    "parse_duration_ns",
    "parse_go_int",
    "tag_text",
]

#: Jaeger's default search lookback when no ``start`` is given: two days
DEFAULT_LOOKBACK_US = 2 * 24 * 3600 * 1_000_000

_UNITS_NS = {"ns": 1, "us": 1_000, "\u00b5s": 1_000, "\u03bcs": 1_000,
             "ms": 1_000_000, "s": 1_000_000_000, "m": 60_000_000_000,
             "h": 3_600_000_000_000}
_DURATION_PART = re.compile(
    r"(\d*)(?:\.(\d*))?(ns|us|\u00b5s|\u03bcs|ms|s|m|h)")
_MAX_DURATION_NS = (1 << 63) - 1  # Go's time.Duration


def first_value(params: Mapping[str, List[str]], name: str) -> str:
    """Go's ``url.Values.Get``: the first value of the query parameter
    ``name``, or ``""``."""
    values = params.get(name)
    return values[0] if values else ""


#: a decimal integer as Go's strconv reads it: [0-9] only (int() also reads
#: any Unicode digit, underscores and spaces), leading zeros any number
_GO_INT = re.compile(r"([+-]?)0*([0-9]+)\Z")


def parse_go_int(text: str, bits: int = 64) -> Optional[int]:
    """``text`` as Go's ``strconv.ParseInt(text, 10, bits)`` reads it; None
    when it is not a decimal integer.

    :raises OverflowError: past ``bits`` bits, as Go's "value out of range"
        (checked on the digits before ``int()``, which refuses more than
        4,300 digits, leading zeros included, with a ValueError of its own)

    >>> parse_go_int("-0042"), parse_go_int("4.2"), parse_go_int("0" * 5000)
    (-42, None, 0)
    """
    found = _GO_INT.match(text)
    if found is None:
        return None
    sign, digits = found.groups()
    value = int(sign + digits) if len(digits) <= 20 else None
    if value is None or not -(1 << (bits - 1)) <= value < 1 << (bits - 1):
        raise OverflowError(text)
    return value


def parse_duration_ns(text: str) -> int:
    """Nanoseconds in a Go duration string (``1.5s``, ``1h30m``, ``300ms``).

    :raises ValueError: naming what was expected

    >>> parse_duration_ns("1.5ms")
    1500000
    """
    if not isinstance(text, str):
        raise ValueError(f"expected a duration such as 300ms or 1.5s, got "
                         f"{text!r:.40}")
    body = text[1:] if text[:1] in "+-" else text
    if body == "0":
        return 0
    total, position = 0, 0
    for match in _DURATION_PART.finditer(body):
        whole, fraction, unit = match.groups()
        if match.start() != position or not (whole or fraction):
            break
        scale = _UNITS_NS[unit]
        # integers only, as Go: 1.5h is 5,400,000,000,000 ns exactly
        total += int(whole or 0) * scale
        if fraction:
            total += int(fraction) * scale // 10 ** len(fraction)
        position = match.end()
    if not body or position != len(body):
        raise ValueError(f"invalid duration {text!r:.40}: expected a number "
                         "and a unit (ns, us, ms, s, m, h) such as 300ms, "
                         "1.5s or 1h30m")
    if total > _MAX_DURATION_NS:
        raise ValueError(f"invalid duration {text!r:.40}: too long")
    return -total if text.startswith("-") else total


def tag_text(value: Any) -> str:
    """A tag's value as Jaeger writes it as text to compare it with a query."""
    if value is True or value is False:
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return format(value, ".10g")
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).hex()
    return value if isinstance(value, str) else str(value)


def is_error(span: SpanData) -> bool:
    """Failed: ``error=true``, OpenTelemetry status ERROR, or HTTP status
    of 500 or more (:func:`chaostracing._data.model.failed`, the one
    definition, which :attr:`SpanData.failed` reads too)."""
    return failed(span.tags)


class SpanQuery:
    """The span filter of a trace search (see the module documentation).

    ``tags`` maps names to the text of their values; ``start_us``/``end_us``
    bound the span's start, ``min_ns``/``max_ns`` its duration (``None``:
    unbounded).
    """

    __slots__ = ("service", "operation", "tags", "start_us", "end_us",
                 "min_ns", "max_ns")

    def __init__(
        self,
        service: Optional[str] = None,
        operation: Optional[str] = None,
        tags: Optional[Dict[str, str]] = None,
        start_us: Optional[int] = None,
        end_us: Optional[int] = None,
        min_ns: Optional[int] = None,
        max_ns: Optional[int] = None,
    ) -> None:
        self.service = service
        self.operation = operation or None
        self.tags = dict(tags or {})
        self.start_us = start_us
        self.end_us = end_us
        self.min_ns = min_ns or None
        self.max_ns = max_ns or None

    def matches(self, span: SpanData) -> bool:
        if (self.service is not None
                and span.process.service_name != self.service):
            return False
        if self.operation is not None and span.operation_name != self.operation:
            return False
        start = span.start_us
        if self.start_us is not None and start < self.start_us:
            return False
        if self.end_us is not None and start > self.end_us:
            return False
        if self.min_ns is not None and span.duration_us * 1000 < self.min_ns:
            return False
        if self.max_ns is not None and span.duration_us * 1000 > self.max_ns:
            return False
        for key, text in self.tags.items():
            if not _has_tag(span, key, text):
                return False
        return True

    def any_match(self, spans: Iterable[SpanData]) -> bool:
        return any(self.matches(span) for span in spans)


def _has_tag(span: SpanData, key: str, text: str) -> bool:
    if key in span.tags and tag_text(span.tags[key]) == text:
        return True
    for name, value in span.process.tags:
        if name == key and tag_text(value) == text:
            return True
    for _, fields in span.logs:
        if key in fields and tag_text(fields[key]) == text:
            return True
    return False
