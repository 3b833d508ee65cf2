"""Tracing of ``requests``: what :mod:`chaostracing_contrib.requests`
exports (its docstring is the user guide) and what ``tracing_instrument:
["requests"]`` turns on.

Each request sent opens a client span, child of the current span; the trace
context is injected into a copy of the prepared request; the user's
exception is recorded on the span, then re-raised unchanged.
"""
import contextvars
import functools
import ipaddress
import sys
import urllib.parse
from typing import Any, Callable, Dict, Optional, Tuple

import opentracing
import requests
import wrapt
from opentracing import Format

from chaostracing._data.tags import (
    CLIENT,
    COMPONENT,
    ERROR,
    HTTP_METHOD,
    HTTP_RETRY_COUNT,
    HTTP_STATUS_CODE,
    HTTP_URL,
    PEER_HOSTNAME,
    PEER_IPV4,
    PEER_IPV6,
    PEER_PORT,
    SPAN_KIND,
)
from chaostracing._run import context as ctx
from chaostracing._run import safety
from chaostracing._run.decorators import record_exception
from chaostracing._run.redact import sanitize_url

__all__ = [
    "RequestHook",
    "ResponseHook",
    "instrument",
    "is_instrumented",
    "sanitize_url",
    "session",
    "uninstrument",
]
RequestHook = Callable[[opentracing.Span, requests.PreparedRequest], None]
ResponseHook = Callable[
    [opentracing.Span, requests.PreparedRequest, requests.Response], None
]

# the request object a wrapper is sending: an inner wrapper seeing the same
# object knows the call is already traced (session() under instrument())
_in_flight: "contextvars.ContextVar[Any]" = contextvars.ContextVar(
    "chaostracing_requests_in_flight", default=None
)


def session(
    request_hook: Optional[RequestHook] = None,
    response_hook: Optional[ResponseHook] = None,
    **attributes: Any,
) -> requests.Session:
    """A :class:`requests.Session` whose requests are traced.

    :param attributes: set on the session as they are (``headers``,
        ``verify``, ``auth``, ``proxies``...)

    >>> http = session(verify=False)
    >>> http.verify
    False
    """
    http = requests.Session()
    for key, value in attributes.items():
        if not hasattr(http, key):
            raise TypeError(f"requests.Session has no attribute {key!r}")
        setattr(http, key, value)
    # wrap the instance's bound send: requests calls self.send (also for
    # redirects), so this sees every request the session makes
    http.send = wrapt.FunctionWrapper(  # type: ignore[method-assign]
        http.send, _Wrapper(request_hook, response_hook)
    )
    return http


def instrument(
    request_hook: Optional[RequestHook] = None,
    response_hook: Optional[ResponseHook] = None,
) -> None:
    """Trace every request made with ``requests`` in this process.

    Calling it again while instrumented only logs a warning.
    """
    if is_instrumented():
        safety.warn_once("requests-twice", "requests is already instrumented")
        return
    wrapt.wrap_function_wrapper(
        "requests.sessions",
        "Session.send",
        _Wrapper(request_hook, response_hook),
    )


def uninstrument() -> None:
    """Undo :func:`instrument`; does nothing when not instrumented."""
    if is_instrumented():
        send = requests.sessions.Session.__dict__["send"]
        requests.sessions.Session.send = (  # type: ignore[method-assign]
            send.__wrapped__)



def is_instrumented() -> bool:
    """Whether :func:`instrument` is in effect."""
    send = requests.sessions.Session.__dict__.get("send")
    return isinstance(send, _PROXY) and isinstance(
        getattr(send, "_self_wrapper", None), _Wrapper
    )


# wrapt 2 (Python 3.9+): FunctionWrapper derives from BaseObjectProxy, not
# ObjectProxy; wrapt 1 (what Python 3.8 gets) has ObjectProxy only
_PROXY = getattr(wrapt, "BaseObjectProxy", wrapt.ObjectProxy)


###############################################################################
# Internals
###############################################################################
class _Wrapper:
    """The ``wrapt`` wrapper of ``Session.send`` (its type marks it as ours)."""

    def __init__(self, request_hook: Optional[RequestHook],
                 response_hook: Optional[ResponseHook]) -> None:
        self.request_hook = request_hook
        self.response_hook = response_hook

    def __call__(self, wrapped: Callable[..., Any], instance: Any,
                 args: Tuple[Any, ...], kwargs: Dict[str, Any]) -> Any:
        request = args[0] if args else kwargs.get("request")
        otel = _opentelemetry()
        if (
            not ctx.is_tracing()
            or request is None
            or _in_flight.get() is request
            or ctx.is_suppressed()
            # an outer layer (botocore's) traces it; inside our own request
            # (a redirect's hop), the suppression is ours
            or (otel is not None and _in_flight.get() is None
                and otel.is_http_suppressed())
            or _carries_context(request)
        ):
            return wrapped(*args, **kwargs)
        span, request = _start(request, self.request_hook)
        if span is None:
            return wrapped(*args, **kwargs)
        if args:
            args = (request,) + tuple(args[1:])
        else:
            kwargs = dict(kwargs, request=request)
        token = _in_flight.set(request)
        try:
            if otel is None:
                response = wrapped(*args, **kwargs)
            else:  # urllib3's OpenTelemetry instrumentation: not a 2nd span
                with otel.suppress_http():
                    response = wrapped(*args, **kwargs)
        except BaseException as error:
            record_exception(span, error)
            with safety.capture_internal_exceptions(
                    "finish a requests client span"):
                span.finish()
            raise
        finally:
            _in_flight.reset(token)
        _finish(span, request, response, self.response_hook)
        return response


