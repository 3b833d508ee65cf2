"""The ids a span propagates, in Jaeger's model."""
from typing import Dict, Optional

import opentracing

__all__ = ["SAMPLED", "JaegerSpanContext"]

#: the sampled bit of Jaeger's (and W3C's) flags
SAMPLED = 1


class JaegerSpanContext(opentracing.SpanContext):
    """Immutable ids of a span: 128-bit trace id, 64-bit span id, flags and
    baggage; and the W3C ``tracestate`` the trace arrived with, passed on
    unchanged to its children (the W3C asks every participant to forward
    it)."""

    __slots__ = ("trace_id", "span_id", "parent_id", "flags", "_baggage",
                 "tracestate")

    def __init__(
        self,
        trace_id: int,
        span_id: int,
        parent_id: Optional[int] = None,
        flags: int = SAMPLED,
        baggage: Optional[Dict[str, str]] = None,
        tracestate: Optional[str] = None,
    ) -> None:
        self.trace_id = trace_id
        self.span_id = span_id
        self.parent_id = parent_id
        self.flags = flags
        self._baggage = baggage or opentracing.SpanContext.EMPTY_BAGGAGE
        self.tracestate = tracestate

    @property
    def baggage(self) -> Dict[str, str]:
        return self._baggage

    @property
    def sampled(self) -> bool:
        return bool(self.flags & SAMPLED)

    def with_baggage_item(
        self, key: str, value: Optional[str]
    ) -> "JaegerSpanContext":
        baggage = dict(self._baggage)
        if value is None:
            baggage.pop(key, None)
        else:
            baggage[key] = value
        return JaegerSpanContext(
            self.trace_id, self.span_id, self.parent_id, self.flags, baggage,
            self.tracestate,
        )

    def __repr__(self) -> str:
        return (
            f"JaegerSpanContext({self.trace_id:032x}:{self.span_id:016x}:"
            f"{self.parent_id or 0:x}:{self.flags:x})"
        )
