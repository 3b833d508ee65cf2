"""The extension-author SDK: current span, @traced_activity, bind_context."""
import asyncio
import inspect
import threading
from concurrent.futures import ThreadPoolExecutor

import opentracing
import pytest

import chaostracing
from chaostracing import bind_context, current_span, traced_activity, use_span

# chaoslib discovers activities from __all__
__all__ = ["plain", "named", "coro", "broken"]


@traced_activity
def plain(a: int, b: str = "x", *, secrets=None) -> str:
    """Plain docstring."""
    return f"{a}{b}"


@traced_activity(name="custom name", tags={"team": "sre"}, record_args=["a"])
def named(a: int, password: str = "") -> int:
    return a


@traced_activity
async def coro(n: int) -> int:
    """Coroutine docstring."""
    await asyncio.sleep(0)
    return n


@traced_activity
def broken() -> None:
    raise KeyError("missing")


def test_the_decorated_function_keeps_its_identity():
    assert plain.__name__ == "plain"
    assert plain.__doc__ == "Plain docstring."
    assert plain.__module__ == __name__
    assert str(inspect.signature(plain)) == (
        "(a: int, b: str = 'x', *, secrets=None) -> str")
    assert inspect.iscoroutinefunction(coro)
    assert not inspect.iscoroutinefunction(plain)
    assert coro.__doc__ == "Coroutine docstring."


def test_chaoslib_validates_a_decorated_activity_against_its_signature():
    from chaoslib.exceptions import InvalidActivity
    from chaoslib.provider.python import validate_python_activity

    def activity(arguments):
        return {"type": "action", "name": "a", "provider": {
            "type": "python", "module": __name__, "func": "plain",
            "arguments": arguments}}

    validate_python_activity(activity({"a": 1, "b": "y"}))
    with pytest.raises(InvalidActivity):
        validate_python_activity(activity({"nope": 1}))


def test_chaos_discover_lists_the_decorated_function(tmp_path):
    from chaoslib.discovery.discover import discover_activities

    found = discover_activities(__name__, "action")
    names = {a["name"] for a in found}
    assert {"plain", "named", "coro", "broken"} <= names
    (entry,) = [a for a in found if a["name"] == "plain"]
    assert entry["doc"] == "Plain docstring."
    assert [arg["name"] for arg in entry["arguments"]] == ["a", "b"]


def test_a_decorated_call_is_a_child_of_the_current_span(mock_tracer):
    parent = opentracing.tracer.start_span("activity")
    with use_span(parent):
        assert plain(1) == "1x"
    parent.finish()
    child, _ = mock_tracer.finished_spans()
    assert child.operation_name == "plain"
    assert child.parent_id == parent.context.span_id
    assert child.tags["code.function"] == "plain"
    assert child.tags["code.namespace"] == __name__


def test_nested_decorated_calls_nest_and_restore_the_current_span(mock_tracer):
    seen = []

    @traced_activity
    def outer():
        seen.append(current_span())
        inner()
        seen.append(current_span())

    @traced_activity
    def inner():
        seen.append(current_span())

    outer()
    assert current_span() is None
    inner_span, outer_span = mock_tracer.finished_spans()
    assert inner_span.parent_id == outer_span.context.span_id
    assert seen == [outer_span, inner_span, outer_span]


def test_an_exception_is_recorded_and_reraised_unchanged(mock_tracer):
    with pytest.raises(KeyError) as raised:
        broken()
    assert raised.value.args == ("missing",)
    (span,) = mock_tracer.finished_spans()
    assert span.tags["error"] is True
    (log,) = span.logs
    assert log.key_values["event"] == "error"
    assert log.key_values["error.kind"] == "KeyError"
    assert log.key_values["error.object"] is raised.value
    assert current_span() is None


def test_arguments_are_recorded_only_when_asked(mock_tracer):
    plain(1, "y", secrets={"k": "v"})
    named(7, password="hunter2")
    plain_span, named_span = mock_tracer.finished_spans()
    assert not any(k.startswith("arg.") for k in plain_span.tags)
    assert named_span.operation_name == "custom name"
    assert named_span.tags["team"] == "sre"
    assert named_span.tags["arg.a"] == 7
    assert "arg.password" not in named_span.tags


def test_secrets_and_configuration_are_never_recorded(mock_tracer):
    @traced_activity(record_args=True)
    def activity(url, configuration=None, secrets=None):
        return url

    activity("http://x", configuration={"c": 1}, secrets={"s": "p"})
    (span,) = mock_tracer.finished_spans()
    assert span.tags["arg.url"] == "http://x"
    assert "arg.secrets" not in span.tags
    assert "arg.configuration" not in span.tags


def test_coroutines_are_traced_and_awaited(mock_tracer):
    assert asyncio.run(coro(5)) == 5
    (span,) = mock_tracer.finished_spans()
    assert span.operation_name == "coro"


def test_a_hundred_asyncio_tasks_each_see_their_own_current_span(mock_tracer):
    @traced_activity
    async def task(i):
        mine = current_span()
        mine.set_tag("i", i)
        await asyncio.sleep(0.001 * (i % 7))
        assert current_span() is mine
        await asyncio.sleep(0)
        return current_span().tags["i"]

    async def main():
        return await asyncio.gather(*(task(i) for i in range(100)))

    assert asyncio.run(main()) == list(range(100))
    assert len(mock_tracer.finished_spans()) == 100


def test_plain_threads_see_the_span_only_when_bound(mock_tracer):
    parent = opentracing.tracer.start_span("parent")
    seen = {}
    with use_span(parent):
        unbound = threading.Thread(target=lambda: seen.update(u=current_span()))
        bound = threading.Thread(
            target=bind_context(lambda: seen.update(b=current_span())))
        unbound.start(), bound.start()
        unbound.join(), bound.join()
        with ThreadPoolExecutor(4) as pool:
            results = list(pool.map(bind_context(lambda _: current_span()),
                                    range(8)))
    assert seen["u"] is None
    assert seen["b"] is parent
    assert results == [parent] * 8


def test_use_span_none_clears_the_current_span_opentelemetrys_too(
        mock_tracer):
    # bind_context does this for a function bound where no span was current
    pytest.importorskip("opentelemetry.trace")
    from opentelemetry import trace

    from chaostracing._run.otel import bridge

    bridge.enable()  # OpenTelemetry's current span follows ours
    try:
        parent = opentracing.tracer.start_span("parent")
        with use_span(parent):
            with use_span(None):
                assert current_span() is None
                assert not trace.get_current_span().get_span_context(
                    ).is_valid
            assert current_span() is parent
            assert trace.get_current_span().get_span_context().span_id == (
                parent.context.span_id)
    finally:
        bridge.disable()


def test_without_tracing_the_decorator_calls_straight_through():
    opentracing._reset_global_tracer()
    chaostracing._run.context.install_noop_proxy()
    assert not chaostracing._run.context.is_tracing()
    assert plain(2) == "2x"
    assert current_span() is None
    with pytest.raises(KeyError):
        broken()
