"""The documentation: the site builds strictly, and every code block of the
README, CONTRIBUTING.md and docs/ runs or is checked (tests/docs_blocks.py);
the blocks that say what a run does are run for real."""
import json
import os
import re
import subprocess
import sys
import types
from pathlib import Path

import opentracing
import pytest
import yaml
from conftest import assert_one_trace
from docs_blocks import (
    BIN,
    FRAGMENT,
    PAGES,
    ROOT,
    Block,
    all_blocks,
    blocks,
    check_command,
    commands,
)

from chaostracing._data.jaegerjson import load_spans
from chaostracing._run.config import (
    load_config,
    settings_markdown,
    unknown_keys,
    validate,
)
from chaostracing._run.safety import STRICT_MARKER
from chaostracing.testing import record_spans

DOCS = ROOT / "docs"


def block(page, containing, language=None):
    """The one block of ``page`` (under docs/ or the root) that holds
    ``containing``."""
    path = DOCS / page if (DOCS / page).exists() else ROOT / page
    (found,) = [b for b in blocks(path, language) if containing in b.text]
    return found


def module_from(found: Block, name: str, monkeypatch) -> types.ModuleType:
    """A block run as the module ``name`` (as an extension would be)."""
    module = types.ModuleType(name)
    module.__file__ = str(found.path)
    exec(compile(found.text, found.where, "exec"), module.__dict__)
    monkeypatch.setitem(sys.modules, name, module)
    return module


