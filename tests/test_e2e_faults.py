"""End to end: interruptions, strategies, secrets, size limits, IPv6."""
import json
import signal
import subprocess
import time

import pytest
from conftest import (
    ChaosRun,
    assert_one_trace,
    by_name,
    chaos_command,
)

from chaostracing._collector.agent import AgentReceiver

# chaos run in a process
pytestmark = pytest.mark.slow

CONTROL = {"name": "chaostracing",
           "provider": {"type": "python", "module": "chaostracing.control"}}


def action(name, func, **arguments):
    return {"type": "action", "name": name,
            "provider": {"type": "python", "module": "chaos_helpers",
                         "func": func, "arguments": arguments}}


def experiment(agent, method, **extra):
    exp = {
        "title": "faults", "description": "d",
        "configuration": {"tracing_provider": "jaeger",
                          "tracing_port": agent.port},
        "controls": [CONTROL],
        "method": method,
    }
    exp.update(extra)
    return exp


def hypothesis(tolerance=True):
    return {"title": "holds", "probes": [{
        "type": "probe", "name": "check", "tolerance": tolerance,
        "provider": {"type": "python", "module": "chaos_helpers",
                     "func": "echo", "arguments": {"value": True}}}]}


def test_ctrl_c_during_the_method_finishes_and_delivers_every_span(
    agent, tmp_path
):
    exp = experiment(agent, [action("long-nap", "nap", seconds=20)],
                     rollbacks=[action("undo", "echo", value=1)])
    # rollbacks after an interruption only with the "always" strategy
    argv, env, journal = chaos_command(
        exp, tmp_path, extra_args=["--rollback-strategy", "always"])
    log = tmp_path / "chaostoolkit.log"
    proc = subprocess.Popen(argv, env=env, cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if log.exists() and "long-nap" in log.read_text():
            break
        time.sleep(0.05)
    started = time.monotonic()
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert time.monotonic() - started < 10  # no wait for the 20 s nap
    run = ChaosRun(subprocess.CompletedProcess(argv, proc.returncode, out, err),
                   json.loads(journal.read_text()))
    assert run.status == "interrupted"
    spans = agent.wait_for(5, timeout=5)
    names = by_name(spans)
    assert sorted(names) == ["Method", "Rollbacks", "faults", "long-nap",
                             "undo"]
    assert_one_trace(spans)
    root = names["faults"]
    assert root.tags["chaostoolkit.status"] == "interrupted"
    assert root.tags["error"] is True
    assert root.tags["chaostoolkit.interrupted_by"] == "signal"
    assert names["long-nap"].tags["chaostoolkit.status"] == "interrupted"
    assert names["long-nap"].tags["error"] is True
    assert names["undo"].tags["chaostoolkit.status"] == "succeeded"


def test_an_interrupting_control_leaves_a_complete_trace(chaos, agent):
    exp = experiment(agent, [action("first", "echo", value=1),
                             action("stop-here", "echo", value=2),
                             action("never", "echo", value=3)])
    exp["controls"].append({"name": "interrupter", "provider": {
        "type": "python", "module": "chaos_helpers"}})
    run = chaos(exp)
    assert run.status == "interrupted"
    spans = agent.wait_for(4)
    names = by_name(spans)
    assert "never" not in names
    assert names["first"].tags["chaostoolkit.status"] == "succeeded"
    assert names["faults"].tags["chaostoolkit.status"] == "interrupted"
    assert names["faults"].tags["chaostoolkit.interrupted_by"] == (
        "InterruptExecution")
    agent.wait_quiet(0.2, timeout=2)
    assert all(s.duration_us >= 0 for s in agent.spans)
    assert_one_trace(agent.spans)


def test_a_failed_hypothesis_aborts_the_run_with_a_failed_trace(chaos, agent):
    gate = hypothesis()
    gate["probes"][0]["provider"].update(func="fail_with",
                                         arguments={"message": "down"})
    exp = experiment(agent, [action("never", "echo", value=1)],
                     **{"steady-state-hypothesis": gate})
    run = chaos(exp)
    assert run.status == "failed"
    spans = agent.wait_for(4)
    names = by_name(spans)
    assert "never" not in names and "Method" not in names
    assert names["holds"].tags["chaostoolkit.steady_state_met"] is False
    assert names["holds"].tags["error"] is True
    assert names["check"].tags["chaostoolkit.status"] == "failed"
    assert names["check"].tags["chaostoolkit.tolerance_met"] is False
    assert names["faults"].tags["chaostoolkit.status"] == "failed"
    assert names["faults"].tags["error"] is True


def test_a_probe_out_of_tolerance_before_the_method_is_marked(chaos, agent):
    exp = experiment(agent, [action("never", "echo", value=1)],
                     **{"steady-state-hypothesis": hypothesis(tolerance=False)})
    run = chaos(exp)
    # chaoslib ends such a run "completed" without playing the method
    assert run.status == "completed"
    names = by_name(agent.wait_for(4))
    assert "never" not in names
    assert names["check"].tags["chaostoolkit.status"] == "succeeded"
    assert names["check"].tags["chaostoolkit.tolerance_met"] is False
    assert names["holds"].tags["chaostoolkit.steady_state_met"] is False


def test_an_activity_timeout_is_a_failed_span(chaos, agent):
    exp = experiment(agent, [{
        "type": "action", "name": "too-slow",
        "provider": {"type": "process", "path": "sleep", "arguments": "5",
                     "timeout": 0.2}}])
    run = chaos(exp)
    assert run.status == "completed"
    names = by_name(agent.wait_for(4))
    assert names["too-slow"].tags["chaostoolkit.status"] == "failed"
    assert names["too-slow"].tags["error"] is True


def test_the_continuous_hypothesis_gives_one_span_per_iteration(chaos, agent):
    exp = experiment(agent, [action("slow", "nap", seconds=0.6)],
                     **{"steady-state-hypothesis": hypothesis()})
    run = chaos(exp, extra_args=["--hypothesis-strategy", "continuously",
                                 "--hypothesis-frequency", "0.1"])
    assert run.status == "completed", run.log
    during = len(run.journal["steady_states"]["during"])
    assert during >= 2
    # experiment, method, slow, rollbacks, before + during + after runs
    expected = 4 + 2 * (2 + during)
    agent.wait_for(expected)
    spans = agent.wait_quiet(0.2, timeout=2)
    assert len(spans) == expected
    assert_one_trace(spans)
    root = by_name(spans)["faults"]
    runs = [s for s in spans if s.operation_name == "holds"]
    phases = [s.tags["chaostoolkit.hypothesis.phase"] for s in runs]
    assert phases.count("during") == during
    assert {"before", "after"} <= set(phases)
    iterations = sorted(s.tags["chaostoolkit.hypothesis.iteration"]
                        for s in runs
                        if "chaostoolkit.hypothesis.iteration" in s.tags)
    assert iterations == list(range(1, during + 1))
    for hypothesis_span in runs:
        assert hypothesis_span.parent_id == root.span_id
        probes = [s for s in spans if s.parent_id == hypothesis_span.span_id]
        assert [p.operation_name for p in probes] == ["check"]


@pytest.mark.parametrize("strategy, tolerance, rolled_back", [
    ("never", True, False),
    ("always", False, True),
    ("deviated", True, False),
    ("default", True, True),
])
def test_each_rollback_strategy_gives_the_right_tree(
    chaos, agent, strategy, tolerance, rolled_back
):
    exp = experiment(agent, [action("act", "echo", value=1)],
                     rollbacks=[action("undo", "echo", value=2)],
                     **{"steady-state-hypothesis": hypothesis(tolerance)})
    run = chaos(exp, extra_args=["--rollback-strategy", strategy])
    assert run.journal, run.log
    agent.wait_for(3)
    spans = agent.wait_quiet(0.3, timeout=3)
    assert_one_trace(spans)
    names = [s.operation_name for s in spans]
    assert ("undo" in names) == rolled_back
    if rolled_back:
        undo = by_name(spans)["undo"]
        assert by_name(spans)["Rollbacks"].span_id == undo.parent_id


SECRET = "s3cr3t-Tok3n-0987"


def test_no_secret_reaches_the_agent_or_the_trace_file(chaos, agent, tmp_path):
    exp = experiment(agent, [
        {"type": "action", "name": "uses-secret",
         "provider": {"type": "python", "module": "chaos_helpers",
                      "func": "echo", "arguments": {"value": "${token}"}}},
        {"type": "probe", "name": "reveals",
         "provider": {"type": "python", "module": "chaos_helpers",
                      "func": "reveal", "secrets": ["demo"]}},
        {"type": "action", "name": "fails-loudly",
         "provider": {"type": "python", "module": "chaos_helpers",
                      "func": "fail_with",
                      "arguments": {"message": "bad token ${token}"}}},
        {"type": "probe", "name": "http-with-credentials",
         "provider": {"type": "http", "secrets": ["demo"],
                      "url": "http://bob:" + SECRET + "@127.0.0.1:9/x",
                      "headers": {"Authorization": "Bearer ${token}",
                                  "Cookie": "session=${token}"},
                      "timeout": 0.5}},
    ], secrets={"demo": {"token": {"type": "env", "key": "DEMO_TOKEN"}}})
    run = chaos(exp, env={"DEMO_TOKEN": SECRET})
    assert run.status == "completed", run.log
    spans = by_name(agent.wait_for(8))
    assert spans["uses-secret"].tags["chaostoolkit.output"] == "***"
    assert "***" in spans["reveals"].tags["chaostoolkit.output"]
    assert spans["fails-loudly"].logs[0][1]["message"].endswith("bad token ***")
    assert SECRET.encode() not in b"".join(agent.raw)
    # chaoslib itself logs the failing activity's message; our lines never
    ours = [line for line in run.log.splitlines() if "chaostracing" in line]
    assert ours and not any(SECRET in line for line in ours)
    # the same run to a trace file
    exp["configuration"] = {"tracing_provider": "file"}
    chaos(exp, env={"DEMO_TOKEN": SECRET})
    trace = (tmp_path / "chaostracing-trace.json").read_bytes()
    assert b"fails-loudly" in trace and SECRET.encode() not in trace


def test_a_ten_megabyte_output_still_yields_its_span_trimmed(chaos, agent):
    exp = experiment(agent, [action("huge", "big_output", size=10_000_000)],
                     configuration={"tracing_provider": "jaeger",
                                    "tracing_port": agent.port,
                                    "tracing_max_tag_length": 2048})
    run = chaos(exp)
    assert run.status == "completed"
    huge = by_name(agent.wait_for(4))["huge"]
    output = huge.tags["chaostoolkit.output"]
    assert len(output) == 2048
    assert output.endswith("...[truncated; 10000000 chars in all]")
    assert all(len(d) <= 65000 for d in agent.raw)


def test_an_ipv6_agent_on_loopback_works(chaos):
    with AgentReceiver("::1", 0) as agent6:
        exp = experiment(agent6, [action("act", "echo", value=1)])
        exp["configuration"]["tracing_host"] = "::1"
        run = chaos(exp)
        assert run.status == "completed"
        assert len(agent6.wait_for(4)) == 4


@pytest.mark.parametrize("key, value, message", [
    ("tracing_provider", "zipkin", "tracing_provider is 'zipkin'"),
    ("tracing_provider", 12, "tracing_provider is 12"),
    ("tracing_port", 0, "tracing_port is 0"),
    ("tracing_port", 70000, "tracing_port is 70000"),
    ("tracing_host", "   ", "tracing_host is '   '"),
])
def test_bad_configuration_warns_once_and_the_status_is_unchanged(
    chaos, agent, key, value, message
):
    exp = experiment(agent, [action("act", "echo", value=1)])
    exp["configuration"][key] = value
    run = chaos(exp)
    assert run.status == "completed"
    assert run.log.count(message) == 1
    assert "Traceback" not in run.log
    assert agent.wait_quiet(0.2, timeout=1) == []


def test_chaos_validate_reports_bad_control_arguments(chaos, agent, tmp_path):
    import sys
    from pathlib import Path

    exp = experiment(agent, [action("act", "echo", value=1)])
    exp["controls"][0]["provider"]["arguments"] = {"tracing_port": "abc",
                                                   "tracing_hots": "x"}
    path = tmp_path / "exp.json"
    path.write_text(json.dumps(exp))
    argv, env, _ = chaos_command(exp, tmp_path)
    chaos_bin = Path(sys.executable).parent / "chaos"
    proc = subprocess.run([str(chaos_bin), "--no-version-check",
                           "--no-log-file", "validate", str(path)], env=env,
                          capture_output=True, text=True)
    output = proc.stdout + proc.stderr
    assert ("tracing_port is 'abc' in the control's arguments: expected an "
            "integer from 1 to 65535" in output)
    assert "unknown control argument 'tracing_hots'" in output
    run = chaos(exp)
    assert run.status == "completed"
    assert run.log.count("tracing_port is 'abc'") >= 1
