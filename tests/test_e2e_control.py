"""End to end: a real ``chaos run`` traced to a real UDP Jaeger-agent listener.

Each test runs chaostoolkit in a fresh process against the demo HTTP service
on 127.0.0.1 and decodes what reached the listener with thrift.
"""
import copy

from conftest import assert_one_trace, by_name, load_example

from chaostracing._data.model import FOLLOWS_FROM

CONTROL = {"name": "chaostracing",
           "provider": {"type": "python", "module": "chaostracing.control"}}
EXPECTED = {
    "The demo service survives stress": None,
    "The service is healthy": "The demo service survives stress",
    "Method": "The demo service survives stress",
    "Rollbacks": "The demo service survives stress",
    "stress-the-service": "Method",
    "call-the-service": "Method",
    "count-orders": "Method",
    "my-inner-span": "call-the-service",
    "restore-the-service": "Rollbacks",
}


def env_for(agent, demo_service, **extra):
    env = {"JAEGER_AGENT_PORT": str(agent.port),
           "DEMO_SERVICE_URL": demo_service.url}
    env.update(extra)
    return env


def without_controls(experiment):
    experiment = copy.deepcopy(experiment)
    experiment.pop("controls", None)
    return experiment


def test_the_example_run_is_one_trace_with_every_parent_right(
    chaos, agent, demo_service
):
    run = chaos(load_example(), env=env_for(agent, demo_service))
    assert run.proc.returncode == 0, run.log
    assert "internal error" not in run.log
    spans = agent.wait_for(12, timeout=5)
    assert len(spans) == 12  # the hypothesis and its probe run twice
    assert_one_trace(spans)
    names = by_name(spans)
    ids = {s.span_id: s.operation_name for s in spans}
    for name, parent in EXPECTED.items():
        got = ids.get(names[name].parent_id)
        assert got == parent, f"{name}: parent {got}, expected {parent}"
    probes = [s for s in spans if s.operation_name == "service-is-healthy"]
    hypotheses = {s.span_id: s for s in spans
                  if s.operation_name == "The service is healthy"}
    assert len(probes) == 2 and len(hypotheses) == 2
    assert {p.parent_id for p in probes} == set(hypotheses)
    phases = {h.tags["chaostoolkit.hypothesis.phase"]
              for h in hypotheses.values()}
    assert phases == {"before", "after"}
    root = names["The demo service survives stress"]
    assert root.tags["chaostoolkit.status"] == run.status == "completed"
    assert root.service_name == "chaostoolkit"
    assert names["call-the-service"].tags["chaostoolkit.activity.background"]


def test_the_inner_span_context_reaches_the_http_server(chaos, agent,
                                                        demo_service):
    run = chaos(load_example(), env=env_for(agent, demo_service))
    assert run.proc.returncode == 0, run.log
    inner = by_name(agent.wait_for(12))["my-inner-span"]
    sent = [r["headers"]["uber-trace-id"] for r in demo_service.received
            if "uber-trace-id" in r["headers"]]
    assert len(sent) == 1
    trace_id, span_id, parent_id, flags = sent[0].split(":")
    assert int(trace_id, 16) == inner.trace_id
    assert int(span_id, 16) == inner.span_id
    assert int(parent_id, 16) == inner.parent_id
    assert inner.tags["http.status_code"] == 503  # the fault, every time


def test_the_journal_status_is_the_same_with_and_without_the_control(
    chaos, agent, demo_service
):
    env = env_for(agent, demo_service)
    traced = chaos(load_example(), env=env)
    plain = chaos(without_controls(load_example()), env=env)
    assert traced.status == plain.status == "completed"
    assert traced.journal["deviated"] == plain.journal["deviated"]


def test_a_failing_activity_is_an_error_span_and_the_status_unchanged(
    chaos, agent, demo_service
):
    experiment = load_example()
    experiment["method"].append({
        "type": "action", "name": "fail-on-purpose",
        "provider": {"type": "python", "module": "chaostracing_demo.actions",
                     "func": "fail"}})
    run = chaos(experiment, env=env_for(agent, demo_service))
    plain = chaos(without_controls(experiment),
                  env=env_for(agent, demo_service))
    assert run.status == plain.status
    failed = by_name(agent.wait_for(13))["fail-on-purpose"]
    assert failed.tags["error"] is True
    assert failed.tags["chaostoolkit.status"] == "failed"
    (timestamp, fields), = failed.logs
    assert fields["event"] == "error"
    assert "this action fails on purpose" in fields["message"]


def test_an_agent_that_is_down_changes_nothing(chaos, demo_service):
    import socket

    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    run = chaos(load_example(), env={"JAEGER_AGENT_PORT": str(port),
                                     "DEMO_SERVICE_URL": demo_service.url})
    assert run.proc.returncode == 0
    assert run.status == "completed"
    assert "Traceback" not in run.log


def test_an_unresolvable_host_gives_one_warning_and_the_run_completes(
    chaos, demo_service
):
    run = chaos(load_example(),
                env={"JAEGER_AGENT_HOST": "no-such-host.invalid",
                     "DEMO_SERVICE_URL": demo_service.url})
    assert run.status == "completed"
    assert run.log.count("cannot resolve the Jaeger agent host") == 1
    assert "Traceback" not in run.log


