"""A missing extra costs its feature, never the trace: real ``chaos run``,
``chaos validate`` and ``chaostracing`` processes of a virtualenv where
chaostoolkit-opentracing was installed without any extra (the
``bare_venv`` fixture: pip, offline, in a fresh virtualenv).
"""
import json
import re
import subprocess

import pytest
from conftest import assert_one_trace, by_name, chaos_command, run_chaos

from chaostracing._data.jaegerjson import load_spans

pytestmark = pytest.mark.slow  # pip, chaos run, chaostracing: processes

CONTROL = {"name": "chaostracing",
           "provider": {"type": "python", "module": "chaostracing.control"}}
#: the README's list of clients (docs/clients.md)
README_CLIENTS = ["requests", "urllib3", "httpx", "botocore", "aiohttp"]
INSTRUMENT = "pip install 'chaostoolkit-opentracing[instrument]'"


def ours(log):
    return [line for line in log.splitlines() if "chaostracing:" in line]


def warnings(log):
    return [line for line in ours(log) if "WARNING" in line]


def experiment(configuration, url=None):
    """A method that calls the demo service with requests, and the README's
    snippet (an inner span whose headers reach the service)."""
    method = [{"type": "action", "name": "act", "provider": {
        "type": "python", "module": "os.path", "func": "exists",
        "arguments": {"path": "."}}}]
    if url:
        method.append({"type": "probe", "name": "call-the-service",
                       "provider": {
                           "type": "python",
                           "module": "chaostracing_demo.actions",
                           "func": "call_service", "arguments": {"url": url}}})
        method.append({"type": "probe", "name": "count-orders", "provider": {
            "type": "python", "module": "chaostracing_demo.probes",
            "func": "order_count", "arguments": {"url": url}}})
    return {"title": "without extras", "description": "a plain install",
            "configuration": configuration, "controls": [CONTROL],
            "method": method}


def test_the_readme_clients_without_the_extra_cost_one_line_not_the_trace(
        bare_venv, agent, demo_service, tmp_path):
    run = run_chaos(experiment(
        {"tracing_provider": "jaeger", "tracing_port": agent.port,
         "tracing_instrument": README_CLIENTS}, demo_service.url),
        tmp_path, chaos=bare_venv.chaos)
    assert run.status == "completed", run.log[-3000:]
    (line,) = warnings(run.log)
    assert ("tracing_instrument lists urllib3, httpx, botocore and aiohttp, "
            "whose OpenTelemetry instrumentations are not installed: "
            f"{INSTRUMENT}; the run is traced without them") in line
    # the rest of the run is traced as usual
    (entry,) = run.journal["extensions"]
    assert entry["delivered"] is True and entry["spans_sent"] == 8
    assert f"trace id {entry['trace_id']}" in run.log
    spans = agent.wait_for(8)
    assert len(spans) == 8
    assert_one_trace(spans)
    names = by_name(spans)
    # requests needs no extra: its client span is there, under its activity
    client = names["HTTP GET"]
    assert client.parent_id == names["count-orders"].span_id
    assert names["my-inner-span"].parent_id == \
        names["call-the-service"].span_id
    # both worlds' headers reached the service, from the snippet and requests
    (snippet, counted) = [r["headers"] for r in demo_service.received]
    for headers in (snippet, counted):
        assert headers["traceparent"].split("-")[1] == entry["trace_id"]
        assert headers["uber-trace-id"].startswith(entry["trace_id"] + ":")


def test_urllib3_alone_without_the_extra_still_traces_the_run(
        bare_venv, agent, tmp_path):
    run = run_chaos(experiment({"tracing_provider": "jaeger",
                                "tracing_port": agent.port,
                                "tracing_instrument": ["urllib3"]}),
                    tmp_path, chaos=bare_venv.chaos)
    (line,) = warnings(run.log)
    assert ("tracing_instrument lists urllib3, whose OpenTelemetry "
            f"instrumentation is not installed: {INSTRUMENT}; the run is "
            "traced without it") in line
    spans = agent.wait_for(4)
    assert sorted(s.operation_name for s in spans) == [
        "Method", "Rollbacks", "act", "without extras"]
    assert_one_trace(spans)


def test_the_environment_variable_is_named_when_it_asked(bare_venv, agent,
                                                         tmp_path):
    run = run_chaos(experiment({"tracing_provider": "jaeger",
                                "tracing_port": agent.port}), tmp_path,
                    env={"CHAOSTRACING_INSTRUMENT": "httpx,requests"},
                    chaos=bare_venv.chaos)
    (line,) = warnings(run.log)
    assert ("CHAOSTRACING_INSTRUMENT=httpx,requests lists httpx, whose "
            "OpenTelemetry instrumentation is not installed") in line
    assert len(agent.wait_for(4)) == 4


