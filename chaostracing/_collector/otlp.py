"""OTLP/HTTP traces into the collector: ``POST /v1/traces``.

Bodies arrive read whole and inflated (:mod:`chaostracing._collector.http`:
``Content-Length`` or chunked, gzip or not) and are decoded by
:mod:`chaostracing._data.otlp`. The answers are OTLP's: 200 with an
``ExportTraceServiceResponse`` (with ``partial_success`` when some of the
request's spans could not be kept), 400 for a body that cannot be decoded,
413 over the size cap (inflated or not), 415 for another content type, 404
for another path. Nothing a client sends stops the receiver.
"""
import json
from typing import Any, Callable, List

from chaostracing._collector.http import Answer, HttpError, Request, Route, Site
from chaostracing._data.model import SpanData
from chaostracing._data.otlp import BadRequest, TooLarge, decode, to_span_data

__all__ = ["ROUTES", "CONTENT_TYPES", "receive", "refuse", "site"]

CONTENT_TYPES = ("application/x-protobuf", "application/json")

#: called with the spans of a request; returns how many of them were not
#: stored
OnSpans = Callable[[List[SpanData]], int]


def receive(on_spans: OnSpans, request: Request) -> Answer:
    """``POST /v1/traces``: decode, store, answer."""
    content_type = request.headers.get("content-type", "").split(";")[0]
    content_type = content_type.strip().lower()
    try:
        spans = to_span_data(decode(request.body, content_type))
    except TooLarge as error:
        raise HttpError(413, str(error)) from None
    except (BadRequest, ValueError, OverflowError, RecursionError) as error:
        raise HttpError(400, str(error)[:1000]) from None
    return _answer(content_type, on_spans(spans))


#: the OTLP port's routing table (bodies under 32 KiB, a hundred spans or
#: so, are decoded on the loop's thread: quicker than a hop to the pool)
ROUTES = [Route("POST", "/v1/traces", receive, CONTENT_TYPES, 32 * 1024)]


def refuse(status: int, message: str) -> Answer:
    body = json.dumps({"code": status, "message": message}).encode()
    return Answer(status, "application/json", body)


def site(on_spans: OnSpans) -> Site:
    """The OTLP port: ``POST /v1/traces`` into ``on_spans``."""
    return Site("--otlp-port", ROUTES, on_spans, refuse,
                lambda request: refuse(
                    404, "only POST /v1/traces is served here"))


def _answer(content_type: str, rejected: int) -> Answer:
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceResponse,
    )

    response = ExportTraceServiceResponse()
    if rejected:
        response.partial_success.rejected_spans = rejected
        response.partial_success.error_message = (
            f"{rejected} span(s) of this request were not stored: the "
            "collector's store is full (--max-spans, --max-bytes) and they "
            "belong to its oldest traces")
    body: Any
    if content_type == "application/json":
        from google.protobuf import json_format

        body = json.dumps(json_format.MessageToDict(response)).encode()
    else:
        body = response.SerializeToString()
    return Answer(200, content_type, body)
