"""A finished span as plain data, whatever tracer produced it.

Exporters work on :class:`SpanRecord` so that the wire formats do not depend
on a tracer's classes; :func:`from_span` converts one of our spans, cleaning
every string through a :class:`~chaostracing.redact.Redactor` (secrets masked,
lengths capped) on the exporter's thread, never on the traced one.
"""
from typing import Any, List, NamedTuple, Optional, Tuple

from chaostracing.redact import Redactor, to_tag_value, truncate

__all__ = ["SpanRecord", "from_span", "trim_record"]

Tag = Tuple[str, Any]

#: jaeger ``SpanRefType`` values
CHILD_OF, FOLLOWS_FROM = 0, 1


class SpanRecord(NamedTuple):
    trace_id: int
    span_id: int
    parent_id: Optional[int]
    flags: int
    operation_name: str
    start_us: int
    duration_us: int
    references: List[Tuple[int, int, int]]
    tags: List[Tag]
    logs: List[Tuple[int, List[Tag]]]


def from_span(span: Any, redactor: Redactor) -> SpanRecord:
    """Convert a finished :class:`chaostracing.tracer.Span`."""
    from chaostracing.tracer import reference_kind

    context = span.context
    references = [
        (
            reference_kind(ref),
            ref.referenced_context.trace_id,
            ref.referenced_context.span_id,
        )
        for ref in span.references or ()
        if hasattr(ref.referenced_context, "trace_id")
    ]
    start = span.start_time
    end = span.end_time if span.end_time is not None else start
    limit = redactor.max_length
    return SpanRecord(
        trace_id=context.trace_id,
        span_id=context.span_id,
        parent_id=context.parent_id,
        flags=context.flags,
        operation_name=redactor.clean(str(span.operation_name or "")),
        start_us=int(start * 1_000_000),
        duration_us=max(0, int((end - start) * 1_000_000)),
        references=references,
        tags=[(str(k), _value(v, redactor, limit)) for k, v in span.tags.items()],
        logs=[
            (
                int(timestamp * 1_000_000),
                [(str(k), _value(v, redactor, limit)) for k, v in fields.items()],
            )
            for timestamp, fields in span.logs
        ],
    )


def trim_record(record: SpanRecord, max_length: int) -> SpanRecord:
    """The same span with every text value cut to ``max_length``."""
    def cut(tags: List[Tag]) -> List[Tag]:
        return [
            (k[:max_length], truncate(v, max_length) if isinstance(v, str) else v)
            for k, v in tags
        ]

    return record._replace(
        operation_name=record.operation_name[:max_length],
        tags=cut(record.tags),
        logs=[(ts, cut(fields)) for ts, fields in record.logs],
    )


def _value(value: Any, redactor: Redactor, limit: int) -> Any:
    if value is True or value is False:
        return value
    if isinstance(value, int):
        if -(1 << 63) <= value < (1 << 63):
            return value
        return str(value)
    if isinstance(value, float):
        return value
    if isinstance(value, (bytes, bytearray)):
        return bytes(value[:limit])
    if not isinstance(value, str):
        # dicts, lists, exceptions...: compact JSON, else repr
        value = to_tag_value(value, max(limit * 4, 4096))
        if not isinstance(value, str):
            return value
    return redactor.clean(value)
