"""Traces as the steady state, end to end with real parts: the demo service,
traced with OpenTelemetry's SDK, exports OTLP/HTTP to a real ``chaostracing
collect`` process; real ``chaos run``s of ``examples/experiment-trace-probes
.json`` read its error ratio and p95 from the collector's Jaeger query API.
"""
import json
import os
import re
import signal
import subprocess
import sys
import threading
import urllib.request
from pathlib import Path

import pytest
from conftest import EXAMPLES, DemoService, chaos_command, run_chaos

from chaostracing._data.jaegerjson import load_spans

# every test runs the collector, the demo service or chaos run: processes
pytestmark = pytest.mark.slow

pytest.importorskip("opentelemetry.sdk")
CHAOS = str(Path(sys.executable).with_name("chaos"))
CHAOSTRACING = str(Path(sys.executable).with_name("chaostracing"))
EXPERIMENT = EXAMPLES / "experiment-trace-probes.json"


class Collect:
    """``chaostracing collect`` on free ports, in its own process."""

    def __init__(self, output: Path, udp: bool = False):
        self.output = output
        self.proc = subprocess.Popen(
            [CHAOSTRACING, "collect", "--port", "0" if udp else "off",
             "--otlp-port", "0", "--query-port", "0", "--output", str(output)],
            stderr=subprocess.PIPE, text=True)
        line = self.proc.stderr.readline()
        self.otlp = int(re.search(r":(\d+)/v1/traces", line).group(1))
        self.query_url = "http://127.0.0.1:" + re.search(
            r"http://127.0.0.1:(\d+) \(Jaeger query API\)", line).group(1)
        udp_port = re.search(r"udp://127.0.0.1:(\d+)", line)
        self.udp = int(udp_port.group(1)) if udp_port else None

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        _, err = self.proc.communicate(timeout=30)
        assert self.proc.returncode == 0, err
        return load_spans(str(self.output)) if self.output.exists() else []


class TracedService:
    """The demo service exporting its spans to a collector."""

    def __init__(self, collect: Collect):
        self.server = DemoService(
            0, f"http://127.0.0.1:{collect.otlp}/v1/traces")
        threading.Thread(target=self.server.serve_forever, args=(0.05,),
                         daemon=True).start()

    def stop(self):
        self.server.stop_tracing()
        self.server.shutdown()
        self.server.server_close()


