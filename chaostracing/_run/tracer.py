"""A small OpenTracing 2.0 tracer with Jaeger's span model, for every provider.

Why not jaeger-client's tracer: importing it (it pulls in tornado and
asyncio) costs more than the whole budget a traced ``chaos run`` may add
(``benchmarks/import_cost.py`` and ``chaos_run_overhead.py``), and its
spans build a thrift object per tag on the traced thread. Why not
OpenTelemetry's SDK behind the OpenTracing shim for OTLP: one tracer for
every provider gives one span model, one current span and one place where
secrets are masked; the shim also breaks OpenTracing's API (``log_kv``
chaining, baggage, ``active_span`` identity). OTLP export converts our
finished spans with OpenTelemetry's own SDK and exporter.

What it keeps:

- 128-bit trace ids and 64-bit span ids, Jaeger's ``flags`` (sampled bit);
- ``uber-trace-id`` / ``uberctx-*``, W3C ``traceparent`` / ``tracestate``
  and ``baggage``, and B3 for ``text_map`` and ``http_headers``, Jaeger's
  binary encoding for ``binary``;
- ``child_of`` and ``follows_from`` references, baggage, explicit start and
  finish times;
- the current span in :mod:`chaostracing._run.scope` (threads and asyncio);
- a probabilistic sampler decided once per trace (``1.0`` keeps every span).

A finished, sampled span is handed to ``reporter.report_span(span)`` once;
tags and logs are stored as given and cleaned later, on the exporter's
thread.
"""
import random
import time
from typing import Any, Callable, Dict, List, Optional

import opentracing
from opentracing import Format
from opentracing.propagation import UnsupportedFormatException

from chaostracing._data.tags import EVENT, SAMPLER_PARAM, SAMPLER_TYPE
from chaostracing._run.propagation import Propagator
from chaostracing._run.scope import SCOPE_MANAGER, ActivatingTracer
from chaostracing._run.spancontext import SAMPLED, JaegerSpanContext

__all__ = ["Span", "Tracer"]

_MASK64 = (1 << 64) - 1
_TEXT_FORMATS = (Format.TEXT_MAP, Format.HTTP_HEADERS)
_random = random.Random()  # seeded from os.urandom


class Span(opentracing.Span):
    """A span; tags and logs are kept as plain Python values."""

    #: set once per span, by the first ``finish`` (see there)
    end_time: Optional[float] = None

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
        self._claim = [True]  # popped by the first finish() only
        self.references = references
        self.tags: Dict[Any, Any] = dict(tags) if tags else {}
        self.logs: List[Any] = []

    def set_operation_name(self, operation_name: str) -> "Span":
        self.operation_name = operation_name
        return self

    def set_tag(self, key: str, value: Any) -> "Span":
        self.tags[key] = value
        return self

    def log_kv(self, key_values: Dict[str, Any],
               timestamp: Optional[float] = None) -> "Span":
        try:
            fields = dict(key_values)
        except Exception:  # not a mapping: keep it, cleaned on export
            fields = {EVENT: key_values}
        self.logs.append((timestamp or time.time(), fields))
        return self

    def set_baggage_item(self, key: str, value: Optional[str]) -> "Span":
        self._context = self._context.with_baggage_item(key, value)
        return self

    def get_baggage_item(self, key: str) -> Optional[str]:
        return self._context.baggage.get(key)

    def finish(self, finish_time: Optional[float] = None) -> None:
        # a pool thread and the run's clean-up may both finish a span: only
        # the first reports it. list.pop is one atomic step (a lock would
        # cost more than the rest of this method)
        try:
            self._claim.pop()
        except IndexError:
            return
        self.end_time = finish_time or time.time()
        if self._context.flags & SAMPLED:
            self._tracer.reporter.report_span(self)

    @property
    def finished(self) -> bool:
        return self.end_time is not None

    def __repr__(self) -> str:
        return f"Span({self.operation_name!r}, {self._context!r})"


class Tracer(ActivatingTracer, opentracing.Tracer):
    """An OpenTracing tracer reporting finished spans to ``reporter``.

    :param propagator: writes and reads trace headers (default: Jaeger's)
    :param new_trace_id: makes the id of a new trace (AWS X-Ray wants its
        own); default: 128 random bits
    """

    def __init__(
        self,
        service_name: str,
        reporter: Any,
        sampler_rate: float = 1.0,
        tags: Optional[Dict[str, Any]] = None,
        propagator: Optional[Propagator] = None,
        scope_manager: Optional[opentracing.ScopeManager] = None,
        new_trace_id: Optional[Callable[[], int]] = None,
    ) -> None:
        super().__init__(scope_manager or SCOPE_MANAGER)
        self.service_name = service_name
        self.reporter = reporter
        self.sampler_rate = sampler_rate
        self.tags = dict(tags or {})
        self.propagator = propagator or Propagator()
        self._new_trace_id = new_trace_id or (
            lambda: _random.getrandbits(128) or 1)
        if sampler_rate >= 1.0:
            self._sampler_tags = {SAMPLER_TYPE: "const",
                                  SAMPLER_PARAM: True}
        else:
            self._sampler_tags = {
                SAMPLER_TYPE: "probabilistic",
                SAMPLER_PARAM: sampler_rate,
            }

    def start_span(
        self,
        operation_name: Optional[str] = None,
        child_of: Any = None,
        references: Any = None,
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
            references = [
                r for r in references
                if isinstance(getattr(r, "referenced_context", None),
                              JaegerSpanContext)
            ]
        if parent is None and references:
            parent = references[0].referenced_context
        span_id = _random.getrandbits(64) or 1
        if isinstance(parent, JaegerSpanContext):
            context = JaegerSpanContext(
                parent.trace_id,
                span_id,
                parent.span_id,
                parent.flags,
                parent.baggage,
                parent.tracestate,
            )
        else:
            trace_id = self._new_trace_id()
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

    def inject(self, span_context: Any, format: str, carrier: Any) -> None:
        if isinstance(span_context, opentracing.Span):
            span_context = span_context.context
        if format == Format.BINARY:
            if isinstance(span_context, JaegerSpanContext):
                self.propagator.inject_binary(span_context, carrier)
            return
        if format not in _TEXT_FORMATS:
            raise UnsupportedFormatException(format)
        if isinstance(span_context, JaegerSpanContext):
            self.propagator.inject(
                span_context, carrier, url_encode=format == Format.HTTP_HEADERS
            )

    def extract(  # type: ignore[override]  # None: nothing in the carrier
            self, format: str, carrier: Any) -> Optional[JaegerSpanContext]:
        if format == Format.BINARY:
            return self.propagator.extract_binary(carrier)
        if format not in _TEXT_FORMATS:
            raise UnsupportedFormatException(format)
        return self.propagator.extract(
            carrier, url_decode=format == Format.HTTP_HEADERS
        )

    def _keep(self, trace_id: int) -> bool:
        rate = self.sampler_rate
        if rate >= 1.0:
            return True
        return (trace_id & _MASK64) < rate * (1 << 64)
