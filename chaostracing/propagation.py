"""Trace-context headers: Jaeger ``uber-trace-id``, W3C ``traceparent``, B3.

:func:`inject_headers` writes the formats asked for into a carrier dict;
:func:`extract_headers` reads whichever is present (Jaeger first, then W3C,
then B3), with header names matched case-insensitively.
"""
import re
import urllib.parse
from typing import Any, Dict, Iterable, Mapping, Optional

from opentracing.propagation import SpanContextCorruptedException

from chaostracing.tracer import (
    BAGGAGE_PREFIX,
    SAMPLED,
    TRACE_HEADER,
    JaegerSpanContext,
    from_header,
    to_header,
)

__all__ = ["FORMATS", "extract_headers", "inject_headers"]

FORMATS = ("jaeger", "w3c", "b3")
_TRACEPARENT = re.compile(
    r"^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$"
)


def inject_headers(
    context: JaegerSpanContext,
    carrier: Dict[str, str],
    formats: Iterable[str] = ("jaeger",),
    url_encode: bool = False,
) -> None:
    for name in formats:
        if name == "jaeger":
            carrier[TRACE_HEADER] = to_header(context)
            for key, value in context.baggage.items():
                if url_encode:
                    value = urllib.parse.quote(value, safe="")
                carrier[BAGGAGE_PREFIX + key] = value
        elif name == "w3c":
            carrier["traceparent"] = "00-{:032x}-{:016x}-{:02x}".format(
                context.trace_id, context.span_id, context.flags & SAMPLED
            )
        elif name == "b3":
            carrier["X-B3-TraceId"] = "{:032x}".format(context.trace_id)
            carrier["X-B3-SpanId"] = "{:016x}".format(context.span_id)
            if context.parent_id:
                carrier["X-B3-ParentSpanId"] = "{:016x}".format(context.parent_id)
            carrier["X-B3-Sampled"] = "1" if context.flags & SAMPLED else "0"


def extract_headers(
    carrier: Mapping[str, Any], url_decode: bool = False
) -> Optional[JaegerSpanContext]:
    """The context in ``carrier``, or ``None`` when it holds none.

    :raises SpanContextCorruptedException: a header is there but malformed.
    """
    headers = {str(k).lower(): v for k, v in carrier.items()}
    context = None
    if TRACE_HEADER in headers:
        context = from_header(str(headers[TRACE_HEADER]))
    elif "traceparent" in headers:
        context = _from_traceparent(str(headers["traceparent"]))
    elif "x-b3-traceid" in headers:
        context = _from_b3(headers)
    baggage = {
        k[len(BAGGAGE_PREFIX):]: urllib.parse.unquote(str(v)) if url_decode else v
        for k, v in headers.items()
        if k.startswith(BAGGAGE_PREFIX)
    }
    if context is None:
        return None
    if baggage:
        context = JaegerSpanContext(
            context.trace_id, context.span_id, context.parent_id,
            context.flags, baggage,
        )
    return context


def _from_traceparent(value: str) -> JaegerSpanContext:
    match = _TRACEPARENT.match(value.strip().lower())
    if not match or match.group(1) == "ff":
        raise SpanContextCorruptedException(f"malformed traceparent: {value!r}")
    trace_id, span_id = int(match.group(2), 16), int(match.group(3), 16)
    if not trace_id or not span_id:
        raise SpanContextCorruptedException(f"malformed traceparent: {value!r}")
    return JaegerSpanContext(trace_id, span_id, None, int(match.group(4), 16) & 1)


def _from_b3(headers: Mapping[str, Any]) -> JaegerSpanContext:
    try:
        trace_id = int(str(headers["x-b3-traceid"]), 16)
        span_id = int(str(headers.get("x-b3-spanid", "")), 16)
        parent = headers.get("x-b3-parentspanid")
        parent_id = int(str(parent), 16) if parent else None
    except ValueError:
        raise SpanContextCorruptedException("malformed B3 headers") from None
    if not trace_id or not span_id:
        raise SpanContextCorruptedException("malformed B3 headers")
    sampled = str(headers.get("x-b3-sampled", "1")) in ("1", "true", "d")
    return JaegerSpanContext(trace_id, span_id, parent_id, SAMPLED if sampled else 0)
