"""OpenTelemetry's instrumentations and propagators, installed for a run.

- :func:`instrument` turns on OpenTelemetry's maintained instrumentation
  packages (urllib3, httpx, botocore, aiohttp client, the
  :data:`INSTRUMENTATIONS` table) with the bridge's provider
  (:mod:`chaostracing._run.otel.bridge`), each library when it is first
  imported; headers are written by OpenTelemetry's own propagators (W3C,
  B3, Jaeger, X-Ray) for the formats of ``tracing_propagation``, unless the
  process chose its own; :func:`uninstrument` undoes it all at cleanup.
- :func:`suppress_http`, :func:`is_http_suppressed` and
  :func:`suppress_on_this_thread`: one client span per request, whatever
  layers are on (our requests wrapper over urllib3's instrumentation,
  botocore's over its HTTP client), and none for the exporter's own HTTP.
"""
import contextlib
import functools
import importlib
import logging
import sys
from typing import (
    Any,
    Callable,
    ContextManager,
    Dict,
    Iterator,
    List,
    Optional,
    Tuple,
)

from opentelemetry import context as otel_context
from opentelemetry.context import get_current
from opentelemetry.propagators import textmap

from chaostracing._run import extras, safety
from chaostracing._run.extras import INSTRUMENTATIONS, PROPAGATORS
from chaostracing._run.otel import bridge

__all__ = [
    "INSTRUMENTATIONS",
    "instrument",
    "is_http_suppressed",
    "suppress_http",
    "suppress_on_this_thread",
    "uninstrument",
]
logger = logging.getLogger("chaostoolkit")


class _Installed:
    """What :func:`instrument` changed, to undo it exactly."""

    def __init__(self) -> None:
        self.propagator: Any = None
        self.instrumented: List[Any] = []
        #: post-import hooks still waiting for a library
        self.hooks: List[Any] = []


_installed: Optional[_Installed] = None


def uninstrument() -> None:
    """Undo :func:`instrument` (the bridge is undone by its ``disable``)."""
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


def instrument(names: Tuple[str, ...], formats: Tuple[str, ...],
               warn: Callable[[str, str], object],
               asked: Callable[[str], str] = (
                   lambda name: f"tracing_instrument lists {name}"),
               ) -> None:
    """Turn on OpenTelemetry's instrumentation of ``names`` for the run.

    Each library is instrumented when it is first imported (at once if it
    already is): a library the experiment never uses costs nothing
    (aiohttp's import alone takes longer than a traced run may add:
    ``benchmarks/import_cost.py``). A library that is not installed here
    has nothing to trace (said at INFO); what cannot be instrumented gives
    one warning each, through ``warn(kind, message)``.
    (:func:`chaostracing._run.extras.plan` has left out the names whose
    instrumentation is not installed, and said so.)

    :param formats: ``tracing_propagation``: the headers requests carry
    :param asked: who asked for a client, as messages say it
        (:func:`chaostracing._run.extras.asked_for`)
    """
    global _installed
    from chaostracing._run import imports

    bridge.enable()
    if _installed is None:
        _installed = _Installed()
    installed = _installed
    _propagate(formats, installed)
    for name in names:
        library, module, _, package = INSTRUMENTATIONS[name]
        if not extras.installed(library):
            safety.log_info("%s, which is not installed here: nothing to "
                            "trace", asked(name))
            continue
        if not extras.installed(module):
            warn(f"instrument:{name}", _missing(asked(name), package))
            continue
        hook = imports.when_imported(library, functools.partial(
            _instrument_one, name, formats, warn, asked(name)))
        if hook is not None:
            installed.hooks.append(hook)


def _missing(asked: str, package: str) -> str:
    """A broken install: :func:`chaostracing._run.extras.plan` found the
    instrumentation's files."""
    return (f"{asked}, but its OpenTelemetry instrumentation cannot be "
            f"imported: {extras.install_hint('instrument')} (or {package}); "
            "the run is traced without it")


