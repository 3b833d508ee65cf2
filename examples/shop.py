"""A small shop of six services calling one another, traced with the
OpenTelemetry SDK, and a load generator: something for ``chaostracing
impact`` to look at (docs/impact.md). On 127.0.0.1 only.

::

    frontend ──GET /checkout──▶ orders ──POST /pay──▶ payments
        │                          ├──GET /stock────▶ stock
        │                          └──POST /record──▶ ledger (the fallback)
        └────GET /browse───▶ catalog

Every service runs in a process of its own, as real services do (one
interpreter each: a service's spans do not wait on another's work), with
its tracer provider (its ``service.name``) exporting OTLP/HTTP, and every
call carries W3C's ``traceparent``: a server span per request, a client
span per call, status ERROR on an HTTP 5xx. This process starts them and
sends ``--rate`` requests a second to the frontend whatever the answers
take (an open loop, as real users do): 60 % checkouts, 40 % browsing.

Faults, switched at run time by ``POST /_fault`` on any service (a JSON
body; ``{}`` clears them; not traced): ``latency_ms`` added to each
request, ``error_rate`` (0 to 1) of requests answered 500 at once, and on
``orders``, ``fallback: true``: when ``payments`` fails, orders records the
payment in ``ledger`` instead and the checkout succeeds.

    python examples/shop.py --otlp-endpoint http://127.0.0.1:4318/v1/traces

prints one line of JSON with each service's URL (``"payments":
"http://127.0.0.1:PORT"``...), then serves until interrupted (Ctrl-C or
SIGTERM stop the services too).
"""
import argparse
import concurrent.futures
import contextlib
import json
import random
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Dict, List, Optional

__all__ = ["Load", "Shop"]

#: milliseconds of work each service does per request
WORK_MS = {"frontend": 8, "orders": 12, "payments": 15, "stock": 10,
           "catalog": 8, "ledger": 6}
#: seconds a call waits at most for its answer
CALL_TIMEOUT = 5.0


class Service(ThreadingHTTPServer):
    """One service: its routes, its faults, its own tracer provider."""

    daemon_threads = True
    # socketserver's default backlog of 5 overflows under bursts: the
    # dropped handshakes cost 200 ms retransmissions (TCP's minimum RTO)
    request_queue_size = 128

    def __init__(self, name: str, otlp_endpoint: Optional[str] = None,
                 port: int = 0) -> None:
        super().__init__(("127.0.0.1", port), _Handler)
        self.name = name
        #: the other services' URLs, by name
        self.peers: Dict[str, str] = {}
        self.faults: Dict[str, object] = {}
        self.tracing = _Tracing(name, otlp_endpoint) \
            if otlp_endpoint else None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    # -- the service's own work ------------------------------------------------
    def handle_request_of(self, method: str, path: str) -> int:
        """Serve ``method path``; return the HTTP status."""
        rate = float(self.faults.get("error_rate") or 0)
        if rate and random.random() < rate:
            return 500  # a fault that fails fast
        time.sleep((WORK_MS[self.name]
                    + float(self.faults.get("latency_ms") or 0)) / 1000)
        route = (method, path.split("?", 1)[0])
        if self.name == "frontend" and route == ("GET", "/checkout"):
            return 200 if self.call("orders", "POST", "/orders") else 502
        if self.name == "frontend" and route == ("GET", "/browse"):
            return 200 if self.call("catalog", "GET", "/items") else 502
        if self.name == "orders" and route == ("POST", "/orders"):
            paid = self.call("payments", "POST", "/pay")
            if not paid and self.faults.get("fallback"):
                paid = self.call("ledger", "POST", "/record")
            stocked = self.call("stock", "GET", "/stock")
            return 200 if paid and stocked else 502
        if (self.name, route) in (("payments", ("POST", "/pay")),
                                  ("stock", ("GET", "/stock")),
                                  ("catalog", ("GET", "/items")),
                                  ("ledger", ("POST", "/record"))):
            return 200
        return 404

    def call(self, service: str, method: str, path: str) -> bool:
        """Call another service of the shop; True when it answered 2xx."""
        url = self.peers[service] + path
        headers: Dict[str, str] = {}
        span_context = self.tracing.client_span(method, url, headers) \
            if self.tracing else contextlib.nullcontext(None)
        with span_context as span:
            request = urllib.request.Request(
                url, method=method, headers=headers,
                data=b"{}" if method == "POST" else None)
            try:
                with urllib.request.urlopen(request,
                                            timeout=CALL_TIMEOUT) as answer:
                    answer.read()
                    status = answer.status
            except urllib.error.HTTPError as error:
                status = error.code
            except OSError:
                status = 599  # no answer
            if span is not None:
                _answered(span, status)
            return 200 <= status < 300

    def stop(self) -> None:
        self.shutdown()
        self.server_close()
        if self.tracing is not None:
            self.tracing.close()


