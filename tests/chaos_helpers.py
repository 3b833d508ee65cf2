"""Activities and a control used by the end-to-end tests' experiments."""
import time

from chaoslib.exceptions import InterruptExecution

__all__ = ["echo", "reveal", "fail_with", "big_output", "nap", "structured",
           "traced_login", "fail_with_repr", "fail_with_url", "tag_the_span",
           "many_references", "odd_values", "endless_repr"]


def echo(value):
    """Return ``value``."""
    return value


def reveal(secrets=None):
    """Return the secrets chaoslib handed the activity (a careless probe)."""
    return {"seen": secrets}


def fail_with(message: str):
    """Raise with ``message``."""
    raise RuntimeError(message)


def big_output(size: int = 10_000_000) -> str:
    """Return ``size`` characters."""
    return "x" * size


def nap(seconds: float = 0.1) -> float:
    """Sleep."""
    time.sleep(seconds)
    return seconds


# a control that interrupts the run before the activity named "stop-here"
def before_activity_control(context, **kwargs):
    if context.get("name") == "stop-here":
        raise InterruptExecution("stopped by the interrupting control")


# -- used by test_e2e_secrets: ways a secret reaches spans ---------------------
def structured(value):
    """An output holding ``value`` in nested JSON."""
    return {"nested": {"pw": value, "list": [value, {"again": value}]}}


from chaostracing import traced_activity  # noqa: E402


@traced_activity(record_args=True)
def traced_login(token: str) -> bool:
    """A @traced_activity recording its (secret) argument."""
    return bool(token)


def fail_with_repr(token: str):
    """Fail with the token in a ``{token!r}`` message."""
    raise RuntimeError(f"authentication failed for {token!r}")


def fail_with_url(port: int, token: str):
    """Fail as requests does, the token percent-encoded in the URL."""
    import requests

    requests.get(f"http://127.0.0.1:{port}/health",
                 params={"key": token}, timeout=0.5)


def tag_the_span(token: str, number: int):
    """Extension code putting secrets everywhere a span can hold them."""
    import opentracing

    span = opentracing.tracer.activity_span
    span.set_tag(f"key-{token}", "value")
    span.set_tag("bytes", f"raw {token} bytes".encode())
    span.set_tag("number", number)
    span.set_tag("float", float(number))
    span.log_kv({"event": token, f"field-{token}": number})
    span.set_baggage_item("carried", token)
    span.set_baggage_item(f"key-{token}", "as a key")
    inner = opentracing.tracer.start_span("child", child_of=span)
    headers = {}
    opentracing.tracer.inject(inner, "http_headers", headers)
    from chaostracing import trace_env

    # what a child process would get in its environment
    headers["env:BAGGAGE"] = trace_env(inner).get("BAGGAGE")
    inner.finish()
    return headers


def many_references(count: int = 3000):
    """A span with thousands of follows_from references."""
    import opentracing

    tracer = opentracing.tracer
    others = [tracer.start_span(f"other-{i}") for i in range(count)]
    span = tracer.start_span(
        "with-references", child_of=tracer.activity_span,
        references=[opentracing.follows_from(o.context) for o in others])
    span.finish()
    for other in others:
        other.finish()
    return count


def odd_values():
    """Tag values an extension should not pass, but might."""
    import opentracing

    class Unprintable:
        def __repr__(self):
            raise RuntimeError("no repr")

        __str__ = __repr__

    cyclic = []
    cyclic.append(cyclic)
    span = opentracing.tracer.activity_span
    span.set_tag("unprintable", Unprintable())
    span.set_tag("cyclic", cyclic)
    span.set_tag("deep", _deep(5000))
    span.set_tag("control", "line\x1b[2J\x00\u202eend")
    span.log_kv({"event": "odd", "object": Unprintable()})
    return "ok"


def _deep(depth):
    value = "bottom"
    for _ in range(depth):
        value = [value]
    return value


def endless_repr():
    """Tag the activity's span with a value whose repr() never returns."""
    import opentracing

    class Endless:
        def __repr__(self):
            while True:
                time.sleep(0.05)

    opentracing.tracer.activity_span.set_tag("endless", Endless())
    return "tagged"
