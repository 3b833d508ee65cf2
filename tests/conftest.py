"""Shared fixtures: a real Jaeger-agent listener, the demo service, chaos
runs."""
import functools
import json
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any, Dict, Optional

import opentracing
import pytest

import chaostracing  # noqa: F401  (installs the no-op proxy)
from chaostracing import control
from chaostracing._collector.agent import AgentReceiver
from chaostracing._run import lifecycle, safety
from chaostracing._run.scope import SCOPE_MANAGER

# the fixture extension authors use, tested here as they would use it
pytest_plugins = ["chaostracing.testing",
                  # the slow marker, set and checked (make test-fast)
                  "speed_plugin",
                  # tests/test_speed_plugin.py runs pytest on small files
                  "pytester"]

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
TESTS = ROOT / "tests"
sys.path.insert(0, str(EXAMPLES))  # service.py, load_experiment.py
sys.path.insert(0, str(EXAMPLES / "extension"))  # chaostracing_demo

from service import DemoService  # noqa: E402


@pytest.fixture(autouse=True)
def _strict_and_clean():
    """Internal errors fail tests (in process, and in every ``chaos run``
    subprocess through the environment); no tracer or run leaks between
    tests: a run left configured is cleaned up, its sender stopped."""
    saved = opentracing.tracer, opentracing.is_tracer_registered
    del safety.errors[:]
    with safety.strict():
        yield
        if lifecycle.current_run() is not None:
            control.cleanup_control()
    opentracing.tracer, opentracing.is_tracer_registered = saved
    assert not safety.errors, f"internal errors: {safety.errors}"


#: Debian's chromium, for the browser tests (``make test`` installs it where
#: root and apt allow; elsewhere those tests skip, saying so)
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
#: what a sandboxed, offline machine needs (see the env notes)
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update",
         "--disable-sync", "--disable-dev-shm-usage"]


@pytest.fixture
def browser():
    """A headless Chromium driven by Playwright (no browser download)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=FLAGS)
        yield chromium
        chromium.close()


@pytest.fixture
def agent():
    with AgentReceiver("127.0.0.1", 0, keep_datagrams=True) as receiver:
        yield receiver


@pytest.fixture
def otlp():
    """A loopback OTLP/HTTP receiver decoding protobuf."""
    from otlp_receiver import OtlpReceiver

    with OtlpReceiver() as receiver:
        yield receiver


@pytest.fixture
def demo_service():
    server = DemoService(0)
    # a short poll interval: shutdown() waits for one poll
    thread = threading.Thread(target=server.serve_forever, args=(0.05,),
                              daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


class ChaosRun:
    def __init__(self, proc: subprocess.CompletedProcess, journal: Dict):
        self.proc = proc
        self.journal = journal
        self.log = proc.stdout + proc.stderr
        # strict mode in the subprocess writes internal errors here
        assert safety.STRICT_MARKER not in self.log, self.log[-4000:]

    @property
    def status(self) -> str:
        return self.journal["status"]


def chaos_command(
    experiment: Any,
    tmp_path: Path,
    env: Optional[Dict[str, str]] = None,
    settings: Optional[Dict] = None,
    extra_args=(),
    chaos: Optional[Path] = None,
):
    """The argv, environment and journal path of a ``chaos run`` (of
    ``chaos``, this environment's by default)."""
    if isinstance(experiment, (str, Path)):
        path = Path(experiment)
    else:
        path = tmp_path / "experiment.json"
        path.write_text(json.dumps(experiment))
    journal = tmp_path / "journal.json"
    settings_path = tmp_path / "settings.yaml"
    settings_path.write_text(json.dumps(settings or {}))
    full_env = dict(os.environ)
    for name in list(full_env):
        if name.startswith(("CHAOSTRACING_", "JAEGER_", "OTEL_")):
            full_env.pop(name)
    full_env["CHAOSTRACING_RAISE_ERRORS"] = "1"
    full_env["PYTHONPATH"] = os.pathsep.join(
        [str(EXAMPLES / "extension"), str(ROOT), str(TESTS)]
    )
    full_env.update(env or {})
    chaos = chaos or Path(sys.executable).parent / "chaos"
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
    chaos: Optional[Path] = None,
) -> ChaosRun:
    """Run ``chaos run`` in a fresh process; return its journal and output."""
    argv, full_env, journal = chaos_command(
        experiment, tmp_path, env, settings, extra_args, chaos
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


class BareVenv:
    """A virtualenv holding chaostoolkit and this project as a plain ``pip
    install chaostoolkit-opentracing`` leaves them: no extra."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.bin = path / "bin"
        self.python = self.bin / "python"
        self.chaos = self.bin / "chaos"
        self.chaostracing = self.bin / "chaostracing"


@pytest.fixture(scope="session")
def our_wheel(tmp_path_factory) -> Path:
    """This tree built as the wheel users install (offline, no isolation)."""
    dist = tmp_path_factory.mktemp("dist")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet",
                    "--no-deps", "--no-build-isolation", "-w", str(dist),
                    str(ROOT)], check=True, capture_output=True, timeout=300)
    (wheel,) = dist.glob("chaostoolkit_opentracing-*.whl")
    return wheel


@pytest.fixture(scope="session")
def bare_venv(tmp_path_factory, our_wheel) -> BareVenv:
    """A fresh virtualenv with chaostoolkit and our wheel (built from this
    tree), and none of our extras: only what the base install requires,
    installed offline, by the pip a new virtualenv has, from the wheels
    ``make install`` keeps in ``.venv/wheels/base``."""
    wheels = Path(sys.prefix, "wheels", "base")
    if not any(wheels.glob("chaostoolkit-*.whl")):
        pytest.skip(f"no wheels of the base requirements in {wheels}: "
                    "`make install` makes them")
    root = tmp_path_factory.mktemp("bare")
    run = functools.partial(subprocess.run, check=True, capture_output=True,
                            text=True, timeout=300)
    ours = our_wheel
    venv = BareVenv(root / "venv")
    run([sys.executable, "-m", "venv", str(venv.path)])
    run([str(venv.bin / "pip"), "install", "--quiet", "--no-index",
         "--find-links", str(wheels), "chaostoolkit", str(ours)])
    listed = run([str(venv.bin / "pip"), "list", "--format=freeze"]).stdout
    assert "opentelemetry" not in listed, listed  # no extra came along
    return venv


def jaeger_client_spans(udp_port: int, children: int = 3) -> None:
    """Real jaeger-client traffic (Thrift compact over UDP) to ``udp_port``:
    a root span and ``children`` children, service ``from-jaeger-client``.
    Call it on the main thread (tornado's IOLoop wants it)."""
    import time

    from jaeger_client import Config

    tracer = Config(config={
        "sampler": {"type": "const", "param": 1},
        "local_agent": {"reporting_host": "127.0.0.1",
                        "reporting_port": udp_port},
        "logging": False}, service_name="from-jaeger-client").new_tracer()
    root = tracer.start_span("root")
    for i in range(children):
        tracer.start_span(f"child-{i}", child_of=root).finish()
    root.finish()
    future = tracer.close()
    deadline = time.monotonic() + 5
    while not future.done() and time.monotonic() < deadline:
        time.sleep(0.01)


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

    from chaostracing._run import context as ctx

    tracer = MockTracer(scope_manager=SCOPE_MANAGER)
    proxy = ctx.TracerProxy(tracer)
    ctx.install(proxy)
    yield tracer
    ctx.restore(proxy)
