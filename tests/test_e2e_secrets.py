"""End to end: no secret reaches the wire, a file, a header or our log lines,
in any form (issue "Trust", security table). Real ``chaos run`` processes;
what left them is decoded on the wire (Jaeger UDP datagrams, OTLP protobuf
bodies) and searched for every 8-character piece of every form of each
secret.
"""
import json
import socket
import subprocess
import sys
import urllib.parse
from pathlib import Path

import pytest
from conftest import assert_one_trace, by_name

# chaos run, or the chaostracing command, in a process
pytestmark = pytest.mark.slow

#: JSON-encoding, repr and percent-encoding all change it
SECRET = 'Contraseña "quote" \\back\tTab-2024'
PIN = 8675309
CONTROL = {"name": "chaostracing",
           "provider": {"type": "python", "module": "chaostracing.control"}}


def forms(secret):
    return {
        secret,
        json.dumps(secret)[1:-1],
        json.dumps(secret, ensure_ascii=False)[1:-1],
        urllib.parse.quote(secret, safe=""),
        urllib.parse.quote_plus(secret, safe=""),
        repr(secret)[1:-1],
    }


def leaks(secret, data: bytes):
    """Every 8-character piece of any form of ``secret`` found in ``data``."""
    text = data.decode("utf-8", "replace")
    found = set()
    for form in forms(secret):
        for i in range(max(1, len(form) - 7)):
            piece = form[i:i + 8]
            if piece in text:
                found.add(piece)
    return found


def python(name, func, secrets=("demo",), **arguments):
    return {"type": "action", "name": name,
            "provider": {"type": "python", "module": "chaos_helpers",
                         "func": func, "secrets": list(secrets),
                         "arguments": arguments}}


def closed_port():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return port


def secret_experiment(configuration, demo_service):
    return {
        "title": "Secret run ${token}",
        "description": "every way a secret can reach a span",
        "configuration": dict(configuration, service_url=demo_service.url),
        "secrets": {"demo": {"token": {"type": "env", "key": "DEMO_TOKEN"},
                             "pin": PIN}},
        "controls": [CONTROL],
        "method": [
            python("structured", "structured", value="${token}"),
            python("record-args", "traced_login", token="${token}"),
            python("repr-message", "fail_with_repr", token="${token}"),
            python("url-message", "fail_with_url", port=closed_port(),
                   token="${token}"),
            python("everywhere", "tag_the_span", token="${token}",
                   number="${pin}"),
            python("numbers", "structured", value="${pin}"),
            {"type": "probe", "name": "login", "provider": {
                "type": "http", "url": demo_service.url + "/login"}},
        ],
    }


def check_no_leak(data: bytes):
    assert not leaks(SECRET, data), sorted(leaks(SECRET, data))[:5]
    assert str(PIN).encode() not in data
    # response headers of chaoslib's http provider are never recorded
    assert b"c00kie-s3cret" not in data and b"api-t0ken-s3cret" not in data


def test_no_form_of_a_secret_reaches_the_jaeger_agent(
    chaos, agent, demo_service
):
    run = chaos(secret_experiment(
        {"tracing_provider": "jaeger", "tracing_port": agent.port},
        demo_service), env={"DEMO_TOKEN": SECRET})
    assert run.status == "completed", run.log[-3000:]
    spans = agent.wait_for(10)
    agent.wait_quiet(0.2)
    assert_one_trace(agent.spans)
    check_no_leak(b"".join(agent.raw))
    names = by_name(spans)
    # the activities ran and were recorded, masked
    assert json.loads(names["structured"].tags["chaostoolkit.output"]) == {
        "nested": {"pw": "***", "list": ["***", {"again": "***"}]}}
    traced = by_name(spans)["traced_login"]
    assert traced.tags["arg.token"] == "***"
    assert names["repr-message"].logs[0][1]["message"].endswith(
        "authentication failed for '***'")
    assert "key=***" in names["url-message"].logs[0][1]["message"]
    everywhere = names["everywhere"]
    assert everywhere.tags["key-***"] == "value"
    assert everywhere.tags["number"] == "***"
    assert everywhere.tags["bytes"] == "raw *** bytes"
    assert everywhere.logs[0][1] == {"event": "***", "field-***": "***"}
    assert json.loads(names["login"].tags["chaostoolkit.output"]) == {
        "status": 200, "body": {"logged_in": True}}
    # the experiment's title, masked in the operation name and the process
    root = next(s for s in spans if s.parent_id == 0)
    assert root.operation_name == "Secret run ***"
    assert dict(root.process.tags)["chaostoolkit.experiment.title"] == \
        "Secret run ***"
    # baggage is masked in the headers our propagator writes
    (everywhere_run,) = [r for r in run.journal["run"]
                         if r["activity"]["name"] == "everywhere"]
    carried = everywhere_run["output"]["uberctx-carried"]
    assert urllib.parse.unquote(carried) == "***"
    # a secret baggage key: masked in the header's name and in BAGGAGE
    assert urllib.parse.unquote(
        everywhere_run["output"]["uberctx-key-***"]) == "as a key"
    assert everywhere_run["output"]["env:BAGGAGE"] == \
        "carried=%2A%2A%2A,key-%2A%2A%2A=as%20a%20key"
    assert not leaks(SECRET, json.dumps(everywhere_run["output"]).encode())
    # our own log lines never hold it either
    ours = "\n".join(line for line in run.log.splitlines()
                     if "chaostracing" in line)
    assert ours and not leaks(SECRET, ours.encode())