class _Tracing:
    """A service's tracing: OpenTelemetry's SDK, OTLP/HTTP export."""

    def __init__(self, name: str, endpoint: str) -> None:
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
            {"service.name": name}))
        # half a second between exports: spans reach the back-end soon
        # after they end (the SDK's default is 5 s)
        self.provider.add_span_processor(BatchSpanProcessor(
            OTLPSpanExporter(endpoint=endpoint), schedule_delay_millis=500))
        self.tracer = self.provider.get_tracer(name)
        self.propagator = TraceContextTextMapPropagator()

    @contextlib.contextmanager
    def server_span(self, method: str, path: str, headers: Dict[str, str]):
        from opentelemetry.trace import SpanKind

        parent = self.propagator.extract(
            {k.lower(): v for k, v in headers.items()})
        route = path.split("?", 1)[0]
        with self.tracer.start_as_current_span(
                f"{method} {route}", context=parent, kind=SpanKind.SERVER,
                attributes={"http.method": method, "http.route": route,
                            "http.target": path}) as span:
            yield span

    @contextlib.contextmanager
    def client_span(self, method: str, url: str, headers: Dict[str, str]):
        from opentelemetry.trace import SpanKind

        with self.tracer.start_as_current_span(
                method, kind=SpanKind.CLIENT,
                attributes={"http.method": method, "http.url": url}) as span:
            self.propagator.inject(headers)
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
    server: Service
    protocol_version = "HTTP/1.0"

    def log_message(self, *args) -> None:  # keep the output quiet
        pass

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if self.path == "/_fault":
            return self._fault(body)
        tracing = self.server.tracing
        if tracing is None:
            return self._reply(self.server.handle_request_of(self.command,
                                                             self.path))
        with tracing.server_span(self.command, self.path,
                                 dict(self.headers.items())) as span:
            status = self.server.handle_request_of(self.command, self.path)
            _answered(span, status)
        self._reply(status)

    def _fault(self, body: bytes) -> None:
        try:
            faults = json.loads(body or b"{}")
        except ValueError:
            faults = None
        if self.command != "POST" or not isinstance(faults, dict):
            return self._reply(400)
        self.server.faults = faults
        self._reply(200, {"service": self.server.name, "faults": faults})

    def _reply(self, status: int, body: Optional[dict] = None) -> None:
        data = json.dumps(body if body is not None else {"status": status}
                          ).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class Shop:
    """The six services, each in a process of its own (this script with
    ``--serve NAME``), told one another's URLs once all listen."""

    NAMES = ("frontend", "orders", "payments", "stock", "catalog", "ledger")

    def __init__(self, otlp_endpoint: Optional[str] = None,
                 base_port: int = 0) -> None:
        self.processes: Dict[str, subprocess.Popen] = {}
        self.urls: Dict[str, str] = {}
        for index, name in enumerate(self.NAMES):
            argv = [sys.executable, __file__, "--serve", name, "--port",
                    str(base_port + index if base_port else 0)]
            if otlp_endpoint:
                argv += ["--otlp-endpoint", otlp_endpoint]
            self.processes[name] = subprocess.Popen(
                argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                text=True)
        for name, proc in self.processes.items():
            line = proc.stdout.readline() if proc.stdout else ""
            if not line:
                self.stop()
                raise RuntimeError(f"the {name} service did not start")
            self.urls[name] = json.loads(line)["url"]
        for proc in self.processes.values():  # who is where
            if proc.stdin:
                proc.stdin.write(json.dumps(self.urls) + "\n")
                proc.stdin.flush()

    def stop(self) -> None:
        for proc in self.processes.values():
            if proc.stdin:
                proc.stdin.close()  # the service's cue to stop
        for proc in self.processes.values():
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def serve(name: str, otlp_endpoint: Optional[str], port: int) -> None:
    """One service: listen, say where, learn the others' URLs from stdin,
    serve until stdin closes."""
    service = Service(name, otlp_endpoint, port)
    print(json.dumps({"name": name, "url": service.url}), flush=True)
    service.peers = json.loads(sys.stdin.readline() or "{}")
    thread = threading.Thread(target=service.serve_forever, args=(0.05,),
                              daemon=True)
    thread.start()
    try:
        sys.stdin.read()
    except KeyboardInterrupt:
        pass
    service.stop()