def probes_of(journal, when):
    return {run["activity"]["name"]: run
            for run in journal["steady_states"][when]["probes"]}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Four runs of the example at once (they mostly wait: pauses), each
    with its own collector and service: with the errors fault, the latency
    fault, no fault, and probing a service that sends no span."""
    variants = {"errors": "errors", "latency": "latency", "none": "none",
                "silent": "none"}
    started = {}
    for name, fault in variants.items():
        folder = tmp_path_factory.mktemp(name)
        collect = Collect(folder / "service-trace.json")
        service = TracedService(collect)
        experiment = EXPERIMENT
        if name == "silent":  # the probes ask about a service with no span
            document = json.loads(EXPERIMENT.read_text())
            for probe in document["steady-state-hypothesis"]["probes"][1:]:
                probe["provider"]["arguments"]["service"] = "no-such-service"
            experiment = folder / "silent.json"
            experiment.write_text(json.dumps(document))
        argv, env, journal = chaos_command(experiment, folder, env={
            "DEMO_SERVICE_URL": service.server.url, "DEMO_FAULT": fault,
            "CHAOSTRACING_QUERY_URL": collect.query_url,
            "TRACING_PROVIDER": "file",
            "CHAOSTRACING_PROPAGATION": "w3c"})
        proc = subprocess.Popen(argv, env=env, cwd=folder, text=True,
                                stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT)
        started[name] = (folder, collect, service, proc, journal)
    results = {}
    for name, (folder, collect, service, proc, journal) in started.items():
        output, _ = proc.communicate(timeout=120)
        service.stop()
        service_spans = collect.stop()
        assert "CHAOSTRACING INTERNAL ERROR" not in output, output[-3000:]
        assert journal.exists(), output[-3000:]
        results[name] = {
            "journal": json.loads(journal.read_text()),
            "run_spans": load_spans(str(folder / "chaostracing-trace.json")),
            "service_spans": service_spans,
            "output": output,
        }
    return results


def test_errors_in_the_service_make_the_run_deviate(runs):
    journal = runs["errors"]["journal"]
    assert journal["status"] == "completed" and journal["deviated"] is True
    before, after = probes_of(journal, "before"), probes_of(journal, "after")
    assert journal["steady_states"]["before"]["steady_state_met"] is True
    assert before["orders-error-ratio"]["output"] == 0.0
    assert before["orders-p95-latency-ms"]["output"] < 100
    assert after["orders-error-ratio"]["output"] == 1.0
    assert after["orders-error-ratio"]["tolerance_met"] is False


def test_without_the_fault_the_run_does_not_deviate(runs):
    journal = runs["none"]["journal"]
    assert journal["status"] == "completed" and journal["deviated"] is False
    for when in ("before", "after"):
        probes = probes_of(journal, when)
        assert probes["orders-error-ratio"]["output"] == 0.0
        assert probes["orders-p95-latency-ms"]["output"] < 100
        assert all(p["tolerance_met"] for p in probes.values())


def test_a_latency_fault_moves_the_p95(runs):
    journal = runs["latency"]["journal"]
    assert journal["deviated"] is True
    before, after = probes_of(journal, "before"), probes_of(journal, "after")
    assert before["orders-p95-latency-ms"]["output"] < 100
    assert after["orders-error-ratio"]["output"] == 0.0  # slow, not failing
    assert after["orders-p95-latency-ms"]["output"] >= 150  # the fault's 0.15 s
    assert after["orders-p95-latency-ms"]["tolerance_met"] is False


def test_a_probe_over_a_service_without_spans_fails_its_activity(runs):
    journal = runs["silent"]["journal"]
    assert journal["status"] == "failed"
    assert journal["steady_states"]["before"]["steady_state_met"] is False
    ratio = probes_of(journal, "before")["orders-error-ratio"]
    assert ratio["status"] == "failed" and ratio["tolerance_met"] is False
    assert "no data is not health" in ratio["exception"][-1]
    assert "'no-such-service'" in ratio["exception"][-1]
    assert "'GET /orders'" in ratio["exception"][-1]


def test_the_service_spans_the_probes_read_are_in_the_runs_trace(runs):
    """The traffic's client spans carry the trace to the service: its
    server spans are children of the run's spans, in the run's one trace;
    the probe spans record what they measured."""
    result = runs["errors"]
    run_spans, service_spans = result["run_spans"], result["service_spans"]
    (trace_id,) = {s.trace_id for s in run_spans}
    servers = [s for s in service_spans if s.operation_name == "GET /orders"]
    assert len(servers) == 20  # 10 requests before, 10 after
    run_ids = {s.span_id: s for s in run_spans}
    for span in servers:
        assert span.trace_id == trace_id
        client = run_ids[span.parent_id]
        assert client.tags.get("span.kind") == "client"
        activity = run_ids[client.parent_id]
        assert activity.operation_name == "send-traffic"
    failed = [s for s in servers if s.failed]
    assert len(failed) == 10 and all(
        s.tags["http.status_code"] == 503 for s in failed)
    ratios = [s for s in run_spans if s.operation_name == "orders-error-ratio"]
    assert sorted(s.tags["chaostoolkit.output"] for s in ratios) == [0.0, 1.0]


def test_the_runs_trace_link_opens_on_the_collector(tmp_path, demo_service):
    """``tracing_ui_url`` pointing at the collector: the run's spans go
    there over UDP (the jaeger provider), and the trace link the journal
    records answers the trace's page, and the API the trace."""
    collect = Collect(tmp_path / "collected.json", udp=True)
    try:
        run = run_chaos(str(EXAMPLES / "experiment.json"), tmp_path, env={
            "TRACING_PROVIDER": "jaeger", "JAEGER_AGENT_HOST": "127.0.0.1",
            "JAEGER_AGENT_PORT": str(collect.udp),
            "CHAOSTRACING_UI_URL": collect.query_url,
            "DEMO_SERVICE_URL": demo_service.url})
        assert run.status == "completed", run.log[-3000:]
        (entry,) = [e for e in run.journal["extensions"]
                    if e["name"] == "chaostracing"]
        link = entry["trace_url"]
        assert link == f"{collect.query_url}/trace/{entry['trace_id']}"
        with urllib.request.urlopen(link, timeout=10) as answer:
            page = answer.read().decode()
        assert answer.status == 200
        assert "The demo service survives stress" in page
        with urllib.request.urlopen(
                f"{collect.query_url}/api/traces/{entry['trace_id']}",
                timeout=10) as answer:
            (trace,) = json.loads(answer.read())["data"]
        names = {s["operationName"] for s in trace["spans"]}
        assert {"The demo service survives stress", "call-the-service",
                "my-inner-span"} <= names
        (root,) = [s for s in trace["spans"] if not s["references"]]
        assert root["operationName"] == "The demo service survives stress"
        assert trace["spans"][0] == root  # the earliest
        ids = {s["spanID"] for s in trace["spans"]}
        assert all(r["spanID"] in ids for s in trace["spans"]
                   for r in s["references"])
    finally:
        collect.stop()


