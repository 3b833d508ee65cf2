"""First use, as a user sees it (issue "First use"): every message true and
said once, ``chaos validate`` checks the settings, ``show`` tells what
happened, one form of the trace id everywhere. Real ``chaos run``,
``chaos validate`` and ``chaostracing show`` processes.
"""
import copy
import json
import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import EXAMPLES, by_name, chaos_command, load_example

# chaos run, chaos validate, the chaostracing command: processes
pytestmark = pytest.mark.slow

CHAOS = str(Path(sys.executable).with_name("chaos"))
CHAOSTRACING = str(Path(sys.executable).with_name("chaostracing"))
CONTROL = {"name": "chaostracing",
           "provider": {"type": "python", "module": "chaostracing.control"}}


def ours(log):
    """Our log lines (chaoslib's are chaoslib's)."""
    return [line for line in log.splitlines() if "chaostracing:" in line]


def small(configuration, **extra):
    experiment = {
        "title": "first use", "description": "d",
        "configuration": configuration,
        "controls": [copy.deepcopy(CONTROL)],
        "method": [{"type": "action", "name": "act", "provider": {
            "type": "python", "module": "os.path", "func": "exists",
            "arguments": {"path": "."}}}],
    }
    experiment.update(extra)
    return experiment


@pytest.mark.parametrize("configuration, reason", [
    ({"tracing_provider": "jaeger", "tracing_host": "nonexistent.invalid"},
     "cannot resolve the Jaeger agent host 'nonexistent.invalid'"),
    ({"tracing_provider": "file", "tracing_file": "/proc/no/such/dir/t.json"},
     "cannot write the trace file /proc/no/such/dir/t.json"),
])
def test_an_undelivered_trace_is_said_once_and_never_claimed_sent(
    chaos, configuration, reason
):
    run = chaos(small(configuration))
    assert run.status == "completed"
    lines = ours(run.log)
    warnings = [line for line in lines if "WARNING" in line]
    assert len(warnings) == 1, lines
    assert "was not delivered" in warnings[0] and reason in warnings[0]
    assert not any(" sent to " in line or " written to " in line
                   for line in lines)
    (entry,) = run.journal["extensions"]
    assert entry["delivered"] is False and reason in entry["problem"]
    assert entry["spans_sent"] == 0 and entry["spans_dropped"] == 4


def test_a_delivered_trace_is_said_once_with_what_was_sent(chaos, agent):
    run = chaos(small({"tracing_provider": "jaeger",
                       "tracing_port": agent.port}))
    (entry,) = run.journal["extensions"]
    assert entry["delivered"] is True and entry["spans_sent"] == 4
    done = [line for line in ours(run.log) if "span(s) sent to the" in line]
    assert len(done) == 1
    assert f"trace {entry['trace_id']}: 4 span(s) sent to the Jaeger agent " \
        f"at 127.0.0.1:{agent.port} (UDP)" in done[0]


def test_a_bad_control_argument_is_reported_once_per_run(chaos, agent):
    experiment = small({"tracing_provider": "jaeger",
                        "tracing_port": agent.port})
    experiment["controls"][0]["provider"]["arguments"] = {
        "tracing_sampler_rate": "often", "tracing_hots": "x"}
    run = chaos(experiment)
    assert run.status == "completed"
    assert run.log.count("tracing_sampler_rate is 'often'") == 1
    assert run.log.count("unknown control argument 'tracing_hots' "
                         "(did you mean tracing_host?)") == 1


def validate(experiment, tmp_path):
    path = tmp_path / "experiment.json"
    path.write_text(json.dumps(experiment))
    _, env, _ = chaos_command(experiment, tmp_path)
    return subprocess.run([CHAOS, "--no-version-check", "--no-log-file",
                           "validate", str(path)], env=env,
                          capture_output=True, text=True, timeout=60)


def test_chaos_validate_checks_the_configuration_and_reports_everything(
    tmp_path
):
    proc = validate(small({"tracing_provider": "jeager", "tracing_port": "abc",
                           "tracing_provder": "file", "other_key": 1}),
                    tmp_path)
    output = proc.stdout + proc.stderr
    expected = [
        "'tracing_provder' in the configuration is not a tracing setting "
        "(did you mean tracing_provider?)",
        "tracing_provider is 'jeager': expected one of 'jaeger', 'otlp', "
        "'file', 'noop' (or 'opentelemetry') (did you mean 'jaeger'?)",
        "tracing_port is 'abc': expected an integer from 1 to 65535",
    ]
    for message in expected:
        assert output.count(message) == 1, output
    assert "other_key" not in output  # the rest belongs to the experiment
    assert len(ours(output)) == 3