def _instrument_one(name: str, formats: Tuple[str, ...],
                    warn: Callable[[str, str], object], asked: str) -> None:
    installed = _installed
    if installed is None:  # the run ended before the library was imported
        return
    library, module, cls, package = INSTRUMENTATIONS[name]
    try:
        instrumentor = getattr(importlib.import_module(module), cls)()
    except ImportError:
        warn(f"instrument:{name}", _missing(asked, package))
        return
    if instrumentor.is_instrumented_by_opentelemetry:
        return  # the process did it (opentelemetry-instrument...)
    options: Dict[str, Any] = {"tracer_provider": bridge.PROVIDER}
    if name == "botocore":
        options["propagator"] = _botocore_propagator(formats)
    with _quiet_instrumentation_logs():
        instrumentor.instrument(**options)
    if not instrumentor.is_instrumented_by_opentelemetry:
        warn(f"instrument:{name}",
             f"{asked}, but {package} refuses this {library} version (see "
             "its supported range); the run is traced without it")
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
    propagate.set_global_textmap(CompositePropagator(_propagator_list(formats)))


def _propagator_list(formats: Tuple[str, ...]) -> List[Any]:
    """OpenTelemetry's own propagators for ``formats``, and W3C baggage,
    each guarded."""
    from opentelemetry.baggage.propagation import W3CBaggagePropagator

    propagators: List[Any] = []
    for name in formats:
        if name in PROPAGATORS and not extras.installed(
                PROPAGATORS[name][0]):
            continue  # extras.plan said so, once
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

    others = tuple(f for f in formats if f != "xray")
    return CompositePropagator(
        [_Guarded(AwsXRayPropagator())] + _propagator_list(others))


def _is_default(propagator: Any) -> bool:
    """OpenTelemetry's default: W3C trace context and baggage. (A
    CompositePropagator has no public list of what it holds.)"""
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
    return not _http_api()[0]()


def suppress_http() -> ContextManager[None]:
    """Inside the block, OpenTelemetry's HTTP instrumentations make no span
    (our requests wrapper traces the request; urllib3 under it must not)."""
    return _http_api()[1]()


#: (is HTTP instrumentation enabled, suppress it in a block), resolved once
_HTTP_API: Optional[Tuple[Callable[[], bool],
                          Callable[[], ContextManager[None]]]] = None


def _http_api() -> Tuple[Callable[[], bool],
                         Callable[[], ContextManager[None]]]:
    """OpenTelemetry's own ``is_http_instrumentation_enabled()`` and
    ``suppress_http_instrumentation()`` (opentelemetry-instrumentation
    0.44b0 and later). setup.py allows 0.41b0, whose releases up to 0.43b0
    have neither: their instrumentations read the key OpenTelemetry's API
    has held since 1.20, so we set and read that key ourselves there."""
    global _HTTP_API
    if _HTTP_API is None:
        try:
            from opentelemetry.instrumentation.utils import (
                is_http_instrumentation_enabled,
                suppress_http_instrumentation,
            )

            _HTTP_API = (is_http_instrumentation_enabled,
                         suppress_http_instrumentation)
        except ImportError:  # opentelemetry-instrumentation < 0.44b0
            _HTTP_API = (_http_enabled, _suppress_http)
    return _HTTP_API


def _http_enabled() -> bool:
    return not (
        otel_context.get_value(otel_context._SUPPRESS_INSTRUMENTATION_KEY)
        or otel_context.get_value(
            otel_context._SUPPRESS_HTTP_INSTRUMENTATION_KEY))


@contextlib.contextmanager
def _suppress_http() -> Iterator[None]:
    token = otel_context.attach(otel_context.set_value(
        otel_context._SUPPRESS_HTTP_INSTRUMENTATION_KEY, True))
    try:
        yield
    finally:
        otel_context.detach(token)


def suppress_on_this_thread() -> None:
    """No OpenTelemetry instrumentation on this thread (an exporter's), for
    the thread's whole life: OpenTelemetry's public
    ``suppress_instrumentation()`` is a block, and it comes with
    opentelemetry-instrumentation, which the ``otlp`` provider does not
    need; its exporters set this key of the API for themselves too."""
    otel_context.attach(otel_context.set_value(
        otel_context._SUPPRESS_INSTRUMENTATION_KEY, True))