# -- the site -----------------------------------------------------------------
@pytest.mark.slow  # mkdocs in a process
def test_the_site_builds_with_no_warning(tmp_path):
    # strict: a broken link or anchor, or a page left out of the nav, fails
    proc = subprocess.run(
        [str(BIN / "mkdocs"), "build", "--strict", "--site-dir",
         str(tmp_path / "site")], cwd=ROOT, capture_output=True, text=True,
        env=dict(os.environ, NO_MKDOCS_2_WARNING="1"), timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "WARNING" not in proc.stderr, proc.stderr
    for page in DOCS.glob("*.md"):
        built = tmp_path / "site" / (
            "index.html" if page.stem == "index" else f"{page.stem}/index.html")
        assert built.exists(), f"{page.name} is not on the site"


def test_the_readme_is_at_most_12_kb():
    # it is the PyPI page: the rest lives in docs/
    assert len((ROOT / "README.md").read_bytes()) <= 12 * 1024


def test_the_readme_links_to_files_that_exist():
    readme = (ROOT / "README.md").read_text()
    links = re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", readme)
    assert "docs/settings.md" in links
    for link in links:
        assert (ROOT / link).exists(), link


def test_the_settings_page_holds_the_table_of_settings():
    page = (DOCS / "settings.md").read_text()
    assert settings_markdown() in page, (
        "docs/settings.md's table is not SETTINGS': paste the output of "
        "settings_markdown() into it (CONTRIBUTING.md says how)")


def test_fragment_marks_are_well_formed_and_few():
    marks = []
    for page in PAGES:
        lines = page.read_text().splitlines()
        for number, line in enumerate(lines):
            if line.lstrip().startswith("<!-- fragment"):
                assert FRAGMENT.match(line), f"{page.name}:{number + 1}"
                assert lines[number + 1].lstrip().startswith("```"), \
                    f"{page.name}:{number + 1}: no block right after"
                marks.append(line)
    fragments = [b for b in all_blocks() if b.fragment]
    assert len(fragments) == len(marks)
    # a fragment is the exception: most blocks must run
    assert len(fragments) * 5 < len(all_blocks())


# -- every block --------------------------------------------------------------
def _check_data(data, where):
    """A JSON or YAML block: something the project or chaoslib reads."""
    assert isinstance(data, dict), where
    if "extensions" in data:
        (entry,) = data["extensions"]
        assert entry["name"] == "chaostracing"
        return  # its fields: test_the_journal_record_is_what_a_run_writes
    if data.get("type") in ("probe", "action"):
        from chaoslib.activity import ensure_activity_is_valid

        ensure_activity_is_valid(data)
        return
    if "receivers" in data:  # an OpenTelemetry Collector's configuration
        traces = data["service"]["pipelines"]["traces"]
        assert set(traces["receivers"]) <= set(data["receivers"])
        assert set(traces["exporters"]) <= set(data["exporters"])
        return
    assert "configuration" in data or "controls" in data, where
    from chaoslib.configuration import load_configuration

    configuration = load_configuration(data.get("configuration", {}))
    arguments = {}
    for control in data.get("controls", ()):
        provider = control["provider"]
        assert provider["module"] in ("chaostracing.control",
                                      "chaostracing.oltp")
        arguments.update(provider.get("arguments", {}))
    assert unknown_keys(configuration, arguments) == []
    assert validate(configuration, arguments) == []
    load_config(configuration, arguments, environ={})
    if "method" in data:
        from chaoslib.experiment import ensure_experiment_is_valid

        ensure_experiment_is_valid(data)


@pytest.mark.parametrize("found", all_blocks(), ids=lambda b: b.where)
def test_every_block_runs_or_is_checked(found):
    if found.fragment:
        pytest.skip(f"a fragment: {found.fragment}")
    if found.language == "python":
        exec(compile(found.text, found.where, "exec"), {})
    elif found.language == "json":
        _check_data(json.loads(found.text), found.where)
    elif found.language == "yaml":
        _check_data(yaml.safe_load(found.text), found.where)
    elif found.language == "bash":
        argvs = commands(found.text)
        assert argvs, found.where
        for argv in argvs:
            check_command(argv)
    elif found.language == "imports":
        # architecture.md's drawing of the imports: tests/test_structure.py
        # compares it with every import in the code
        assert found.path.name == "architecture.md", found.where
    elif found.language in ("", "text"):
        # drawings, not code: the README's is what show prints
        # (test_readme), architecture.md's the imports of the code,
        # impact.md's what chaostracing impact prints (test_impact)
        assert found.text.startswith("trace ") or \
            found.path.name == "architecture.md" or (
                found.path.name == "impact.md"
                and found.text.startswith(("unit ", "impact: "))), \
            found.where
    else:
        pytest.fail(f"{found.where}: a block in {found.language!r}, which "
                    "the tests cannot check")


# -- run for real -------------------------------------------------------------
@pytest.fixture
def shell(tmp_path):
    """Run a bash block as pasted, in ``tmp_path``, with this environment's
    commands first on the PATH, ``chaos`` kept off the network (no version
    check, no user settings) and our strict mode on."""
    wrappers = tmp_path / ".wrappers"
    wrappers.mkdir()
    chaos = wrappers / "chaos"
    chaos.write_text(
        "#!/bin/sh\n"
        f'exec "{BIN / "chaos"}" --no-version-check --settings '
        f'"{tmp_path / ".settings.yaml"}" "$@"\n')
    chaos.chmod(0o755)
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("CHAOSTRACING_", "JAEGER_", "OTEL_"))}
    env.update(PATH=os.pathsep.join([str(wrappers), str(BIN),
                                     env.get("PATH", "")]),
               CHAOSTRACING_RAISE_ERRORS="1")

    def run(text, extra_env=None):
        proc = subprocess.run(
            ["bash", "-e", "-c", text], cwd=tmp_path,
            env=dict(env, **(extra_env or {})), capture_output=True,
            text=True, timeout=120)
        output = proc.stdout + proc.stderr
        assert proc.returncode == 0, output[-4000:]
        assert STRICT_MARKER not in output, output[-4000:]
        return output

    return run


def _journal_entry(tmp_path):
    journal = json.loads((tmp_path / "journal.json").read_text())
    return {e["name"]: e for e in journal.get("extensions", [])}.get(
        "chaostracing")


def _clean(tmp_path):
    for name in ("journal.json", "chaostracing-trace.json"):
        (tmp_path / name).unlink(missing_ok=True)