def test_a_bad_port_gives_one_warning_naming_the_key(chaos, demo_service):
    run = chaos(load_example(), env={"JAEGER_AGENT_PORT": "not-a-port",
                                     "DEMO_SERVICE_URL": demo_service.url})
    assert run.status == "completed"
    assert run.log.count("tracing_port is 'not-a-port'") == 1
    assert "expected an integer from 1 to 65535" in run.log


def test_without_configuration_the_control_is_a_no_op(chaos, agent,
                                                      demo_service):
    experiment = load_example()
    experiment["configuration"] = {"service_url": demo_service.url}
    run = chaos(experiment, env={"JAEGER_AGENT_PORT": str(agent.port)})
    assert run.status == "completed"
    assert "tracing is off" in run.log
    assert agent.wait_quiet(0.2, timeout=1) == []


def test_the_jaeger_provider_needs_no_jaeger_client(
    chaos, agent, demo_service, tmp_path
):
    # jaeger-client 4.8 fails this way on Python 3.11 when six is missing:
    # the provider must not care, it does not import jaeger-client at all
    stub = tmp_path / "stub" / "jaeger_client"
    stub.mkdir(parents=True)
    (stub / "__init__.py").write_text(
        "raise ModuleNotFoundError(\"No module named 'six'\")\n")
    import os

    from conftest import EXAMPLES, ROOT
    env = env_for(agent, demo_service)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(stub.parent), str(EXAMPLES / "extension"), str(ROOT)])
    run = chaos(load_example(), env=env)
    assert run.status == "completed"
    assert "Traceback" not in run.log and "WARNING" not in run.log
    assert len(agent.wait_for(12)) == 12


def test_a_hypothesis_level_control_traces_the_hypothesis_only(
    chaos, agent, demo_service
):
    experiment = load_example()
    control = experiment.pop("controls")[0]
    experiment["steady-state-hypothesis"]["controls"] = [control]
    run = chaos(experiment, env=env_for(agent, demo_service))
    assert run.status == "completed"
    agent.wait_for(3)
    spans = agent.wait_quiet(0.2, timeout=2)
    names = sorted(s.operation_name for s in spans)
    assert names == ["The service is healthy", "The service is healthy",
                     "my-inner-span"]
    assert len({s.trace_id for s in spans}) == 1
    first, second = sorted(
        (s for s in spans if s.operation_name == "The service is healthy"),
        key=lambda s: s.start_us)
    assert first.parent_id == 0  # the first span opened is the root
    assert second.references == [(FOLLOWS_FROM, first.trace_id, first.span_id)]
    # the phase comes from chaoslib's events, not from the (untraced) method
    assert first.tags["chaostoolkit.hypothesis.phase"] == "before"
    assert second.tags["chaostoolkit.hypothesis.phase"] == "after"
    # extension spans outside any traced level still join the run's trace
    assert by_name(spans)["my-inner-span"].parent_id == first.span_id


def test_an_activity_level_control_traces_that_activity(chaos, agent,
                                                        demo_service):
    experiment = load_example()
    control = experiment.pop("controls")[0]
    experiment["method"][1]["controls"] = [control]
    run = chaos(experiment, env=env_for(agent, demo_service))
    assert run.status == "completed"
    agent.wait_for(2)
    names = by_name(agent.wait_quiet(0.2, timeout=2))
    assert sorted(names) == ["call-the-service", "my-inner-span"]
    assert names["call-the-service"].parent_id == 0
    assert names["my-inner-span"].parent_id == names["call-the-service"].span_id


def test_automatic_false_keeps_the_control_at_the_experiment_level(
    chaos, agent, demo_service
):
    experiment = load_example()
    experiment["controls"][0]["automatic"] = False
    run = chaos(experiment, env=env_for(agent, demo_service))
    assert run.status == "completed"
    agent.wait_for(2)
    spans = by_name(agent.wait_quiet(0.2, timeout=2))
    assert sorted(spans) == ["The demo service survives stress",
                             "my-inner-span"]
    root = spans["The demo service survives stress"]
    # the README snippet's span has no activity span to hang on: it joins
    # the innermost level traced, here the experiment
    assert spans["my-inner-span"].parent_id == root.span_id


def test_a_global_control_from_the_settings_traces_the_run(
    chaos, agent, demo_service
):
    experiment = without_controls(load_example())
    settings = {"controls": {"chaostracing": {"provider": {
        "type": "python", "module": "chaostracing.control"}}}}
    run = chaos(experiment, env=env_for(agent, demo_service), settings=settings)
    assert run.status == "completed"
    spans = agent.wait_for(12)
    assert len(spans) == 12
    assert_one_trace(spans)


def test_global_and_experiment_declarations_do_not_double_the_spans(
    chaos, agent, demo_service
):
    settings = {"controls": {"tracing-global": {"provider": {
        "type": "python", "module": "chaostracing.control"}}}}
    run = chaos(load_example(), env=env_for(agent, demo_service),
                settings=settings)
    assert run.status == "completed"
    agent.wait_for(12)
    spans = agent.wait_quiet(0.3, timeout=2)
    assert len(spans) == 12
    assert_one_trace(spans)
