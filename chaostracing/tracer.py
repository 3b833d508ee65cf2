"""A small OpenTracing 2.0 tracer with Jaeger's span model and propagation.

Why not jaeger-client's tracer: importing it costs 40-60 ms (it pulls in
tornado and asyncio), more than the whole budget a traced ``chaos run`` may
add, and its spans build a thrift object per tag on the traced thread. This
tracer keeps what Jaeger users rely on and nothing more:

- 128-bit trace ids and 64-bit span ids, Jaeger's ``flags`` (sampled bit);
- ``uber-trace-id`` / ``uberctx-*`` propagation for ``text_map`` and
  ``http_headers`` (the same format jaeger-client reads and writes), and
  W3C ``traceparent`` / B3 headers when asked for;
- ``child_of`` and ``follows_from`` references, baggage, explicit start and
  finish times, a context-variable scope manager (threads and asyncio);
- a probabilistic sampler decided once per trace (``1.0`` keeps every span).

A finished, sampled span is handed to ``reporter.report_span(span)``; the
UDP sender turns it into Jaeger thrift on its own thread.
"""
import random
import threading
import time
import urllib.parse
from typing import Any, Dict, List, Optional, Sequence

import opentracing
from opentracing import Format, ReferenceType
from opentracing.propagation import (
    InvalidCarrierException,
    SpanContextCorruptedException,
    UnsupportedFormatException,
)
from opentracing.scope_managers.contextvars import ContextVarsScopeManager

__all__ = ["JaegerSpanContext", "Span", "Tracer"]

SAMPLED = 1
_MASK64 = (1 << 64) - 1
_TEXT_FORMATS = (Format.TEXT_MAP, Format.HTTP_HEADERS)
TRACE_HEADER = "uber-trace-id"
BAGGAGE_PREFIX = "uberctx-"
_random = random.Random()  # seeded from os.urandom


class JaegerSpanContext(opentracing.SpanContext):
    """Immutable ids of a span, as Jaeger propagates them."""

    __slots__ = ("trace_id", "span_id", "parent_id", "flags", "_baggage")

    def __init__(
        self,
        trace_id: int,
        span_id: int,
        parent_id: Optional[int] = None,
        flags: int = SAMPLED,
        baggage: Optional[Dict[str, str]] = None,
    ) -> None:
        self.trace_id = trace_id
        self.span_id = span_id
        self.parent_id = parent_id
        self.flags = flags
        self._baggage = baggage or opentracing.SpanContext.EMPTY_BAGGAGE

    @property
    def baggage(self) -> Dict[str, str]:
        return self._baggage

    @property
    def sampled(self) -> bool:
        return bool(self.flags & SAMPLED)

    def with_baggage_item(self, key: str, value: Optional[str]):
        baggage = dict(self._baggage)
        if value is None:
            baggage.pop(key, None)
        else:
            baggage[key] = value
        return JaegerSpanContext(
            self.trace_id, self.span_id, self.parent_id, self.flags, baggage
        )

    def __repr__(self) -> str:
        return f"JaegerSpanContext({to_header(self)})"


class Span(opentracing.Span):
    """A span; tags and logs are kept as plain Python values."""

    def __init__(
        self,
        tracer: "Tracer",
        context: JaegerSpanContext,
        operation_name: str,
        start_time: float,
        references: Optional[List[opentracing.Reference]],
        tags: Optional[Dict[str, Any]],
    ) -> None:
        self._tracer = tracer
        self._context = context
        self.operation_name = operation_name
        self.start_time = start_time
        self.end_time: Optional[float] = None
        self.references = references
        self.tags: Dict[str, Any] = dict(tags) if tags else {}
        self.logs: List[Any] = []

    def set_operation_name(self, operation_name: str) -> "Span":
        self.operation_name = operation_name
        return self

    def set_tag(self, key: str, value: Any) -> "Span":
        self.tags[key] = value
        return self

    def log_kv(self, key_values: Dict[str, Any], timestamp=None) -> "Span":
        self.logs.append((timestamp or time.time(), dict(key_values)))
        return self

    def set_baggage_item(self, key: str, value: Optional[str]) -> "Span":
        self._context = self._context.with_baggage_item(key, value)
        return self

    def get_baggage_item(self, key: str) -> Optional[str]:
        return self._context.baggage.get(key)

    def finish(self, finish_time: Optional[float] = None) -> None:
        if self.end_time is not None:
            return  # finishing twice reports once
        self.end_time = finish_time or time.time()
        if self._context.flags & SAMPLED:
            self._tracer.reporter.report_span(self)

    @property
    def finished(self) -> bool:
        return self.end_time is not None

    def __repr__(self) -> str:
        return f"Span({self.operation_name!r}, {to_header(self._context)})"


