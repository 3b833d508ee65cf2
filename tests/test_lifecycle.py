"""The span lifecycle of a run, driven through the control's hooks.

chaoslib is played by hand here (same dicts, same threads, same order as
``chaoslib.run``); spans land in OpenTracing's MockTracer.
"""
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

import opentracing
import pytest
from opentracing.mocktracer import MockTracer

from chaostracing import control
from chaostracing._run import context as ctx
from chaostracing._run import lifecycle
from chaostracing._run.config import TracingConfig
from chaostracing._run.providers import Backend
from chaostracing._run.redact import Redactor
from chaostracing._run.run import TracedRun
from chaostracing._run.scope import SCOPE_MANAGER

EXPERIMENT = {
    "title": "my experiment",
    "steady-state-hypothesis": {
        "title": "all is well",
        "probes": [
            {
                "type": "probe",
                "name": "probe-1",
                "tolerance": True,
                "provider": {
                    "type": "python",
                    "module": "m",
                    "func": "f",
                    "arguments": {"password": "s3cr3t"},
                },
            }
        ],
    },
    "method": [
        {"type": "action", "name": "bg", "background": True,
         "provider": {"type": "python", "module": "m", "func": "bg"}},
        {"type": "action", "name": "fg",
         "provider": {"type": "http", "url": "http://svc/x"}},
    ],
    "rollbacks": [{"type": "action", "name": "rb",
                   "provider": {"type": "process", "path": "true"}}],
}


@pytest.fixture
def mock():
    tracer = MockTracer(scope_manager=SCOPE_MANAGER)
    run = TracedRun(
        Backend(tracer, None, "mock"),
        TracingConfig(provider="jaeger"),
        Redactor(),
    )
    ctx.install(run.proxy)
    lifecycle.set_current_run(run)
    yield tracer
    lifecycle.set_current_run(None)
    ctx.restore(run.proxy)


def ok(output=None):
    return {"status": "succeeded", "output": output}


def play_activity(activity, state=None):
    control.before_activity_control(context=activity)
    seen = opentracing.tracer.activity_span
    control.after_activity_control(context=activity, state=state or ok())
    return seen


def play_run(experiment=EXPERIMENT):
    hypo = experiment["steady-state-hypothesis"]
    control.before_experiment_control(context=experiment)
    control.before_hypothesis_control(context=hypo)
    probe_state = ok(True)
    play_activity(hypo["probes"][0], probe_state)
    probe_state["tolerance_met"] = True
    control.after_hypothesis_control(
        context=hypo, state={"steady_state_met": True, "probes": [probe_state]}
    )
    control.before_method_control(context=experiment)
    with ThreadPoolExecutor(1) as pool:
        pool.submit(play_activity, experiment["method"][0]).result()
    play_activity(experiment["method"][1])
    control.after_method_control(context=experiment, state=[ok(), ok()])
    control.before_rollback_control(context=experiment)
    play_activity(experiment["rollbacks"][0])
    control.after_rollback_control(context=experiment, state=[ok()])
    control.after_experiment_control(
        context=experiment, state={"status": "completed", "deviated": False}
    )


def spans_by_name(tracer):
    return {s.operation_name: s for s in tracer.finished_spans()}


def test_every_level_gets_one_span_parented_to_its_level(mock):
    play_run()
    spans = spans_by_name(mock)
    assert sorted(spans) == sorted([
        "my experiment", "all is well", "probe-1", "Method", "bg", "fg",
        "Rollbacks", "rb",
    ])
    root = spans["my experiment"]
    assert root.parent_id is None
    for phase in ("all is well", "Method", "Rollbacks"):
        assert spans[phase].parent_id == root.context.span_id
    assert spans["probe-1"].parent_id == spans["all is well"].context.span_id
    assert spans["bg"].parent_id == spans["Method"].context.span_id
    assert spans["fg"].parent_id == spans["Method"].context.span_id
    assert spans["rb"].parent_id == spans["Rollbacks"].context.span_id
    assert len({s.context.trace_id for s in spans.values()}) == 1