def test_no_form_of_a_secret_reaches_an_otlp_endpoint(chaos, otlp,
                                                      demo_service):
    run = chaos(secret_experiment(
        {"tracing_provider": "otlp", "tracing_port": otlp.port},
        demo_service), env={"DEMO_TOKEN": SECRET})
    assert run.status == "completed", run.log[-3000:]
    spans = otlp.wait_for(10)
    check_no_leak(b"".join(otlp.bodies))
    everywhere = by_name(spans)["everywhere"]
    # the event name is the log's "event" field: masked too
    assert everywhere.logs[0][1]["event"] == "***"
    assert dict(spans[0].process.tags)["chaostoolkit.experiment.title"] == \
        "Secret run ***"


def test_no_form_of_a_secret_reaches_the_trace_file(chaos, demo_service,
                                                    tmp_path):
    run = chaos(secret_experiment({"tracing_provider": "file"}, demo_service),
                env={"DEMO_TOKEN": SECRET})
    assert run.status == "completed", run.log[-3000:]
    check_no_leak((tmp_path / "chaostracing-trace.json").read_bytes())


def test_urls_with_credentials_never_reach_our_log_or_the_journal(
    chaos, otlp, tmp_path
):
    experiment = {
        "title": "urls", "description": "d",
        "configuration": {"tracing_provider": "otlp",
                          "tracing_ui_url": "http://admin:hunter22@localhost:16686"},
        "controls": [CONTROL],
        "method": [python("act", "echo", secrets=(), value=1)],
    }
    run = chaos(experiment, env={
        "OTEL_EXPORTER_OTLP_ENDPOINT":
            f"http://user:pa55word@127.0.0.1:{otlp.port}"})
    assert run.status == "completed", run.log[-2000:]
    assert len(otlp.wait_for(4)) == 4
    (entry,) = run.journal["extensions"]
    text = json.dumps(entry) + run.log
    assert "hunter22" not in text and "pa55word" not in text
    assert entry["trace_url"].startswith("http://localhost:16686/trace/")
    assert entry["destination"] == \
        f"OTLP endpoint http://127.0.0.1:{otlp.port}/v1/traces"


def test_a_bad_setting_filled_from_a_secret_is_reported_masked(chaos, agent):
    # control arguments are substituted with the secrets by the control
    control = dict(CONTROL, provider=dict(
        CONTROL["provider"], arguments={"tracing_sampler_rate": "${token}"}))
    experiment = {
        "title": "bad", "description": "d",
        "configuration": {"tracing_provider": "jaeger",
                          "tracing_port": agent.port},
        "secrets": {"demo": {"token": {"type": "env", "key": "DEMO_TOKEN"}}},
        "controls": [control],
        "method": [python("act", "echo", secrets=(), value=1)],
    }
    run = chaos(experiment, env={"DEMO_TOKEN": "S3cret-sampler-rate"})
    assert run.status == "completed"
    assert run.log.count(
        "tracing_sampler_rate is '***' in the control's arguments: expected "
        "a number") == 1
    assert "S3cret-sampler" not in run.log


def test_a_short_secret_is_masked_where_whole_and_said_once(chaos, agent):
    experiment = {
        "title": "short", "description": "d",
        "configuration": {"tracing_provider": "jaeger",
                          "tracing_port": agent.port},
        "secrets": {"demo": {"code": "ed"}},
        "controls": [CONTROL],
        "method": [python("whole", "echo", value="${code}"),
                   python("inside", "echo", secrets=(), value="succeeded")],
    }
    run = chaos(experiment)
    assert run.status == "completed"
    spans = by_name(agent.wait_for(5))
    assert spans["whole"].tags["chaostoolkit.output"] == "***"
    # "succeeded" does not become "succe***", which would reveal it
    assert spans["inside"].tags["chaostoolkit.status"] == "succeeded"
    assert spans["inside"].tags["chaostoolkit.output"] == "succeeded"
    assert run.log.count("shorter than 4 characters (demo.code)") == 1


