"""The ``otlp`` provider (alias ``opentelemetry``): OTLP/HTTP export.

An OpenTelemetry SDK tracer, seen through the OpenTracing shim, so that
``opentracing.tracer``, the ``*_span`` attributes, the original README's
snippet, ``@traced_activity`` and ``session()`` work unchanged. Spans are
exported as OTLP over HTTP (protobuf) to ``http://{tracing_host}:{tracing_port}
/v1/traces`` (port 4318), or where ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` /
``OTEL_EXPORTER_OTLP_ENDPOINT`` say when host and port are not configured;
``OTEL_EXPORTER_OTLP_HEADERS`` is honoured by the exporter itself.

What differs from the plain shim:

- ``inject``/``extract`` use :mod:`chaostracing.propagation` and the
  configured ``tracing_propagation`` (W3C by default), not OpenTelemetry's
  global propagator, which stays untouched;
- tag and log values that OpenTelemetry attributes cannot hold (dicts,
  exceptions...) are turned into text instead of being dropped;
- every string passes the redactor (secrets masked, lengths capped) before
  export, and the exporter's own HTTP calls are never traced;
- the exporter's failures are reported once, by us, and the flush at
  cleanup is bounded by ``tracing_flush_timeout``.
"""
import logging
import os
import threading
from typing import Any, Dict, Optional

from chaostracing import __version__
from chaostracing.config import TracingConfig
from chaostracing.providers import Backend, ProviderUnavailable
from chaostracing.redact import Redactor, to_tag_value

__all__ = ["make_tracer", "otlp_endpoint"]
logger = logging.getLogger("chaostoolkit")

_EXPORTER_LOGGERS = (
    "opentelemetry.exporter.otlp.proto.http.trace_exporter",
    "opentelemetry.exporter.otlp.proto.http",
    "opentelemetry.sdk.trace.export",
    "opentelemetry.attributes",
)


def otlp_endpoint(config: TracingConfig, environ=None) -> str:
    """The OTLP/HTTP traces URL for ``config``."""
    environ = os.environ if environ is None else environ
    sources = config.sources
    if "tracing_host" in sources or "tracing_port" in sources:
        host = config.host
        if ":" in host and not host.startswith("["):
            host = f"[{host}]"  # an IPv6 literal in a URL
        return f"http://{host}:{config.port}/v1/traces"
    traces = environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    if traces:
        return traces
    base = environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
    if base:
        return base.rstrip("/") + "/v1/traces"
    return f"http://{config.host}:{config.port}/v1/traces"


def make_tracer(config: TracingConfig, redactor: Redactor) -> Backend:
    try:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
            OTLPSpanExporter,
        )
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
        from opentelemetry.sdk.trace.sampling import (
            ALWAYS_ON,
            ParentBased,
            TraceIdRatioBased,
        )
    except ImportError as error:
        raise ProviderUnavailable(
            "tracing_provider 'otlp' needs the opentelemetry extra: "
            "pip install 'chaostoolkit-opentracing[opentelemetry]' "
            f"({error})"
        ) from error

    endpoint = otlp_endpoint(config)
    resource = Resource.create(resource_attributes(config))
    sampler = (
        ALWAYS_ON
        if config.sampler_rate >= 1.0
        else ParentBased(TraceIdRatioBased(config.sampler_rate))
    )
    provider = TracerProvider(resource=resource, sampler=sampler)
    exporter = _CleaningExporter(
        OTLPSpanExporter(endpoint=endpoint, timeout=max(config.flush_timeout, 0.5)),
        redactor,
        endpoint,
    )
    processor = BatchSpanProcessor(
        exporter,
        max_queue_size=config.max_queue_size,
        schedule_delay_millis=1000,
        export_timeout_millis=int(max(config.flush_timeout, 0.5) * 1000),
    )
    provider.add_span_processor(processor)
    tracer = _shim_class()(
        provider.get_tracer("chaostracing", __version__), config.propagation
    )
    quiet = _QuietExporterLogs()

    def close(timeout: float) -> bool:
        # shutdown flushes; run it on a thread so a stuck export cannot
        # hold the run past the timeout
        done = threading.Event()

        def shutdown() -> None:
            try:
                provider.force_flush(int(timeout * 1000))
                provider.shutdown()
            finally:
                done.set()

        threading.Thread(
            target=shutdown, name="chaostracing-otlp-close", daemon=True
        ).start()
        finished = done.wait(timeout + 0.5)
        quiet.restore()
        return finished and not exporter.failed

    tracer.chaostracing_exporter = exporter
    return Backend(tracer, close, f"OTLP endpoint {endpoint}")


def resource_attributes(config: TracingConfig) -> Dict[str, Any]:
    attributes: Dict[str, Any] = {
        "service.name": config.service_name,
        "chaostracing.version": __version__,
    }
    try:
        from chaoslib import __version__ as chaoslib_version

        attributes["chaostoolkit.lib.version"] = chaoslib_version
    except ImportError:  # pragma: no cover - chaoslib is a dependency
        pass
    try:
        from chaostoolkit import __version__ as chaostoolkit_version

        attributes["chaostoolkit.version"] = chaostoolkit_version
    except ImportError:
        pass
    if config.experiment_title:
        attributes["chaostoolkit.experiment.title"] = config.experiment_title
    return attributes


###############################################################################
# Internals
###############################################################################
_SHIM_CLASS: Optional[type] = None