#: headers that say the caller traced this request itself (the README's
#: snippet: its own client span, injected into the headers it passes)
_CONTEXT_HEADERS = ("traceparent", "uber-trace-id", "x-b3-traceid", "b3")


def _carries_context(request: requests.PreparedRequest) -> bool:
    headers = request.headers
    if not headers:
        return False
    tracer = getattr(opentracing.tracer, "wrapped", None)
    own = getattr(getattr(tracer, "propagator", None), "trace_header", None)
    return any(name in headers for name in _CONTEXT_HEADERS) or (
        own is not None and own in headers)


def _opentelemetry() -> Any:
    """chaostracing._run.otel.installation when OpenTelemetry's
    instrumentation is loaded (its suppression keys then matter), else None:
    nothing is imported for it."""
    if "opentelemetry.instrumentation.utils" in sys.modules:
        from chaostracing._run.otel import installation

        return installation
    return None


def _start(
    request: requests.PreparedRequest, hook: Optional[RequestHook]
) -> Tuple[Optional[opentracing.Span], requests.PreparedRequest]:
    span = None
    with safety.capture_internal_exceptions("start a requests client span"):
        method = (request.method or "GET").upper()
        tags = {
            SPAN_KIND: CLIENT,
            COMPONENT: "requests",
            HTTP_METHOD: method,
        }
        tags.update(_url_tags(request.url or ""))
        tracer = opentracing.tracer
        span = tracer.start_span(
            f"HTTP {method}", child_of=ctx.current_span(), tags=tags
        )
        carrier: Dict[str, str] = {}
        tracer.inject(span.context, Format.HTTP_HEADERS, carrier)
        if carrier:
            request = _with_headers(request, carrier)
    if span is not None:
        _call_hook(hook, span, request)
    return span, request


def _finish(span: opentracing.Span, request: requests.PreparedRequest,
            response: requests.Response,
            hook: Optional[ResponseHook]) -> None:
    with safety.capture_internal_exceptions("tag a requests response"):
        # after redirects requests returns the last hop's response; this
        # span's own answer is the first of its history
        own = response.history[0] if response.history else response
        status = own.status_code
        span.set_tag(HTTP_STATUS_CODE, status)
        if status >= 500:
            span.set_tag(ERROR, True)
        retries = getattr(getattr(response.raw, "retries", None), "history", ())
        if retries:
            span.set_tag(HTTP_RETRY_COUNT, len(retries))
    _call_hook(hook, span, request, response)
    with safety.capture_internal_exceptions("finish a requests client span"):
        span.finish()


def _call_hook(hook: Optional[Callable[..., None]], span: opentracing.Span,
               *args: Any) -> None:
    if hook is None:
        return
    try:
        hook(span, *args)
    except Exception as error:  # the user's hook: said once, never raised
        safety.warn_once(
            "requests-hook", "a requests hook failed (%s: %s); the request "
            "goes on", type(error).__name__, error)


def _with_headers(request: requests.PreparedRequest,
                  extra: Dict[str, str]) -> requests.PreparedRequest:
    """A shallow copy of ``request`` with its own, extended, headers.

    ``PreparedRequest.copy()`` would also copy the cookie jar and body: only
    the headers change here, so only they are copied.
    """
    clone = requests.PreparedRequest()
    clone.__dict__.update(request.__dict__)
    clone.headers = request.headers.copy()
    clone.headers.update(extra)
    return clone


@functools.lru_cache(maxsize=512)
def _url_items(url: str) -> Tuple[Tuple[str, Any], ...]:
    # activities call the same few URLs again and again: parse each once
    return ((HTTP_URL, sanitize_url(url)),) + tuple(_peer_tags(url).items())


def _url_tags(url: str) -> Dict[str, Any]:
    return dict(_url_items(url))


def _peer_tags(url: str) -> Dict[str, Any]:
    try:
        parts = urllib.parse.urlsplit(url)
        host, port = parts.hostname, parts.port
    except ValueError:
        return {}
    if not host:
        return {}
    tags: Dict[str, Any] = {PEER_HOSTNAME: host}
    if port is None:
        port = {"http": 80, "https": 443}.get(parts.scheme)
    if port is not None:
        tags[PEER_PORT] = port
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return tags
    tags[PEER_IPV4 if address.version == 4 else PEER_IPV6] = str(address)
    return tags
