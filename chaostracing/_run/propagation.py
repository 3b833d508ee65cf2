"""Trace-context carriers: Jaeger ``uber-trace-id``, W3C ``traceparent`` /
``tracestate`` and ``baggage``, B3, and Jaeger's binary encoding.

:class:`Propagator` writes the formats asked for and reads whichever is
present, header names matched case-insensitively. When several are present
and disagree, the one listed last in the formats wins, as in OpenTelemetry's
composite propagator (so both paths agree), then the unlisted ones: Jaeger,
W3C, B3. Ids are written in one form everywhere: trace ids as 32 lower-case
hex digits, span ids as 16.

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
from typing import (
    Any,
    Callable,
    Dict,
    Iterable,
    Mapping,
    Optional,
    Tuple,
)

from opentracing.propagation import (
    InvalidCarrierException,
    SpanContextCorruptedException,
)

from chaostracing._run.spancontext import SAMPLED, JaegerSpanContext

__all__ = [
    "BAGGAGE_PREFIX",
    "DEFAULT_FORMATS",
    "FORMATS",
    "TRACE_HEADER",
    "Propagator",
    "from_header",
    "to_header",
]

#: what ``tracing_propagation`` may list: ``b3`` is B3's multi-header form
#: (``X-B3-*``), as jaeger-client and 0.18.1 wrote it and every B3 reader
#: reads; ``baggage`` is W3C's baggage header
FORMATS = ("jaeger", "w3c", "b3", "xray", "baggage")
#: what is written when nothing says otherwise: both worlds, Jaeger's and
#: OpenTelemetry's
DEFAULT_FORMATS = ("w3c", "jaeger")
TRACE_HEADER = "uber-trace-id"
BAGGAGE_PREFIX = "uberctx-"
_TRACEPARENT = re.compile(
    r"^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$"
)
_BINARY_HEAD = struct.Struct(">QQQQBI")
_U32 = struct.Struct(">I")
_MAX_BAGGAGE_ITEMS = 1024
#: the W3C's limits for tracestate and baggage headers
_MAX_TRACESTATE = 512
_MAX_W3C_BAGGAGE = 8192
#: the formats read, in the order they are tried when none is listed
_READ_ORDER = ("jaeger", "w3c", "b3")


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

    :param formats: the text formats ``inject`` writes (:data:`FORMATS`)
    :param trace_header: the Jaeger header's name (``uber-trace-id``, or
        0.18.1's ``tracing_id_name``)
    :param baggage_prefix: prefix of Jaeger baggage headers
    :param clean: applied to baggage values on their way out (the run's
        secret masking)
    """

    def __init__(
        self,
        formats: Iterable[str] = DEFAULT_FORMATS,
        trace_header: str = TRACE_HEADER,
        baggage_prefix: str = BAGGAGE_PREFIX,
        clean: Optional[Callable[[str], str]] = None,
    ) -> None:
        self.formats = tuple(formats)
        self.trace_header = trace_header.lower()
        self.baggage_prefix = baggage_prefix.lower()
        self.clean = clean
        listed = [f for f in reversed(self.formats) if f in _READ_ORDER]
        #: the order contexts are read in: the last listed format first
        self._read_order = tuple(dict.fromkeys(listed + list(_READ_ORDER)))

    # -- text maps and HTTP headers -------------------------------------------
    def inject(
        self, context: JaegerSpanContext, carrier: Any, url_encode: bool
    ) -> None:
        if not hasattr(carrier, "__setitem__"):
            raise InvalidCarrierException("carrier is not a dict")
        baggage = self._clean_baggage(context)
        for name in self.formats:
            if name == "jaeger":
                carrier[self.trace_header] = to_header(context)
                for key, value in baggage.items():
                    if url_encode:
                        value = urllib.parse.quote(str(value), safe="")
                    carrier[self.baggage_prefix + key] = value
            elif name == "w3c":
                carrier["traceparent"] = _traceparent(context)
                if context.tracestate:
                    carrier["tracestate"] = context.tracestate
            elif name == "b3":
                carrier["X-B3-TraceId"] = f"{context.trace_id:032x}"
                carrier["X-B3-SpanId"] = f"{context.span_id:016x}"
                if context.parent_id:
                    carrier["X-B3-ParentSpanId"] = f"{context.parent_id:016x}"
                sampled = context.flags & SAMPLED
                carrier["X-B3-Sampled"] = "1" if sampled else "0"
            elif name == "baggage":
                if baggage:
                    carrier["baggage"] = _w3c_baggage(baggage)
            elif name == "xray":
                _xray_inject(context, carrier)

    def extract(
        self, carrier: Any, url_decode: bool
    ) -> Optional[JaegerSpanContext]:
        """The context in ``carrier``, or ``None`` when it holds none.

        :raises SpanContextCorruptedException: a header is there but
            malformed, and no other one is well-formed.
        """
        if not hasattr(carrier, "items"):
            raise InvalidCarrierException("carrier is not a mapping")
        headers = {str(k).lower(): v for k, v in carrier.items()}
        context, tracestate = self._context(headers)
        if context is None:
            return None
        baggage = _read_w3c_baggage(headers.get("baggage"))
        prefix = self.baggage_prefix
        baggage.update({
            k[len(prefix):]: urllib.parse.unquote(str(v)) if url_decode else v
            for k, v in headers.items()
            if k.startswith(prefix) and len(k) > len(prefix)
        })
        if baggage or tracestate:
            context = JaegerSpanContext(
                context.trace_id, context.span_id, context.parent_id,
                context.flags, baggage or None, tracestate,
            )
        return context

    def _context(self, headers: Mapping[str, Any]) -> Tuple[
            Optional[JaegerSpanContext], Optional[str]]:
        """The first well-formed context in :attr:`_read_order`, and the
        ``tracestate`` that goes with it (W3C's only)."""
        corrupted: Optional[SpanContextCorruptedException] = None
        for name in self._read_order:
            try:
                if name == "jaeger":
                    if self.trace_header in headers:
                        return from_header(headers[self.trace_header],
                                           self.trace_header), None
                    if TRACE_HEADER in headers:
                        return from_header(headers[TRACE_HEADER]), None
                elif name == "w3c" and "traceparent" in headers:
                    context = _from_traceparent(str(headers["traceparent"]))
                    return context, _tracestate(headers.get("tracestate"))
                elif name == "b3":
                    if "x-b3-traceid" in headers:
                        return _from_b3(headers), None
                    if "b3" in headers:
                        found = _from_b3_single(str(headers["b3"]))
                        if found is not None:
                            return found, None
            except SpanContextCorruptedException as error:
                corrupted = corrupted or error
        if corrupted is not None:
            raise corrupted
        return None, None

    # -- environment variables ------------------------------------------------
    def environment(self, context: JaegerSpanContext) -> Dict[str, str]:
        """The context as environment variables for a child process, as
        OpenTelemetry's specification for environment carriers names them:
        ``TRACEPARENT`` always (with ``TRACESTATE`` and ``BAGGAGE``),
        ``UBER_TRACE_ID`` too when ``jaeger`` is one of the formats."""
        env = {"TRACEPARENT": _traceparent(context)}
        if context.tracestate:
            env["TRACESTATE"] = context.tracestate
        if "jaeger" in self.formats:
            env["UBER_TRACE_ID"] = to_header(context)
        baggage = self._clean_baggage(context)
        if baggage:
            env["BAGGAGE"] = _w3c_baggage(baggage)
        return env

    def _clean_baggage(self, context: JaegerSpanContext) -> Dict[str, str]:
        """The baggage as it leaves the process: keys and values as text,
        both masked (a secret may be a key: it becomes a header's name)."""
        baggage = context.baggage
        if not baggage:
            return {}
        clean = self.clean or str
        return {clean(str(k)): clean(str(v)) for k, v in baggage.items()}

    # -- binary ----------------------------------------------------------------
    def inject_binary(self, context: JaegerSpanContext, carrier: Any) -> None:
        """Jaeger's binary encoding, as jaeger-client and jaeger-client-go
        write it: big-endian trace id high/low, span id, parent id (8 bytes
        each), flags (1), baggage count (4), then each key and value
        prefixed by its length (4)."""
        if not isinstance(carrier, bytearray):
            raise InvalidCarrierException("carrier is not a bytearray")
        baggage = self._clean_baggage(context)
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
    propagator (opentelemetry-propagator-aws-xray, the ``[aws]`` extra).
    Without it nothing is written: the run said so once, when it began
    (:mod:`chaostracing._run.extras`), and a request must not fail for it."""
    try:
        from opentelemetry import trace
        from opentelemetry.propagators.aws import AwsXRayPropagator
    except ImportError:
        return

    span = trace.NonRecordingSpan(trace.SpanContext(
        context.trace_id, context.span_id, is_remote=False,
        trace_flags=trace.TraceFlags(context.flags & SAMPLED)))
    AwsXRayPropagator().inject(
        carrier, context=trace.set_span_in_context(span))


def _traceparent(context: JaegerSpanContext) -> str:
    return (f"00-{context.trace_id:032x}-{context.span_id:016x}-"
            f"{context.flags & SAMPLED:02x}")


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


def _tracestate(value: Any) -> Optional[str]:
    """A ``tracestate`` to pass on: as received, when it is printable ASCII
    within the W3C's size (anything else is dropped, as the W3C says)."""
    if not isinstance(value, str):
        return None
    text = value.strip()
    if not text or len(text) > _MAX_TRACESTATE or not text.isascii() \
            or not text.isprintable():
        return None
    return text