class Load:
    """Requests to the frontend at a steady rate, whatever the answers take:
    ``checkout`` of them to ``/checkout``, the others to ``/browse``."""

    def __init__(self, url: str, rate: float, checkout: float = 0.6,
                 workers: int = 48) -> None:
        self.url = url
        self.rate = rate
        self.checkout = checkout
        self.sent = 0
        self.answers: Dict[int, int] = {}
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._pool = concurrent.futures.ThreadPoolExecutor(
            workers, thread_name_prefix="shop-load")
        self._thread = threading.Thread(target=self._run, name="shop-load",
                                        daemon=True)
        self._thread.start()

    def _run(self) -> None:
        random_ = random.Random(20)
        due = time.monotonic()
        while not self._stop.is_set():
            due += random_.expovariate(self.rate)  # Poisson arrivals
            self._stop.wait(max(due - time.monotonic(), 0))
            if self._stop.is_set():
                break
            path = "/checkout" if random_.random() < self.checkout \
                else "/browse"
            self.sent += 1
            self._pool.submit(self._one, path)

    def _one(self, path: str) -> None:
        try:
            with urllib.request.urlopen(self.url + path,
                                        timeout=CALL_TIMEOUT) as answer:
                answer.read()
                status = answer.status
        except urllib.error.HTTPError as error:
            status = error.code
        except OSError:
            status = 599
        with self._lock:
            self.answers[status] = self.answers.get(status, 0) + 1

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self._pool.shutdown(wait=True)


def main(argv: Optional[List[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--otlp-endpoint",
                        help="export the services' spans there (OTLP/HTTP, "
                        "e.g. http://127.0.0.1:4318/v1/traces)")
    parser.add_argument("--rate", type=float, default=40.0,
                        help="requests a second to the frontend, 0 for none "
                        "(default: 40)")
    parser.add_argument("--port", type=int, default=0,
                        help="the frontend's port, the others following it "
                        "(default: free ports)")
    parser.add_argument("--fallback", action="store_true",
                        help="start with orders' fallback on")
    parser.add_argument("--serve", choices=Shop.NAMES,
                        help=argparse.SUPPRESS)  # one service, in a process
    args = parser.parse_args(argv)
    if args.serve:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # the shop stops it
        return serve(args.serve, args.otlp_endpoint, args.port)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    shop = Shop(args.otlp_endpoint, args.port)
    load = None
    try:
        if args.fallback:
            _fault(shop.urls["orders"], {"fallback": True})
        load = Load(shop.urls["frontend"], args.rate) if args.rate > 0 \
            else None
        print(json.dumps(shop.urls), flush=True)
        stop.wait()
    except KeyboardInterrupt:
        pass
    finally:
        if load is not None:
            load.stop()
        shop.stop()


def _fault(url: str, faults: Dict[str, object]) -> None:
    request = urllib.request.Request(
        url + "/_fault", data=json.dumps(faults).encode(), method="POST",
        headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=CALL_TIMEOUT) as answer:
        answer.read()


if __name__ == "__main__":
    main()
