"""The README's examples, run as written, and its drawings checked against
what the code prints: a newcomer copies them."""
import json
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import opentracing
import yaml
from conftest import EXAMPLES, ROOT, load_example

from chaostracing._run.config import load_config
from chaostracing._data.jaegerjson import load_spans
from chaostracing.testing import record_spans

README = (ROOT / "README.md").read_text()
CHAOSTRACING = str(Path(sys.executable).with_name("chaostracing"))


def blocks(language):
    """Fenced blocks of ``language``, dedented (some sit in list items)."""
    pattern = re.compile(rf"^( *)```{language}\n(.*?)^\1```", re.M | re.S)
    return [textwrap.dedent(m.group(2)) for m in pattern.finditer(README)]


def python_block(containing):
    (block,) = [b for b in blocks("python") if containing in b]
    return block


def run_block(containing, namespace=None):
    namespace = {} if namespace is None else namespace
    exec(compile(python_block(containing), "README.md", "exec"), namespace)
    return namespace


def test_the_json_and_yaml_examples_say_the_same_and_turn_tracing_on():
    (json_example,) = [b for b in blocks("json") if '"controls"' in b]
    (yaml_example,) = [b for b in blocks("yaml") if "controls:" in b]
    as_json, as_yaml = json.loads(json_example), yaml.safe_load(yaml_example)
    assert as_json == as_yaml
    (control,) = as_json["controls"]
    assert control["provider"]["module"] == "chaostracing.control"
    assert load_config(as_json["configuration"], environ={}).enabled


def test_the_tracer_attributes_block_runs_with_tracing_off():
    namespace = run_block("tracer.experiment_span")
    assert namespace["tracer"] is opentracing.tracer
    assert namespace["tracer"].activity_span is None


def test_the_snippet_makes_a_child_span_whose_context_reaches_the_server(
    demo_service
):
    my_activity = run_block("def my_activity")["my_activity"]
    with record_spans(activity="act") as spans:
        my_activity(demo_service.url + "/health")
    (inner,) = spans.named("my-inner-span")
    assert inner.parent_id == spans.activity.context.span_id
    assert inner.tags["http.status_code"] == 200
    (request,) = [r for r in demo_service.received if r["path"] == "/health"]
    # MockTracer's propagation: the ids of the inner span reached the server
    assert int(request["headers"]["ot-tracer-spanid"], 16) == \
        inner.context.span_id


def test_the_sdk_examples_trace_a_function_its_requests_and_its_threads(
    demo_service
):
    namespace = run_block("def place_orders")
    run_block("def check_nodes", namespace)
    with record_spans(activity="orders") as spans:
        assert namespace["place_orders"](demo_service.url, count=2) == 2
        assert namespace["check_nodes"](["a", "b", "c"]) == [True] * 3
    (function,) = spans.named("place_orders")
    assert len(spans.children_of(function)) == 2
    checks = spans.named("check_node")
    assert len(checks) == 3
    assert {c.parent_id for c in checks} == {spans.activity.context.span_id}


def test_the_testing_examples_pass_under_pytest(tmp_path):
    tests = tmp_path / "test_from_readme.py"
    tests.write_text("\n\n".join([
        python_block("def place_orders"),
        python_block("record_spans(activity="),
        python_block("chaostracing_spans"),
    ]))
    (tmp_path / "conftest.py").write_text(
        'pytest_plugins = ["chaostracing.testing"]\n')
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
         str(tests)], cwd=tmp_path, capture_output=True, text=True,
        timeout=120)
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert "2 passed" in proc.stdout


def test_the_drawn_trace_is_what_show_prints():
    (drawing,) = re.findall(r"^```\n(trace .*?)^```", README, re.M | re.S)
    printed = subprocess.run(
        [CHAOSTRACING, "show", str(ROOT / "docs" / "example-trace.json"),
         "--width", "110"], capture_output=True, text=True, check=True).stdout
    assert drawing == printed


def tree(spans):
    ids = {s.span_id: s.operation_name for s in spans}
    return sorted((s.operation_name, ids.get(s.parent_id)) for s in spans)


def test_a_run_of_the_example_still_gives_the_drawn_tree(chaos, demo_service,
                                                          tmp_path):
    # the run's side of the drawing: the example as make demo runs it
    experiment = load_example()
    experiment["configuration"] = {"tracing_provider": "file",
                                   "service_url": demo_service.url,
                                   "tracing_propagation": ["w3c", "jaeger"],
                                   "tracing_instrument": ["requests"]}
    run = chaos(experiment)
    assert run.status == "completed"
    now = load_spans(str(tmp_path / "chaostracing-trace.json"))
    drawn = [s for s in load_spans(str(ROOT / "docs" / "example-trace.json"))
             if s.service_name == "chaostoolkit"]
    assert tree(now) == tree(drawn)


def test_the_readme_speaks_to_newcomers():
    assert "original README" not in README
    assert "make demo" in README.splitlines()[3]
    assert "make test" in README.splitlines()[4]
    assert (EXAMPLES / "experiment.json").exists()


def test_the_opentelemetry_api_example_joins_the_activity():
    from chaostracing._run import otel

    namespace = run_block("def drain_node")
    with record_spans(activity="drain-nodes") as spans:
        otel.enable()
        try:
            namespace["drain_node"]("node-1")
        finally:
            otel.disable()
    (drain,) = spans.named("drain")
    assert drain.parent_id == spans.activity.context.span_id
    assert drain.tags["node"] == "node-1"


def test_every_configuration_fragment_is_valid():
    fragments = [b for b in blocks("json") if b.startswith('"configuration"')]
    assert len(fragments) >= 2
    for fragment in fragments:
        configuration = json.loads("{" + fragment + "}")["configuration"]
        assert load_config(configuration, environ={}).enabled


def test_the_steady_state_probe_is_the_examples_and_chaoslib_accepts_it():
    from chaoslib.activity import ensure_activity_is_valid

    (block,) = [b for b in blocks("json") if "chaostracing.probes" in b]
    probe = json.loads(block)
    example = load_example("experiment-trace-probes.json")
    assert probe in example["steady-state-hypothesis"]["probes"]
    ensure_activity_is_valid(probe)  # the module, function and arguments
    # the signatures in the table are the functions'
    import inspect

    from chaostracing import probes

    for name in probes.__all__:
        signature = inspect.signature(getattr(probes, name))
        shown = ", ".join(
            f"{p.name}={p.default!r}".replace("'", '"')
            if p.default is not p.empty else p.name
            for p in signature.parameters.values()
            if p.kind is p.POSITIONAL_OR_KEYWORD)
        assert f"`{name}({shown})`" in README