class Tracer(opentracing.Tracer):
    """An OpenTracing tracer reporting finished spans to ``reporter``."""

    def __init__(
        self,
        service_name: str,
        reporter: Any,
        sampler_rate: float = 1.0,
        tags: Optional[Dict[str, Any]] = None,
        propagation: Sequence[str] = ("jaeger",),
        scope_manager: Optional[opentracing.ScopeManager] = None,
    ) -> None:
        super().__init__(scope_manager or ContextVarsScopeManager())
        self.service_name = service_name
        self.reporter = reporter
        self.sampler_rate = sampler_rate
        self.tags = dict(tags or {})
        self.propagation = tuple(propagation)
        if hasattr(reporter, "set_process"):
            reporter.set_process(service_name, self.tags)
        if sampler_rate >= 1.0:
            self._sampler_tags = {"sampler.type": "const", "sampler.param": True}
        else:
            self._sampler_tags = {
                "sampler.type": "probabilistic",
                "sampler.param": sampler_rate,
            }
        self._lock = threading.Lock()

    def start_span(
        self,
        operation_name: Optional[str] = None,
        child_of=None,
        references=None,
        tags: Optional[Dict[str, Any]] = None,
        start_time: Optional[float] = None,
        ignore_active_span: bool = False,
    ) -> Span:
        parent = child_of
        if parent is None and not ignore_active_span:
            scope = self.scope_manager.active
            if scope is not None:
                parent = scope.span
        if isinstance(parent, opentracing.Span):
            parent = parent.context
        if references is not None and not isinstance(references, list):
            references = [references]
        if references:
            references = [r for r in references if r.referenced_context]
        if parent is None and references:
            parent = references[0].referenced_context
        span_id = _random.getrandbits(64) or 1
        if isinstance(parent, JaegerSpanContext):
            context = JaegerSpanContext(
                parent.trace_id,
                span_id,
                parent.span_id,
                parent.flags,
                parent._baggage,
            )
        else:
            trace_id = _random.getrandbits(128) or 1
            flags = SAMPLED if self._keep(trace_id) else 0
            context = JaegerSpanContext(trace_id, span_id, None, flags)
            tags = dict(tags or {}, **self._sampler_tags)
        return Span(
            self,
            context,
            operation_name or "",
            start_time or time.time(),
            references or None,
            tags,
        )

    def inject(self, span_context, format: str, carrier: Any) -> None:
        if isinstance(span_context, opentracing.Span):
            span_context = span_context.context
        if format not in _TEXT_FORMATS:
            raise UnsupportedFormatException(format)
        if not isinstance(carrier, dict):
            raise InvalidCarrierException("carrier is not a dict")
        if not isinstance(span_context, JaegerSpanContext):
            return
        from chaostracing.propagation import inject_headers

        inject_headers(
            span_context,
            carrier,
            self.propagation,
            url_encode=format == Format.HTTP_HEADERS,
        )

    def extract(self, format: str, carrier: Any) -> Optional[JaegerSpanContext]:
        if format not in _TEXT_FORMATS:
            raise UnsupportedFormatException(format)
        if not hasattr(carrier, "items"):
            raise InvalidCarrierException("carrier is not a mapping")
        from chaostracing.propagation import extract_headers

        return extract_headers(carrier, url_decode=format == Format.HTTP_HEADERS)

    def _keep(self, trace_id: int) -> bool:
        rate = self.sampler_rate
        if rate >= 1.0:
            return True
        return (trace_id & _MASK64) < rate * (1 << 64)


def to_header(context: JaegerSpanContext) -> str:
    """``uber-trace-id`` value: ``{trace}:{span}:{parent}:{flags}`` in hex."""
    return "{:x}:{:x}:{:x}:{:x}".format(
        context.trace_id, context.span_id, context.parent_id or 0, context.flags
    )


def from_header(value: str) -> JaegerSpanContext:
    """Parse an ``uber-trace-id`` value.

    :raises SpanContextCorruptedException: when it is not one.
    """
    parts = urllib.parse.unquote(value).strip().split(":")
    if len(parts) != 4:
        raise SpanContextCorruptedException(f"malformed {TRACE_HEADER}: {value!r}")
    try:
        trace_id, span_id, parent_id, flags = (int(p, 16) for p in parts)
    except ValueError:
        raise SpanContextCorruptedException(
            f"malformed {TRACE_HEADER}: {value!r}"
        ) from None
    if not trace_id or not span_id or trace_id >> 128 or span_id >> 64:
        raise SpanContextCorruptedException(f"malformed {TRACE_HEADER}: {value!r}")
    return JaegerSpanContext(trace_id, span_id, parent_id or None, flags & 0xFF)


def reference_kind(reference: opentracing.Reference) -> int:
    """Jaeger's ``SpanRefType``: 0 child of, 1 follows from."""
    from chaostracing.exporters.records import CHILD_OF, FOLLOWS_FROM

    if reference.type == ReferenceType.FOLLOWS_FROM:
        return FOLLOWS_FROM
    return CHILD_OF