@pytest.mark.skipif(sys.version_info < (3, 10), reason=(
    "chaoslib's `chaos discover` calls importlib.metadata."
    "packages_distributions (Python 3.10+): it fails for every extension on "
    "this Python (test_probes checks our discover function itself)"))
def test_chaos_discover_lists_the_probes(tmp_path):
    collect = Collect(tmp_path / "collected.json")
    service = TracedService(collect)
    try:
        urllib.request.urlopen(service.server.url + "/orders", timeout=5).read()
        service.server.stop_tracing()  # its span reaches the collector
        env = dict(os.environ, CHAOSTRACING_QUERY_URL=collect.query_url)
        discovery = tmp_path / "discovery.json"
        proc = subprocess.run(
            [CHAOS, "--no-version-check", "--log-file", str(tmp_path / "log"),
             "discover", "--no-install", "--discovery-path", str(discovery),
             "chaostoolkit-opentracing"],
            env=env, capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr
        found = json.loads(discovery.read_text())
    finally:
        service.stop()
        collect.stop()
    assert found["extension"]["name"] == "chaostoolkit-opentracing"
    activities = {a["name"]: a for a in found["activities"]}
    assert sorted(activities) == ["blast_radius", "span_count",
                                  "span_error_ratio",
                                  "span_latency_percentile"]
    radius = activities["blast_radius"]
    assert radius["return_type"] == "boolean"
    assert {"name": "allowed", "default": None, "type": "list"} in \
        radius["arguments"]
    ratio = activities["span_error_ratio"]
    assert ratio["type"] == "probe" and ratio["mod"] == "chaostracing.probes"
    assert ratio["return_type"] == "number"
    assert [a["name"] for a in ratio["arguments"]] == [
        "service", "operation", "window", "kind", "tags", "min_spans",
        "query_url"]
    assert {"name": "window", "default": 60, "type": "number"} in \
        ratio["arguments"]
    assert "failed" in ratio["doc"] and "HTTP status 500" in ratio["doc"]
    assert {"name": "percentile", "default": 95, "type": "number"} in \
        activities["span_latency_percentile"]["arguments"]
    assert found["system"] == {"query_url": collect.query_url,
                               "services": ["demo-service"]}


def test_the_readmes_demo_command_for_the_probes(tmp_path):
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("CHAOSTRACING_", "JAEGER_", "OTEL_"))}
    env["CHAOSTRACING_RAISE_ERRORS"] = "1"
    proc = subprocess.run(
        [sys.executable, str(EXAMPLES / "demo.py"), "--experiment",
         str(EXPERIMENT), "--output", str(tmp_path)],
        env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "experiment-trace-probes.json (spans to chaostracing-trace.json): " \
        "completed, deviated" in proc.stdout
    assert "orders-error-ratio" in proc.stdout and "✗ succeeded, out of " \
        "tolerance" in proc.stdout
    assert (tmp_path / "report.html").exists()
