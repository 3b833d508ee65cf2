"""OpenTelemetry's API, on the run's own tracer.

Imported only when OpenTelemetry is asked for (``tracing_instrument``, or an
extension importing ``opentelemetry.trace`` during a traced run): the
control's import time does not depend on it.

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
  itself: a global TracerProvider or propagator that someone else installed
  is left alone; :func:`disable` undoes everything at cleanup (two runs in
  one process are independent).
- :func:`instrument` turns on OpenTelemetry's maintained instrumentation
  packages (urllib3, httpx, botocore, aiohttp client) with this provider;
  headers are written by OpenTelemetry's own propagators (W3C, B3, Jaeger)
  for the formats of ``tracing_propagation``.
"""
import functools
import importlib
import importlib.util
import logging
import sys
import traceback
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

import opentracing
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.context import get_current
from opentelemetry.propagators import textmap
from opentelemetry.trace import (
    NonRecordingSpan,
    SpanContext,
    SpanKind,
    Status,
    StatusCode,
    TraceFlags,
)

from chaostracing._run import context as ctx
from chaostracing._run import safety, scope
from chaostracing._run.spancontext import JaegerSpanContext

__all__ = [
    "INSTRUMENTATIONS",
    "Mirror",
    "Span",
    "Tracer",
    "TracerProvider",
    "disable",
    "enable",
    "instrument",
    "is_http_suppressed",
    "suppress_http",
]
logger = logging.getLogger("chaostoolkit")

_KINDS = {SpanKind.SERVER: "server", SpanKind.CLIENT: "client",
          SpanKind.PRODUCER: "producer", SpanKind.CONSUMER: "consumer"}

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
        fields = {"event": name}
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
            self.wrapped.set_tag("error", True)
            self.wrapped.set_tag("otel.status_code", "ERROR")
            if description:
                self.wrapped.set_tag("otel.status_description", description)
        elif code is StatusCode.OK:
            self.wrapped.set_tag("otel.status_code", "OK")

    def record_exception(self, exception: BaseException, attributes: Any = None,
                         timestamp: Optional[int] = None,
                         escaped: bool = False) -> None:
        fields = {
            "event": "exception",
            "exception.type": type(exception).__qualname__,
            "exception.message": _text(exception),
            "exception.stacktrace": "".join(traceback.format_exception(
                type(exception), exception, exception.__traceback__)),
            "exception.escaped": escaped,
        }
        fields.update(attributes or {})
        self.wrapped.log_kv(fields, timestamp / 1e9 if timestamp else None)

    def end(self, end_time: Optional[int] = None) -> None:
        self.wrapped.finish(end_time / 1e9 if end_time else None)

    def __repr__(self) -> str:
        return f"chaostracing._run.otel.Span({self.wrapped!r})"


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
        if kind in _KINDS:
            tags["span.kind"] = _KINDS[kind]
        tags["otel.scope.name"] = self._scope_name
        if self._version:
            tags["otel.scope.version"] = self._version
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
        self.propagator: Any = None
        self.instrumented: List[Any] = []
        #: post-import hooks still waiting for a library
        self.hooks: List[Any] = []


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
    """Undo :func:`enable` and :func:`instrument`."""
    global _installed
    installed, _installed = _installed, None
    if installed is None:
        return
    for hook in installed.hooks:
        hook.remove()
    for instrumentor in reversed(installed.instrumented):
        with safety.capture_internal_exceptions("uninstrument a client"):
            instrumentor.uninstrument()
    if installed.propagator is not None:
        from opentelemetry import propagate

        propagate.set_global_textmap(installed.propagator)
    if installed.provider and trace._TRACER_PROVIDER is PROVIDER:
        trace._TRACER_PROVIDER = None
    scope.SCOPE_MANAGER.mirror = None


#: name -> (module the library is, instrumentation module, its class, the
#: package that brings it)
INSTRUMENTATIONS: Dict[str, Tuple[str, str, str, str]] = {
    "urllib3": ("urllib3", "opentelemetry.instrumentation.urllib3",
                "URLLib3Instrumentor", "opentelemetry-instrumentation-urllib3"),
    "httpx": ("httpx", "opentelemetry.instrumentation.httpx",
              "HTTPXClientInstrumentor", "opentelemetry-instrumentation-httpx"),
    "botocore": ("botocore", "opentelemetry.instrumentation.botocore",
                 "BotocoreInstrumentor",
                 "opentelemetry-instrumentation-botocore"),
    "aiohttp": ("aiohttp", "opentelemetry.instrumentation.aiohttp_client",
                "AioHttpClientInstrumentor",
                "opentelemetry-instrumentation-aiohttp-client"),
}


