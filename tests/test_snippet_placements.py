"""The README's ``opentracing.tracer`` snippet works wherever an extension
puts it: ``opentracing.tracer`` kept in a module variable when the module is
imported, the ``*_span`` attributes read at import, or everything inside
the function as the README shows. chaoslib imports activity modules while
it validates, before the control: real ``chaos run`` and ``chaos validate``
processes, the extension modules on ``PYTHONPATH``."""
import os
import subprocess
import sys
from pathlib import Path

import opentracing
import pytest
from conftest import EXAMPLES, ROOT, assert_one_trace, chaos_command
from docs_blocks import blocks

from chaostracing._data.jaegerjson import load_spans
from chaostracing._run import context as ctx
from chaostracing.testing import record_spans

CHAOS = str(Path(sys.executable).with_name("chaos"))


def readme_snippet() -> str:
    (found,) = [b for b in blocks(ROOT / "README.md", "python")
                if "def my_activity" in b.text]
    return found.text


def placements() -> dict:
    """The extension modules, each the README's snippet placed one way."""
    snippet = readme_snippet()
    captured = snippet.replace("import requests\n", (
        "import requests\n\ntracer = opentracing.tracer  # at import\n"))
    captured = captured.replace("    tracer = opentracing.tracer\n", "")
    assert "\ntracer = opentracing.tracer" in captured
    read = snippet.replace("import requests\n", (
        "import requests\n\n# read at import, before any run: None\n"
        "AT_IMPORT = opentracing.tracer.experiment_span\n"
        "assert AT_IMPORT is None\n"))
    return {"captured": captured, "read_at_import": read, "inside": snippet}


def experiment(url: str) -> dict:
    return {
        "title": "the snippet, placed three ways", "description": "README",
        "configuration": {"tracing_provider": "file"},
        "controls": [{"name": "chaostracing", "provider": {
            "type": "python", "module": "chaostracing.control"}}],
        "method": [
            {"type": "action", "name": f"call-{name}", "provider": {
                "type": "python", "module": name, "func": "my_activity",
                "arguments": {"url": f"{url}/health?from={name}"}}}
            for name in placements()],
    }


@pytest.fixture
def extension(tmp_path):
    folder = tmp_path / "extension"
    folder.mkdir()
    for name, text in placements().items():
        (folder / f"{name}.py").write_text(text)
    return {"PYTHONPATH": os.pathsep.join(
        [str(folder), str(EXAMPLES / "extension"), str(ROOT)])}


def test_each_placement_gives_its_inner_span_and_carries_it_to_the_service(
        chaos, demo_service, extension, tmp_path):
    run = chaos(experiment(demo_service.url), env=extension)
    assert run.status == "completed", run.log[-3000:]
    assert "WARNING" not in run.log
    spans = load_spans(str(tmp_path / "chaostracing-trace.json"))
    assert_one_trace(spans)
    by_id = {s.span_id: s for s in spans}
    inner = [s for s in spans if s.operation_name == "my-inner-span"]
    assert sorted(by_id[s.parent_id].operation_name for s in inner) == [
        "call-captured", "call-inside", "call-read_at_import"]
    for request in demo_service.received:
        name = request["path"].split("from=")[1]
        (span,) = [s for s in inner
                   if by_id[s.parent_id].operation_name == f"call-{name}"]
        trace_id, span_id = request["headers"]["uber-trace-id"].split(":")[:2]
        assert (int(trace_id, 16), int(span_id, 16)) == (span.trace_id,
                                                         span.span_id)
        assert request["headers"]["traceparent"].split("-")[2] == \
            f"{span.span_id:016x}"


@pytest.mark.slow  # chaos validate
def test_chaos_validate_imports_each_placement_without_a_word(
        extension, tmp_path):
    _, env, _ = chaos_command(experiment("http://127.0.0.1:9"), tmp_path)
    env.update(extension)
    proc = subprocess.run([CHAOS, "--no-version-check", "--no-log-file",
                           "validate", str(tmp_path / "experiment.json")],
                          env=env, capture_output=True, text=True,
                          timeout=60)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output
    assert "experiment syntax and semantic look valid" in output
    assert "Traceback" not in output and "WARNING" not in output


def test_a_tracer_kept_before_chaostracing_was_imported_reaches_the_run(
        monkeypatch):
    # the order a plain `python` gives: the extension first, chaostracing
    # later (chaos itself imports chaostracing first, through its plugin)
    monkeypatch.setattr(opentracing, "tracer", opentracing.Tracer())
    kept = opentracing.tracer
    ctx.install_noop_proxy()
    assert opentracing.tracer is kept  # the same object, now run-aware
    assert kept.activity_span is None
    assert not ctx.is_tracing()
    with record_spans(activity="act") as spans:
        assert ctx.is_tracing()
        assert kept.activity_span is spans.activity
        span = kept.start_span("inner", child_of=kept.activity_span)
        headers = {}
        kept.inject(span, "http_headers", headers)
        span.finish()
        with kept.start_active_span("active") as scope:
            assert kept.active_span is scope.span
    (inner,) = spans.named("inner")
    assert inner.parent_id == spans.activity.context.span_id
    assert headers  # MockTracer's own headers
    (active,) = spans.named("active")
    assert active.parent_id == spans.activity.context.span_id
    # after the run: OpenTracing's no-op again
    assert kept.activity_span is None
    assert kept.start_span("after").context is kept._noop_span_context
    assert kept.extract("http_headers", headers) is not None  # no-op context


def test_only_that_object_changes_class(monkeypatch):
    from opentracing.mocktracer import MockTracer

    monkeypatch.setattr(opentracing, "tracer", opentracing.Tracer())
    ctx.install_noop_proxy()
    assert type(opentracing.Tracer()) is opentracing.Tracer
    assert not hasattr(opentracing.Tracer(), "activity_span")
    assert not hasattr(MockTracer(), "activity_span")


@pytest.mark.slow  # chaos
def test_chaos_loads_chaostracing_before_any_extension_and_hides_it():
    helped = subprocess.run([CHAOS, "--no-version-check", "--help"],
                            capture_output=True, text=True, check=True,
                            timeout=60).stdout
    assert "chaostracing" not in helped
    probe = ("import sys, opentracing; "
             "from chaostoolkit.cli import cli; "
             "print('chaostracing' in sys.modules, "
             "type(opentracing.tracer).__name__)")
    shown = subprocess.run([sys.executable, "-c", probe], capture_output=True,
                           text=True, check=True, timeout=60).stdout.split()
    assert shown == ["True", "DefaultTracer"]


def test_the_entry_point_is_a_hidden_click_command():
    from importlib import metadata

    points = metadata.entry_points()
    group = (points.select(group="chaostoolkit.cli_plugins")
             if hasattr(points, "select")  # Python 3.10+
             else points.get("chaostoolkit.cli_plugins", ()))
    (entry,) = [e for e in group if e.name == "chaostracing"]
    command = entry.load()
    assert command.hidden and command.name == "chaostracing"
    assert entry.value == "chaostracing._run.chaosplugin:command"
