"""Run the example experiment traced, with no Jaeger server, and show the trace.

It starts the demo service and a Jaeger-agent-compatible UDP listener on
127.0.0.1, runs ``chaos run examples/experiment.json`` in a fresh process with
the ``jaeger`` provider pointed at the listener, then draws the spans that
arrived as a waterfall. Nothing is left running afterwards.

    python examples/demo.py [--experiment FILE]
"""
import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from service import DemoService  # noqa: E402

from chaostracing.agent import AgentReceiver  # noqa: E402
from chaostracing.waterfall import render  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--experiment", default=str(HERE / "experiment.json"))
    args = parser.parse_args()
    experiment = str(Path(args.experiment).resolve())

    service = DemoService(0)
    threading.Thread(target=service.serve_forever, daemon=True).start()
    chaos = Path(sys.executable).with_name("chaos")
    with AgentReceiver("127.0.0.1", 0) as agent, \
            tempfile.TemporaryDirectory() as work:
        env = dict(
            os.environ,
            TRACING_PROVIDER="jaeger",
            JAEGER_AGENT_HOST="127.0.0.1",
            JAEGER_AGENT_PORT=str(agent.port),
            DEMO_SERVICE_URL=service.url,
        )
        print(f"demo service on {service.url}, "
              f"Jaeger agent listener on udp://127.0.0.1:{agent.port}")
        started = time.monotonic()
        proc = subprocess.run(
            [str(chaos), "--no-version-check", "--log-file",
             os.path.join(work, "chaostoolkit.log"), "run", "--journal-path",
             os.path.join(work, "journal.json"), experiment],
            env=env, cwd=work,
        )
        elapsed = time.monotonic() - started
        # chaos run returns only once every span was handed to the socket
        spans = agent.wait_quiet(quiet=0.1, timeout=2)
    service.shutdown()
    service.server_close()
    print(f"\nchaos run exited with {proc.returncode} after {elapsed:.2f}s; "
          f"{len(spans)} spans received\n")
    print(render(spans, color=sys.stdout.isatty()), end="")
    return proc.returncode


if __name__ == "__main__":
    sys.exit(main())