def _shim_class() -> type:
    """Our TracerShim subclass, built once the shim is importable."""
    global _SHIM_CLASS
    if _SHIM_CLASS is not None:
        return _SHIM_CLASS
    from opentelemetry import trace
    from opentelemetry.shim.opentracing_shim import (
        SpanContextShim,
        SpanShim,
        TracerShim,
    )
    from opentracing import Format
    from opentracing.propagation import (
        InvalidCarrierException,
        UnsupportedFormatException,
    )

    from chaostracing.propagation import extract_headers, inject_headers
    from chaostracing.tracer import JaegerSpanContext

    text_formats = (Format.TEXT_MAP, Format.HTTP_HEADERS)

    class ChaosSpanShim(SpanShim):
        def set_tag(self, key, value):
            return super().set_tag(key, _attribute(value))

        def log_kv(self, key_values, timestamp=None):
            values = {k: _attribute(v) for k, v in key_values.items()}
            return super().log_kv(values, timestamp)

    class ChaosTracerShim(TracerShim):
        def __init__(self, otel_tracer, propagation) -> None:
            super().__init__(otel_tracer)
            self.propagation = tuple(propagation)

        def start_span(self, operation_name=None, child_of=None,
                       references=None, tags=None, start_time=None,
                       ignore_active_span=False):
            if tags:
                tags = {k: _attribute(v) for k, v in tags.items()}
            span = super().start_span(
                operation_name=operation_name, child_of=child_of,
                references=references, tags=tags, start_time=start_time,
                ignore_active_span=ignore_active_span,
            )
            return ChaosSpanShim(self, span.context, span.unwrap())

        def inject(self, span_context, format, carrier):
            if isinstance(span_context, SpanShim):
                span_context = span_context.context
            if format not in text_formats:
                raise UnsupportedFormatException(format)
            if not isinstance(carrier, dict):
                raise InvalidCarrierException("carrier is not a dict")
            otel = span_context.unwrap() if span_context else None
            if otel is None or not otel.is_valid:
                return
            inject_headers(
                JaegerSpanContext(otel.trace_id, otel.span_id, None,
                                  int(otel.trace_flags) & 1),
                carrier,
                self.propagation,
                url_encode=format == Format.HTTP_HEADERS,
            )

        def extract(self, format, carrier):
            if format not in text_formats:
                raise UnsupportedFormatException(format)
            found = extract_headers(
                carrier, url_decode=format == Format.HTTP_HEADERS
            )
            if found is None:
                return None
            return SpanContextShim(trace.SpanContext(
                trace_id=found.trace_id & ((1 << 128) - 1),
                span_id=found.span_id,
                is_remote=True,
                trace_flags=trace.TraceFlags(found.flags & 1),
            ))

    _SHIM_CLASS = ChaosTracerShim
    return _SHIM_CLASS


def _attribute(value: Any) -> Any:
    """A value OpenTelemetry attributes accept (scalars or lists of them)."""
    if isinstance(value, (str, bool, int, float)):
        return value
    if value is None:
        return "None"
    if isinstance(value, BaseException):
        return f"{type(value).__name__}: {value}"
    return to_tag_value(value, 65000)


class _CleaningExporter:
    """Masks secrets and caps strings, and reports failures once."""

    def __init__(self, exporter: Any, redactor: Redactor, endpoint: str):
        self._exporter = exporter
        self._redactor = redactor
        self._endpoint = endpoint
        self.failed = False
        self.exported = 0

    def export(self, spans):
        from opentelemetry.sdk.trace.export import SpanExportResult

        from chaostracing.context import suppress_instrumentation

        try:
            cleaned = [self._clean(span) for span in spans]
            with suppress_instrumentation():
                result = self._exporter.export(cleaned)
        except Exception as error:  # never let the batch thread die
            result, reason = SpanExportResult.FAILURE, repr(error)
        else:
            reason = "the endpoint refused or did not answer"
        if result == SpanExportResult.SUCCESS:
            self.exported += len(spans)
        elif not self.failed:
            self.failed = True
            logger.warning(
                "chaostracing: cannot export spans to the OTLP endpoint %s "
                "(%s); the run goes on untraced",
                self._endpoint,
                reason,
            )
        return result

    def shutdown(self) -> None:
        self._exporter.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True

    def _clean(self, span):
        from opentelemetry.sdk.trace import Event, ReadableSpan

        clean = self._redactor.clean

        def attributes(values):
            return {
                k: clean(v) if isinstance(v, str) else v
                for k, v in (values or {}).items()
            }

        return ReadableSpan(
            name=clean(span.name),
            context=span.context,
            parent=span.parent,
            resource=span.resource,
            attributes=attributes(span.attributes),
            events=[
                Event(e.name, attributes(e.attributes), e.timestamp)
                for e in span.events
            ],
            links=span.links,
            kind=span.kind,
            status=span.status,
            start_time=span.start_time,
            end_time=span.end_time,
            instrumentation_scope=span.instrumentation_scope,
        )


class _QuietExporterLogs(logging.Filter):
    """Mute the exporter's own (repeated, traceback-laden) error logs."""

    def __init__(self) -> None:
        super().__init__()
        self._loggers = [logging.getLogger(n) for n in _EXPORTER_LOGGERS]
        for log in self._loggers:
            log.addFilter(self)

    def filter(self, record: logging.LogRecord) -> bool:
        return False

    def restore(self) -> None:
        for log in self._loggers:
            log.removeFilter(self)
