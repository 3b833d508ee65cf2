"""The file provider, the Jaeger JSON format and the ``chaostracing``
command."""
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import assert_one_trace, jaeger_client_spans, load_example

from chaostracing import cli
from chaostracing._data.jaegerjson import dumps, load_spans, write_atomic
from chaostracing._data.model import FOLLOWS_FROM, Process, SpanData

CHAOSTRACING = str(Path(sys.executable).with_name("chaostracing"))


def failing_example(demo_service):
    experiment = load_example()
    experiment["configuration"] = {
        "tracing_provider": "file", "service_url": demo_service.url,
        "tracing_ui_url": "http://localhost:16686"}
    experiment["method"].append({
        "type": "action", "name": "fail-on-purpose",
        "provider": {"type": "python", "module": "chaostracing_demo.actions",
                     "func": "fail"}})
    return experiment


def check_jaeger_ui_fields(document):
    """The fields Jaeger UI's JSON upload reads, with their types."""
    assert isinstance(document["data"], list) and document["data"]
    for trace in document["data"]:
        assert isinstance(trace["traceID"], str) and int(trace["traceID"], 16)
        processes = trace["processes"]
        for process in processes.values():
            assert isinstance(process["serviceName"], str)
            assert isinstance(process["tags"], list)
        for span in trace["spans"]:
            assert span["traceID"] == trace["traceID"]
            assert len(span["spanID"]) == 16 and int(span["spanID"], 16)
            assert isinstance(span["operationName"], str)
            assert isinstance(span["startTime"], int)  # microseconds
            assert isinstance(span["duration"], int)
            assert span["processID"] in processes
            for ref in span["references"]:
                assert ref["refType"] in ("CHILD_OF", "FOLLOWS_FROM")
                assert ref["traceID"] == trace["traceID"]
            for tag in span["tags"] + [f for log in span["logs"]
                                       for f in log["fields"]]:
                assert tag["type"] in ("string", "bool", "int64", "float64",
                                       "binary")
                assert set(tag) == {"key", "type", "value"}


def test_a_run_with_the_file_provider_writes_a_jaeger_trace_file(
    chaos, demo_service, tmp_path
):
    run = chaos(failing_example(demo_service))
    assert run.status == "completed", run.log
    path = tmp_path / "chaostracing-trace.json"  # next to the journal
    document = json.loads(path.read_text())
    check_jaeger_ui_fields(document)
    (trace,) = document["data"]
    assert len(trace["spans"]) == 13
    spans = load_spans(str(path))
    assert_one_trace(spans)
    # the journal records the trace; the log gives it at start and at end
    (entry,) = run.journal["extensions"]
    assert entry["name"] == "chaostracing"
    assert entry["trace_id"] == trace["traceID"]
    assert entry["trace_url"] == f"http://localhost:16686/trace/{trace['traceID']}"
    assert run.log.count(trace["traceID"]) >= 2
    assert str(path) in run.log


def test_show_draws_the_tree_in_order_with_errors_marked(
    chaos, demo_service, tmp_path
):
    chaos(failing_example(demo_service))
    path = tmp_path / "chaostracing-trace.json"
    out = subprocess.run([CHAOSTRACING, "show", str(path), "--width", "120"],
                         capture_output=True, text=True, check=True).stdout
    lines = out.splitlines()
    assert lines[0].startswith("trace ") and "13 spans" in lines[0]
    assert "1 error(s)" in lines[0] or "2 error(s)" in lines[0]
    names = [line.split("│")[0].rstrip() for line in lines[1:]]
    assert names[:4] == ["The demo service survives stress",
                         "  The service is healthy",
                         "    service-is-healthy", "  Method"]
    assert names[-2:] == ["  Rollbacks", "    restore-the-service"]
    failed = next(line for line in lines if "fail-on-purpose" in line)
    assert "✗" in failed and "failed" in failed.split("ms")[-1]
    assert "\x1b[" not in out  # plain text when not a terminal
    assert all(len(line) <= 120 for line in lines)


