"""Trace-context carriers: Jaeger ``uber-trace-id``, W3C ``traceparent``, B3,
and Jaeger's binary encoding.

:class:`Propagator` writes the formats asked for and reads whichever is
present (Jaeger first, then W3C, then B3), header names matched
case-insensitively. Ids are written in one form everywhere: trace ids as 32
lower-case hex digits, span ids as 16.

Written here rather than taken from OpenTelemetry's propagator packages
because this path must not import OpenTelemetry (its import costs more than
a traced run may add: ``benchmarks/import_cost.py``); when OpenTelemetry's
instrumentations are on, their headers are written by OpenTelemetry's own
propagators (:mod:`chaostracing._run.otel.installation`), and both are
tested against each other.
"""
import re
import struct
import urllib.parse
from typing import Any, Callable, Dict, Iterable, Mapping, Optional

from opentracing.propagation import (
    InvalidCarrierException,
    SpanContextCorruptedException,
)

from chaostracing._run.spancontext import SAMPLED, JaegerSpanContext

__all__ = [
    "BAGGAGE_PREFIX",
    "FORMATS",
    "TRACE_HEADER",
    "Propagator",
    "from_header",
    "to_header",
]

FORMATS = ("jaeger", "w3c", "b3", "xray")
TRACE_HEADER = "uber-trace-id"
BAGGAGE_PREFIX = "uberctx-"
_TRACEPARENT = re.compile(
    r"^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$"
)
_BINARY_HEAD = struct.Struct(">QQQQBI")
_U32 = struct.Struct(">I")
_MAX_BAGGAGE_ITEMS = 1024


def to_header(context: JaegerSpanContext) -> str:
    """``uber-trace-id``: ``{trace}:{span}:{parent}:{flags}``, ids in hex
    (trace id as 32 digits, span ids as 16, no parent as ``0``)."""
    parent = f"{context.parent_id:016x}" if context.parent_id else "0"
    return (
        f"{context.trace_id:032x}:{context.span_id:016x}:{parent}:"
        f"{context.flags:x}"
    )


def from_header(value: str, name: str = TRACE_HEADER) -> JaegerSpanContext:
    """Parse an ``uber-trace-id`` value (any Jaeger client's).

    :raises SpanContextCorruptedException: when it is not one.
    """
    parts = urllib.parse.unquote(str(value)).strip().split(":")
    try:
        if len(parts) != 4 or any(len(p) > 32 or not p for p in parts):
            raise ValueError
        trace_id, span_id, parent_id, flags = (int(p, 16) for p in parts)
    except ValueError:
        raise SpanContextCorruptedException(
            f"malformed {name}: {str(value)[:80]!r}"
        ) from None
    if not trace_id or not span_id or trace_id >> 128 or span_id >> 64 \
            or parent_id >> 64:
        raise SpanContextCorruptedException(
            f"malformed {name}: {str(value)[:80]!r}")
    return JaegerSpanContext(trace_id, span_id, parent_id or None, flags & 0xFF)