@pytest.mark.slow  # chaos run, chaostracing
def test_the_readme_sees_the_trace_with_no_server(shell, tmp_path):
    # the README's experiment, completed into one chaos can run
    experiment = json.loads(block("README.md", '"controls"', "json").text)
    experiment.update(
        title="README experiment", description="the README's, completed",
        method=[{"type": "action", "name": "wait-a-little", "provider": {
            "type": "python", "module": "os.path", "func": "exists",
            "arguments": {"path": "."}}}])
    (tmp_path / "experiment.json").write_text(json.dumps(experiment))
    output = shell(block("README.md", "chaos run --var").text)
    spans = load_spans(str(tmp_path / "chaostracing-trace.json"))
    assert_one_trace(spans)
    assert {s.operation_name for s in spans} == {
        "README experiment", "Method", "wait-a-little", "Rollbacks"}
    assert _journal_entry(tmp_path)["provider"] == "file"
    # show drew it, report wrote it
    assert f"trace {spans[0].trace_id:032x}" in output
    assert "README experiment" in output
    assert "README experiment" in (tmp_path / "report.html").read_text()


@pytest.mark.slow  # chaos run
def test_var_sets_a_declared_tracing_key_and_only_a_declared_one(
        shell, tmp_path):
    experiment = json.loads(block("settings.md", '"title"', "json").text)
    (tmp_path / "experiment.json").write_text(json.dumps(experiment))
    commands_ = block("settings.md", "--var tracing_provider=file").text
    output = shell(commands_)
    spans = load_spans(str(tmp_path / "chaostracing-trace.json"))
    assert_one_trace(spans)
    assert "Tracing chosen at run time" in output  # what show drew
    # as it is: untraced ("noop" declared)
    _clean(tmp_path)
    shell("chaos run experiment.json")
    assert _journal_entry(tmp_path) is None
    assert not (tmp_path / "chaostracing-trace.json").exists()
    # not declared: chaoslib drops the --var, as the page says
    del experiment["configuration"]
    (tmp_path / "experiment.json").write_text(json.dumps(experiment))
    output = shell(commands_.splitlines()[0])
    assert "tracing is off" in output
    assert not (tmp_path / "chaostracing-trace.json").exists()


@pytest.mark.slow  # chaos run
def test_an_env_reference_lets_var_and_the_environment_choose(
        shell, tmp_path):
    experiment = json.loads(block("settings.md", '"title"', "json").text)
    reference = json.loads(block("settings.md", '"type": "env"', "json").text)
    experiment["configuration"] = reference["configuration"]
    (tmp_path / "experiment.json").write_text(json.dumps(experiment))
    shell("chaos run experiment.json")
    assert not (tmp_path / "chaostracing-trace.json").exists()  # the default
    shell("chaos run experiment.json", {"CHAOSTRACING_PROVIDER": "file"})
    assert _journal_entry(tmp_path)["provider"] == "file"
    _clean(tmp_path)
    shell("chaos run --var tracing_provider=file experiment.json")
    assert _journal_entry(tmp_path)["provider"] == "file"


@pytest.mark.slow  # chaos run
def test_a_dot_env_var_file_reaches_the_control(shell, tmp_path):
    experiment = json.loads(block("settings.md", '"title"', "json").text)
    reference = json.loads(block("settings.md", '"type": "env"', "json").text)
    dot_env = block("settings.md", "tracing.env").text
    # not declared, and declared as an env reference: both traced
    for configuration in ({}, reference["configuration"]):
        experiment["configuration"] = configuration
        (tmp_path / "experiment.json").write_text(json.dumps(experiment))
        _clean(tmp_path)
        shell(dot_env)
        assert _journal_entry(tmp_path)["provider"] == "file"
        assert load_spans(str(tmp_path / "chaostracing-trace.json"))