@pytest.mark.slow  # the chaostracing command
def test_show_selects_a_trace_by_id_prefix_and_errors_in_one_line(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{}")
    proc = subprocess.run([CHAOSTRACING, "show", str(bad)],
                          capture_output=True, text=True)
    assert proc.returncode == 1
    assert proc.stderr.count("\n") == 1
    assert "not a Jaeger trace file" in proc.stderr
    proc = subprocess.run([CHAOSTRACING, "show", str(tmp_path / "none.json")],
                          capture_output=True, text=True)
    assert proc.returncode == 1 and proc.stderr.count("\n") == 1


def test_trace_ids_are_written_as_jaeger_writes_them_and_found_either_way(
        tmp_path, capsys):
    # a 64-bit id (jaeger-client's) is 16 digits in Jaeger JSON, as Jaeger
    # writes it (zero-padded to 32, Jaeger UI showed it as "0000000"); a
    # 128-bit one is 32; show --trace finds either by either form
    path = tmp_path / "trace.json"
    wide = (0x1234 << 64) | 5
    spans = [
        SpanData(0x46D7789, 1, operation_name="narrow root", start_us=1,
                 duration_us=3, process=Process("svc")),
        SpanData(0x46D7789, 2, 1, operation_name="narrow child", start_us=2,
                 duration_us=1, process=Process("svc"),
                 references=[(FOLLOWS_FROM, wide, 1)]),
        SpanData(wide, 1, operation_name="wide root", start_us=1,
                 duration_us=2, process=Process("svc")),
    ]
    write_atomic(str(path), dumps(spans))
    document = json.loads(path.read_text())
    by_root = {t["spans"][0]["operationName"]: t for t in document["data"]}
    narrow, wide_text = "00000000046d7789", "00000000000012340000000000000005"
    assert by_root["narrow root"]["traceID"] == narrow
    assert by_root["wide root"]["traceID"] == wide_text
    (child,) = [s for s in by_root["narrow root"]["spans"]
                if s["operationName"] == "narrow child"]
    assert child["references"] == [
        {"refType": "CHILD_OF", "traceID": narrow, "spanID": "0" * 15 + "1"},
        {"refType": "FOLLOWS_FROM", "traceID": wide_text,
         "spanID": "0" * 15 + "1"}]
    # read back: both lengths, the same ids
    assert {(s.trace_id, s.span_id) for s in load_spans(str(path))} == {
        (s.trace_id, s.span_id) for s in spans}
    for wanted in (narrow[:10], "000000000000000000000000046d7789"):
        assert cli.main(["show", "--trace", wanted, str(path)]) == 0
        out = capsys.readouterr().out
        assert "narrow root" in out and "wide root" not in out


def test_help_is_available_for_every_command(capsys):
    for argv in (["--help"], ["show", "--help"], ["collect", "--help"]):
        with pytest.raises(SystemExit) as done:
            cli.main(argv)
        assert done.value.code == 0
    out = capsys.readouterr().out
    assert "waterfall" in out and "Jaeger agent" in out


def test_a_bad_port_is_refused_with_a_clear_error(capsys):
    with pytest.raises(SystemExit) as done:
        cli.main(["collect", "--port", "99999"])
    assert done.value.code == 2
    assert ("expected an integer from 0 to 65535, or off"
            in capsys.readouterr().err)


@pytest.mark.parametrize("option, value, expected", [
    ("--max-bytes", "inf", "expected a size from 1 byte to 1024G"),
    ("--max-bytes", "nan", "expected a size from 1 byte to 1024G"),
    ("--max-bytes", "2000G", "expected a size from 1 byte to 1024G"),
    ("--timeout", "1e300", "expected seconds from 0.1 to 86400"),
    ("--timeout", "inf", "expected seconds from 0.1 to 86400"),
    ("--timeout", "1e-300", "expected seconds from 0.1 to 86400"),
])
def test_sizes_and_timeouts_out_of_range_are_refused_naming_the_option(
        capsys, option, value, expected):
    # --max-bytes inf raised OverflowError; --timeout 1e300 raised in stop()
    # and the final write never ran
    with pytest.raises(SystemExit) as done:
        cli.main(["collect", option, value])
    assert done.value.code == 2
    err = capsys.readouterr().err
    assert f"argument {option}: {value!r}: {expected}" in err


def test_a_huge_timeout_still_stops():
    from chaostracing._collector.http import Limits, Serving, Site

    serving = Serving(Limits(timeout=1e300))
    serving.bind("127.0.0.1", 0, Site("t", [], None, None))
    serving.start()
    serving.stop()  # raised OverflowError in Thread.join
    assert serving._thread is not None and not serving._thread.is_alive()


def free_udp_port():
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return port


def wait_for_file_spans(path, count, timeout=15.0):
    """The spans of ``path`` once it holds ``count`` (collect rewrites it
    while spans arrive): syncs on what the collector did, not on a sleep."""
    deadline = time.monotonic() + timeout
    spans = []
    while time.monotonic() < deadline:
        try:
            spans = load_spans(str(path))
        except (OSError, ValueError):
            spans = []
        if len(spans) >= count:
            return spans
        time.sleep(0.05)
    return spans


@pytest.mark.slow  # the collector's command
def test_collect_receives_jaeger_client_traffic_and_skips_garbage(tmp_path):
    import signal

    from thrift_check import encode_with_thrift

    port = free_udp_port()
    output = tmp_path / "collected.json"
    collector = subprocess.Popen(
        [CHAOSTRACING, "collect", "--port", str(port), "--otlp-port", "off",
         "--query-port", "off", "--output", str(output)],
        stderr=subprocess.PIPE, text=True)
    assert "collecting on udp://127.0.0.1" in collector.stderr.readline()
    jaeger_client_spans(port, children=5)  # real jaeger-client, compact
    # garbage, and one binary-protocol batch
    from jaeger_client.thrift_gen.jaeger import ttypes as t
    sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    for junk in (b"", b"garbage", b"\x82\x81\x00\x09emitBatch\x1c"):
        sender.sendto(junk, ("127.0.0.1", port))
    sender.sendto(encode_with_thrift(t.Batch(
        process=t.Process(serviceName="binary-sender", tags=[]),
        spans=[t.Span(traceIdLow=1, traceIdHigh=0, spanId=2, parentSpanId=0,
                      operationName="over-binary", flags=1, startTime=1,
                      duration=1)]), binary=True), ("127.0.0.1", port))
    sender.close()
    assert len(wait_for_file_spans(output, 7)) == 7
    collector.send_signal(signal.SIGTERM)
    _, err = collector.communicate(timeout=15)
    assert collector.returncode == 0
    assert "7 span(s) written" in err
    assert "3 malformed datagram(s) skipped" in err
    document = json.loads(output.read_text())
    check_jaeger_ui_fields(document)
    # jaeger-client's ids are 64-bit: 16 digits, as Jaeger writes them
    trace_ids = {trace["traceID"] for trace in document["data"]}
    assert "0000000000000001" in trace_ids  # over-binary's
    assert {len(trace_id) for trace_id in trace_ids} == {16}
    spans = load_spans(str(output))
    by_name = {s.operation_name: s for s in spans}
    assert by_name["child-3"].parent_id == by_name["root"].span_id
    assert by_name["root"].service_name == "from-jaeger-client"
    assert by_name["over-binary"].service_name == "binary-sender"


def test_an_interrupted_write_leaves_the_previous_file(tmp_path, monkeypatch):
    path = tmp_path / "trace.json"
    write_atomic(str(path), '{"data": []}')

    def crash(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError):
        write_atomic(str(path), '{"data": [1]}')
    assert path.read_text() == '{"data": []}'
    assert os.listdir(tmp_path) == ["trace.json"]


@pytest.mark.slow  # the demo's processes
def test_the_demo_runs_twice_in_a_row_and_leaves_nothing_running(tmp_path):
    from conftest import EXAMPLES, ROOT

    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [str(EXAMPLES / "extension"), str(ROOT)]))
    for _ in range(2):
        proc = subprocess.run(
            [sys.executable, str(EXAMPLES / "demo.py"), "--output",
             str(tmp_path / "demo")],
            capture_output=True, text=True, env=env, timeout=120)
        assert proc.returncode == 0, proc.stderr[-2000:]
        assert "27 spans" in proc.stdout
        assert "services: chaostoolkit, demo-service" in proc.stdout
        assert "The demo service survives stress" in proc.stdout
    assert (tmp_path / "demo" / "chaostracing-trace.json").exists()
    assert (tmp_path / "demo" / "report.html").exists()
    # the demo's service ran on a thread of the demo: no process outlives it
    leftover = subprocess.run(
        ["pgrep", "-f", f"service.py|chaostracing collect .*{tmp_path}"],
        capture_output=True, text=True).stdout
    assert leftover == ""
