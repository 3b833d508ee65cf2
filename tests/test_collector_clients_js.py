"""Clients nobody here wrote send to ``chaostracing collect``, and every span
they send comes back through its query API.

- OpenTelemetry JS's OTLP/HTTP exporters, ``@opentelemetry/exporter-trace-
  otlp-http`` (JSON) and ``-proto`` (protobuf), each with and without gzip.
  They send their bodies with ``Transfer-Encoding: chunked`` and keep the
  connection alive: the collector used to answer 200 to an empty body and
  lose every span.
- Node's ``jaeger-client``: Thrift binary over UDP, as to an agent's 6832.

They are npm packages (package.json, installed by ``make install``'s ``npm
ci``), driven by tests/js/send_spans.js in a ``node`` process. Without node
and npm the tests skip and say so.
"""
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import requests
from conftest import ROOT

SENDER = ROOT / "tests" / "js" / "send_spans.js"
MODULES = ROOT / "node_modules"
CHAOSTRACING = str(Path(sys.executable).with_name("chaostracing"))

pytestmark = [
    pytest.mark.skipif(not shutil.which("node"), reason=(
        "node is not installed: OpenTelemetry JS's exporters and Node's "
        "jaeger-client are not tried against the collector here")),
    pytest.mark.slow,  # node, the chaostracing command
]


@pytest.fixture(scope="module")
def collect(tmp_path_factory):
    for package in ("@opentelemetry/exporter-trace-otlp-http",
                    "@opentelemetry/exporter-trace-otlp-proto",
                    "jaeger-client"):
        assert (MODULES / package).exists(), (
            f"{package} is not installed: run make install (npm ci)")
    output = tmp_path_factory.mktemp("collect") / "out.json"
    proc = subprocess.Popen(
        [CHAOSTRACING, "collect", "--port", "0", "--otlp-port", "0",
         "--query-port", "0", "--output", str(output)],
        stderr=subprocess.PIPE, text=True)
    line = proc.stderr.readline()
    udp, otlp, query = (int(port) for port in re.findall(
        r"://127.0.0.1:(\d+)", line))
    yield {"udp": udp, "otlp": otlp, "query": f"http://127.0.0.1:{query}"}
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "refused" not in err and "malformed" not in err, err


def send(mode, port, count, *extra):
    proc = subprocess.run(["node", str(SENDER), mode, str(port), str(count),
                           *extra], capture_output=True, text=True,
                          timeout=120, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def spans_of(base, service, count):
    """The spans of ``service``'s trace, once the query API has ``count``
    (UDP datagrams are decoded as they come)."""
    import time

    deadline = time.monotonic() + 10
    while True:
        answer = requests.get(f"{base}/api/traces", params={
            "service": service, "limit": "0"}, timeout=10)
        assert answer.status_code == 200
        data = answer.json()["data"]
        spans = [span for trace in data for span in trace["spans"]]
        if len(spans) >= count or time.monotonic() > deadline:
            return data, spans
        time.sleep(0.05)


def assert_the_whole_trace(data, spans, count):
    assert len(data) == 1 and len(spans) == count
    by_name = {span["operationName"]: span for span in spans}
    assert set(by_name) == {"root"} | {f"child-{i}" for i in range(1, count)}
    root = by_name["root"]
    assert root["references"] == []
    for number in range(1, count):
        child = by_name[f"child-{number}"]
        assert child["references"][0]["spanID"] == root["spanID"]
        tags = {tag["key"]: tag["value"] for tag in child["tags"]}
        assert tags["n"] == number


@pytest.mark.parametrize("compression", ["none", "gzip"])
@pytest.mark.parametrize("mode", ["otlp-http", "otlp-proto"])
def test_opentelemetry_js_exporters_lose_no_span(collect, mode, compression):
    count = 250  # three requests of at most 100 spans
    extra = ("gzip",) if compression == "gzip" else ()
    send(mode, collect["otlp"], count, *extra)
    service = f"node-{mode}" + ("-gzip" if extra else "")
    data, spans = spans_of(collect["query"], service, count)
    assert_the_whole_trace(data, spans, count)
    text = {tag["key"]: tag["value"] for span in spans
            for tag in span["tags"] if span["operationName"] == "child-6"}
    assert text["text"] == "é" * 6
    assert text["otel.scope.name"] == "send_spans"


def test_nodes_jaeger_client_over_udp_loses_no_span(collect):
    count = 40
    send("jaeger-client", collect["udp"], count)
    data, spans = spans_of(collect["query"], "node-jaeger-client", count)
    assert_the_whole_trace(data, spans, count)
