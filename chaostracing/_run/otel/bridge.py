"""OpenTelemetry's API, on the run's own tracer: the bridge.

- :class:`TracerProvider` implements ``opentelemetry.trace.TracerProvider``
  on chaostracing's tracer: spans that OpenTelemetry's instrumentations (or
  an extension using the OpenTelemetry API) start become spans of the run's
  trace, through the same exporter as every other span, on every provider.
  Their parent is OpenTelemetry's current span when it has one (an
  instrumentation's own, or one the extension opened), else chaostracing's
  current span (a ``@traced_activity`` function, else the activity).
- :class:`Mirror` keeps OpenTelemetry's current span in step with
  chaostracing's (:mod:`chaostracing._run.scope`), so spans made through either
  API nest, in threads and asyncio tasks alike.
- :func:`enable` installs it for a run, respecting what the process set
  itself: a global TracerProvider that someone else installed is left
  alone; :func:`disable` undoes it at cleanup (two runs in one process are
  independent).

Which instrumentations and propagators a run turns on is
:mod:`chaostracing._run.otel.installation`'s job.
"""
import logging
import traceback
from typing import Any, Iterator, Optional

import opentracing
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import (
    NonRecordingSpan,
    SpanContext,
    SpanKind,
    Status,
    StatusCode,
    TraceFlags,
)

from chaostracing._data.tags import (
    ERROR,
    EVENT,
    EVENT_EXCEPTION,
    EXCEPTION_ESCAPED,
    EXCEPTION_MESSAGE,
    EXCEPTION_STACKTRACE,
    EXCEPTION_TYPE,
    INTERNAL,
    OTEL_SCOPE_NAME,
    OTEL_SCOPE_VERSION,
    OTEL_STATUS_CODE,
    OTEL_STATUS_DESCRIPTION,
    SPAN_KIND,
    SPAN_KINDS,
    STATUS_ERROR,
    STATUS_OK,
)
from chaostracing._data.text import safe_str
from chaostracing._run import context as ctx
from chaostracing._run import scope
from chaostracing._run.spancontext import JaegerSpanContext

__all__ = [
    "Mirror",
    "PROVIDER",
    "Span",
    "Tracer",
    "TracerProvider",
    "disable",
    "enable",
]
logger = logging.getLogger("chaostoolkit")

#: OpenTelemetry's span kinds as ``span.kind`` values; an internal span (the
#: API's default kind) gets no tag, as OpenTracing's own spans
_KIND_TAGS = {SpanKind[kind.otel]: kind.tag for kind in SPAN_KINDS
              if kind.tag != INTERNAL}

try:  # works as a decorator of async functions too, as the API's own
    from opentelemetry.util._decorator import _agnosticcontextmanager as _cm
except ImportError:  # pragma: no cover - older opentelemetry-api
    # the same use; mypy sees two different generic signatures
    from contextlib import (  # type: ignore[assignment]
        contextmanager as _cm,
    )