def test_levels_are_tagged_with_type_and_outcome(mock):
    play_run()
    spans = spans_by_name(mock)
    assert spans["my experiment"].tags["chaostoolkit.type"] == "experiment"
    assert spans["my experiment"].tags["chaostoolkit.status"] == "completed"
    assert spans["my experiment"].tags["chaostoolkit.deviated"] is False
    assert "error" not in spans["my experiment"].tags
    probe = spans["probe-1"].tags
    assert probe["chaostoolkit.activity.type"] == "probe"
    assert probe["chaostoolkit.tolerance_met"] is True
    assert probe["chaostoolkit.output"] is True
    assert spans["all is well"].tags["chaostoolkit.steady_state_met"] is True
    assert spans["all is well"].tags[
        "chaostoolkit.hypothesis.phase"] == "before"
    assert spans["fg"].tags["chaostoolkit.provider.url"] == "http://svc/x"
    assert spans["bg"].tags["chaostoolkit.activity.background"] is True
    assert spans["Method"].tags["chaostoolkit.activities"] == 2


def test_activity_arguments_never_become_tags(mock):
    play_run()
    for span in mock.finished_spans():
        assert "s3cr3t" not in repr(span.tags)


def test_a_failed_activity_is_an_error_with_an_error_log(mock):
    activity = {"type": "action", "name": "boom",
                "provider": {"type": "python"}}
    play_activity(activity, {
        "status": "failed",
        "output": None,
        "exception": ["Traceback...\n",
                      "chaoslib.exceptions.ActivityFailed: it broke\n"],
    })
    (span,) = mock.finished_spans()
    assert span.tags["error"] is True
    assert span.tags["chaostoolkit.status"] == "failed"
    (log,) = span.logs
    assert log.key_values["event"] == "error"
    assert log.key_values["error.kind"] == "chaoslib.exceptions.ActivityFailed"
    assert log.key_values["message"] == "it broke"


def test_a_probe_out_of_tolerance_is_marked_and_its_hypothesis_unmet(mock):
    hypo = EXPERIMENT["steady-state-hypothesis"]
    control.before_hypothesis_control(context=hypo)
    state = ok(False)
    play_activity(hypo["probes"][0], state)
    # chaoslib checks the tolerance after the activity's after-hook
    assert mock.finished_spans() == []
    state["tolerance_met"] = False
    control.after_hypothesis_control(
        context=hypo, state={"steady_state_met": False, "probes": [state]}
    )
    spans = spans_by_name(mock)
    assert spans["probe-1"].tags["chaostoolkit.tolerance_met"] is False
    assert spans["probe-1"].tags["error"] is True
    assert spans["all is well"].tags["chaostoolkit.steady_state_met"] is False
    # the probe span keeps its own end time, before its hypothesis's
    assert spans["probe-1"].finish_time <= spans["all is well"].finish_time


def test_failed_experiment_status_is_an_error(mock):
    control.before_experiment_control(context=EXPERIMENT)
    control.after_experiment_control(
        context=EXPERIMENT, state={"status": "aborted", "deviated": False}
    )
    (span,) = mock.finished_spans()
    assert span.tags["error"] is True
    assert span.tags["chaostoolkit.status"] == "aborted"


def test_tracer_attributes_follow_the_calling_thread(mock):
    experiment = EXPERIMENT
    control.before_experiment_control(context=experiment)
    control.before_method_control(context=experiment)
    fg, bg = experiment["method"][1], experiment["method"][0]
    control.before_activity_control(context=fg)
    tracer = opentracing.tracer
    fg_span = tracer.activity_span
    seen = {}
    ready, release = threading.Event(), threading.Event()

    def background():
        control.before_activity_control(context=bg)
        seen["bg"] = tracer.activity_span
        seen["method"] = tracer.method_span
        ready.set()
        release.wait(5)
        control.after_activity_control(context=bg, state=ok())

    worker = threading.Thread(target=background)
    worker.start()
    ready.wait(5)
    # the main thread still sees its own activity
    assert tracer.activity_span is fg_span
    assert seen["bg"] is not fg_span
    assert seen["method"] is tracer.method_span
    release.set()
    worker.join()
    control.after_activity_control(context=fg, state=ok())
    spans = spans_by_name(mock)
    assert spans["bg"].parent_id == tracer.method_span.context.span_id
    assert tracer.experiment_span is not None


