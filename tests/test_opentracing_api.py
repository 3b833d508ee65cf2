"""OpenTracing's own API compatibility suite, on our tracer and on what
extensions see (``opentracing.tracer`` during a run), for every provider.

``opentracing.harness.api_check`` ships with opentracing: the checks every
OpenTracing tracer must pass (active spans, scopes, references, baggage,
text and binary propagation, chaining).
"""
import opentracing
import pytest
from opentracing.harness.api_check import APICompatibilityCheckMixin

from chaostracing._run import context as ctx
from chaostracing._run.config import load_config
from chaostracing._run.providers import make_backend
from chaostracing._run.redact import Redactor
from chaostracing._run.tracer import Tracer


class _Discard:
    def report_span(self, span):
        pass


def _is_parent(parent, span):
    if parent is None:
        return span.context.parent_id is None
    return (span.context.parent_id == parent.context.span_id
            and span.context.trace_id == parent.context.trace_id)


class TestOurTracer(APICompatibilityCheckMixin):
    def tracer(self):
        return Tracer("api-check", _Discard())

    def is_parent(self, parent, span):
        return _is_parent(parent, span)


class _ThroughTheProxy(APICompatibilityCheckMixin):
    """``opentracing.tracer`` as an extension sees it while a run is traced:
    the proxy around the provider's tracer."""

    provider = "jaeger"

    @pytest.fixture(autouse=True)
    def _backend(self, tmp_path, agent, otlp):
        port = otlp.port if self.provider == "otlp" else agent.port
        config = load_config(
            {"tracing_provider": self.provider, "tracing_port": port,
             "tracing_file": str(tmp_path / "trace.json")},
            environ={})
        self.backend = make_backend(config, Redactor())
        self.proxy = ctx.TracerProxy(self.backend.tracer)
        ctx.install(self.proxy)
        yield
        ctx.restore(self.proxy)
        self.backend.close(2.0)

    def tracer(self):
        return opentracing.tracer

    def is_parent(self, parent, span):
        return _is_parent(parent, span)


class TestJaegerProvider(_ThroughTheProxy):
    provider = "jaeger"


class TestFileProvider(_ThroughTheProxy):
    provider = "file"


class TestOtlpProvider(_ThroughTheProxy):
    provider = "otlp"


def test_binary_propagation_is_jaeger_clients_format():
    from jaeger_client.codecs import BinaryCodec

    tracer = Tracer("api-check", _Discard())
    span = tracer.start_span("s").set_baggage_item("k", "v é")
    carrier = bytearray()
    tracer.inject(span.context, opentracing.Format.BINARY, carrier)
    theirs = BinaryCodec().extract(carrier)
    assert (theirs.trace_id, theirs.span_id, theirs.flags) == (
        span.context.trace_id, span.context.span_id, span.context.flags)
    assert theirs.baggage == {"k": "v é"}
    # and we read what jaeger-client writes
    back = bytearray()
    BinaryCodec().inject(theirs, back)
    ours = tracer.extract(opentracing.Format.BINARY, back)
    assert (ours.trace_id, ours.span_id, ours.baggage) == (
        span.context.trace_id, span.context.span_id, {"k": "v é"})
