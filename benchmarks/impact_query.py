"""``chaostracing impact`` end to end over 100,000 spans in its windows,
against the collector; and what the control's end-of-run impact adds to a
``chaos run``, less its wait for late spans.

``chaostracing collect``'s store and query API run in their own process,
filled with the traces of examples/shop.py's six services (a checkout
crosses four services in 7 spans, browsing two in 3; OpenTelemetry's
usual tags), half of the payments failing during the method.

1. *The command*: ``chaostracing impact journal.json --json`` in a fresh
   process, its windows (60 s of baseline, 30 s of method, 10 s after)
   holding 100,000 spans. The baseline of each round is the bare transfer
   the command cannot avoid: the same answers of the query API (services,
   then each service's traces), read as bytes by a plain HTTP client in
   this process. The command's JSON says how its time was spent (fetching,
   analysing); the rest is the process's start and imports (scipy's among
   them, on a thread while the fetch waits).
2. *The end of a run*: the same 10-action ``chaos run`` with
   ``tracing_impact`` on and off, round by round, against a collector
   whose spans cover the run's windows (60 s of baseline before it, and
   after it); the wait the journal reports is subtracted. Its own baseline
   is again the bare transfer of the answers for the run's windows (as the
   journal states them), timed in the same round.

Seconds move with the machine's speed from one run of the benchmark to the
next; the figures to compare are the ratios to the bare transfer, measured
round by round in the same run.

Goal: the command in <= 3 s.

    python benchmarks/impact_query.py [--rounds 5] [--spans 100000]
"""
import argparse
import datetime
import json
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from _common import (
    clean_env,
    mad,
    median,
    paired,
    ratio,
    report,
    where_installed,
)

SERVER = r"""
import random, sys, time
from chaostracing._collector import Collector
from chaostracing._data.model import Process, SpanData

first_us, last_us, fault_from, fault_to, total = (int(a) for a in sys.argv[1:6])
resource = [("telemetry.sdk.language", "python"),
            ("telemetry.sdk.name", "opentelemetry"),
            ("telemetry.sdk.version", "1.27.0"), ("host.name", "shop-1")]
P = {n: Process(n, [("service.name", n)] + resource)
     for n in ("frontend", "orders", "payments", "stock", "catalog")}
rnd = random.Random(11)
spans, ids = [], iter(range(1, 1 << 62))

def span(trace, parent, service, name, start, took, kind, status=200):
    tags = {"span.kind": kind, "otel.scope.name": "opentelemetry."
            "instrumentation.requests" if kind == "client" else
            "opentelemetry.instrumentation.flask", "otel.scope.version":
            "0.48b0", "http.method": name.split()[0], "http.status_code":
            status, "net.peer.name": "127.0.0.1", "http.url" if kind ==
            "client" else "http.route": name.split()[-1]}
    if status >= 500:
        tags.update({"error": True, "otel.status_code": "ERROR"})
    s = SpanData(trace, next(ids), parent.span_id if parent else 0, 1,
                 name, start, took, process=P[service], tags=tags)
    spans.append(s)
    return s

while len(spans) < total:
    trace = next(ids)
    at = first_us + rnd.randrange(last_us - first_us)
    if rnd.random() < 0.6:
        failing = fault_from <= at < fault_to and rnd.random() < 0.5
        status = 500 if failing else 200
        f = span(trace, None, "frontend", "GET /checkout", at, 60000,
                 "server", 502 if failing else 200)
        c = span(trace, f, "frontend", "POST /orders", at + 100, 52000,
                 "client", 502 if failing else 200)
        o = span(trace, c, "orders", "POST /orders", at + 200, 50000,
                 "server", 502 if failing else 200)
        c2 = span(trace, o, "orders", "POST /pay", at + 300, 17000,
                  "client", status)
        span(trace, c2, "payments", "POST /pay", at + 400,
             rnd.randrange(12000, 18000), "server", status)
        c3 = span(trace, o, "orders", "GET /stock", at + 18000, 11000,
                  "client")
        span(trace, c3, "stock", "GET /stock", at + 18100,
             rnd.randrange(8000, 12000), "server")
    else:
        f = span(trace, None, "frontend", "GET /browse", at, 20000, "server")
        c = span(trace, f, "frontend", "GET /items", at + 100, 11000,
                 "client")
        span(trace, c, "catalog", "GET /items", at + 200,
             rnd.randrange(8000, 12000), "server")
collector = Collector(udp_port=None, otlp_port=None, query_port=0,
                      max_spans=total + 10)
collector.store.add(spans)
del spans
collector.start()
print(collector.query_port, flush=True)
sys.stdin.read()  # until the benchmark closes it
collector.stop()
"""

