"""Run the example experiment traced, with no Jaeger server, and show the trace.

It starts the demo HTTP service on 127.0.0.1, runs ``chaos run
examples/experiment.json`` in a fresh process with the ``file`` provider,
then draws the trace with ``chaostracing show``. The journal and the trace
file stay in ``.demo/``; nothing is left running.

With ``--agent`` the spans go over UDP, as to a real Jaeger agent, to a
listener on 127.0.0.1 instead (the ``jaeger`` provider).

    python examples/demo.py [--experiment FILE] [--agent]
"""
import argparse
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from service import DemoService  # noqa: E402

from chaostracing.jaeger.agent import AgentReceiver  # noqa: E402
from chaostracing.jaegerjson import dumps, write_atomic  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--experiment", default=str(HERE / "experiment.json"))
    parser.add_argument("--agent", action="store_true",
                        help="send over UDP to a loopback Jaeger-agent listener")
    parser.add_argument("--output", default=".demo",
                        help="folder for the journal and trace (default: .demo)")
    args = parser.parse_args()
    experiment = str(Path(args.experiment).resolve())
    out = Path(args.output).resolve()
    out.mkdir(parents=True, exist_ok=True)
    trace_file = out / "chaostracing-trace.json"
    if trace_file.exists():
        trace_file.unlink()
    bin_dir = Path(sys.executable).parent

    service = DemoService(0)
    threading.Thread(target=service.serve_forever, args=(0.05,),
                     daemon=True).start()
    agent = AgentReceiver("127.0.0.1", 0).start() if args.agent else None
    try:
        env = dict(os.environ, DEMO_SERVICE_URL=service.url)
        if agent:
            env.update(TRACING_PROVIDER="jaeger", JAEGER_AGENT_HOST="127.0.0.1",
                       JAEGER_AGENT_PORT=str(agent.port))
            where = f"a Jaeger-agent listener on udp://127.0.0.1:{agent.port}"
        else:
            env.update(TRACING_PROVIDER="file")
            where = str(trace_file)
        print(f"demo: the demo service listens on {service.url} "
              "(examples/service.py)")
        started = time.monotonic()
        with open(out / "chaos-output.txt", "w") as output:
            proc = subprocess.run(
                [str(bin_dir / "chaos"), "--no-version-check", "--log-file",
                 str(out / "chaostoolkit.log"), "run", "--journal-path",
                 str(out / "journal.json"), experiment],
                env=env, cwd=out, stdout=output, stderr=subprocess.STDOUT,
            )
        elapsed = time.monotonic() - started
        if agent:
            # chaos run returns once every span was handed to the socket
            spans = agent.wait_quiet(quiet=0.1, timeout=2)
            write_atomic(str(trace_file), dumps(spans))
    finally:
        if agent:
            agent.stop()
        service.shutdown()
        service.server_close()
    status = _status(out / "journal.json")
    print(f"demo: chaos run {Path(experiment).name}, spans to {where}: "
          f"{status} in {elapsed:.1f} s\n"
          f"      its output: {out / 'chaos-output.txt'}, journal: "
          f"{out / 'journal.json'}")
    if not trace_file.exists():
        print("demo: no trace was written; see the output above",
              file=sys.stderr)
        return 1
    print(f"demo: chaostracing show {trace_file}\n", flush=True)
    shown = subprocess.call([str(bin_dir / "chaostracing"), "show",
                             str(trace_file)])
    print("\ndemo: my-inner-span got 503 on purpose: stress-the-service "
          "stresses the service in the\n      background and it answers 503 "
          "meanwhile, the fault this experiment injects.\n"
          "      Jaeger UI reads the trace file too (Search > JSON File).")
    return proc.returncode or shown


def _status(journal: Path) -> str:
    try:
        data = json.loads(journal.read_text())
    except (OSError, ValueError):
        return "no journal"
    return data.get("status", "?") + (", deviated" if data.get("deviated") else "")


if __name__ == "__main__":
    sys.exit(main())