def _w3c_baggage(baggage: Mapping[str, Any]) -> str:
    """W3C's ``baggage`` header: ``key=value`` pairs, percent-encoded."""
    return ",".join(
        f"{urllib.parse.quote(str(k), safe='')}="
        f"{urllib.parse.quote(str(v), safe='')}"
        for k, v in baggage.items())


def _read_w3c_baggage(value: Any) -> Dict[str, str]:
    """The items of a W3C ``baggage`` header (their properties dropped);
    ``{}`` for anything that is not one, or too long."""
    if not isinstance(value, str) or len(value) > _MAX_W3C_BAGGAGE:
        return {}
    items: Dict[str, str] = {}
    for member in value.split(","):
        key, equals, rest = member.split(";", 1)[0].partition("=")
        key = urllib.parse.unquote(key.strip())
        if equals and key and len(items) < _MAX_BAGGAGE_ITEMS:
            items[key] = urllib.parse.unquote(rest.strip())
    return items


def _from_b3(headers: Mapping[str, Any]) -> JaegerSpanContext:
    try:
        texts = [str(headers["x-b3-traceid"]),
                 str(headers.get("x-b3-spanid", ""))]
        parent = headers.get("x-b3-parentspanid")
        return _b3_context(texts[0], texts[1], str(parent) if parent else None,
                           str(headers.get("x-b3-sampled", "1")))
    except ValueError:
        raise SpanContextCorruptedException("malformed B3 headers") from None


def _from_b3_single(value: str) -> Optional[JaegerSpanContext]:
    """B3's single header, ``{trace}-{span}[-{sampled}[-{parent}]]``; a
    sampling decision alone (``0``, ``1``, ``d``) carries no context."""
    parts = value.strip().lower().split("-")
    if len(parts) < 2:
        return None
    try:
        return _b3_context(parts[0], parts[1],
                           parts[3] if len(parts) > 3 else None,
                           parts[2] if len(parts) > 2 else "1")
    except ValueError:
        raise SpanContextCorruptedException(
            f"malformed b3: {value[:80]!r}") from None


def _b3_context(trace: str, span: str, parent: Optional[str],
                sampled: str) -> JaegerSpanContext:
    """Raises ValueError for what is not B3's hex ids."""
    if len(trace) > 32 or len(span) > 16:
        raise ValueError(trace)
    trace_id, span_id = int(trace, 16), int(span, 16)
    parent_id = int(parent[:16], 16) if parent else None
    if not trace_id or not span_id:
        raise ValueError(trace)
    flags = SAMPLED if sampled.strip().lower() in ("1", "true", "d") else 0
    return JaegerSpanContext(trace_id, span_id, parent_id or None, flags)