EXPERIMENT = {
    "title": "ten quick actions", "description": "the end-of-run impact",
    "configuration": {"tracing_impact_baseline": 60,
                      "tracing_impact_wait": 10},
    "controls": [{"name": "chaostracing", "provider": {
        "type": "python", "module": "chaostracing.control"}}],
    "method": [{"type": "action", "name": f"action-{i}", "provider": {
        "type": "python", "module": "os.path", "func": "exists",
        "arguments": {"path": "."}}} for i in range(10)],
}


def start_server(first_us, last_us, fault, total):
    proc = subprocess.Popen(
        [sys.executable, "-c", SERVER, str(first_us), str(last_us),
         str(fault[0]), str(fault[1]), str(total)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        env=clean_env())
    port = int(proc.stdout.readline())
    return proc, f"http://127.0.0.1:{port}"


def iso(us):
    return datetime.datetime.fromtimestamp(
        us / 1e6, datetime.timezone.utc).isoformat()


def us(text):
    """Microseconds since the epoch of an impact's ISO time."""
    moment = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    return int(moment.timestamp() * 1e6)


def path_taken(url):
    """Which way the command fetches from this collector (see
    chaostracing/_impact/source.py)."""
    try:
        urllib.request.urlopen(url + "/api/v3/trace-summaries", timeout=30)
    except urllib.error.HTTPError as error:
        if error.code == 404:
            return "a search per service (no api_v3 trace summaries here)"
    return "trace summaries, then each trace once by id"


def raw_transfer(url, start_us, end_us):
    """The answers the command reads, as bytes, the way it reads them: the
    bare transfer."""
    with urllib.request.urlopen(url + "/api/services", timeout=60) as r:
        services = json.loads(r.read())["data"]
    size = 0
    if path_taken(url).startswith("trace summaries"):
        params = {"query.startTimeMin": rfc3339(start_us),
                  "query.startTimeMax": rfc3339(end_us + 1),
                  "query.searchDepth": 100000}
        ids = set()
        try:
            asked = [urllib.parse.urlencode(params)]
            with urllib.request.urlopen(
                    f"{url}/api/v3/trace-summaries?{asked[0]}",
                    timeout=120) as r:
                body = r.read()
            bodies = [body]
        except urllib.error.HTTPError:  # a service at a time
            bodies = []
            for service in services:
                query = urllib.parse.urlencode(dict(
                    params, **{"query.serviceName": service}))
                with urllib.request.urlopen(
                        f"{url}/api/v3/trace-summaries?{query}",
                        timeout=120) as r:
                    bodies.append(r.read())
        for body in bodies:
            size += len(body)
            ids |= {s["traceId"] for s in json.loads(body)["summaries"]}
        ordered = sorted(ids)
        for i in range(0, len(ordered), 100):
            query = urllib.parse.urlencode(
                [("traceID", t) for t in ordered[i:i + 100]])
            with urllib.request.urlopen(f"{url}/api/traces?{query}",
                                        timeout=120) as r:
                size += len(r.read())
        return size
    for service in services:
        query = urllib.parse.urlencode({
            "service": service, "start": start_us, "end": end_us,
            "limit": 100000})
        with urllib.request.urlopen(f"{url}/api/traces?{query}",
                                    timeout=120) as r:
            size += len(r.read())
    return size


def rfc3339(time_us):
    moment = datetime.datetime.fromtimestamp(time_us // 1_000_000,
                                             datetime.timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S") + \
        f".{time_us % 1_000_000:06d}Z"


def measure_command(args, work):
    now = time.time_ns() // 1000
    method_start = now - 40_000_000
    method_end = method_start + 30_000_000
    run_end = method_end + 10_000_000
    first = method_start - 60_000_000
    proc, url = start_server(first, run_end, (method_start, method_end),
                             args.spans)
    journal = work / "journal.json"
    journal.write_text(json.dumps({
        "experiment": {"title": "payments fail"}, "start": iso(method_start),
        "end": iso(run_end), "status": "completed",
        "run": [{"start": iso(method_start), "end": iso(method_end)}]}))
    command = [str(Path(sys.executable).with_name("chaostracing")), "impact",
               str(journal), "--query-url", url, "--json"]
    try:
        subprocess.run(command, check=True, capture_output=True,
                       env=clean_env())  # warm: files, the collector
        size = raw_transfer(url, first, run_end)
        how = path_taken(url)
        base, times, fetch, analysis, answers = [], [], [], [], set()
        for _ in range(args.rounds):
            started = time.perf_counter()
            raw_transfer(url, first, run_end)
            base.append(time.perf_counter() - started)
            started = time.perf_counter()
            out = subprocess.run(command, check=True, capture_output=True,
                                 text=True, env=clean_env()).stdout
            times.append(time.perf_counter() - started)
            impact = json.loads(out)
            fetch.append(impact["timing"]["fetch"])
            analysis.append(impact["timing"]["analysis"])
            answers.add((tuple(impact["blast_radius"]), impact["spans"]))
    finally:
        proc.stdin.close()
        proc.wait(timeout=60)
    share = median([f / t for f, t in zip(fetch, times)]) * 100
    difference, spread = paired(times, base)
    report(f"chaostracing impact over {args.spans:,} spans in its windows "
           "(6 services, against the collector)", [
               ("chaostracing impact --json, end to end", median(times),
                mad(times), "s"),
               ("  of which fetching (HTTP, Jaeger's JSON, spans)",
                median(fetch), mad(fetch), "s"),
               ("  of which the analysis (units, tests)", median(analysis),
                mad(analysis), "s"),
               ("  fetching's share", share, "%"),
               ("the bare transfer of the same answers (baseline)",
                median(base), mad(base), "s"),
               ("command - transfer (paired)", difference, spread, "s"),
               ("command / transfer (paired)", ratio(times, base), "x"),
               ("bytes of Jaeger JSON answered", size / 1e6, "MB"),
           ])
    ((radius, spans),) = answers
    print(f"  blast radius answered: {', '.join(radius)}; spans read in the "
          f"windows: {spans:,}; fetched by {how}")
    print("  goal: the command in <= 3 s")


def measure_end_of_run(args, work):
    from _common import timed_chaos_run

    now = time.time_ns() // 1000
    # spans from 70 s before now to 60 s after: every round's windows
    # (60 s of baseline, the run) stay covered while the rounds run
    proc, url = start_server(now - 70_000_000, now + 60_000_000,
                             (0, 0), args.spans)
    plain = work / "plain.json"
    plain.write_text(json.dumps(EXPERIMENT))
    with_impact = dict(EXPERIMENT, configuration=dict(
        EXPERIMENT["configuration"], tracing_impact=True,
        tracing_query_url=url))
    impacting = work / "impact.json"
    impacting.write_text(json.dumps(with_impact))
    try:
        timed_chaos_run(plain, work)  # warm
        base, times, waits, fetch, transfer = [], [], [], [], []
        for _ in range(args.rounds):
            base.append(timed_chaos_run(plain, work))
            elapsed = timed_chaos_run(impacting, work)
            journal = json.loads((work / "journal.json").read_text())
            (entry,) = journal["extensions"]
            timing = entry["impact"]["timing"]
            waits.append(timing["wait"])
            fetch.append(timing["fetch"])
            times.append(elapsed - timing["wait"])
            spans_of = entry["impact"]["windows"]
            started = time.perf_counter()
            raw_transfer(url, us(spans_of["baseline"]["start"]),
                         us(spans_of["after"]["end"]))
            transfer.append(time.perf_counter() - started)
    finally:
        proc.stdin.close()
        proc.wait(timeout=60)
    difference, spread = paired(times, base)
    report("the control's end-of-run impact (tracing_impact), a 10-action "
           "chaos run, 60 s of baseline", [
               ("chaos run with tracing_impact, less its wait",
                median(times), mad(times), "s"),
               ("the same run without (baseline)", median(base), mad(base),
                "s"),
               ("added by the impact, less its wait (paired)", difference,
                spread, "s"),
               ("  of which fetching", median(fetch), mad(fetch), "s"),
               ("the wait for late spans (subtracted)", median(waits),
                mad(waits), "s"),
               ("the bare transfer of the windows' answers", median(transfer),
                mad(transfer), "s"),
               ("added / transfer (paired)", median(
                   [(t - b) / x for t, b, x in zip(times, base, transfer)]),
                "x"),
           ])


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--spans", type=int, default=100_000)
    args = parser.parse_args()
    print(f"chaostracing from {where_installed()}")
    with tempfile.TemporaryDirectory() as folder:
        measure_command(args, Path(folder))
        measure_end_of_run(args, Path(folder))


if __name__ == "__main__":
    main()