def test_a_good_experiment_validates_without_a_word_from_us(tmp_path):
    proc = validate(load_example(), tmp_path)
    assert proc.returncode == 0
    assert ours(proc.stdout + proc.stderr) == []


def test_validation_in_chaos_run_sees_what_var_replaces(chaos, tmp_path):
    # declared "bogus", replaced on the command line: not a word about it
    run = chaos(small({"tracing_provider": "bogus"}),
                extra_args=("--var", "tracing_provider=file"))
    assert run.status == "completed"
    assert ours(run.log) and not any("WARNING" in line
                                     for line in ours(run.log))
    assert (tmp_path / "chaostracing-trace.json").exists()
    # not replaced: one line, naming the setting and saying what it costs
    run = chaos(small({"tracing_provider": "bogus"}))
    (line,) = [line for line in ours(run.log) if "WARNING" in line]
    assert line.endswith(
        "tracing_provider is 'bogus': expected one of 'jaeger', 'otlp', "
        "'file', 'noop' (or 'opentelemetry'); tracing is off until it is "
        "fixed")


def test_an_environment_variable_is_named_as_it_was_set(chaos):
    run = chaos(small({"tracing_provider": "jaeger"}),
                env={"CHAOSTRACING_PORT": "abc"})
    assert run.status == "completed"
    (line,) = ours(run.log)  # one line: no second "tracing is off"
    assert "WARNING" in line and line.endswith(
        "chaostracing: CHAOSTRACING_PORT=abc: expected an integer from 1 to "
        "65535; tracing is off until it is fixed")
    assert "extensions" not in run.journal


def test_tracecontext_is_a_propagation_name(chaos, demo_service, tmp_path):
    experiment = load_example()
    experiment["configuration"] = {"tracing_provider": "file",
                                   "tracing_propagation": "tracecontext",
                                   "service_url": demo_service.url}
    run = chaos(experiment)
    assert run.status == "completed"
    assert not [line for line in ours(run.log) if "WARNING" in line]
    (headers,) = [r["headers"] for r in demo_service.received
                  if "traceparent" in r["headers"]]
    assert "uber-trace-id" not in headers


def test_a_misspelled_setting_is_a_warning_at_run_time(chaos, tmp_path):
    run = chaos(small({"tracing_provder": "file"}))
    (line,) = [line for line in ours(run.log) if "tracing_provder" in line]
    assert "WARNING" in line and "did you mean tracing_provider?" in line


def test_a_bad_port_does_not_switch_off_the_file_provider(chaos, tmp_path):
    run = chaos(small({"tracing_provider": "file", "tracing_port": "abc"}))
    assert (tmp_path / "chaostracing-trace.json").exists()
    assert not any("WARNING" in line for line in ours(run.log))


def test_the_trace_id_is_written_one_way_everywhere(chaos, demo_service,
                                                    tmp_path):
    # a trace id with leading zeros, handed in as a CI pipeline would
    trace_id = "000000000000000000000c0ffee0ff1c"
    experiment = load_example()
    experiment["configuration"] = {
        "tracing_provider": "file", "service_url": demo_service.url,
        "tracing_propagation": ["jaeger", "w3c", "b3"],
        "tracing_ui_url": "http://localhost:16686"}
    run = chaos(experiment,
                env={"TRACEPARENT": f"00-{trace_id}-00f067aa0ba902b7-01"})
    assert run.status == "completed", run.log[-2000:]
    (entry,) = run.journal["extensions"]
    assert entry["trace_id"] == trace_id
    assert entry["trace_url"] == f"http://localhost:16686/trace/{trace_id}"
    assert f"trace id {trace_id}" in run.log
    (headers,) = [r["headers"] for r in demo_service.received
                  if "traceparent" in r["headers"]]
    assert headers["uber-trace-id"].startswith(trace_id + ":")
    assert headers["traceparent"].split("-")[1] == trace_id
    assert headers["x-b3-traceid"] == trace_id
    document = json.loads((tmp_path / "chaostracing-trace.json").read_text())
    # but in Jaeger JSON, as Jaeger writes it: the high half is zero
    assert document["data"][0]["traceID"] == trace_id[16:]
    shown = subprocess.run([CHAOSTRACING, "show",
                            str(tmp_path / "chaostracing-trace.json")],
                           capture_output=True, text=True, check=True).stdout
    assert shown.startswith(f"trace {trace_id} ")
    # every hex id in our log lines is the same 32-digit form
    ids = set(re.findall(r"\b[0-9a-f]{16,32}\b", "\n".join(ours(run.log))))
    assert ids == {trace_id}


