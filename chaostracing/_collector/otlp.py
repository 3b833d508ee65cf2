"""OTLP/HTTP traces into the collector: ``POST /v1/traces``.

Bodies are decoded by :mod:`chaostracing._data.otlp`. The answers are
OTLP's: 200 with an ``ExportTraceServiceResponse`` (with
``partial_success`` when the store had to evict), 400 for a body that cannot
be decoded, 413 over the size cap (compressed or not), 415 for another
content type, 404 for another path. Nothing a client sends stops the
receiver.
"""
import json
from typing import Any, Callable, List, Tuple

from chaostracing._collector import http
from chaostracing._data.model import SpanData
from chaostracing._data.otlp import (
    MAX_BODY,
    BadRequest,
    TooLarge,
    decode,
    to_span_data,
)

__all__ = ["OtlpHandler", "make_server"]


class OtlpHandler(http.Handler):
    """``POST /v1/traces``; the server has ``on_spans(spans) -> rejected``
    and ``counters`` (a dict)."""

    server: Any  # http.make_server's, with the attributes above

    def do_POST(self) -> None:
        if self.path.split("?", 1)[0] != "/v1/traces":
            return self._refuse(404, "only POST /v1/traces is served here")
        content_type = (self.headers.get("Content-Type") or "").split(";")[0]
        content_type = content_type.strip().lower()
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            return self._refuse(400, "bad Content-Length")
        if length > MAX_BODY:
            self.close_connection = True  # do not read what we refuse
            return self._refuse(413, f"more than {MAX_BODY} bytes")
        body = self.rfile.read(length)
        if content_type not in ("application/x-protobuf", "application/json"):
            return self._refuse(415, "expected application/x-protobuf or "
                                     "application/json")
        encoding = (self.headers.get("Content-Encoding") or "").strip().lower()
        try:
            request = decode(body, content_type, encoding)
            spans = to_span_data(request)
        except TooLarge as error:
            return self._refuse(413, str(error))
        except (BadRequest, ValueError, OverflowError) as error:
            return self._refuse(400, str(error))
        rejected = self.server.on_spans(spans)
        self._answer(content_type, rejected)

    def _answer(self, content_type: str, rejected: int) -> None:
        from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
            ExportTraceServiceResponse,
        )

        response = ExportTraceServiceResponse()
        if rejected:
            response.partial_success.rejected_spans = rejected
            response.partial_success.error_message = (
                "the collector's store is full (--max-spans): its oldest "
                "traces were evicted")
        if content_type == "application/json":
            from google.protobuf import json_format

            body = json.dumps(json_format.MessageToDict(response)).encode()
        else:
            body = response.SerializeToString()
        self.send_body(200, content_type, body)
        self.server.counters["requests"] += 1

    def _refuse(self, status: int, message: str) -> None:
        self.server.counters["refused"] += 1
        body = json.dumps({"code": status, "message": message}).encode()
        self.send_body(status, "application/json", body)


def make_server(host: str, port: int, on_spans: Callable[[List[SpanData]], int]
                ) -> Tuple[Any, int]:
    """A threading HTTP server for OTLP on ``host:port``; ``(server, port)``."""
    return http.make_server(host, port, OtlpHandler, "--otlp-port",
                            on_spans=on_spans,
                            counters={"requests": 0, "refused": 0})