@pytest.mark.slow  # chaostracing
def test_show_and_report_join_the_runs_file_and_the_services(shell,
                                                             tmp_path):
    # the demo's trace, split as the run and the collector write it
    whole = json.loads((DOCS / "example-trace.json").read_text())
    (trace,) = whole["data"]
    for name, keep in (("chaostracing-trace.json", True),
                       ("services.json", False)):
        processes = {k for k, p in trace["processes"].items()
                     if (p["serviceName"] == "chaostoolkit") == keep}
        part = dict(trace, spans=[s for s in trace["spans"]
                                  if s["processID"] in processes],
                    processes={k: trace["processes"][k] for k in processes})
        (tmp_path / name).write_text(json.dumps({"data": [part]}))
    output = shell(block("viewing.md", "chaostracing show").text)
    assert "27 spans" in output
    assert "services: chaostoolkit, demo-service" in output
    assert (tmp_path / "report.html").stat().st_size > 0


@pytest.mark.slow  # chaos run, chaostracing
def test_both_joined_with_a_plain_opentelemetry_service_is_one_trace(
        shell, tmp_path):
    # the viewing page's recipe, with the settings' defaults: the run's trace
    # file, and collect's file of a service traced with OpenTelemetry's SDK
    # (W3C's traceparent is all it reads)
    import threading

    from conftest import load_example
    from service import DemoService

    from chaostracing._collector import Collector

    collector = Collector("127.0.0.1", None, 0,
                          str(tmp_path / "services.json")).start()
    service = DemoService(0, f"http://127.0.0.1:{collector.otlp_port}"
                             "/v1/traces")
    threading.Thread(target=service.serve_forever, args=(0.05,),
                     daemon=True).start()
    try:
        experiment = load_example()
        experiment["configuration"] = {
            "tracing_provider": "file", "service_url": service.url,
            "tracing_instrument": ["requests"]}
        (tmp_path / "experiment.json").write_text(json.dumps(experiment))
        shell("chaos run experiment.json")
    finally:
        service.stop_tracing()
        service.shutdown()
        service.server_close()
        collector.stop()
    collector.write(force=True)
    assert len(load_spans(str(tmp_path / "services.json"))) >= 9
    output = shell(block("viewing.md", "chaostracing show").text)
    (header,) = [line for line in output.splitlines()
                 if line.startswith("trace ")]
    assert "services: chaostoolkit, demo-service" in header
    from chaostracing._data.inputs import load

    spans = load([str(tmp_path / "chaostracing-trace.json"),
                  str(tmp_path / "services.json")])
    assert_one_trace(spans)
    by_id = {s.span_id: s for s in spans}
    for server in (s for s in spans if s.service_name == "demo-service"
                   and s.tags.get("span.kind") == "server"):
        assert by_id[server.parent_id].service_name == "chaostoolkit"


@pytest.mark.slow  # the demo: chaos run, a collector
def test_the_sdk_demo_runs(shell, tmp_path):
    venv = Path(sys.executable).parent.parent
    (tmp_path / ".venv").symlink_to(venv)
    (tmp_path / "examples").symlink_to(ROOT / "examples")
    output = shell(block("sdk.md", "experiment-sdk.yaml").text)
    spans = load_spans(str(tmp_path / ".demo" / "chaostracing-trace.json"))
    assert_one_trace([s for s in spans if s.service_name == "chaostoolkit"])
    assert "place_orders" in {s.operation_name for s in spans}
    assert "report.html" in output


# -- the Python blocks, called ------------------------------------------------
def test_the_tracer_attributes_are_the_ones_the_first_readme_listed(
        monkeypatch):
    found = block("sdk.md", "tracer.experiment_span")
    module = module_from(found, "attributes_example", monkeypatch)
    names = re.findall(r"tracer\.(\w+_span)", found.text)
    assert names == ["experiment_span", "hypothesis_span", "method_span",
                     "rollback_span", "activity_span"]
    # tracing off: each reads None, and the function runs
    assert [getattr(opentracing.tracer, n) for n in names] == [None] * 5
    module.some_function()
    with record_spans(activity="act") as spans:
        module.some_function()
        assert opentracing.tracer.activity_span is spans.activity


