"""A finished span as plain data, whatever tracer produced it.

Exporters work on :class:`SpanRecord` so that the wire formats do not depend
on a tracer's classes; :func:`from_jaeger_span` converts a jaeger-client span,
cleaning every string through a :class:`~chaostracing.redact.Redactor`.
"""
from typing import Any, List, NamedTuple, Optional, Tuple

from chaostracing.redact import Redactor

__all__ = ["SpanRecord", "from_jaeger_span", "trim_record"]

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


def from_jaeger_span(span: Any, redactor: Redactor) -> SpanRecord:
    """Convert a finished ``jaeger_client.Span``."""
    context = span.context
    references = []
    for ref in span.references or ():
        kind = FOLLOWS_FROM if ref.type == "follows_from" else CHILD_OF
        ref_ctx = ref.referenced_context
        references.append((kind, ref_ctx.trace_id, ref_ctx.span_id))
    start = span.start_time
    end = span.end_time if span.end_time is not None else start
    clean = redactor.clean
    return SpanRecord(
        trace_id=context.trace_id,
        span_id=context.span_id,
        parent_id=context.parent_id,
        flags=context.flags,
        operation_name=clean(span.operation_name or ""),
        start_us=int(start * 1_000_000),
        duration_us=max(0, int((end - start) * 1_000_000)),
        references=references,
        tags=[_tag(t, clean) for t in span.tags],
        logs=[
            (log.timestamp, [_tag(t, clean) for t in log.fields])
            for log in span.logs
        ],
    )


def trim_record(record: SpanRecord, max_length: int) -> SpanRecord:
    """The same span with every text value cut to ``max_length``."""
    from chaostracing.redact import truncate

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


def _tag(tag: Any, clean) -> Tag:
    # jaeger-client keeps tags as thrift ``Tag`` objects; vType says which
    # field holds the value (0 string, 1 double, 2 bool, 3 long, 4 binary)
    kind = tag.vType
    if kind == 1:
        return tag.key, tag.vDouble
    if kind == 2:
        return tag.key, bool(tag.vBool)
    if kind == 3:
        value = tag.vLong
        if -(1 << 63) <= value < (1 << 63):
            return tag.key, value
        return tag.key, str(value)
    if kind == 4:
        return tag.key, tag.vBinary
    return tag.key, clean(tag.vStr if tag.vStr is not None else "")
