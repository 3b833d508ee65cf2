"""A loopback OTLP/HTTP receiver: decodes ExportTraceServiceRequest."""
import gzip
import threading
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from chaostracing._data.model import FOLLOWS_FROM, Process, SpanData


def _value(any_value):
    kind = any_value.WhichOneof("value")
    if kind is None:
        return None
    value = getattr(any_value, kind)
    if kind == "array_value":
        return [_value(v) for v in value.values]
    if kind == "kvlist_value":
        return {kv.key: _value(kv.value) for kv in value.values}
    return value


def _attributes(key_values):
    return {kv.key: _value(kv.value) for kv in key_values}


class OtlpReceiver(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.spans = []
        self.requests = []  # (path, headers) of each export
        self.bodies = []  # the raw protobuf bodies
        self.changed = threading.Condition()
        # a short poll interval: shutdown() waits for one poll
        self.thread = threading.Thread(target=self.serve_forever,
                                       args=(0.05,), daemon=True)

    @property
    def port(self):
        return self.server_address[1]

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.shutdown()
        self.server_close()

    def wait_for(self, count, timeout=5.0):
        import time
        deadline = time.monotonic() + timeout
        with self.changed:
            while len(self.spans) < count and time.monotonic() < deadline:
                self.changed.wait(deadline - time.monotonic())
            return list(self.spans)

    def add(self, body, path, headers):
        from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
            ExportTraceServiceRequest,
        )

        request = ExportTraceServiceRequest()
        request.ParseFromString(body)
        spans = []
        for resource_spans in request.resource_spans:
            resource = _attributes(resource_spans.resource.attributes)
            for scope_spans in resource_spans.scope_spans:
                for s in scope_spans.spans:
                    tags = _attributes(s.attributes)
                    # what the provider maps onto the span's kind and status
                    tags["otel.kind"] = s.kind
                    tags["otel.status_code"] = s.status.code
                    spans.append(SpanData(
                        trace_id=int.from_bytes(s.trace_id, "big"),
                        span_id=int.from_bytes(s.span_id, "big"),
                        parent_id=int.from_bytes(s.parent_span_id, "big")
                        if s.parent_span_id else 0,
                        operation_name=s.name,
                        start_us=s.start_time_unix_nano // 1000,
                        duration_us=(s.end_time_unix_nano
                                     - s.start_time_unix_nano) // 1000,
                        flags=s.flags,
                        tags=tags,
                        logs=[(e.time_unix_nano // 1000,
                               dict(_attributes(e.attributes), event=e.name))
                              for e in s.events],
                        references=[
                            (FOLLOWS_FROM, int.from_bytes(link.trace_id, "big"),
                             int.from_bytes(link.span_id, "big"))
                            for link in s.links],
                        process=Process(resource.get("service.name", ""),
                                        tuple(resource.items())),
                    ))
        with self.changed:
            self.bodies.append(body)
            self.requests.append((path, headers))
            self.spans.extend(spans)
            self.changed.notify_all()


class _Handler(BaseHTTPRequestHandler):
    server: OtlpReceiver

    def log_message(self, *args):
        pass

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        encoding = (self.headers.get("Content-Encoding") or "").lower()
        if encoding == "gzip":
            body = gzip.decompress(body)
        elif encoding == "deflate":
            body = zlib.decompress(body)
        self.server.add(body, self.path,
                        {k.lower(): v for k, v in self.headers.items()})
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()


class GrpcOtlpReceiver:
    """A loopback OTLP/gRPC receiver (TraceService/Export), with the
    generated service of opentelemetry-proto and grpcio."""

    def __init__(self):
        from concurrent import futures

        import grpc
        from opentelemetry.proto.collector.trace.v1 import (
            trace_service_pb2,
            trace_service_pb2_grpc,
        )

        receiver = self
        self.http = OtlpReceiver.__new__(OtlpReceiver)  # its add(), no server
        self.http.spans, self.http.requests, self.http.bodies = [], [], []
        self.http.changed = threading.Condition()

        class Service(trace_service_pb2_grpc.TraceServiceServicer):
            def Export(self, request, context):
                metadata = {k: v for k, v in context.invocation_metadata()}
                receiver.http.add(request.SerializeToString(), "grpc",
                                  metadata)
                return trace_service_pb2.ExportTraceServiceResponse()

        self.server = grpc.server(futures.ThreadPoolExecutor(2))
        trace_service_pb2_grpc.add_TraceServiceServicer_to_server(
            Service(), self.server)
        self.port = self.server.add_insecure_port("127.0.0.1:0")

    @property
    def spans(self):
        return self.http.spans

    def wait_for(self, count, timeout=5.0):
        return OtlpReceiver.wait_for(self.http, count, timeout)

    def __enter__(self):
        self.server.start()
        return self

    def __exit__(self, *exc):
        self.server.stop(0)
