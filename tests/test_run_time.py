"""Run-time faults that cost one span, or say so (issue 18, item 7): a span
whose conversion never finishes, a trace file's mode, runs sharing a trace
file."""
import threading

import pytest

from chaostracing._data.model import Process
from chaostracing._run.pipeline import Pipeline, Transport
from chaostracing._run.redact import Redactor
from chaostracing._run.tracer import Tracer

PROCESS = Process("svc")


class Memory(Transport):
    description = "memory"

    def __init__(self):
        self.spans = []

    def send(self, spans):
        self.spans.extend(spans)
        return len(spans)


class _Keep:
    def report_span(self, span):
        pass


_tracer = Tracer("test", _Keep())


def finished(name, **tags):
    span = _tracer.start_span(name, tags=tags, start_time=1.0)
    span.finish(finish_time=2.0)
    return span


class Stuck:
    """A tag value whose repr() does not return until released."""

    def __init__(self):
        self.release = threading.Event()
        self.entered = threading.Event()

    def __repr__(self):
        self.entered.set()
        self.release.wait(30)
        return "late"


def test_a_span_whose_conversion_never_ends_costs_only_itself():
    transport = Memory()
    pipeline = Pipeline(transport, Redactor(), PROCESS, flush_interval=60,
                        convert_timeout=0.1)
    stuck = Stuck()
    try:
        pipeline.report_span(finished("before"))
        pipeline.report_span(finished("stuck", value=stuck))
        for i in range(5):
            pipeline.report_span(finished(f"after-{i}"))
        assert pipeline.flush(timeout=2)
        assert stuck.entered.is_set()
        names = [s.operation_name for s in transport.spans]
        assert names == ["before"] + [f"after-{i}" for i in range(5)]
        stats = pipeline.stats()
        assert (stats.sent, stats.dropped, stats.queued) == (6, 1, 0)
        # the pipeline goes on, on its fresh thread
        pipeline.report_span(finished("later"))
        assert pipeline.close(timeout=2)
        assert transport.spans[-1].operation_name == "later"
    finally:
        stuck.release.set()
    # the abandoned thread, released, delivers nothing and counts nothing
    for thread in threading.enumerate():
        if thread.name == "chaostracing-export":
            thread.join(2)
    assert [s.operation_name for s in transport.spans].count("stuck") == 0
    assert pipeline.stats().sent == 7 and pipeline.stats().dropped == 1


def test_a_short_flush_abandons_a_stuck_span_within_its_own_timeout():
    transport = Memory()
    # the default time a conversion may take is longer than this flush
    pipeline = Pipeline(transport, Redactor(), PROCESS, flush_interval=60)
    stuck = Stuck()
    try:
        pipeline.report_span(finished("stuck", value=stuck))
        pipeline.report_span(finished("after"))
        assert pipeline.close(timeout=0.6)
        assert [s.operation_name for s in transport.spans] == ["after"]
        assert pipeline.stats().dropped == 1
    finally:
        stuck.release.set()


# -- end to end ----------------------------------------------------------------
CONTROL = {"name": "chaostracing",
           "provider": {"type": "python", "module": "chaostracing.control"}}


def python(name, func, **arguments):
    return {"type": "action", "name": name,
            "provider": {"type": "python", "module": "chaos_helpers",
                         "func": func, "arguments": arguments}}


def test_a_tag_whose_repr_never_returns_costs_its_span_only(chaos, agent):
    experiment = {
        "title": "endless repr", "description": "d",
        "configuration": {"tracing_provider": "jaeger",
                          "tracing_port": agent.port},
        "controls": [CONTROL],
        "method": [python("before", "echo", value=1),
                   python("endless", "endless_repr"),
                   python("after", "echo", value=2)],
    }
    run = chaos(experiment)
    assert run.status == "completed", run.log[-2000:]
    # experiment, method, rollbacks, before, after: all but the endless one
    spans = agent.wait_for(5, timeout=10)
    agent.wait_quiet(0.3)
    names = sorted(s.operation_name for s in agent.spans)
    assert names == sorted(["endless repr", "Method", "Rollbacks", "before",
                            "after"]), names
    (entry,) = run.journal["extensions"]
    assert entry["spans_dropped"] == 1 and entry["spans_sent"] == 5
    assert entry["delivered"] is False
    assert run.log.count("a span took more than") == 1
    assert {s.trace_id for s in spans} == {int(entry["trace_id"], 16)}