class Propagator:
    """Inject and extract span contexts for one run's settings.

    :param formats: the text formats ``inject`` writes
    :param trace_header: the Jaeger header's name (``uber-trace-id``, or
        0.18.1's ``tracing_id_name``)
    :param baggage_prefix: prefix of Jaeger baggage headers
    :param clean: applied to baggage values on their way out (the run's
        secret masking)
    """

    def __init__(
        self,
        formats: Iterable[str] = ("jaeger",),
        trace_header: str = TRACE_HEADER,
        baggage_prefix: str = BAGGAGE_PREFIX,
        clean: Optional[Callable[[str], str]] = None,
    ) -> None:
        self.formats = tuple(formats)
        self.trace_header = trace_header.lower()
        self.baggage_prefix = baggage_prefix.lower()
        self.clean = clean

    # -- text maps and HTTP headers -------------------------------------------
    def inject(
        self, context: JaegerSpanContext, carrier: Any, url_encode: bool
    ) -> None:
        if not hasattr(carrier, "__setitem__"):
            raise InvalidCarrierException("carrier is not a dict")
        baggage = context.baggage
        if baggage and self.clean is not None:
            baggage = {k: self.clean(str(v)) for k, v in baggage.items()}
        for name in self.formats:
            if name == "jaeger":
                carrier[self.trace_header] = to_header(context)
                for key, value in baggage.items():
                    if url_encode:
                        value = urllib.parse.quote(str(value), safe="")
                    carrier[self.baggage_prefix + key] = value
            elif name == "w3c":
                carrier["traceparent"] = (
                    f"00-{context.trace_id:032x}-{context.span_id:016x}-"
                    f"{context.flags & SAMPLED:02x}"
                )
            elif name == "b3":
                carrier["X-B3-TraceId"] = f"{context.trace_id:032x}"
                carrier["X-B3-SpanId"] = f"{context.span_id:016x}"
                if context.parent_id:
                    carrier["X-B3-ParentSpanId"] = f"{context.parent_id:016x}"
                sampled = context.flags & SAMPLED
                carrier["X-B3-Sampled"] = "1" if sampled else "0"
            elif name == "xray":
                _xray_inject(context, carrier)

    def extract(
        self, carrier: Any, url_decode: bool
    ) -> Optional[JaegerSpanContext]:
        """The context in ``carrier``, or ``None`` when it holds none.

        :raises SpanContextCorruptedException: a header is there but
            malformed.
        """
        if not hasattr(carrier, "items"):
            raise InvalidCarrierException("carrier is not a mapping")
        headers = {str(k).lower(): v for k, v in carrier.items()}
        context = None
        if self.trace_header in headers:
            context = from_header(headers[self.trace_header], self.trace_header)
        elif TRACE_HEADER in headers:
            context = from_header(headers[TRACE_HEADER])
        elif "traceparent" in headers:
            context = _from_traceparent(str(headers["traceparent"]))
        elif "x-b3-traceid" in headers:
            context = _from_b3(headers)
        if context is None:
            return None
        prefix = self.baggage_prefix
        baggage = {
            k[len(prefix):]: urllib.parse.unquote(str(v)) if url_decode else v
            for k, v in headers.items()
            if k.startswith(prefix) and len(k) > len(prefix)
        }
        if baggage:
            context = JaegerSpanContext(
                context.trace_id, context.span_id, context.parent_id,
                context.flags, baggage,
            )
        return context

    # -- environment variables ------------------------------------------------
    def environment(self, context: JaegerSpanContext) -> Dict[str, str]:
        """The context as environment variables for a child process, as
        OpenTelemetry's specification for environment carriers names them:
        ``TRACEPARENT`` always (and ``BAGGAGE``), ``UBER_TRACE_ID`` too when
        ``jaeger`` is one of the formats."""
        env = {
            "TRACEPARENT": f"00-{context.trace_id:032x}-{context.span_id:016x}-"
                           f"{context.flags & SAMPLED:02x}",
        }
        if "jaeger" in self.formats:
            env["UBER_TRACE_ID"] = to_header(context)
        if context.baggage:
            clean = self.clean or str
            env["BAGGAGE"] = ",".join(
                f"{urllib.parse.quote(str(k), safe='')}="
                f"{urllib.parse.quote(clean(str(v)), safe='')}"
                for k, v in context.baggage.items())
        return env

    # -- binary ----------------------------------------------------------------
    def inject_binary(self, context: JaegerSpanContext, carrier: Any) -> None:
        """Jaeger's binary encoding, as jaeger-client and jaeger-client-go
        write it: big-endian trace id high/low, span id, parent id (8 bytes
        each), flags (1), baggage count (4), then each key and value
        prefixed by its length (4)."""
        if not isinstance(carrier, bytearray):
            raise InvalidCarrierException("carrier is not a bytearray")
        baggage = context.baggage
        if baggage and self.clean is not None:
            baggage = {k: self.clean(str(v)) for k, v in baggage.items()}
        carrier += _BINARY_HEAD.pack(
            (context.trace_id >> 64) & 0xFFFFFFFFFFFFFFFF,
            context.trace_id & 0xFFFFFFFFFFFFFFFF,
            context.span_id,
            context.parent_id or 0,
            context.flags & 0xFF,
            len(baggage),
        )
        for key, value in baggage.items():
            for text in (key, value):
                data = str(text).encode("utf-8")
                carrier += _U32.pack(len(data)) + data

    def extract_binary(self, carrier: Any) -> Optional[JaegerSpanContext]:
        if not isinstance(carrier, (bytes, bytearray)):
            raise InvalidCarrierException("carrier is not a bytearray")
        if not carrier:
            return None
        data = bytes(carrier)
        try:
            high, low, span_id, parent_id, flags, count = \
                _BINARY_HEAD.unpack_from(data)
            if count > _MAX_BAGGAGE_ITEMS:
                raise ValueError("too many baggage items")
            baggage: Dict[str, str] = {}
            pos = _BINARY_HEAD.size
            for _ in range(count):
                pair = []
                for _ in range(2):
                    (size,) = _U32.unpack_from(data, pos)
                    pos += 4
                    if pos + size > len(data):
                        raise ValueError("truncated baggage")
                    pair.append(data[pos:pos + size].decode("utf-8"))
                    pos += size
                baggage[pair[0]] = pair[1]
        except (struct.error, ValueError, UnicodeDecodeError) as error:
            raise SpanContextCorruptedException(
                f"malformed binary span context: {error}") from None
        trace_id = (high << 64) | low
        if not trace_id or not span_id:
            raise SpanContextCorruptedException(
                "malformed binary span context: zero id")
        return JaegerSpanContext(
            trace_id, span_id, parent_id or None, flags, baggage or None)


