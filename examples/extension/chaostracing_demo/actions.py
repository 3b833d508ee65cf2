"""Actions of the example extension."""
import time

import opentracing
import requests

from chaostracing import traced_activity
from chaostracing_contrib.requests import session

__all__ = [
    "call_service", "place_orders", "stress", "inject_fault", "restore",
    "fail", "nap",
]


def call_service(url: str, path: str = "/orders") -> int:
    """Call the demo service, traced the way the original README shows.

    This is the README's snippet, verbatim: an inner span, child of the
    activity's span, whose context travels in the request's headers.
    """
    url = url.rstrip("/") + path
    headers = {}

    tracer = opentracing.tracer
    parent_span = tracer.activity_span
    span = tracer.start_span("my-inner-span", child_of=parent_span)
    span.set_tag("http.url", url)
    span.set_tag("span.kind", "client")
    span.tracer.inject(span, "http_headers", headers)

    r = requests.get(url, headers=headers, timeout=5)

    span.set_tag("http.status_code", r.status_code)
    span.finish()
    return r.status_code


@traced_activity(record_args=["count"])
def place_orders(url: str, count: int = 3) -> int:
    """Place ``count`` orders on the demo service; return how many went in.

    Traced with ``@traced_activity`` and ``session()``: one span for the
    call, a client span per request under it.
    """
    placed = 0
    with session() as http:
        for _ in range(count):
            placed += http.get(url.rstrip("/") + "/orders", timeout=5).ok
    return placed


def stress(url: str, duration: float = 0.2) -> dict:
    """Put the demo service under pressure for ``duration`` seconds."""
    requests.post(url.rstrip("/") + "/stress", json={"on": True}, timeout=5)
    time.sleep(duration)
    return {"stressed_for": duration}


def inject_fault(url: str, fault: str = "errors", latency: float = 0.15) -> str:
    """Make the demo service's ``GET /orders`` misbehave until restored.

    :param fault: ``errors`` (it answers 503), ``latency`` (it answers
        ``latency`` seconds later) or ``none`` (a control run: no fault)
    """
    body = {"errors": {"on": True}, "latency": {"latency": latency},
            "none": {}}.get(fault)
    if body is None:
        raise ValueError(
            f"fault is {fault!r}: expected errors, latency or none")
    r = requests.post(url.rstrip("/") + "/stress", json=body, timeout=5)
    r.raise_for_status()
    return fault


def restore(url: str) -> bool:
    """Bring the demo service back to normal."""
    r = requests.post(url.rstrip("/") + "/stress",
                      json={"on": False, "latency": 0}, timeout=5)
    return r.ok


def fail(message: str = "this action fails on purpose") -> None:
    """An action that always fails, to show errors in the trace."""
    raise RuntimeError(message)


def nap(seconds: float = 0.1) -> float:
    """Sleep ``seconds`` (a stand-in for a long-running action)."""
    time.sleep(seconds)
    return seconds