# -- the trace file ------------------------------------------------------------
def test_a_trace_file_keeps_its_mode_when_written_again(tmp_path):
    import os
    import stat

    from chaostracing._data.jaegerjson import write_atomic

    path = tmp_path / "trace.json"
    path.write_text("{}")
    os.chmod(path, 0o600)
    write_atomic(str(path), '{"data": []}')
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert path.read_text() == '{"data": []}'
    os.chmod(path, 0o640)
    write_atomic(str(path), "{}")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o640


def test_a_new_trace_file_gets_the_journals_mode(tmp_path):
    import os
    import stat

    from chaostracing._data.jaegerjson import write_atomic

    old = os.umask(0o027)
    try:
        write_atomic(str(tmp_path / "new.json"), "{}")
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(tmp_path / "new.json").st_mode) == 0o640


def test_runs_claiming_one_trace_file_get_distinct_files(tmp_path):
    from chaostracing._run.providers.file import claim

    wanted = str(tmp_path / "chaostracing-trace.json")
    held = [claim(wanted) for _ in range(3)]
    paths = [path for path, _ in held]
    assert paths == [wanted, str(tmp_path / "chaostracing-trace-2.json"),
                     str(tmp_path / "chaostracing-trace-3.json")]
    for _, hold in held:
        hold.release()
    # released: the file is free again, and no lock file is left behind
    again, hold = claim(wanted)
    assert again == wanted
    hold.release()
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_a_file_replaced_as_the_run_wrote_it_is_not_delivered(tmp_path,
                                                              monkeypatch):
    import chaostracing._run.providers.file as file_provider
    from chaostracing._data.model import SpanData
    from chaostracing._run.pipeline import TransportBroken

    path = tmp_path / "t.json"
    transport = file_provider.FileTransport(str(path))
    transport.send([SpanData(1, 2, process=PROCESS)])
    real = file_provider.write_atomic

    def then_another_writer(target, text):
        inode = real(target, text)
        real(target, "{}")  # another run's rename lands after ours
        return inode

    monkeypatch.setattr(file_provider, "write_atomic", then_another_writer)
    try:
        transport.close()
    except TransportBroken as error:
        assert "was replaced by another writer" in str(error)
        assert error.lost == 1
    else:
        raise AssertionError("delivered, though the file is another's")


@pytest.mark.slow  # four chaos runs at once
def test_four_runs_writing_one_trace_file_each_deliver_their_own(tmp_path):
    import json
    import subprocess

    from conftest import chaos_command

    from chaostracing._data.jaegerjson import load_spans

    shared = tmp_path / "shared" / "trace.json"
    procs = []
    for i in range(4):
        folder = tmp_path / f"run{i}"
        folder.mkdir()
        experiment = {
            "title": f"run {i}", "description": "d",
            "configuration": {"tracing_provider": "file",
                              "tracing_file": str(shared)},
            "controls": [CONTROL],
            # long enough that the four runs overlap
            "method": [python("nap", "nap", seconds=3)],
        }
        argv, env, journal = chaos_command(experiment, folder)
        procs.append((subprocess.Popen(
            argv, env=env, cwd=folder, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True), journal))
    entries, logs = [], []
    for proc, journal in procs:
        logs.append(proc.communicate(timeout=120)[0])
        (entry,) = json.loads(journal.read_text())["extensions"]
        entries.append(entry)
    destinations = [e["destination"][len("trace file "):] for e in entries]
    assert len(set(destinations)) == 4, destinations
    assert str(shared) in destinations
    for entry, destination in zip(entries, destinations):
        # delivered means: that file holds this run's spans
        assert entry["delivered"] is True
        spans = load_spans(destination)
        assert {s.trace_id_hex for s in spans} == {entry["trace_id"]}
        assert len(spans) == 4
    said = [log for log in logs if "is being written by another run" in log]
    assert len(said) == 3
    assert not list(shared.parent.glob(".*.lock"))