def test_the_sdk_examples_trace_a_function_its_requests_and_its_threads(
        demo_service, monkeypatch):
    orders = module_from(block("sdk.md", "def place_orders"), "orders",
                         monkeypatch)
    nodes = module_from(block("sdk.md", "def check_nodes"), "nodes",
                        monkeypatch)
    with record_spans(activity="orders") as spans:
        assert orders.place_orders(demo_service.url, count=2) == 2
        assert nodes.check_nodes(["a", "b", "c"]) == [True] * 3
    (function,) = spans.named("place_orders")
    assert len(spans.children_of(function)) == 2
    checks = spans.named("check_node")
    assert len(checks) == 3
    assert {c.parent_id for c in checks} == {spans.activity.context.span_id}


@pytest.mark.slow  # pytest in a process
def test_the_testing_examples_pass_under_pytest(tmp_path):
    tests = tmp_path / "test_from_the_docs.py"
    tests.write_text("\n\n".join([
        block("sdk.md", "def place_orders").text,
        block("sdk.md", "record_spans(activity=").text,
        block("sdk.md", "chaostracing_spans").text,
    ]))
    (tmp_path / "conftest.py").write_text(
        'pytest_plugins = ["chaostracing.testing"]\n')
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
         str(tests)], cwd=tmp_path, capture_output=True, text=True,
        timeout=120)
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert "2 passed" in proc.stdout


def test_the_opentelemetry_api_example_joins_the_activity(monkeypatch):
    from chaostracing._run.otel import bridge

    module = module_from(block("clients.md", "def drain_node"), "drain",
                         monkeypatch)
    with record_spans(activity="drain-nodes") as spans:
        bridge.enable()
        try:
            module.drain_node("node-1")
        finally:
            bridge.disable()
    (drain,) = spans.named("drain")
    assert drain.parent_id == spans.activity.context.span_id
    assert drain.tags["node"] == "node-1"


@pytest.mark.slow  # a child process
def test_trace_env_reaches_a_child_and_the_journal_says_where_spans_went(
        agent, tmp_path, monkeypatch):
    from chaoslib.experiment import run_experiment

    module_from(block("clients.md", "def run_script"), "scripts_example",
                monkeypatch)
    script = tmp_path / "script.sh"
    script.write_text(f'#!/bin/sh\necho "$TRACEPARENT" > "{tmp_path}/seen"\n')
    script.chmod(0o755)
    ui = "http://localhost:16686"
    journal = run_experiment({
        "title": "child processes", "description": "trace_env",
        "configuration": {"tracing_provider": "jaeger",
                          "tracing_port": agent.port, "tracing_ui_url": ui},
        "controls": [{"name": "chaostracing", "provider": {
            "type": "python", "module": "chaostracing.control"}}],
        "method": [{"type": "action", "name": "run-the-script", "provider": {
            "type": "python", "module": "scripts_example",
            "func": "run_script", "arguments": {"path": str(script)}}}],
    }, settings={})
    assert journal["status"] == "completed"
    spans = {s.operation_name: s for s in agent.wait_for(4)}
    activity = spans["run-the-script"]
    _, trace_id, parent_id, _ = (tmp_path / "seen").read_text().split("-")
    assert (int(trace_id, 16), int(parent_id, 16)) == (activity.trace_id,
                                                       activity.span_id)
    # the journal's record of the trace: the fields the page shows
    (entry,) = journal["extensions"]
    shown = json.loads(block("viewing.md", '"extensions"').text)
    (example,) = shown["extensions"]
    assert set(entry) == set(example)
    assert entry["provider"] == example["provider"]
    assert entry["destination"] == example["destination"].replace(
        "6831", str(agent.port))
    assert entry["trace_url"] == f"{ui}/trace/{entry['trace_id']}"
    assert entry["delivered"] is True