def test_the_readme_snippet_makes_a_child_of_the_activity(mock):
    activity = EXPERIMENT["method"][1]
    control.before_activity_control(context=activity)
    headers = {}
    tracer = opentracing.tracer
    parent_span = tracer.activity_span
    span = tracer.start_span("my-inner-span", child_of=parent_span)
    span.set_tag("span.kind", "client")
    # MockTracer.inject wants a SpanContext, jaeger's takes the Span the
    # README passes (see test_jaeger_provider); the proxy accepts both
    tracer.inject(span, "http_headers", headers)
    span.finish()
    control.after_activity_control(context=activity, state=ok())
    spans = spans_by_name(mock)
    inner = spans["my-inner-span"]
    assert inner.parent_id == spans["fg"].context.span_id
    assert headers  # the mock propagator's headers carry the span's ids
    extracted = mock.extract("http_headers", headers)
    assert extracted.span_id == inner.context.span_id


def test_spans_started_without_parent_join_the_current_activity(mock):
    activity = EXPERIMENT["method"][1]
    control.before_activity_control(context=activity)
    opentracing.tracer.start_span("implicit").finish()
    control.after_activity_control(context=activity, state=ok())
    spans = spans_by_name(mock)
    assert spans["implicit"].parent_id == spans["fg"].context.span_id


def test_a_control_declared_twice_opens_one_span_per_level(mock):
    control.before_experiment_control(context=EXPERIMENT)
    control.before_experiment_control(context=EXPERIMENT)
    control.after_experiment_control(context=EXPERIMENT, state={})
    control.after_experiment_control(context=EXPERIMENT, state={})
    assert len(mock.finished_spans()) == 1


def test_hypothesis_level_control_makes_the_hypothesis_the_root(mock):
    hypo = EXPERIMENT["steady-state-hypothesis"]
    events = lifecycle.run_events(lifecycle.current_run())
    # what chaoslib tells every control, whatever level it is declared at
    for announce in (events.start_hypothesis_before,
                     events.start_hypothesis_after):
        announce(EXPERIMENT)
        control.before_hypothesis_control(context=hypo)
        control.after_hypothesis_control(
            context=hypo, state={"steady_state_met": True, "probes": []}
        )
    first, second = mock.finished_spans()
    assert first.parent_id is None
    # the second run of the hypothesis stays in the same trace
    assert second.context.trace_id == first.context.trace_id
    # the method level is not traced here: the phase comes from the events
    # (it used to read "before" twice)
    assert first.tags["chaostoolkit.hypothesis.phase"] == "before"
    assert second.tags["chaostoolkit.hypothesis.phase"] == "after"


def test_a_span_finished_by_two_threads_at_once_is_reported_once():
    from chaostracing._run.tracer import Tracer

    reported = []

    class Reporter:
        def report_span(self, span):
            reported.append(span)

    tracer = Tracer("t", Reporter())
    spans = [tracer.start_span(f"s{i}") for i in range(20000)]
    barrier = threading.Barrier(4)

    def finish_all():
        barrier.wait()
        for span in spans:
            span.finish()

    workers = [threading.Thread(target=finish_all) for _ in range(4)]
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as possible
    try:
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
    finally:
        sys.setswitchinterval(interval)
    assert len(reported) == 20000


def test_cleanup_finishes_what_was_left_open_and_restores_the_tracer(mock):
    run = lifecycle.current_run()
    control.before_experiment_control(context=EXPERIMENT)
    control.before_method_control(context=EXPERIMENT)
    control.cleanup_control()
    spans = spans_by_name(mock)
    assert spans["Method"].tags["chaostoolkit.status"] == "interrupted"
    assert spans["Method"].finish_time <= spans["my experiment"].finish_time
    assert opentracing.tracer is not run.proxy
    assert opentracing.tracer.activity_span is None
