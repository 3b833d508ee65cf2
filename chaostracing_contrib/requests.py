"""Trace HTTP calls made with ``requests`` and carry the trace to the server.

Two ways in::

    from chaostracing_contrib import requests as traced

    http = traced.session()          # a requests.Session whose calls are traced
    http.get("http://127.0.0.1:8080/health")

    traced.instrument()              # or: every requests call in the process
    ...
    traced.uninstrument()

Each request sent opens a client span, child of the current span (an
enclosing ``@traced_activity`` function, else the running activity), tagged
per OpenTracing's HTTP conventions: ``span.kind=client``, ``component``,
``http.method``, ``http.url`` (no credentials; secret-looking query values
masked), ``http.status_code``, ``peer.hostname`` / ``peer.port`` /
``peer.ipv4`` / ``peer.ipv6``. A 5xx answer or an exception (timeout,
connection refused...) sets ``error=true``; the exception is logged on the
span then re-raised unchanged. The trace context is injected with
``tracer.inject`` (the formats configured by ``tracing_propagation``) into a
copy of the prepared request: the caller's headers are never modified.

- Redirects: one span per hop, siblings under the same parent.
- Streaming (``stream=True``): the span ends when the headers arrive.
- Retries by a mounted ``HTTPAdapter(max_retries=...)``: one span for the
  call, ``http.retry_count`` when urllib3 retried.
- A request that already carries trace headers was traced by its caller
  (the snippet of chaostracing's README): it goes through untouched.
- A request sent through :func:`session` while :func:`instrument` is on is
  traced once, not twice; so is one under OpenTelemetry's instrumentations
  (urllib3's is suppressed under ours, and ours under an outer one such as
  botocore's, through OpenTelemetry's own suppression keys).
- When nothing is traced, requests go straight through.

Hooks, called inside our safety net (an error in a hook is logged, never
raised): ``request_hook(span, request)`` before sending,
``response_hook(span, request, response)`` after.
"""
from chaostracing._run.redact import sanitize_url
from chaostracing._run.requests import (
    RequestHook,
    ResponseHook,
    instrument,
    is_instrumented,
    session,
    uninstrument,
)

__all__ = [
    "RequestHook",
    "ResponseHook",
    "instrument",
    "is_instrumented",
    "sanitize_url",
    "session",
    "uninstrument",
]
