"""Run-time faults that cost one span, or say so (issue 18, item 7): a span
whose conversion never finishes, a trace file's mode, runs sharing a trace
file."""
import threading

from chaostracing._data.model import Process
from chaostracing._run.pipeline import Pipeline, Transport
from chaostracing._run.redact import Redactor
from chaostracing._run.tracer import Tracer

PROCESS = Process("svc")


class Memory(Transport):
    description = "memory"

    def __init__(self):
        self.spans = []

    def send(self, spans):
        self.spans.extend(spans)
        return len(spans)


class _Keep:
    def report_span(self, span):
        pass


_tracer = Tracer("test", _Keep())


def finished(name, **tags):
    span = _tracer.start_span(name, tags=tags, start_time=1.0)
    span.finish(finish_time=2.0)
    return span


class Stuck:
    """A tag value whose repr() does not return until released."""

    def __init__(self):
        self.release = threading.Event()
        self.entered = threading.Event()

    def __repr__(self):
        self.entered.set()
        self.release.wait(30)
        return "late"


def test_a_span_whose_conversion_never_ends_costs_only_itself():
    transport = Memory()
    pipeline = Pipeline(transport, Redactor(), PROCESS, flush_interval=60,
                        convert_timeout=0.1)
    stuck = Stuck()
    try:
        pipeline.report_span(finished("before"))
        pipeline.report_span(finished("stuck", value=stuck))
        for i in range(5):
            pipeline.report_span(finished(f"after-{i}"))
        assert pipeline.flush(timeout=2)
        assert stuck.entered.is_set()
        names = [s.operation_name for s in transport.spans]
        assert names == ["before"] + [f"after-{i}" for i in range(5)]
        stats = pipeline.stats()
        assert (stats.sent, stats.dropped, stats.queued) == (6, 1, 0)
        # the pipeline goes on, on its fresh thread
        pipeline.report_span(finished("later"))
        assert pipeline.close(timeout=2)
        assert transport.spans[-1].operation_name == "later"
    finally:
        stuck.release.set()
    # the abandoned thread, released, delivers nothing and counts nothing
    for thread in threading.enumerate():
        if thread.name == "chaostracing-export":
            thread.join(2)
    assert [s.operation_name for s in transport.spans].count("stuck") == 0
    assert pipeline.stats().sent == 7 and pipeline.stats().dropped == 1


def test_a_short_flush_abandons_a_stuck_span_within_its_own_timeout():
    transport = Memory()
    # the default time a conversion may take is longer than this flush
    pipeline = Pipeline(transport, Redactor(), PROCESS, flush_interval=60)
    stuck = Stuck()
    try:
        pipeline.report_span(finished("stuck", value=stuck))
        pipeline.report_span(finished("after"))
        assert pipeline.close(timeout=0.6)
        assert [s.operation_name for s in transport.spans] == ["after"]
        assert pipeline.stats().dropped == 1
    finally:
        stuck.release.set()


# -- end to end ----------------------------------------------------------------
CONTROL = {"name": "chaostracing",
           "provider": {"type": "python", "module": "chaostracing.control"}}


def python(name, func, **arguments):
    return {"type": "action", "name": name,
            "provider": {"type": "python", "module": "chaos_helpers",
                         "func": func, "arguments": arguments}}


def test_a_tag_whose_repr_never_returns_costs_its_span_only(chaos, agent):
    experiment = {
        "title": "endless repr", "description": "d",
        "configuration": {"tracing_provider": "jaeger",
                          "tracing_port": agent.port},
        "controls": [CONTROL],
        "method": [python("before", "echo", value=1),
                   python("endless", "endless_repr"),
                   python("after", "echo", value=2)],
    }
    run = chaos(experiment)
    assert run.status == "completed", run.log[-2000:]
    # experiment, method, rollbacks, before, after: all but the endless one
    spans = agent.wait_for(5, timeout=10)
    agent.wait_quiet(0.3)
    names = sorted(s.operation_name for s in agent.spans)
    assert names == sorted(["endless repr", "Method", "Rollbacks", "before",
                            "after"]), names
    (entry,) = run.journal["extensions"]
    assert entry["spans_dropped"] == 1 and entry["spans_sent"] == 5
    assert entry["delivered"] is False
    assert run.log.count("a span took more than") == 1
    assert {s.trace_id for s in spans} == {int(entry["trace_id"], 16)}
