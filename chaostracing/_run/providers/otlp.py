"""The ``otlp`` provider (alias ``opentelemetry``): OTLP/HTTP export.

The run is traced by chaostracing's own tracer, as with every provider (one
span model, one current span, one place where secrets are masked); finished
spans are converted to OpenTelemetry SDK ``ReadableSpan`` objects on the
pipeline's thread and exported by OpenTelemetry's own
``OTLPSpanExporter`` (protobuf over HTTP) to
``http://{tracing_host}:{tracing_port}/v1/traces`` (port 4318), or where
``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` / ``OTEL_EXPORTER_OTLP_ENDPOINT`` say
when host and port are not configured. The exporter itself honours
``OTEL_EXPORTER_OTLP_HEADERS``, ``_COMPRESSION``, ``_CERTIFICATE``...;
``OTEL_SERVICE_NAME`` and ``OTEL_RESOURCE_ATTRIBUTES`` go into the resource.

The mapping from Jaeger's model is the one Jaeger uses the other way:
``span.kind`` → the span's kind, ``error=true`` / ``otel.status_code`` →
its status, logs → events (named by their ``event`` field),
``follows_from`` references → links, process tags → resource attributes.
"""
import logging
import os
from typing import Any, Callable, Dict, List, Mapping, Optional

from chaostracing._data.model import Process, SpanData, marked_error
from chaostracing._data.tags import (
    EVENT,
    EVENT_LOG,
    JAEGER_VERSION,
    OTEL_STATUS_CODE,
    OTEL_STATUS_DESCRIPTION,
    SERVICE_NAME,
    SPAN_KIND,
    SPAN_KINDS,
    STATUS_OK,
)
from chaostracing._run import compat, extras
from chaostracing._run.config import TracingConfig
from chaostracing._run.pipeline import Transport, TransportBroken
from chaostracing._run.providers import Backend, ProviderUnavailable, assemble
from chaostracing._run.redact import Redactor, sanitize_url

__all__ = ["OtlpTransport", "build", "otlp_endpoint", "to_readable_spans"]

_EXPORTER_LOGGERS = (
    "opentelemetry.exporter.otlp.proto.http.trace_exporter",
    "opentelemetry.exporter.otlp.proto.http",
    "opentelemetry.exporter.otlp.proto.grpc.exporter",
    "opentelemetry.exporter.otlp.proto.grpc",
    "opentelemetry.exporter.otlp.proto.common",
)
#: tags that become the span's kind and status rather than attributes
_STRUCTURAL = frozenset((SPAN_KIND, OTEL_STATUS_CODE,
                         OTEL_STATUS_DESCRIPTION))


def otlp_endpoint(config: TracingConfig,
                  environ: Optional[Mapping[str, str]] = None
                  ) -> Optional[str]:
    """The OTLP endpoint for ``config``: ``tracing_otlp_endpoint``, else
    ``tracing_host`` / ``tracing_port``, else the standard variables (for
    gRPC, ``None``: the exporter reads them itself)."""
    environ = os.environ if environ is None else environ
    sources = config.sources
    grpc = config.otlp_protocol == "grpc"
    if config.otlp_endpoint:
        return config.otlp_endpoint
    if "tracing_host" in sources or "tracing_port" in sources:
        host = config.host
        if ":" in host and not host.startswith("["):
            host = f"[{host}]"  # an IPv6 literal in a URL
        port = config.port if "tracing_port" in sources else (
            4317 if grpc else 4318)
        return f"http://{host}:{port}" + ("" if grpc else "/v1/traces")
    if grpc:
        return None
    traces = environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    if traces:
        return traces
    base = environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
    if base:
        return base.rstrip("/") + "/v1/traces"
    return f"http://{config.host}:{config.port}/v1/traces"


def build(config: TracingConfig, redactor: Redactor) -> Backend:
    endpoint = otlp_endpoint(config)
    timeout = max(config.flush_timeout, 0.5)
    headers = config.otlp_headers or None  # None: OTEL_EXPORTER_OTLP_HEADERS
    exporter: Any  # OpenTelemetry's SpanExporter, over gRPC or HTTP
    if config.otlp_protocol == "grpc":
        try:
            from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (
                OTLPSpanExporter as GrpcExporter,
            )
        except ImportError as error:
            raise ProviderUnavailable(
                f"{extras.provider_needs(config)} ({error})") from error
        exporter = GrpcExporter(endpoint=endpoint, headers=headers,
                                insecure=config.otlp_insecure or None,
                                timeout=timeout)
        where = endpoint or os.environ.get(
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
            os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT", "localhost:4317"))
        description = f"OTLP/gRPC endpoint {sanitize_url(where)}"
    else:
        try:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
                OTLPSpanExporter,
            )
        except ImportError as error:
            raise ProviderUnavailable(
                f"{extras.provider_needs(config)} ({error})") from error
        exporter = OTLPSpanExporter(endpoint=endpoint, headers=headers,
                                    timeout=timeout)
        description = f"OTLP endpoint {sanitize_url(endpoint)}"
    new_trace_id = _vendor(config)
    return assemble(config, redactor, OtlpTransport(exporter, description),
                    new_trace_id=new_trace_id)