def test_0_18_1_flags_are_named_not_a_setting_the_user_never_wrote(
        bare_venv, tmp_path):
    oltp = {"name": "opentelemetry", "provider": {
        "type": "python", "module": "chaostracing.oltp",
        "arguments": {"trace_httpx": True, "trace_urllib3": True,
                      "trace_request": True}}}
    exp = dict(experiment({}), controls=[oltp])
    run = run_chaos(exp, tmp_path, chaos=bare_venv.chaos)
    assert run.status == "completed"
    lines = warnings(run.log)
    assert "tracing_instrument" not in run.log
    trace_file = tmp_path / "chaostracing-trace.json"
    assert [line.split("chaostracing: ", 1)[1] for line in lines] == [
        "chaostracing.oltp needs the OTLP exporter: pip install "
        "'chaostoolkit-opentracing[opentelemetry]'; the trace is written to "
        f"{trace_file} instead",
        "chaostracing.oltp's trace_httpx and trace_urllib3 need "
        f"OpenTelemetry's instrumentations: {INSTRUMENT}; the run is traced "
        "without them",
    ]
    spans = load_spans(str(trace_file))
    assert_one_trace(spans)
    (entry,) = run.journal["extensions"]
    assert entry["provider"] == "file" and entry["delivered"] is True


@pytest.mark.parametrize("configuration, said", [
    ({"tracing_provider": "otlp"},
     "tracing_provider 'otlp' needs the OTLP exporter: pip install "
     "'chaostoolkit-opentracing[opentelemetry]'"),
    ({"tracing_provider": "otlp", "tracing_otlp_protocol": "grpc"},
     "tracing_otlp_protocol 'grpc' needs OTLP over gRPC: pip install "
     "'chaostoolkit-opentracing[grpc]'"),
])
def test_an_otlp_run_without_its_exporter_keeps_its_trace_in_a_file(
        bare_venv, tmp_path, configuration, said):
    run = run_chaos(experiment(configuration), tmp_path,
                    chaos=bare_venv.chaos)
    assert run.status == "completed"
    trace_file = tmp_path / "chaostracing-trace.json"
    (line,) = warnings(run.log)
    assert line.endswith(f"{said}; the trace is written to {trace_file} "
                         "instead")
    spans = load_spans(str(trace_file))
    assert len(spans) == 4
    assert_one_trace(spans)
    (entry,) = run.journal["extensions"]
    assert entry["trace_id"] == f"{spans[0].trace_id:032x}"
    assert entry["destination"] == f"trace file {trace_file}"


def test_xray_headers_without_the_aws_extra_cost_only_that_header(
        bare_venv, agent, demo_service, tmp_path):
    run = run_chaos(experiment(
        {"tracing_provider": "jaeger", "tracing_port": agent.port,
         "tracing_propagation": ["w3c", "xray"]}, demo_service.url),
        tmp_path, chaos=bare_venv.chaos)
    assert run.status == "completed"
    (line,) = warnings(run.log)
    assert ("'xray' in tracing_propagation needs the aws extra: pip install "
            "'chaostoolkit-opentracing[aws]'; requests carry W3C's headers"
            ) in line
    names = by_name(agent.wait_for(8))
    # the snippet's inject wrote what it could, and its request went out
    (headers, _) = [r["headers"] for r in demo_service.received]
    assert "x-amzn-trace-id" not in headers
    assert int(headers["traceparent"].split("-")[2], 16) == \
        names["my-inner-span"].span_id


def test_chaos_validate_says_the_same_lines(bare_venv, tmp_path):
    exp = experiment({"tracing_provider": "otlp",
                      "tracing_instrument": README_CLIENTS})
    argv, env, _ = chaos_command(exp, tmp_path, chaos=bare_venv.chaos)
    proc = subprocess.run([str(bare_venv.chaos), "--no-version-check",
                           "--no-log-file", "validate",
                           str(tmp_path / "experiment.json")], env=env,
                          capture_output=True, text=True, timeout=60,
                          cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    validated = [line.split("chaostracing: ", 1)[1]
                 for line in warnings(proc.stdout + proc.stderr)]
    assert len(validated) == 2
    assert "pip install 'chaostoolkit-opentracing[opentelemetry]'" in \
        validated[0]
    assert INSTRUMENT in validated[1]
    # chaos run says them once each: validation's lines are not repeated
    run = run_chaos(exp, tmp_path, chaos=bare_venv.chaos)
    said = [line.split("chaostracing: ", 1)[1] for line in warnings(run.log)]
    assert said == validated


def test_collect_refuses_otlp_in_one_line_and_receives_the_rest(bare_venv):
    # the HTTP ports need the collect extra (aiohttp, opentelemetry-proto)
    proc = subprocess.Popen(
        [str(bare_venv.chaostracing), "collect", "--port", "0",
         "--otlp-port", "0", "--query-port", "off", "--output", "/dev/null"],
        stderr=subprocess.PIPE, text=True)
    try:
        lines = [proc.stderr.readline(), proc.stderr.readline()]
    finally:
        proc.terminate()
        proc.communicate(timeout=30)
    assert lines[0].startswith("chaostracing: not receiving OTLP "
                               "(--otlp-port 0): aiohttp is not installed: "
                               "pip install "
                               "'chaostoolkit-opentracing[collect]'")
    assert re.match(r"chaostracing: collecting on udp://127\.0\.0\.1:\d+ "
                    r"\(Jaeger agent\), writing /dev/null$", lines[1])


def test_show_of_an_otlp_file_names_the_extra(bare_venv, tmp_path):
    path = tmp_path / "otlp.json"
    path.write_text(json.dumps({"resourceSpans": []}))
    proc = subprocess.run([str(bare_venv.chaostracing), "show", str(path)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1
    (line,) = proc.stderr.splitlines()
    assert line.startswith(
        f"chaostracing show: {path}: an OTLP/JSON file: decoding OTLP needs "
        "opentelemetry-proto and protobuf: pip install "
        "'chaostoolkit-opentracing[opentelemetry]'")