def _xray_inject(context: JaegerSpanContext, carrier: Any) -> None:
    """AWS X-Ray's ``X-Amzn-Trace-Id``, written by OpenTelemetry's own
    propagator (opentelemetry-propagator-aws-xray, the ``[aws]`` extra)."""
    from opentelemetry import trace
    from opentelemetry.propagators.aws import AwsXRayPropagator

    span = trace.NonRecordingSpan(trace.SpanContext(
        context.trace_id, context.span_id, is_remote=False,
        trace_flags=trace.TraceFlags(context.flags & SAMPLED)))
    AwsXRayPropagator().inject(
        carrier, context=trace.set_span_in_context(span))


def _from_traceparent(value: str) -> JaegerSpanContext:
    match = _TRACEPARENT.match(value.strip().lower())
    if not match or match.group(1) == "ff":
        raise SpanContextCorruptedException(
            f"malformed traceparent: {value[:80]!r}")
    trace_id, span_id = int(match.group(2), 16), int(match.group(3), 16)
    if not trace_id or not span_id:
        raise SpanContextCorruptedException(
            f"malformed traceparent: {value[:80]!r}")
    return JaegerSpanContext(
        trace_id, span_id, None, int(match.group(4), 16) & SAMPLED)


def _from_b3(headers: Mapping[str, Any]) -> JaegerSpanContext:
    try:
        texts = [str(headers["x-b3-traceid"]),
                 str(headers.get("x-b3-spanid", ""))]
        if any(len(t) > 32 for t in texts):
            raise ValueError
        trace_id, span_id = (int(t, 16) for t in texts)
        parent = headers.get("x-b3-parentspanid")
        parent_id = int(str(parent)[:16], 16) if parent else None
    except ValueError:
        raise SpanContextCorruptedException("malformed B3 headers") from None
    if not trace_id or not span_id or trace_id >> 128 or span_id >> 64:
        raise SpanContextCorruptedException("malformed B3 headers")
    sampled = str(headers.get("x-b3-sampled", "1")) in ("1", "true", "d")
    return JaegerSpanContext(
        trace_id, span_id, parent_id, SAMPLED if sampled else 0)