###############################################################################
# The API on our tracer
###############################################################################
class Span(trace.Span):
    """An OpenTelemetry span that is one of the run's spans."""

    __slots__ = ("wrapped", "_context")

    def __init__(self, span: opentracing.Span) -> None:
        #: one of the run's spans (chaostracing._run.tracer.Span): it has
        #: references, finished, and a JaegerSpanContext
        self.wrapped: Any = span
        context: Any = span.context
        self._context = SpanContext(
            context.trace_id, context.span_id, is_remote=False,
            trace_flags=TraceFlags(getattr(context, "flags", 1) & 1),
        )

    def get_span_context(self) -> SpanContext:
        return self._context

    @property
    def parent(self) -> Optional[SpanContext]:
        """The parent's context, as the SDK's spans have it (OpenTelemetry's
        Jaeger propagator up to 1.33 reads it)."""
        parent_id = getattr(self.wrapped.context, "parent_id", 0)
        if not parent_id:
            return None
        return SpanContext(self._context.trace_id, parent_id, is_remote=False,
                           trace_flags=self._context.trace_flags)

    def set_attribute(self, key: str, value: Any) -> None:
        self.wrapped.set_tag(key, value)

    def set_attributes(self, attributes: Any) -> None:
        for key, value in (attributes or {}).items():
            self.wrapped.set_tag(key, value)

    def add_event(self, name: str, attributes: Any = None,
                  timestamp: Optional[int] = None) -> None:
        fields = {EVENT: name}
        fields.update(attributes or {})
        self.wrapped.log_kv(fields, timestamp / 1e9 if timestamp else None)

    def add_link(self, context: SpanContext, attributes: Any = None) -> None:
        if context is not None and context.is_valid:
            references = self.wrapped.references
            if references is None:
                references = self.wrapped.references = []
            references.append(opentracing.follows_from(_ours(context)))

    def update_name(self, name: str) -> None:
        self.wrapped.set_operation_name(name)

    def is_recording(self) -> bool:
        return not getattr(self.wrapped, "finished", False)

    def set_status(self, status: Any,
                   description: Optional[str] = None) -> None:
        if isinstance(status, Status):
            code, description = status.status_code, status.description
        else:
            code = status
        if code is StatusCode.ERROR:
            self.wrapped.set_tag(ERROR, True)
            self.wrapped.set_tag(OTEL_STATUS_CODE, STATUS_ERROR)
            if description:
                self.wrapped.set_tag(OTEL_STATUS_DESCRIPTION, description)
        elif code is StatusCode.OK:
            self.wrapped.set_tag(OTEL_STATUS_CODE, STATUS_OK)

    def record_exception(self, exception: BaseException, attributes: Any = None,
                         timestamp: Optional[int] = None,
                         escaped: bool = False) -> None:
        fields = {
            EVENT: EVENT_EXCEPTION,
            EXCEPTION_TYPE: type(exception).__qualname__,
            EXCEPTION_MESSAGE: safe_str(exception),
            EXCEPTION_STACKTRACE: "".join(traceback.format_exception(
                type(exception), exception, exception.__traceback__)),
            EXCEPTION_ESCAPED: escaped,
        }
        fields.update(attributes or {})
        self.wrapped.log_kv(fields, timestamp / 1e9 if timestamp else None)

    def end(self, end_time: Optional[int] = None) -> None:
        self.wrapped.finish(end_time / 1e9 if end_time else None)

    def __repr__(self) -> str:
        return f"chaostracing._run.otel.bridge.Span({self.wrapped!r})"


class Tracer(trace.Tracer):
    """Starts spans on the tracer of the run being traced, whichever run that
    is when the span starts (so a tracer an extension keeps from one run to
    the next follows them); outside a run, spans do not record."""

    def __init__(self, scope_name: str, version: Optional[str] = None) -> None:
        self._scope_name = scope_name
        self._version = version

    def start_span(self, name: str, context: Any = None,
                   kind: SpanKind = SpanKind.INTERNAL, attributes: Any = None,
                   links: Any = None, start_time: Optional[int] = None,
                   record_exception: bool = True,
                   set_status_on_exception: bool = True) -> trace.Span:
        current = trace.get_current_span(context)
        tracer = _run_tracer()
        if tracer is None:
            return NonRecordingSpan(current.get_span_context())
        if isinstance(current, Span):
            parent: Any = current.wrapped
        elif current.get_span_context().is_valid:
            parent = _ours(current.get_span_context())
        else:  # OpenTelemetry knows of none: chaostracing's current span
            # a run is traced: opentracing.tracer is its TracerProxy
            parent = ctx.current_span() or (
                opentracing.tracer.fallback_parent())  # type: ignore[attr-defined]
        tags = dict(attributes or {})
        if kind in _KIND_TAGS:
            tags[SPAN_KIND] = _KIND_TAGS[kind]
        tags[OTEL_SCOPE_NAME] = self._scope_name
        if self._version:
            tags[OTEL_SCOPE_VERSION] = self._version
        references = [
            opentracing.follows_from(_ours(link.context))
            for link in links or () if link.context.is_valid
        ]
        span = tracer.start_span(
            operation_name=name, child_of=parent, references=references or None,
            tags=tags, ignore_active_span=True,
            start_time=start_time / 1e9 if start_time else None,
        )
        return Span(span)

    @_cm
    def start_as_current_span(self, name: str, context: Any = None,
                              kind: SpanKind = SpanKind.INTERNAL,
                              attributes: Any = None, links: Any = None,
                              start_time: Optional[int] = None,
                              record_exception: bool = True,
                              set_status_on_exception: bool = True,
                              end_on_exit: bool = True) -> Iterator[trace.Span]:
        span = self.start_span(name, context, kind, attributes, links,
                               start_time, record_exception,
                               set_status_on_exception)
        with trace.use_span(span, end_on_exit=end_on_exit,
                            record_exception=record_exception,
                            set_status_on_exception=set_status_on_exception):
            yield span