# -- the reference pages, against the code -------------------------------------
def test_the_probes_page_shows_the_examples_probe_and_the_real_signatures():
    import inspect

    from conftest import load_example

    from chaostracing import probes

    probe = json.loads(block("probes.md", "span_error_ratio", "json").text)
    example = load_example("experiment-trace-probes.json")
    assert probe in example["steady-state-hypothesis"]["probes"]
    probe = json.loads(block("probes.md", "blast_radius", "json").text)
    example = load_example("experiment-impact.json")
    assert probe in example["steady-state-hypothesis"]["probes"]
    page = (DOCS / "probes.md").read_text()
    for name in probes.__all__:
        signature = inspect.signature(getattr(probes, name))
        shown = ", ".join(
            f"{p.name}={p.default!r}".replace("'", '"')
            if p.default is not p.empty else p.name
            for p in signature.parameters.values()
            if p.kind is p.POSITIONAL_OR_KEYWORD)
        assert f"`{name}({shown})`" in page


def _source_tags():
    """Every ``chaostoolkit.*`` name the package writes, as literals or as
    the f-strings run.py builds them with."""
    found = set()
    for path in (ROOT / "chaostracing").rglob("*.py"):
        found |= set(re.findall(r"[\"'](chaostoolkit\.[a-z_.]+[a-z_])[\"']",
                                path.read_text()))
    # f"chaostoolkit.provider.{key}" and f"chaostoolkit.{tag}"
    found |= {f"chaostoolkit.provider.{k}"
              for k in ("type", "module", "func", "url", "path")}
    found |= {"chaostoolkit.activity.type", "chaostoolkit.activity.name"}
    return found


def test_the_tag_reference_names_every_tag_the_code_writes_and_no_other():
    page = (DOCS / "tags.md").read_text()
    # ".module" after "chaostoolkit.provider.type /" is the short form
    shown = set(re.findall(r"`(chaostoolkit\.[a-z_.]+[a-z_])`", page))
    for short in re.findall(r"`\.([a-z_]+)`", page):
        shown.add(f"chaostoolkit.provider.{short}")
    shown |= {f"chaostoolkit.{x}" for x in re.findall(
        r"chaostoolkit\.[a-z_.]+/([a-z_]+)", page)}
    written = _source_tags()
    assert written - shown == set(), "tags missing from docs/tags.md"
    assert shown - written == set(), "docs/tags.md names tags not written"


def test_every_performance_figure_names_its_benchmark():
    lines = (DOCS / "performance.md").read_text().splitlines()
    rows = [line for line, below in zip(lines, lines[1:] + [""])
            if line.startswith("| ") and "---" not in line
            and not below.startswith("|---")]  # a table's header
    assert len(rows) >= 10
    for row in rows:
        (name,) = re.findall(r"`(\w+\.py)`", row.split(" | ")[1])
        assert (ROOT / "benchmarks" / name).is_file(), row


@pytest.mark.slow  # the chaostracing command
def test_every_drawn_trace_is_what_show_prints():
    printed = subprocess.run(
        [str(BIN / "chaostracing"), "show", str(DOCS / "example-trace.json"),
         "--width", "110"], capture_output=True, text=True, check=True).stdout
    drawings = [b for b in all_blocks() if b.text.startswith("trace ")]
    assert {b.path.name for b in drawings} == {"README.md", "viewing.md"}
    for drawing in drawings:
        assert drawing.text == printed, drawing.where


def test_the_code_map_names_files_that_exist_and_every_private_folder():
    text = (ROOT / "CONTRIBUTING.md").read_text()
    rows = [line.split(" | ") for line in text.split("## Code map")[1]
            .splitlines() if line.startswith("| `")]
    listed = set()
    for first, what in (r[:2] for r in rows):
        paths = re.findall(r"`([^`]+)`", first)
        folder = ROOT / Path(paths[0]).parent
        for path in paths:
            # "control.py, oltp.py": the later ones sit by the first
            where = ROOT / path if "/" in path else folder / path
            assert where.exists(), f"the code map names {path}"
            listed.add(path.rstrip("/"))
        if paths[0].endswith("/"):
            for module in re.findall(r"`(\w+\.py)`", what):
                assert (ROOT / paths[0] / module).exists(), (paths[0], module)
    private = {f"chaostracing/{p.name}" for p in (ROOT / "chaostracing")
               .iterdir() if p.is_dir() and p.name.startswith("_")
               and p.name != "__pycache__"}
    assert private <= listed, private - listed
