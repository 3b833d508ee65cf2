"""A probe's query over 100,000 stored spans, end to end, against a bare
``/api/services`` call in the same round.

``chaostracing collect``'s store and query API run in their own process (as
``chaostracing collect`` does), filled with 100,000 spans of 10 services:
traces of 4 spans, a request to one service calling another, 5 % of them
failed. This process calls ``chaostracing.probes.span_error_ratio`` (HTTP,
Jaeger's JSON, parsing, counting: what a ``chaos run`` pays) over a 60 s
window, and, in the same round, ``GET /api/services`` with the same HTTP
client: the ratio and the difference are the price of the query itself.

Two loads:

- *steady*: the spans spread over 10 minutes (a collector that ran that
  long), so the window holds a tenth of them;
- *burst*: all 100,000 within the window (the worst case: the probe's
  service is in 5,000 traces, all answered).

Goal: the steady probe answers in <= 200 ms. The burst's time is mostly
Jaeger's JSON itself (8.6 MB for 5,000 traces: writing it, and parsing it
in the probe): narrow such a query with ``operation``.

    python benchmarks/probe_query.py [--rounds 15]
"""
import argparse
import subprocess
import sys
import time
import urllib.request

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

spread_us, ahead_us, total = (int(a) for a in sys.argv[1:4])
now = time.time_ns() // 1000
services = [Process(f"service-{i}") for i in range(10)]
rnd = random.Random(7)
spans, trace = [], 1
while len(spans) < total:
    caller, callee = rnd.sample(services, 2)
    # uniform over (now + ahead - spread, now + ahead]: with ahead = 60 s,
    # the 60 s window holds the same share of them for the next minute
    start = now + ahead_us - rnd.randrange(spread_us)
    failed = rnd.random() < 0.05
    took = rnd.randrange(500, 50_000)
    spans += [
        SpanData(trace, 1, 0, 1, "GET /orders", start, took, process=caller,
                 tags={"span.kind": "server", "http.method": "GET",
                       "http.status_code": 503 if failed else 200,
                       "error": failed}),
        SpanData(trace, 2, 1, 1, "GET", start + 10, took // 2,
                 process=caller, tags={"span.kind": "client"}),
        SpanData(trace, 3, 2, 1, "GET /stock", start + 20, took // 3,
                 process=callee, tags={"span.kind": "server",
                                       "http.status_code": 200}),
        SpanData(trace, 4, 3, 1, "SELECT stock", start + 30, took // 4,
                 process=callee, tags={"db.system": "postgresql"}),
    ]
    trace += 1
collector = Collector(udp_port=None, otlp_port=None, query_port=0,
                      max_spans=total + 10)
collector.store.add(spans)
del spans
collector.start()
print(collector.query_port, flush=True)
sys.stdin.read()  # until the benchmark closes it
collector.stop()
"""


def start_server(spread_s: float, ahead_s: float, total: int):
    proc = subprocess.Popen(
        [sys.executable, "-c", SERVER, str(int(spread_s * 1e6)),
         str(int(ahead_s * 1e6)), str(total)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        env=clean_env())
    port = int(proc.stdout.readline())
    return proc, f"http://127.0.0.1:{port}"


def measure(url: str, rounds: int, service: str = "service-3"):
    from chaostracing import probes

    def bare():
        with urllib.request.urlopen(url + "/api/services", timeout=30) as r:
            r.read()

    def probe():
        return probes.span_error_ratio(service, window=60, query_url=url)

    probe(), bare()  # warm: imports, connections
    spans_seen = probes.span_count(service, window=60, query_url=url)
    base, times, answers = [], [], set()
    for _ in range(rounds):
        started = time.perf_counter()
        bare()
        base.append((time.perf_counter() - started) * 1000)
        started = time.perf_counter()
        answers.add(round(probe(), 4))
        times.append((time.perf_counter() - started) * 1000)
    return base, times, spans_seen, answers


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--spans", type=int, default=100_000)
    args = parser.parse_args()
    print(f"chaostracing from {where_installed()}")
    # burst: every span started in the last 25 s, so all stay in the 60 s
    # window while the rounds run (about 30 s)
    for name, spread, ahead in (("steady: spans over 10 minutes", 600, 60),
                                ("burst: every span in the window", 25, 0)):
        proc, url = start_server(spread, ahead, args.spans)
        try:
            base, times, seen, answers = measure(url, args.rounds)
        finally:
            proc.stdin.close()
            proc.wait(timeout=30)
        difference, spread_ms = paired(times, base)
        report(f"probe query, {args.spans:,} stored spans of 10 services, "
               f"window 60 s; {name}", [
                   ("span_error_ratio, end to end", median(times), mad(times),
                    "ms"),
                   ("GET /api/services (baseline)", median(base), mad(base),
                    "ms"),
                   ("probe - baseline (paired)", difference, spread_ms, "ms"),
                   ("probe / baseline (paired)", ratio(times, base), "x"),
                   ("server spans of the service in the window", seen,
                    "spans"),
               ])
        # the window slides with the clock: the figure may move a little
        print(f"  the error ratio answered: {min(answers):.4f} to "
              f"{max(answers):.4f} (5 % of the service's requests failed, "
              "its /stock spans never)")
    print("  goal: the steady probe in <= 200 ms")


if __name__ == "__main__":
    main()