class TracerProvider(trace.TracerProvider):
    """OpenTelemetry's TracerProvider on chaostracing's tracer."""

    def get_tracer(self, instrumenting_module_name: str,
                   instrumenting_library_version: Optional[str] = None,
                   schema_url: Optional[str] = None,
                   attributes: Any = None) -> Tracer:
        return Tracer(instrumenting_module_name or "unknown",
                      instrumenting_library_version)


#: the one provider: its tracers always use the run being traced
PROVIDER = TracerProvider()


class Mirror(scope.Mirror):
    """OpenTelemetry's current span follows chaostracing's, and the other
    way round: the innermost of the two is the current span."""

    def attach(self, span: Optional[opentracing.Span]) -> Any:
        # use_span(None) clears the current span: OpenTelemetry's too
        theirs = trace.INVALID_SPAN if span is None else Span(span)
        return otel_context.attach(trace.set_span_in_context(theirs))

    def detach(self, token: Any) -> None:
        otel_context.detach(token)

    def current(self, ours: Optional[opentracing.Span]) -> Optional[
            opentracing.Span]:
        theirs = trace.get_current_span()
        if isinstance(theirs, Span):
            wrapped: opentracing.Span = theirs.wrapped
            return wrapped
        return ours


###############################################################################
# Installing it for a run
###############################################################################
class _Installed:
    """What :func:`enable` changed, to undo it exactly."""

    def __init__(self) -> None:
        self.provider = False


_installed: Optional[_Installed] = None


def enable() -> None:
    """Bridge OpenTelemetry's API to the run being traced.

    OpenTelemetry's global TracerProvider is set to ours only when nobody set
    one (nor ``OTEL_PYTHON_TRACER_PROVIDER``); otherwise the process's own
    provider records the spans of extensions that use the API directly, still
    as children of the run's spans (the mirror makes them current).
    """
    global _installed
    if _installed is not None:
        return
    installed = _Installed()
    import os

    if trace._TRACER_PROVIDER is None and not os.environ.get(
            "OTEL_PYTHON_TRACER_PROVIDER"):
        # set as set_tracer_provider() does, but without its set-once flag:
        # the process may still set its own after the run, and disable()
        # puts back exactly what was there
        trace._TRACER_PROVIDER = PROVIDER
        installed.provider = True
    scope.SCOPE_MANAGER.mirror = Mirror()
    _installed = installed


def disable() -> None:
    """Undo :func:`enable`."""
    global _installed
    installed, _installed = _installed, None
    if installed is None:
        return
    if installed.provider and trace._TRACER_PROVIDER is PROVIDER:
        trace._TRACER_PROVIDER = None
    scope.SCOPE_MANAGER.mirror = None


###############################################################################
# Internals
###############################################################################
def _run_tracer() -> Optional[opentracing.Tracer]:
    tracer = opentracing.tracer
    if isinstance(tracer, ctx.TracerProxy) and not tracer.noop:
        return tracer.wrapped
    return None


def _ours(context: SpanContext) -> JaegerSpanContext:
    return JaegerSpanContext(context.trace_id, context.span_id, None,
                             int(context.trace_flags) & 1)

