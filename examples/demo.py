"""Run the example experiment traced, with no Jaeger server, and show the
whole distributed trace: the run's spans and the service's.

It starts ``chaostracing collect`` (an OTLP endpoint on loopback), the demo
HTTP service on 127.0.0.1, traced with the OpenTelemetry SDK and exporting
to that collector, then ``chaos run examples/experiment.json`` in a fresh
process with the ``file`` provider (W3C and Jaeger trace headers, the
default). The run's
trace file and what the collector received are then drawn as one trace
(``chaostracing show``) and written as ``report.html`` (``chaostracing
report``). Everything stays in ``.demo/``; nothing is left running.

With ``--agent`` the run's spans go over UDP, as to a real Jaeger agent, to
the collector instead (the ``jaeger`` provider).

    python examples/demo.py [--experiment FILE] [--agent] [--output DIR]
                            [--service-port PORT]

(``docs/example-trace.json``, the README's drawing, is this demo's output
with ``--service-port 8099``, the port ``examples/experiment.json`` names by
default.)
"""
import argparse
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from service import DemoService  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--experiment", default=str(HERE / "experiment.json"))
    parser.add_argument("--agent", action="store_true",
                        help="the run's spans over UDP to the collector")
    parser.add_argument("--output", default=".demo",
                        help="folder for the journal and traces "
                             "(default: .demo)")
    parser.add_argument("--service-port", type=int, default=0,
                        help="the demo service's port (default: any free "
                             "one)")
    args = parser.parse_args()
    experiment = str(Path(args.experiment).resolve())
    out = Path(args.output).resolve()
    out.mkdir(parents=True, exist_ok=True)
    run_file = out / "chaostracing-trace.json"
    service_file = out / "service-trace.json"
    for stale in (run_file, service_file):
        if stale.exists():
            stale.unlink()
    bin_dir = Path(sys.executable).parent

    collector, udp_port, otlp_port, query_port = _start_collector(
        bin_dir, service_file, args.agent)
    service = DemoService(args.service_port,
                          f"http://127.0.0.1:{otlp_port}/v1/traces")
    threading.Thread(target=service.serve_forever, args=(0.05,),
                     daemon=True).start()
    env = dict(os.environ, DEMO_SERVICE_URL=service.url,
               CHAOSTRACING_QUERY_URL=f"http://127.0.0.1:{query_port}",
               CHAOSTRACING_INSTRUMENT="requests")
    if args.agent:
        env.update(TRACING_PROVIDER="jaeger", JAEGER_AGENT_HOST="127.0.0.1",
                   JAEGER_AGENT_PORT=str(udp_port))
        where = f"udp://127.0.0.1:{udp_port}"
    else:
        env.update(TRACING_PROVIDER="file")
        where = run_file.name
    print(f"demo: the demo service ({service.url}) is traced with "
          "OpenTelemetry's SDK; chaostracing collect receives its spans")
    try:
        started = time.monotonic()
        with open(out / "chaos-output.txt", "w") as output:
            proc = subprocess.run(
                [str(bin_dir / "chaos"), "--no-version-check", "--log-file",
                 str(out / "chaostoolkit.log"), "run", "--journal-path",
                 str(out / "journal.json"), experiment],
                env=env, cwd=out, stdout=output, stderr=subprocess.STDOUT,
            )
        elapsed = time.monotonic() - started
    finally:
        service.stop_tracing()  # the service's last spans go out
        service.shutdown()
        service.server_close()
        collector.send_signal(signal.SIGTERM)  # it writes its file, then exits
        collector.communicate(timeout=30)
    print(f"demo: chaos run {Path(experiment).name} (spans to {where}): "
          f"{_status(out / 'journal.json')} in {elapsed:.1f} s; output, "
          f"journal in {out}")
    files = [str(f) for f in (run_file, service_file) if f.exists()]
    if not files:
        print("demo: no trace was written; see chaos-output.txt",
              file=sys.stderr)
        return 1
    print(f"demo: chaostracing show {' '.join(Path(f).name for f in files)}",
          flush=True)
    shown = subprocess.call([str(bin_dir / "chaostracing"), "show", *files])
    report = out / "report.html"
    subprocess.run([str(bin_dir / "chaostracing"), "report", *files, "-o",
                    str(report)], capture_output=True, check=True)
    if Path(experiment).name == "experiment.json":
        print("demo: GET /orders got 503 on purpose: stress-the-service "
              "stressed the service first,\n      the fault this experiment "
              "injects; call-the-service ran in the background.")
    print(f"demo: the same trace in a browser: {report}")
    # a run that deviated did its job (chaos exits 1 then): the demo fails
    # only when the run did not complete or the trace could not be drawn
    completed = _status(out / "journal.json").startswith("completed")
    return shown if completed else (proc.returncode or 1)


def _start_collector(bin_dir: Path, output: Path, udp: bool):
    """``chaostracing collect`` on free ports: its process, its UDP port
    (or None), its OTLP port and its query API's port."""
    collector = subprocess.Popen(
        [str(bin_dir / "chaostracing"), "collect", "--port",
         "0" if udp else "off", "--otlp-port", "0", "--query-port", "0",
         "--output", str(output)],
        stderr=subprocess.PIPE, text=True)
    said = []
    while not said or "collecting on" not in said[-1]:
        line = collector.stderr.readline()
        if not line:
            raise SystemExit("chaostracing collect did not start: "
                             + "".join(said).strip())
        said.append(line)
    line = said[-1]
    udp_port = re.search(r"udp://[^:]+:(\d+)", line)
    otlp_port = re.search(r"http://[^:]+:(\d+)/v1/traces", line).group(1)
    query_port = re.search(r"http://[^:]+:(\d+) \(Jaeger query", line).group(1)
    return (collector, udp_port.group(1) if udp_port else None, otlp_port,
            query_port)


def _status(journal: Path) -> str:
    try:
        data = json.loads(journal.read_text())
    except (OSError, ValueError):
        return "no journal"
    deviated = ", deviated" if data.get("deviated") else ""
    return data.get("status", "?") + deviated


if __name__ == "__main__":
    sys.exit(main())
