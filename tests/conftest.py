"""Shared fixtures: a real Jaeger-agent listener, the demo service, chaos runs."""
import json
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any, Dict, Optional

import opentracing
import pytest

import chaostracing  # noqa: F401  (installs the no-op proxy)
from chaostracing import control
from chaostracing.agent import AgentReceiver

# the fixture extension authors use, tested here as they would use it
pytest_plugins = ["chaostracing.testing"]

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
TESTS = ROOT / "tests"
sys.path.insert(0, str(EXAMPLES))  # service.py, load_experiment.py
sys.path.insert(0, str(EXAMPLES / "extension"))  # chaostracing_demo

from service import DemoService  # noqa: E402


@pytest.fixture(autouse=True)
def _strict_and_clean(monkeypatch):
    """Internal errors fail tests; no tracer or run leaks between tests."""
    monkeypatch.setattr(control, "_RAISE_ERRORS", True)
    saved = opentracing.tracer, opentracing.is_tracer_registered
    yield
    control._run = None
    opentracing.tracer, opentracing.is_tracer_registered = saved


@pytest.fixture
def agent():
    with AgentReceiver("127.0.0.1", 0) as receiver:
        yield receiver


@pytest.fixture
def demo_service():
    server = DemoService(0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


class ChaosRun:
    def __init__(self, proc: subprocess.CompletedProcess, journal: Dict):
        self.proc = proc
        self.journal = journal
        self.log = proc.stdout + proc.stderr

    @property
    def status(self) -> str:
        return self.journal["status"]


def chaos_command(
    experiment: Any,
    tmp_path: Path,
    env: Optional[Dict[str, str]] = None,
    settings: Optional[Dict] = None,
    extra_args=(),
):
    """The argv, environment and journal path of a ``chaos run``."""
    if isinstance(experiment, (str, Path)):
        path = Path(experiment)
    else:
        path = tmp_path / "experiment.json"
        path.write_text(json.dumps(experiment))
    journal = tmp_path / "journal.json"
    settings_path = tmp_path / "settings.yaml"
    settings_path.write_text(json.dumps(settings or {}))
    full_env = dict(os.environ)
    full_env.pop("JAEGER_AGENT_HOST", None)
    full_env.pop("JAEGER_AGENT_PORT", None)
    full_env["PYTHONPATH"] = os.pathsep.join(
        [str(EXAMPLES / "extension"), str(ROOT), str(TESTS)]
    )
    full_env.update(env or {})
    chaos = Path(sys.executable).parent / "chaos"
    argv = [
        str(chaos),
        "--no-version-check",
        "--settings",
        str(settings_path),
        "--log-file",
        str(tmp_path / "chaostoolkit.log"),
        "run",
        "--journal-path",
        str(journal),
        *extra_args,
        str(path),
    ]
    return argv, full_env, journal


def run_chaos(
    experiment: Any,
    tmp_path: Path,
    env: Optional[Dict[str, str]] = None,
    settings: Optional[Dict] = None,
    extra_args=(),
    timeout: float = 120,
) -> ChaosRun:
    """Run ``chaos run`` in a fresh process; return its journal and output."""
    argv, full_env, journal = chaos_command(
        experiment, tmp_path, env, settings, extra_args
    )
    proc = subprocess.run(
        argv,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=tmp_path,
    )
    data = json.loads(journal.read_text()) if journal.exists() else {}
    return ChaosRun(proc, data)


@pytest.fixture
def chaos(tmp_path):
    def runner(experiment, **kwargs):
        return run_chaos(experiment, tmp_path, **kwargs)

    return runner


def load_example(name: str = "experiment.json") -> Dict:
    return json.loads((EXAMPLES / name).read_text())


def by_name(spans):
    return {s.operation_name: s for s in spans}


def assert_one_trace(spans):
    assert spans, "no span received"
    assert len({s.trace_id for s in spans}) == 1, "spans in several traces"
    ids = {s.span_id for s in spans}
    roots = [s for s in spans if s.parent_id == 0]
    assert len(roots) == 1, f"expected one root, got {len(roots)}"
    for s in spans:
        assert s.parent_id == 0 or s.parent_id in ids, (
            f"{s.operation_name}: parent {s.parent_id:x} not in the trace"
        )


@pytest.fixture
def mock_tracer():
    """A MockTracer behind the proxy, installed as the global tracer."""
    from opentracing.mocktracer import MockTracer

    from chaostracing import context as ctx

    tracer = MockTracer()
    proxy = ctx.TracerProxy(tracer)
    ctx.install(proxy)
    yield tracer
    ctx.restore(proxy)
