"""A traced run's journal leads ``show`` and ``report`` to the run's trace
(its ``extensions`` entry: the trace id, the trace file): given with the
trace file they draw one trace, not two; only a run made without the control
is rebuilt. Unit tests on journals written here, and real ``chaos run`` /
``chaostracing`` processes."""
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import assert_one_trace

from chaostracing._data.inputs import REBUILT_WARNING, load
from chaostracing._data.jaegerjson import dumps, load_spans, write_atomic
from chaostracing._data.model import SpanData

CHAOSTRACING = str(Path(sys.executable).with_name("chaostracing"))
TRACE = "0af7651916cd43dd8448eb211c80319c"


def journal(tmp_path, entry=None, name="journal.json"):
    document = {
        "chaoslib-version": "1.44.0", "status": "completed",
        "deviated": False, "start": "2026-11-30T10:00:00",
        "end": "2026-11-30T10:00:01",
        "experiment": {"title": "journal test"},
        "run": [{"activity": {"name": "act", "type": "action"},
                 "status": "succeeded", "start": "2026-11-30T10:00:00.1",
                 "end": "2026-11-30T10:00:00.2", "output": True}],
        "rollbacks": [], "steady_states": {},
    }
    if entry is not None:
        document["extensions"] = [dict({"name": "chaostracing",
                                        "trace_id": TRACE}, **entry)]
    path = tmp_path / name
    path.write_text(json.dumps(document))
    return path


def trace_file(path, trace_id=int(TRACE, 16), run=True):
    tags = {"chaostoolkit.type": "experiment"} if run else {}
    first = 1 if run else 11  # a service's spans have ids of their own
    spans = [SpanData(trace_id, first, operation_name="journal test",
                      start_us=1, duration_us=10, tags=tags),
             SpanData(trace_id, first + 1, parent_id=first,
                      operation_name="act", start_us=2, duration_us=3,
                      tags={"chaostoolkit.type": "activity"} if run else {})]
    write_atomic(str(path), dumps(spans))
    return path


def test_a_journal_without_the_control_is_rebuilt(tmp_path):
    spans = load([str(journal(tmp_path))])
    root = next(s for s in spans if not s.parent_id)
    assert root.warnings == [REBUILT_WARNING]


def test_a_traced_journal_is_drawn_from_the_trace_file_it_names(tmp_path):
    path = trace_file(tmp_path / "elsewhere.json")
    spans = load([str(journal(tmp_path, {"trace_file": str(path)}))])
    assert {s.operation_name for s in spans} == {"journal test", "act"}
    assert {s.trace_id for s in spans} == {int(TRACE, 16)}
    assert not any(s.warnings for s in spans)


def test_a_1_0_0_journal_names_its_trace_file_in_its_destination(tmp_path):
    path = trace_file(tmp_path / "t.json")
    spans = load([str(journal(tmp_path, {"destination": f"trace file {path}",
                                         "provider": "file"}))])
    assert len(spans) == 2 and not any(s.warnings for s in spans)


@pytest.mark.parametrize("order", ["journal first", "trace first"])
def test_the_journal_and_its_trace_file_together_are_one_trace(tmp_path,
                                                                order):
    path = trace_file(tmp_path / "chaostracing-trace.json")
    entry = journal(tmp_path, {"trace_file": str(path)})
    files = [str(entry), str(path)]
    spans = load(files if order == "journal first" else files[::-1])
    assert len(spans) == 2
    assert_one_trace(spans)


def test_a_moved_folder_still_finds_the_trace_file_beside_the_journal(
        tmp_path):
    old = tmp_path / "old"
    old.mkdir()
    path = trace_file(old / "chaostracing-trace.json")
    journal(old, {"trace_file": str(path)})
    shutil.move(str(old), str(tmp_path / "new"))
    spans = load([str(tmp_path / "new" / "journal.json")])
    assert len(spans) == 2 and not any(s.warnings for s in spans)