def test_show_marks_a_deviated_run_and_names_each_request(
    chaos, demo_service, tmp_path
):
    experiment = load_example()
    experiment["configuration"] = {"tracing_provider": "file",
                                   "service_url": demo_service.url}
    # the steady state does not hold after the method: the run deviates
    experiment["steady-state-hypothesis"]["probes"][0]["provider"] = {
        "type": "python", "module": "chaos_helpers", "func": "echo",
        "arguments": {"value": "${service_url}"}}
    experiment["steady-state-hypothesis"]["probes"][0]["tolerance"] = {
        "type": "regex", "pattern": "^http"}
    experiment["method"].append({
        "type": "action", "name": "break-the-probe",
        "provider": {"type": "python", "module": "chaos_helpers",
                     "func": "echo", "arguments": {"value": 1}}})
    experiment["configuration"]["service_url"] = demo_service.url
    run = chaos(experiment)
    assert run.status == "completed"
    shown = subprocess.run([CHAOSTRACING, "show", "--width", "150",
                            str(tmp_path / "chaostracing-trace.json")],
                           capture_output=True, text=True, check=True).stdout
    lines = shown.splitlines()
    root = lines[1]
    assert ("deviated" in root) == bool(run.journal["deviated"])
    inner = next(line for line in lines if "my-inner-span" in line)
    assert f"{demo_service.url}/orders → " in inner


def test_a_deviated_experiment_is_marked_on_its_line(tmp_path):
    from chaostracing._data.jaegerjson import write_atomic
    from chaostracing._data.model import SpanData

    path = tmp_path / "t.json"
    from chaostracing._data.jaegerjson import dumps

    write_atomic(str(path), dumps([SpanData(
        1, 2, operation_name="run", start_us=1, duration_us=5,
        tags={"chaostoolkit.status": "completed",
              "chaostoolkit.deviated": True})]))
    shown = subprocess.run([CHAOSTRACING, "show", str(path)],
                           capture_output=True, text=True, check=True).stdout
    line = shown.splitlines()[1]
    assert line.endswith("! completed, deviated")


def test_the_trace_file_has_the_permissions_of_the_journal(chaos, tmp_path):
    old = os.umask(0o027)
    try:
        chaos(small({"tracing_provider": "file"}))
    finally:
        os.umask(old)
    trace = stat.S_IMODE((tmp_path / "chaostracing-trace.json").stat().st_mode)
    journal = stat.S_IMODE((tmp_path / "journal.json").stat().st_mode)
    assert trace == journal == 0o640


def test_the_demo_fits_on_one_screen(tmp_path):
    from conftest import ROOT

    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [str(EXAMPLES / "extension"), str(ROOT)]))
    proc = subprocess.run([sys.executable, str(EXAMPLES / "demo.py"),
                           "--output", str(tmp_path)], env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    # with the set-up's line, under 40: one screen
    assert len((proc.stdout + proc.stderr).splitlines()) <= 38
    assert "27 spans" in proc.stdout
    # the fault is injected before the service is called, every time: both
    # requests for the orders get the deliberate 503
    orders = [line for line in proc.stdout.splitlines()
              if "GET /orders →" in line]
    assert len(orders) == 2 and all(
        line.endswith("GET /orders → 503") and "✗" in line for line in orders)


def test_journal_paths_with_spaces_and_unicode_work(chaos):
    run = chaos(small({"tracing_provider": "file",
                       "tracing_file": "sub dir/träce.json"}))
    (entry,) = run.journal["extensions"]
    assert entry["delivered"] is True
    assert entry["destination"].endswith("sub dir/träce.json")
    names = by_name(__import__("chaostracing._data.jaegerjson", fromlist=["x"])
                    .load_spans(entry["destination"][len("trace file "):]))
    assert "act" in names
