"""The README's examples, run as written, and its drawings checked against
what the code prints: a newcomer copies them."""
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import EXAMPLES, ROOT, assert_one_trace, load_example
from docs_blocks import blocks

from chaostracing._data.jaegerjson import load_spans
from chaostracing._run.config import load_config
from chaostracing.testing import record_spans

README_PATH = ROOT / "README.md"
README = README_PATH.read_text()
CHAOSTRACING = str(Path(sys.executable).with_name("chaostracing"))


def python_block(containing):
    (found,) = [b for b in blocks(README_PATH, "python")
                if containing in b.text]
    return found.text


def run_block(containing, namespace=None):
    namespace = {} if namespace is None else namespace
    exec(compile(python_block(containing), "README.md", "exec"), namespace)
    return namespace


def test_the_json_and_yaml_examples_say_the_same_and_turn_tracing_on():
    (json_example,) = [b.text for b in blocks(README_PATH, "json")
                       if '"controls"' in b.text]
    (yaml_example,) = [b.text for b in blocks(README_PATH, "yaml")
                       if "controls:" in b.text]
    as_json, as_yaml = json.loads(json_example), yaml.safe_load(yaml_example)
    assert as_json == as_yaml
    (control,) = as_json["controls"]
    assert control["provider"]["module"] == "chaostracing.control"
    assert load_config(as_json["configuration"], environ={}).enabled


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


@pytest.mark.slow  # the chaostracing command
def test_the_drawn_trace_is_what_show_prints():
    (drawing,) = re.findall(r"^```\n(trace .*?)^```", README, re.M | re.S)
    printed = subprocess.run(
        [CHAOSTRACING, "show", str(ROOT / "docs" / "example-trace.json"),
         "--width", "110"], capture_output=True, text=True, check=True).stdout
    assert drawing == printed


def tree(spans):
    ids = {s.span_id: s.operation_name for s in spans}
    return sorted((s.operation_name, ids.get(s.parent_id)) for s in spans)


@pytest.mark.slow  # chaos run
def test_a_run_of_the_example_still_gives_the_drawn_tree(chaos, demo_service,
                                                          tmp_path):
    # the run's side of the drawing: the example as make demo runs it
    experiment = load_example()
    experiment["configuration"] = {"tracing_provider": "file",
                                   "service_url": demo_service.url,
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




@pytest.mark.slow  # chaos run
def test_the_snippet_pasted_as_an_extension_module_traces_a_real_run(
        chaos, demo_service, tmp_path):
    (tmp_path / "snippet.py").write_text(python_block("def my_activity"))
    run = chaos({
        "title": "the README's snippet", "description": "as pasted",
        "configuration": {"tracing_provider": "file"},
        "controls": [{"name": "chaostracing", "provider": {
            "type": "python", "module": "chaostracing.control"}}],
        "method": [{"type": "action", "name": "call-it", "provider": {
            "type": "python", "module": "snippet", "func": "my_activity",
            "arguments": {"url": demo_service.url + "/health"}}}],
    }, env={"PYTHONPATH": str(tmp_path)})
    assert run.status == "completed", run.log[-3000:]
    spans = load_spans(str(tmp_path / "chaostracing-trace.json"))
    assert_one_trace(spans)
    by_name = {s.operation_name: s for s in spans}
    inner, activity = by_name["my-inner-span"], by_name["call-it"]
    assert inner.parent_id == activity.span_id
    assert inner.tags["http.status_code"] == 200
    (request,) = [r for r in demo_service.received if r["path"] == "/health"]
    trace_id, span_id = request["headers"]["uber-trace-id"].split(":")[:2]
    assert (int(trace_id, 16), int(span_id, 16)) == (inner.trace_id,
                                                     inner.span_id)


def test_the_example_extension_calls_the_service_as_the_snippet_does():
    # the README says call_service is the snippet: the drawing's
    # my-inner-span
    import inspect

    from chaostracing_demo.actions import call_service

    def statements(text):
        return [re.sub(r"[\'\"]|, timeout=5", "", line.strip())
                for line in text.splitlines()
                if line.strip() and not line.strip().startswith(
                    ("def ", "import ", '"""', "return", "url = "))]

    snippet = statements(python_block("def my_activity"))
    code = statements(inspect.getsource(call_service).split('"""')[2])
    assert snippet == code
