"""A tiny HTTP service the example experiments target, on 127.0.0.1 only.

It records the trace headers of every request it receives, so a test (or a
curious user) can check that the trace context travelled:
``GET /_received`` returns them.

    python examples/service.py --port 8099
"""
import argparse
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

    def __init__(self, port: int = 0) -> None:
        super().__init__(("127.0.0.1", port), _Handler)
        self.received = []
        self.stressed = False
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


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

    def do_GET(self) -> None:
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

    def do_POST(self) -> None:
        self._record()
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) or b"{}"
        if self.headers.get("X-Amz-Target"):  # a DynamoDB call (botocore)
            return self._reply(200, {"TableNames": []})
        payload = json.loads(body)
        if self.path == "/stress":
            self.server.stressed = bool(payload.get("on"))
            return self._reply(200, {"stressed": self.server.stressed})
        return self._reply(404, {"error": "not found"})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8099)
    args = parser.parse_args()
    server = DemoService(args.port)
    print(f"demo service listening on {server.url}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
