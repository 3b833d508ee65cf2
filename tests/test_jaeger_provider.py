"""The jaeger provider in-process: real jaeger-client tracer, real UDP."""
import opentracing

from chaostracing import control
from chaostracing._run import lifecycle, safety
from chaostracing._run.context import install_noop_proxy


def configure(agent, **extra):
    configuration = {"tracing_provider": "jaeger", "tracing_port": agent.port}
    configuration.update(extra)
    control.configure_control(configuration=configuration, secrets={})
    return lifecycle.current_run()


def readme_snippet(url):
    headers = {}

    tracer = opentracing.tracer
    parent_span = tracer.activity_span
    span = tracer.start_span("my-inner-span", child_of=parent_span)
    span.set_tag('http.url', url)
    span.set_tag('span.kind', 'client')
    span.tracer.inject(span, 'http_headers', headers)
    span.finish()
    return headers


def test_the_readme_snippet_works_verbatim_with_jaeger(agent):
    run = configure(agent)
    activity = {"type": "action", "name": "act"}
    control.before_activity_control(context=activity)
    headers = readme_snippet("http://127.0.0.1/x")
    control.after_activity_control(context=activity,
                                   state={"status": "succeeded"})
    control.cleanup_control()
    spans = {s.operation_name: s for s in agent.wait_for(2)}
    inner, act = spans["my-inner-span"], spans["act"]
    assert inner.parent_id == act.span_id
    trace_id, span_id, parent_id, flags = headers["uber-trace-id"].split(":")
    assert (int(trace_id, 16), int(span_id, 16)) == (
        inner.trace_id, inner.span_id)
    assert int(flags) & 1  # sampled
    assert opentracing.tracer is not run.proxy


def test_the_global_tracer_is_set_for_the_run_and_restored_at_cleanup(agent):
    before = opentracing.tracer
    run = configure(agent)
    assert opentracing.tracer is run.proxy
    assert opentracing.global_tracer() is run.proxy
    assert opentracing.is_global_tracer_registered()
    control.cleanup_control()
    assert opentracing.tracer is before


def test_the_readme_snippet_is_safe_when_tracing_is_off():
    opentracing._reset_global_tracer()
    install_noop_proxy()
    tracer = opentracing.tracer
    assert tracer.activity_span is None
    assert tracer.experiment_span is None
    headers = readme_snippet("http://127.0.0.1/x")
    assert headers == {}


def test_a_registered_tracer_of_someone_else_is_left_alone():
    from opentracing.mocktracer import MockTracer

    theirs = MockTracer()
    opentracing.set_global_tracer(theirs)
    install_noop_proxy()
    assert opentracing.tracer is theirs


def test_two_runs_in_one_process_give_two_independent_traces(agent):
    trace_ids = []
    for title in ("first", "second"):
        configure(agent)
        experiment = {"title": title}
        control.before_experiment_control(context=experiment)
        control.after_experiment_control(context=experiment, state={})
        control.cleanup_control()
        trace_ids.append(agent.wait_for(len(trace_ids) + 1)[-1].trace_id)
    assert trace_ids[0] != trace_ids[1]
    assert opentracing.tracer.activity_span is None


def test_trace_ids_are_128_bit_and_logged(agent, caplog):
    import logging

    caplog.set_level(logging.INFO, logger="chaostoolkit")
    configure(agent)
    control.before_experiment_control(context={"title": "t"})
    control.after_experiment_control(context={"title": "t"}, state={})
    control.cleanup_control()
    (span,) = agent.wait_for(1)
    assert span.trace_id >> 64
    assert f"trace id {span.trace_id_hex}" in caplog.text


def test_service_name_and_sampler_are_configurable(agent):
    configure(agent, tracing_service_name="my-chaos", tracing_sampler_rate=0.0)
    control.before_experiment_control(context={"title": "t"})
    control.after_experiment_control(context={"title": "t"}, state={})
    control.cleanup_control()
    assert agent.wait_quiet(0.2, timeout=1) == []  # rate 0 keeps nothing
    configure(agent, tracing_service_name="my-chaos")
    control.before_experiment_control(context={"title": "t"})
    control.after_experiment_control(context={"title": "t"}, state={})
    control.cleanup_control()
    (span,) = agent.wait_for(1)
    assert span.service_name == "my-chaos"


def test_an_internal_error_warns_once_and_later_hooks_do_nothing(
    agent, monkeypatch, caplog
):
    run = configure(agent)

    def broken(*args, **kwargs):
        raise RuntimeError("bug")

    monkeypatch.setattr(run, "begin", broken)
    with safety.strict(False):
        for _ in range(3):
            control.before_activity_control(context={"name": "a"})
    assert caplog.text.count("internal error in before_activity_control") == 1
    assert run.disabled
    control.cleanup_control()
