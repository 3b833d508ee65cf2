"""OTLP traces onto the span model: an ``ExportTraceServiceRequest`` from
an HTTP body (protobuf or OTLP/JSON, gzip-encoded or not), and its spans as
:class:`~chaostracing._data.model.SpanData`.

Bodies are decoded with opentelemetry-proto (the field's own definitions):
protobuf (``application/x-protobuf``) or OTLP/JSON (``application/json``,
whose ids are hex strings, not proto3-JSON base64). The collector's OTLP
receiver and the OTLP/JSON file reader both use it.

Spans are mapped onto Jaeger's model as Jaeger maps them: ``service.name``
is the process's service, the other resource attributes its tags; the kind
is ``span.kind``; status ERROR is ``error=true`` plus ``otel.status_code``
and ``otel.status_description``; events are logs (``event`` = the event's
name); links are ``FOLLOWS_FROM`` references; the instrumentation scope is
``otel.scope.name`` / ``otel.scope.version``.
"""
import base64
import json
import zlib
from typing import Any, Dict, List, Optional, Tuple

from chaostracing._data.model import FOLLOWS_FROM, Process, SpanData
from chaostracing._data.tags import (
    ERROR,
    EVENT,
    OTEL_SCOPE_NAME,
    OTEL_SCOPE_VERSION,
    OTEL_STATUS_CODE,
    OTEL_STATUS_DESCRIPTION,
    SERVICE_NAME,
    SPAN_KIND,
    STATUS_ERROR,
    STATUS_OK,
    kind_of_otlp,
)

__all__ = ["MAX_BODY", "BadRequest", "TooLarge", "decode", "decoder_problem",
           "to_span_data"]

#: the largest body accepted, compressed or not
MAX_BODY = 32 * 1024 * 1024
#: OTLP's ``Status.StatusCode`` values (0, unset, writes no tag)
_STATUS = {1: STATUS_OK, 2: STATUS_ERROR}
_ID_KEYS = ("traceId", "spanId", "parentSpanId")
#: OTLP's span kind values, as ``span.kind`` tags
_KIND_TAGS = {value: kind.tag for value, kind in (
    (value, kind_of_otlp(value)) for value in range(8)) if kind is not None}


class BadRequest(ValueError):
    """A body that cannot be decoded (400)."""


class TooLarge(ValueError):
    """A body over the cap (413)."""


def decoder_problem(extra: str = "opentelemetry") -> Optional[str]:
    """Why OTLP cannot be decoded here, in one sentence naming the extra to
    install; ``None`` when it can.

    Decoding needs opentelemetry-proto and protobuf (the ``[opentelemetry]``
    extra, or ``[collect]`` for the collector: ``extra`` is the one named),
    imported only when a body arrives: a receiver or a reader asks this
    first, so that it refuses at once rather than on every request.
    """
    try:
        from google.protobuf import json_format  # noqa: F401
        from opentelemetry.proto.collector.trace.v1 import (  # noqa: F401
            trace_service_pb2,
        )
    except Exception as error:  # missing, or a protobuf it cannot load
        return ("decoding OTLP needs opentelemetry-proto and protobuf: pip "
                f"install 'chaostoolkit-opentracing[{extra}]' "
                f"({type(error).__name__}: {error})")
    return None


def decode(body: bytes, content_type: str, encoding: str = "") -> Any:
    """An ``ExportTraceServiceRequest`` from an HTTP body.

    :raises BadRequest: undecodable; :raises TooLarge: over the cap
    """
    from google.protobuf import json_format
    from google.protobuf.message import DecodeError
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
    )

    if encoding == "gzip":
        body = _gunzip(body)
    elif encoding not in ("", "identity"):
        raise BadRequest(f"unsupported Content-Encoding {encoding!r}")
    request = ExportTraceServiceRequest()
    if content_type == "application/x-protobuf":
        try:
            request.ParseFromString(body)
        except (DecodeError, ValueError, RecursionError) as error:
            raise BadRequest(f"not an OTLP protobuf body: {error}") from None
        return request
    try:
        document = json.loads(body.decode("utf-8"))
        json_format.ParseDict(_ids_to_base64(document), request,
                              ignore_unknown_fields=True)
    except (ValueError, TypeError, RecursionError, AttributeError,
            json_format.ParseError) as error:
        raise BadRequest(f"not an OTLP JSON body: {error}") from None
    return request