def _vendor(config: TracingConfig) -> Optional[Callable[[], int]]:
    """What ``tracing_vendor`` (``OTEL_VENDOR``) changes: AWS X-Ray wants its
    own trace ids (and headers, see the config's propagation); Google Cloud
    and Azure, which 0.18.1 exported to, take OTLP through an OpenTelemetry
    Collector (README)."""
    from chaostracing._run import safety

    if config.vendor == "aws":
        try:
            from opentelemetry.sdk.extension.aws.trace import AwsXRayIdGenerator
        except ImportError as error:  # installed but broken: extras.plan
            # found its files
            safety.warn_once("vendor", "%s (%s)", extras.vendor_needs(config),
                             error)
            return None
        return AwsXRayIdGenerator().generate_trace_id
    note = compat.vendor_note(config.vendor)  # 0.18.1's gcp and azure
    if note is not None:
        safety.warn_once("vendor", "%s", note)
    return None


class OtlpTransport(Transport):
    """Batches of spans to an OpenTelemetry SDK span exporter."""

    def __init__(self, exporter: Any, description: str) -> None:
        # imported here, on the thread that configures the run: imported
        # first on the pipeline's thread, cleanup could find the module
        # half-initialised in sys.modules while that thread still runs it
        from chaostracing._run.otel import installation

        self.exporter = exporter
        #: where, without the credentials a URL may carry
        self.description = description
        self._resource = None
        self._quiet = _QuietExporterLogs()
        self._suppress = installation.suppress_on_this_thread

    def open(self, process: Process) -> None:
        # the exporter's own HTTP: untraced
        self._suppress()
        self._resource = resource_of(process)

    def send(self, spans: List[SpanData]) -> int:
        from opentelemetry.sdk.trace.export import SpanExportResult

        readable = to_readable_spans(spans, self._resource)
        try:
            result = self.exporter.export(readable)
        except Exception as error:
            raise TransportBroken(
                f"cannot export spans to the {self.description} "
                f"({type(error).__name__})"
            ) from None
        if result != SpanExportResult.SUCCESS:
            raise TransportBroken(
                f"cannot export spans to the {self.description} (the "
                "endpoint refused them or did not answer)"
            )
        return len(spans)

    def close(self) -> None:
        try:
            self.exporter.shutdown()
        finally:
            self._quiet.restore()


def resource_of(process: Process) -> Any:
    """The OpenTelemetry resource of a process: ``service.name`` and its
    tags, merged with ``OTEL_RESOURCE_ATTRIBUTES`` as the SDK does."""
    from opentelemetry.sdk.resources import Resource

    attributes: Dict[str, Any] = {
        key: value for key, value in process.tags
        if key not in (JAEGER_VERSION,)
    }
    attributes[SERVICE_NAME] = process.service_name
    return Resource.create(attributes)


def to_readable_spans(spans: List[SpanData], resource: Any) -> List[Any]:
    """``SpanData`` as OpenTelemetry SDK ``ReadableSpan`` objects."""
    from opentelemetry.sdk.trace import Event, ReadableSpan
    from opentelemetry.sdk.util.instrumentation import InstrumentationScope
    from opentelemetry.trace import (
        Link,
        SpanContext,
        SpanKind,
        Status,
        StatusCode,
        TraceFlags,
    )

    from chaostracing._version import __version__

    kinds = {kind.tag: SpanKind[kind.otel] for kind in SPAN_KINDS}
    scope = InstrumentationScope("chaostracing", __version__)
    out = []
    for span in spans:
        flags = TraceFlags(span.flags & 1)
        context = SpanContext(span.trace_id, span.span_id, False, flags)
        parent = (
            SpanContext(span.trace_id, span.parent_id, False, flags)
            if span.parent_id else None
        )
        tags = span.tags
        status = Status(StatusCode.UNSET)
        if marked_error(tags):
            description = tags.get(OTEL_STATUS_DESCRIPTION)
            status = Status(
                StatusCode.ERROR,
                description if isinstance(description, str) else None,
            )
        elif tags.get(OTEL_STATUS_CODE) == STATUS_OK:
            status = Status(StatusCode.OK)
        events = []
        for timestamp, fields in span.logs:
            fields = dict(fields)
            name = fields.pop(EVENT, EVENT_LOG)
            events.append(Event(
                name if isinstance(name, str) else str(name),
                fields,
                timestamp * 1000,
            ))
        out.append(ReadableSpan(
            name=span.operation_name,
            context=context,
            parent=parent,
            resource=resource,
            attributes={k: v for k, v in tags.items() if k not in _STRUCTURAL},
            events=events,
            links=[
                Link(SpanContext(trace, span_id, False, flags))
                for _, trace, span_id in span.references
            ],
            kind=kinds.get(span.kind, SpanKind.INTERNAL),
            status=status,
            start_time=span.start_us * 1000,
            end_time=span.end_us * 1000,
            instrumentation_scope=scope,
        ))
    return out


class _QuietExporterLogs(logging.Filter):
    """Mute the exporter's own (repeated, traceback-laden) error logs: the
    pipeline reports a failure once, in one line."""

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

