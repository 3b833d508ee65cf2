"""Test helpers for extension authors: assert the spans your code makes.

::

    from chaostracing.testing import record_spans

    def test_my_probe_is_traced():
        with record_spans(activity="my-probe") as spans:
            my_probe("http://127.0.0.1:8080")
        (inner,) = spans.children_of(spans.activity)
        assert inner.operation_name == "my_probe"

Or, as a pytest fixture, with ``pytest_plugins = ["chaostracing.testing"]``
in your ``conftest.py``::

    def test_my_probe_is_traced(chaostracing_spans):
        my_probe("http://127.0.0.1:8080")
        assert chaostracing_spans.named("my_probe")

Spans land in OpenTracing's ``MockTracer`` installed behind the same proxy a
traced run uses, so ``opentracing.tracer.activity_span``, ``current_span()``,
``@traced_activity`` and ``chaostracing_contrib.requests`` behave as in a run.
"""
import contextlib
from typing import Any, Iterator, List, Optional

import opentracing
from opentracing.mocktracer import MockTracer
from opentracing.mocktracer.span import MockSpan

from chaostracing._data import tags as _tagnames
from chaostracing._run import context as ctx
from chaostracing._run.scope import SCOPE_MANAGER

__all__ = ["RecordedSpans", "chaostracing_spans", "record_spans"]


class _RecordingTracer(MockTracer):
    """MockTracer on chaostracing's current span, whose ``inject`` takes a
    Span too, as real tracers do (the original README's snippet passes the
    span itself)."""

    def __init__(self) -> None:
        super().__init__(scope_manager=SCOPE_MANAGER)

    def inject(self, span_context: Any, format: str, carrier: Any) -> None:
        if isinstance(span_context, opentracing.Span):
            span_context = span_context.context
        return super().inject(span_context, format, carrier)


class RecordedSpans:
    """The finished spans of a :func:`record_spans` block."""

    def __init__(self, tracer: MockTracer) -> None:
        self.tracer = tracer
        #: the activity span the block runs under, if one was asked for
        self.activity: Optional[opentracing.Span] = None

    @property
    def spans(self) -> List[MockSpan]:
        """Finished spans, in the order they finished."""
        return self.tracer.finished_spans()

    def named(self, name: str) -> List[MockSpan]:
        return [s for s in self.spans if s.operation_name == name]

    def children_of(self, span: MockSpan) -> List[MockSpan]:
        return [s for s in self.spans if s.parent_id == span.context.span_id]


@contextlib.contextmanager
def record_spans(activity: Optional[str] = None) -> Iterator[RecordedSpans]:
    """Record spans inside the block; optionally run it as an activity.

    With ``activity="name"`` an activity span is open (and current) for the
    block, as when chaoslib runs an activity; it is finished on the way out.
    The global tracer is restored afterwards.
    """
    tracer = _RecordingTracer()
    proxy = ctx.TracerProxy(tracer)
    recorded = RecordedSpans(tracer)
    ctx.install(proxy)
    entry = None
    try:
        if activity:
            span = tracer.start_span(
                activity, tags={_tagnames.CHAOSTOOLKIT_TYPE: "activity"}
            )
            recorded.activity = span
            entry = proxy.enter("activity", span, current=True)
        yield recorded
    finally:
        if entry is not None:
            proxy.leave(entry)
            entry.span.finish()
        ctx.restore(proxy)


try:  # a pytest fixture, for `pytest_plugins = ["chaostracing.testing"]`
    import pytest

    @pytest.fixture
    def chaostracing_spans() -> Iterator[RecordedSpans]:
        """Spans recorded during the test, under an activity span."""
        with record_spans(activity="test-activity") as recorded:
            yield recorded

except ImportError:  # pragma: no cover - pytest is a test-time dependency
    pass
