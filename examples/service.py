"""A tiny HTTP service the example experiments target, on 127.0.0.1 only.

It records the trace headers of every request it receives, so a test (or a
curious user) can check that the trace context travelled:
``GET /_received`` returns them.

With ``otlp_endpoint`` (``--otlp-endpoint``) it is traced as a real service
is, with the OpenTelemetry SDK: a server span per request, child of the
context its W3C ``traceparent`` header carries, and an inner span for its
work, exported over OTLP/HTTP (to ``chaostracing collect`` in ``make demo``).

    python examples/service.py --port 8099 [--otlp-endpoint URL]
"""
import argparse
import contextlib
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

TRACE_HEADERS = ("uber-trace-id", "traceparent", "tracestate", "x-b3-traceid",
                 "x-b3-spanid", "x-b3-parentspanid", "x-b3-sampled",
                 "baggage", "x-amzn-trace-id")
#: header prefixes recorded too: Jaeger baggage, OpenTracing MockTracer's ids
RECORDED_PREFIXES = ("uberctx-", "ot-tracer-")


class DemoService(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, port: int = 0, otlp_endpoint: str = None) -> None:
        super().__init__(("127.0.0.1", port), _Handler)
        self.received = []
        self.stressed = False
        #: seconds added to every GET /orders (a latency fault)
        self.latency = 0.0
        self.lock = threading.Lock()
        self.tracing = _Tracing(otlp_endpoint) if otlp_endpoint else None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def stop_tracing(self) -> None:
        """Export the spans still buffered (the SDK batches them)."""
        if self.tracing is not None:
            self.tracing.close()


class _Tracing:
    """The service's own tracing: the OpenTelemetry SDK, OTLP/HTTP export."""

    def __init__(self, endpoint: str) -> None:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
            OTLPSpanExporter,
        )
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
        from opentelemetry.trace.propagation.tracecontext import (
            TraceContextTextMapPropagator,
        )

        self.provider = TracerProvider(resource=Resource.create(
            {"service.name": "demo-service"}))
        self.provider.add_span_processor(BatchSpanProcessor(
            OTLPSpanExporter(endpoint=endpoint), schedule_delay_millis=200))
        self.tracer = self.provider.get_tracer("demo-service")
        self.propagator = TraceContextTextMapPropagator()

    @contextlib.contextmanager
    def server_span(self, method: str, path: str, headers):
        from opentelemetry.trace import SpanKind

        parent = self.propagator.extract(
            {k.lower(): v for k, v in headers.items()})
        route = path.split("?", 1)[0]
        with self.tracer.start_as_current_span(
            f"{method} {route}", context=parent, kind=SpanKind.SERVER,
            attributes={"http.method": method, "http.target": path,
                        "http.route": route},
        ) as span:
            yield span

    @contextlib.contextmanager
    def work(self, name: str):
        with self.tracer.start_as_current_span(name) as span:
            yield span

    def close(self) -> None:
        self.provider.force_flush(5000)
        self.provider.shutdown()


def _answered(span, status: int) -> None:
    from opentelemetry.trace import Status, StatusCode

    span.set_attribute("http.status_code", status)
    if status >= 500:
        span.set_status(Status(StatusCode.ERROR, f"HTTP {status}"))


class _Handler(BaseHTTPRequestHandler):
    server: DemoService

    def log_message(self, *args) -> None:  # keep test output quiet
        pass

    def _record(self) -> None:
        headers = {k.lower(): v for k, v in self.headers.items()
                   if k.lower() in TRACE_HEADERS
                   or k.lower().startswith(RECORDED_PREFIXES)}
        with self.server.lock:
            self.server.received.append(
                {"method": self.command, "path": self.path,
                 "headers": headers})

    def _reply(self, status: int, body, headers=None) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _traced(self, handle) -> None:
        tracing = self.server.tracing
        if tracing is None or self.path == "/_received":
            return handle()
        with tracing.server_span(self.command, self.path, self.headers) as span:
            self._span = span
            return handle()

    def _work(self, name: str):
        tracing = self.server.tracing
        return tracing.work(name) if tracing else contextlib.nullcontext()

    def send_response(self, code, message=None) -> None:
        span = getattr(self, "_span", None)
        if span is not None:
            _answered(span, code)
        super().send_response(code, message)

    def do_GET(self) -> None:
        self._traced(self._get)

    def do_POST(self) -> None:
        self._traced(self._post)

    def _get(self) -> None:
        if self.path == "/_received":
            with self.server.lock:
                return self._reply(200, self.server.received)
        self._record()
        if self.path == "/health":
            return self._reply(200, {"healthy": True})
        if self.path == "/login":  # answers with headers that are secrets
            return self._reply(200, {"logged_in": True}, {
                "Set-Cookie": "session=c00kie-s3cret; HttpOnly",
                "X-Api-Token": "api-t0ken-s3cret"})
        if self.path.startswith("/orders"):
            with self._work("load orders"):
                if self.server.latency:
                    time.sleep(self.server.latency)
                status = 503 if self.server.stressed else 200
            return self._reply(status, {"orders": [1, 2, 3]})
        if self.path.startswith("/redirect"):
            target = self.path.partition("to=")[2] or "/health"
            self.send_response(302)
            self.send_header("Location", target)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return None
        if self.path.startswith("/slow"):
            time.sleep(float(self.path.partition("s=")[2] or 1))
            return self._reply(200, {"slow": True})
        if self.path.startswith("/status/"):
            return self._reply(int(self.path.rsplit("/", 1)[1]), {})
        return self._reply(404, {"error": "not found"})

    def _post(self) -> None:
        self._record()
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) or b"{}"
        if self.headers.get("X-Amz-Target"):  # a DynamoDB call (botocore)
            return self._reply(200, {"TableNames": []})
        payload = json.loads(body)
        if self.path == "/stress":  # {"on": errors or not, "latency": s}
            switch = "on" if payload.get("on") else "off"
            with self._work("switch stress " + switch):
                self.server.stressed = bool(payload.get("on"))
                self.server.latency = float(payload.get("latency") or 0)
            return self._reply(200, {"stressed": self.server.stressed,
                                     "latency": self.server.latency})
        return self._reply(404, {"error": "not found"})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8099)
    parser.add_argument("--otlp-endpoint", help="export the service's spans "
                        "there (OTLP/HTTP, e.g. http://127.0.0.1:4318/v1/traces)")
    args = parser.parse_args()
    server = DemoService(args.port, args.otlp_endpoint)
    print(f"demo service listening on {server.url}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop_tracing()
        server.server_close()


if __name__ == "__main__":
    main()