def test_thousands_of_references_and_odd_values_cost_no_span(chaos, agent):
    experiment = {
        "title": "references and odd values", "description": "d",
        "configuration": {"tracing_provider": "jaeger",
                          "tracing_port": agent.port},
        "controls": [CONTROL],
        "method": [python("refs", "many_references", secrets=(), count=3000),
                   python("odd", "odd_values", secrets=()),
                   python("after", "echo", secrets=(), value=1)],
    }
    run = chaos(experiment)
    assert run.status == "completed", run.log[-2000:]
    # experiment, method, rollbacks, 3 activities, the referencing span and
    # the 3,000 spans it refers to
    spans = agent.wait_for(3007, timeout=10)
    assert len(spans) == 3007
    names = by_name(spans)
    assert len(names["with-references"].references) >= 16  # trimmed, kept
    odd = names["odd"].tags
    assert odd["unprintable"] == \
        "<odd_values.<locals>.Unprintable (repr failed)>"
    assert odd["cyclic"] == '["<cycle>"]'
    assert odd["deep"].startswith("[[[[") and "..." in odd["deep"]
    assert odd["control"] == "line\x1b[2J\x00\u202eend"  # data, kept as is
    assert names["after"].tags["chaostoolkit.status"] == "succeeded"


# -- chaostracing show on what others sent -------------------------------------
CHAOSTRACING = str(Path(sys.executable).with_name("chaostracing"))


def write_trace(path, spans, processes=None):
    path.write_text(json.dumps({"data": [{
        "traceID": "00000000000000000000000000000abc", "spans": spans,
        "processes": processes or {"p1": {"serviceName": "svc", "tags": []}},
    }]}))
    return path


def span(span_id, name="op", parent=None, start=1_700_000_000_000_000,
         tags=()):
    return {"traceID": "abc", "spanID": format(span_id, "016x"),
            "operationName": name, "startTime": start, "duration": 10,
            "processID": "p1", "tags": list(tags),
            "references": [] if parent is None else [
                {"refType": "CHILD_OF", "traceID": "abc",
                 "spanID": format(parent, "016x")}]}


def show(path):
    return subprocess.run([CHAOSTRACING, "show", str(path), "--width", "120"],
                          capture_output=True, text=True, timeout=30)


def test_show_prints_control_sequences_as_data(tmp_path):
    hostile = "\x1b]0;pwned\x07\x1b[2J\rfake line\u202e\u2028\x9b31m"
    proc = show(write_trace(tmp_path / "t.json", [
        span(1, hostile, tags=[{"key": "http.method", "type": "string",
                                "value": hostile}])],
        {"p1": {"serviceName": hostile, "tags": []}}))
    assert proc.returncode == 0, proc.stderr
    for char in ("\x1b", "\x07", "\r", "\u202e", "\u2028", "\x9b"):
        assert char not in proc.stdout
    assert "\\x1b]0;pwned" in proc.stdout


@pytest.mark.parametrize("content, message", [
    ('{"data": [{"spans": [{"traceID": "abc"}]}]}', "missing field"),
    ('{"data": [{"spans": [{"traceID": "abc", "spanID": "1", '
     '"startTime": 1e400}]}]}', "startTime is not a finite number"),
    ('{"data": [{"spans": [{"traceID": "zz", "spanID": "1", '
     '"startTime": 1}]}]}', "not a 128-bit hex id"),
    ('{"data": [{"spans": [null]}]}', "a span is not an object"),
    ('{"data": [[]]}', 'has no "spans" list'),
    ('[' * 100000 + ']' * 100000, "is not JSON"),
    ('{"data": [{"spans": [{"traceID": "abc", "spanID": "1", '
     '"startTime": 1, "references": 5}]}]}', '"references" is not a list'),
], ids=["missing-field", "infinite-time", "bad-id", "null-span", "no-spans",
        "nested-100000-deep", "references-not-a-list"])
# (short ids: pytest puts the test's id in $PYTEST_CURRENT_TEST, which the
# subprocess inherits; a 200,000-character id is over the kernel's limit)
def test_show_refuses_crafted_files_in_one_line(tmp_path, content, message):
    path = tmp_path / "crafted.json"
    path.write_text(content)
    proc = show(path)
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    assert proc.stderr.count("\n") == 1 and message in proc.stderr, proc.stderr


def test_show_draws_a_3000_deep_chain_and_parent_cycles(tmp_path):
    chain = [span(1, "root")] + [
        span(i, f"s{i}", parent=i - 1, start=1_700_000_000_000_000 + i)
        for i in range(2, 3001)]
    cycle = [span(9001, "cycle-a", parent=9002),
             span(9002, "cycle-b", parent=9001)]
    proc = show(write_trace(tmp_path / "deep.json", chain + cycle))
    assert proc.returncode == 0, proc.stderr[-500:]
    lines = proc.stdout.splitlines()
    assert len(lines) == 1 + 3002
    assert any(line.lstrip().startswith("[2999] s3000") for line in lines)
    assert sum("(parent cycle)" in line for line in lines) == 1
    assert any("cycle-a" in line for line in lines)
    assert any("cycle-b" in line for line in lines)