def test_services_spans_of_the_trace_do_not_hide_the_runs_own(tmp_path):
    # collect received the services' spans of the run's trace: the run's
    # own spans still come from its trace file
    services = trace_file(tmp_path / "services.json", run=False)
    path = trace_file(tmp_path / "chaostracing-trace.json")
    spans = load([str(services), str(journal(tmp_path,
                                             {"trace_file": str(path)}))])
    assert any("chaostoolkit.type" in s.tags for s in spans)


def test_a_run_traced_to_jaeger_says_where_its_spans_are(tmp_path):
    entry = journal(tmp_path, {
        "provider": "jaeger", "delivered": True,
        "destination": "Jaeger agent at 127.0.0.1:6831 (UDP)",
        "trace_url": f"http://localhost:16686/trace/{TRACE}"})
    with pytest.raises(ValueError) as raised:
        load([str(entry)])
    assert str(raised.value) == (
        f"{entry}: a traced run (trace {TRACE}) whose spans went to the "
        "Jaeger agent at 127.0.0.1:6831 (UDP): see it there "
        f"(http://localhost:16686/trace/{TRACE}), or give the file of its "
        "spans too (what chaostracing collect wrote)")
    # given what collect wrote, the journal adds nothing
    collected = trace_file(tmp_path / "collected.json")
    assert len(load([str(entry), str(collected)])) == 2


def test_a_trace_never_delivered_is_rebuilt_with_the_runs_trace_id(tmp_path):
    entry = journal(tmp_path, {"provider": "jaeger", "delivered": False,
                               "problem": "cannot resolve the Jaeger agent "
                                          "host 'x.invalid'"})
    spans = load([str(entry)])
    root = next(s for s in spans if not s.parent_id)
    assert root.trace_id == int(TRACE, 16)
    assert root.warnings == [
        "rebuilt from a Chaos Toolkit journal: its trace was not delivered "
        "(cannot resolve the Jaeger agent host 'x.invalid')"]


def test_a_missing_trace_file_is_named(tmp_path):
    entry = journal(tmp_path, {"trace_file": "/nowhere/t.json",
                               "delivered": True})
    with pytest.raises(ValueError, match="its trace file /nowhere/t.json is "
                       r"not there: give it too"):
        load([str(entry)])


@pytest.mark.slow  # chaos run, chaostracing
def test_a_traced_runs_journal_draws_its_trace_and_names_its_report(
        chaos, tmp_path):
    run = chaos({
        "title": "journal and report", "description": "d",
        "configuration": {"tracing_provider": "file",
                          "tracing_report": True},
        "controls": [{"name": "chaostracing", "provider": {
            "type": "python", "module": "chaostracing.control"}}],
        "method": [{"type": "action", "name": "act", "provider": {
            "type": "python", "module": "os.path", "func": "exists",
            "arguments": {"path": "."}}}],
    })
    assert run.status == "completed"
    trace, report = (tmp_path / "chaostracing-trace.json",
                     tmp_path / "chaostracing-report.html")
    (entry,) = run.journal["extensions"]
    assert (entry["trace_file"], entry["report"]) == (str(trace), str(report))
    assert report.stat().st_size > 0
    (said,) = [line for line in run.log.splitlines()
               if "span(s) written to" in line]
    assert said.endswith(f"4 span(s) written to the trace file {trace}, its "
                         f"report to {report}")
    journal_path = str(tmp_path / "journal.json")
    for files in ([journal_path], [journal_path, str(trace)]):
        shown = subprocess.run([CHAOSTRACING, "show", *files],
                               capture_output=True, text=True,
                               check=True).stdout
        assert shown.count("\ntrace ") + shown.startswith("trace ") == 1
        assert shown.startswith(f"trace {entry['trace_id']}  4 spans")
        assert "rebuilt" not in shown
    out = tmp_path / "again.html"
    subprocess.run([CHAOSTRACING, "report", journal_path, str(trace), "-o",
                    str(out)], check=True, capture_output=True)
    page = out.read_text()
    data = json.loads(page.split('id="chaostracing-data">')[1].split(
        "</script>")[0])
    (drawn,) = data["traces"]
    assert drawn["traceID"] == entry["trace_id"] and not drawn["rebuilt"]
    assert len(drawn["spans"]) == len(load_spans(str(trace))) == 4