def to_span_data(request: Any) -> List[SpanData]:
    """The spans of an ``ExportTraceServiceRequest``, in Jaeger's model."""
    out: List[SpanData] = []
    for resource_spans in request.resource_spans:
        attributes = _attributes(resource_spans.resource.attributes)
        service = attributes.pop(SERVICE_NAME, None) or "unknown_service"
        process = Process(str(service), sorted(attributes.items()))
        for scope_spans in resource_spans.scope_spans:
            scope = scope_spans.scope
            scope_tags = {}  # the same for each span of the scope
            if scope.name:
                scope_tags[OTEL_SCOPE_NAME] = scope.name
                if scope.version:
                    scope_tags[OTEL_SCOPE_VERSION] = scope.version
            for span in scope_spans.spans:
                out.append(_span(span, process, scope_tags))
    return out


def _span(span: Any, process: Process, scope_tags: Dict[str, str]
          ) -> SpanData:
    tags = _attributes(span.attributes)
    kind = _KIND_TAGS.get(span.kind)
    if kind is not None:
        tags[SPAN_KIND] = kind
    code = span.status.code
    if code:
        status = _STATUS.get(code)
        if status:
            tags[OTEL_STATUS_CODE] = status
            if span.status.message:
                tags[OTEL_STATUS_DESCRIPTION] = span.status.message
            if status == STATUS_ERROR:
                tags[ERROR] = True
    if scope_tags:
        tags.update(scope_tags)
    start = span.start_time_unix_nano // 1000
    links = span.links
    events = span.events
    return SpanData(
        int.from_bytes(span.trace_id, "big"),
        int.from_bytes(span.span_id, "big"),
        int.from_bytes(span.parent_span_id, "big"),
        1,
        span.name,
        start,
        max(0, span.end_time_unix_nano // 1000 - start),
        [(FOLLOWS_FROM, int.from_bytes(link.trace_id, "big"),
          int.from_bytes(link.span_id, "big"))
         for link in links if link.trace_id and link.span_id]
        if links else None,
        tags,
        [_log(event) for event in events] if events else None,
        process,
    )


def _log(event: Any) -> Tuple[int, Dict[str, Any]]:
    fields = _attributes(event.attributes)
    if event.name:  # an event without a name is a log without "event"
        fields[EVENT] = event.name
    return event.time_unix_nano // 1000, fields


def _attributes(key_values: Any) -> Dict[str, Any]:
    out = {}
    for key_value in key_values:
        value = key_value.value
        kind = value.WhichOneof("value")
        # most are text: no call for them
        out[key_value.key] = (value.string_value if kind == "string_value"
                              else _value(value, kind))
    return out


def _value(any_value: Any, kind: Optional[str]) -> Any:
    if kind is None:
        return ""
    if kind in ("array_value", "kvlist_value"):
        # Jaeger shows structured attributes as JSON text
        return json.dumps(_plain(any_value), default=repr)
    return getattr(any_value, kind)


def _plain(any_value: Any) -> Any:
    kind = any_value.WhichOneof("value")
    value: Any = getattr(any_value, kind) if kind else None
    if kind == "array_value":
        return [_plain(v) for v in value.values]
    if kind == "kvlist_value":
        return {kv.key: _plain(kv.value) for kv in value.values}
    if kind == "bytes_value":
        return base64.b64encode(value).decode("ascii")
    return value


def _gunzip(body: bytes) -> bytes:
    decompressor = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        data = decompressor.decompress(body, MAX_BODY + 1)
    except zlib.error as error:
        raise BadRequest(f"not gzip: {error}") from None
    if len(data) > MAX_BODY or decompressor.unconsumed_tail:
        raise TooLarge(f"more than {MAX_BODY} bytes once decompressed")
    if not decompressor.eof:  # its end never came: not the whole body
        raise BadRequest("the gzip body is cut short")
    return data


def _ids_to_base64(node: Any) -> Any:
    """OTLP/JSON writes ids in hex; proto3's JSON mapping reads base64."""
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            if key in _ID_KEYS and isinstance(value, str):
                try:
                    value = base64.b64encode(bytes.fromhex(value)).decode()
                except ValueError:
                    raise BadRequest(
                        f"{key} is not hex: {value[:40]!r}") from None
            out[key] = _ids_to_base64(value)
        return out
    if isinstance(node, list):
        return [_ids_to_base64(item) for item in node]
    return node
