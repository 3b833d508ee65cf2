"""Several runs in one process with chaoslib's run_experiment: no leaks."""
import gc
import tracemalloc

import opentracing
import pytest
from conftest import assert_one_trace

from chaostracing._run import context as ctx
from chaostracing._run import lifecycle
from chaostracing._run.tracer import Span


def experiment(port, title):
    return {
        "title": title, "description": "in process",
        "configuration": {"tracing_provider": "jaeger", "tracing_port": port},
        "controls": [{"name": "chaostracing", "provider": {
            "type": "python", "module": "chaostracing.control"}}],
        "steady-state-hypothesis": {"title": "fine", "probes": [{
            "type": "probe", "name": "exists", "tolerance": True,
            "provider": {"type": "python", "module": "os.path",
                         "func": "exists", "arguments": {"path": "."}}}]},
        "method": [
            {"type": "action", "name": f"act-{i}",
             "background": i % 2 == 0,
             "provider": {"type": "python", "module": "os.path",
                          "func": "exists", "arguments": {"path": "."}}}
            for i in range(6)
        ],
    }


def run(port, title):
    from chaoslib.experiment import run_experiment

    return run_experiment(experiment(port, title), settings={})


def live_spans():
    gc.collect()
    return [o for o in gc.get_objects() if isinstance(o, Span)]


def test_two_runs_give_two_independent_traces_and_leave_nothing(agent):
    before = opentracing.tracer
    first = run(agent.port, "first")
    second = run(agent.port, "second")
    assert first["status"] == second["status"] == "completed"
    spans = agent.wait_for(2 * 13)
    assert len(spans) == 26
    traces = {}
    for span in spans:
        traces.setdefault(span.trace_id, []).append(span)
    assert len(traces) == 2
    for members in traces.values():
        assert_one_trace(members)
        titles = {s.operation_name for s in members if s.parent_id == 0}
        assert titles in ({"first"}, {"second"})
    ids = [e["trace_id"] for j in (first, second) for e in j["extensions"]]
    assert len(set(ids)) == 2
    # nothing of the runs survives them
    assert lifecycle.current_run() is None
    assert opentracing.tracer is before
    assert opentracing.tracer.activity_span is None
    assert ctx.current_span() is None
    assert live_spans() == []


def traced_size():
    """Memory held, less what the in-process test listener keeps."""
    snapshot = tracemalloc.take_snapshot().filter_traces([
        tracemalloc.Filter(False, "*/chaostracing/_collector/agent.py",
                           all_frames=True),
        tracemalloc.Filter(False, "*/chaostracing/_jaeger/decode.py",
                           all_frames=True),
        tracemalloc.Filter(False, tracemalloc.__file__),
    ])
    return sum(stat.size for stat in snapshot.statistics("filename"))


@pytest.mark.slow  # ten runs under tracemalloc: seconds
def test_memory_stays_flat_across_runs(agent):
    for i in range(2):
        run(agent.port, f"warm-up-{i}")
    tracemalloc.start(16)  # frames enough to tell the listener's allocations
    try:
        sizes = []
        for i in range(8):
            run(agent.port, f"run-{i}")
            gc.collect()
            sizes.append(traced_size())
    finally:
        tracemalloc.stop()
    assert len(agent.wait_for(10 * 13)) == 10 * 13
    # after the first measured run, further runs add (almost) nothing: a
    # leaked run (13 spans, their contexts, a tracer) costs over 10 KB each
    # time; chaoslib's own bookkeeping adds about 1.5 KB a run
    per_run = (sizes[-1] - sizes[1]) / (len(sizes) - 2)
    assert per_run < 4 * 1024, sizes
    assert live_spans() == []