def instrument(names: Tuple[str, ...], formats: Tuple[str, ...],
               warn: Callable[[str, str], object]) -> None:
    """Turn on OpenTelemetry's instrumentation of ``names`` for the run.

    Each library is instrumented when it is first imported (at once if it
    already is): a library the experiment never uses costs nothing
    (aiohttp's import alone takes longer than a traced run may add:
    ``benchmarks/import_cost.py``). What cannot be instrumented gives one
    warning each, through ``warn(kind, message)``.

    :param formats: ``tracing_propagation``: the headers requests carry
    """
    from chaostracing._run import imports

    enable()
    installed = _installed
    assert installed is not None  # enable() installed it
    _propagate(formats, installed)
    for name in names:
        library, module, _, package = INSTRUMENTATIONS[name]
        if importlib.util.find_spec(library) is None:
            warn(f"instrument:{name}",
                 f"tracing_instrument lists {name}, which is not installed "
                 "here: nothing to trace")
            continue
        if importlib.util.find_spec(module) is None:
            warn(f"instrument:{name}", _missing(name, package))
            continue
        hook = imports.when_imported(
            library, functools.partial(_instrument_one, name, formats, warn))
        if hook is not None:
            installed.hooks.append(hook)


def _missing(name: str, package: str) -> str:
    return (f"tracing_instrument lists {name}, but its OpenTelemetry "
            f"instrumentation is not installed: pip install "
            f"'chaostoolkit-opentracing[instrument]' (or {package}); the "
            "run goes on without it")


def _instrument_one(name: str, formats: Tuple[str, ...],
                    warn: Callable[[str, str], object]) -> None:
    installed = _installed
    if installed is None:  # the run ended before the library was imported
        return
    library, module, cls, package = INSTRUMENTATIONS[name]
    try:
        instrumentor = getattr(importlib.import_module(module), cls)()
    except ImportError:
        warn(f"instrument:{name}", _missing(name, package))
        return
    if instrumentor.is_instrumented_by_opentelemetry:
        return  # the process did it (opentelemetry-instrument...)
    options: Dict[str, Any] = {"tracer_provider": PROVIDER}
    if name == "botocore":
        options["propagator"] = _botocore_propagator(formats)
    with _quiet_instrumentation_logs():
        instrumentor.instrument(**options)
    if not instrumentor.is_instrumented_by_opentelemetry:
        warn(f"instrument:{name}",
             f"tracing_instrument lists {name}, but {package} refuses this "
             f"{library} version (see its supported range); the run goes on "
             "without it")
        return
    installed.instrumented.append(instrumentor)


def _propagate(formats: Tuple[str, ...], installed: _Installed) -> None:
    """OpenTelemetry's global propagator writes ``formats``, unless the
    process chose its own (``OTEL_PROPAGATORS``, or a propagator it set)."""
    import os

    from opentelemetry import propagate
    from opentelemetry.propagators.composite import CompositePropagator

    if installed.propagator is not None or os.environ.get("OTEL_PROPAGATORS"):
        return
    current = propagate.get_global_textmap()
    if not _is_default(current):
        return
    installed.propagator = current
    propagate.set_global_textmap(CompositePropagator(_propagators(formats)))


def _propagators(formats: Tuple[str, ...]) -> List[Any]:
    """OpenTelemetry's own propagators for ``formats``, and W3C baggage,
    each guarded."""
    from opentelemetry.baggage.propagation import W3CBaggagePropagator

    propagators: List[Any] = []
    for name in formats:
        if name == "w3c":
            from opentelemetry.trace.propagation.tracecontext import (
                TraceContextTextMapPropagator,
            )

            propagators.append(TraceContextTextMapPropagator())
        elif name == "b3":
            from opentelemetry.propagators.b3 import B3MultiFormat

            propagators.append(B3MultiFormat())
        elif name == "jaeger":
            from opentelemetry.propagators.jaeger import JaegerPropagator

            propagators.append(JaegerPropagator())
        elif name == "xray":
            from opentelemetry.propagators.aws import AwsXRayPropagator

            propagators.append(AwsXRayPropagator())
    propagators.append(W3CBaggagePropagator())
    return [_Guarded(p) for p in propagators]


class _Guarded(textmap.TextMapPropagator):
    """A propagator whose failures are ours to report, never the request's.

    Propagators run inside the client call they write headers for (urllib3,
    httpx...): one that fails on our spans (OpenTelemetry's Jaeger
    propagator 1.33 read an attribute only the SDK's spans had) must cost
    the headers, not the extension's request.
    """

    def __init__(self, inner: textmap.TextMapPropagator) -> None:
        self.inner = inner
        self.name = type(inner).__name__

    def inject(self, carrier: Any, context: Any = None,
               setter: Any = textmap.default_setter) -> None:
        with safety.capture_internal_exceptions(f"write {self.name} headers"):
            self.inner.inject(carrier, context=context, setter=setter)

    def extract(self, carrier: Any, context: Any = None,
                getter: Any = textmap.default_getter) -> Any:
        with safety.capture_internal_exceptions(f"read {self.name} headers"):
            return self.inner.extract(carrier, context=context, getter=getter)
        return context if context is not None else get_current()

    @property
    def fields(self) -> Any:
        return self.inner.fields


def _botocore_propagator(formats: Tuple[str, ...]) -> Any:
    """AWS services only read X-Ray's header, which OpenTelemetry's botocore
    instrumentation writes; the configured formats are written too, for
    AWS-compatible endpoints of your own."""
    from opentelemetry.propagators.aws import AwsXRayPropagator
    from opentelemetry.propagators.composite import CompositePropagator

    return CompositePropagator([_Guarded(AwsXRayPropagator())] + _propagators(
        tuple(f for f in formats if f != "xray")))


def _is_default(propagator: Any) -> bool:
    """OpenTelemetry's default: W3C trace context and baggage."""
    names = [type(p).__name__ for p in getattr(propagator, "_propagators", ())]
    return type(propagator).__name__ == "CompositePropagator" and names == [
        "TraceContextTextMapPropagator", "W3CBaggagePropagator"]


class _quiet_instrumentation_logs:
    """instrument() logs a dependency conflict at ERROR with its own words;
    we say it once, ours (see instrument)."""

    def __enter__(self) -> None:
        self._logger = logging.getLogger(
            "opentelemetry.instrumentation.instrumentor")
        self._level = self._logger.level
        self._logger.setLevel(logging.CRITICAL)

    def __exit__(self, *exc: Any) -> None:
        self._logger.setLevel(self._level)


###############################################################################
# One client span per request, whatever layers are on
###############################################################################
def is_http_suppressed() -> bool:
    """Whether OpenTelemetry's HTTP instrumentation is suppressed here (an
    outer layer, such as botocore's, already traces this request)."""
    if "opentelemetry.instrumentation.utils" not in sys.modules:
        return False
    from opentelemetry.instrumentation.utils import (
        is_http_instrumentation_enabled,
    )

    return not is_http_instrumentation_enabled()


class suppress_http:
    """Inside the block, OpenTelemetry's HTTP instrumentations make no span
    (our requests wrapper traces the request; urllib3 under it must not)."""

    __slots__ = ("_token",)

    def __enter__(self) -> None:
        # a private name of OpenTelemetry's (not re-exported)
        from opentelemetry.instrumentation.utils import (  # type: ignore[attr-defined]
            _SUPPRESS_HTTP_INSTRUMENTATION_KEY,
        )

        self._token = otel_context.attach(otel_context.set_value(
            _SUPPRESS_HTTP_INSTRUMENTATION_KEY, True))

    def __exit__(self, *exc: Any) -> None:
        otel_context.detach(self._token)


def suppress_on_this_thread() -> None:
    """No OpenTelemetry instrumentation on this thread (an exporter's)."""
    otel_context.attach(otel_context.set_value(
        otel_context._SUPPRESS_INSTRUMENTATION_KEY, True))


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


def _text(error: BaseException) -> str:
    try:
        return str(error)
    except Exception:
        return repr(type(error))
