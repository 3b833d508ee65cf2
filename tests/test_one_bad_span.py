"""One bad span costs only itself, in every reader (issue 18, item 3): the
Jaeger JSON reader, the loaders ``show`` and ``report`` use, the probes'
reading of a query answer; the collector never writes a file its own reader
refuses; ``show``'s handling of parent cycles is linear."""
import json
import math
import sys
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chaostracing._data.jaegerjson import (
    Skipped,
    dumps,
    read_document,
    trace_json,
)
from chaostracing._data.model import Process, SpanData

GOOD = {"traceID": "abc", "spanID": "1", "operationName": "good",
        "startTime": 1_700_000_000_000_000, "duration": 10,
        "processID": "p1"}


def document(*spans):
    return {"data": [{"traceID": "abc", "spans": list(spans),
                      "processes": {"p1": {"serviceName": "svc"}}}]}


@pytest.mark.parametrize("bad", [
    dict(GOOD, spanID="2", startTime=-1),
    dict(GOOD, spanID="2", duration="ten"),
    dict(GOOD, spanID="2", duration=-5),
    dict(GOOD, spanID="zz"),
    {"traceID": "abc"},
    None,
], ids=["negative-start", "text-duration", "negative-duration", "bad-id",
        "missing-fields", "null"])
def test_a_bad_span_is_left_out_and_counted(bad):
    skipped = Skipped()
    spans = read_document(document(GOOD, bad, dict(GOOD, spanID="3")),
                          skipped=skipped)
    assert [s.span_id for s in spans] == [1, 3]
    assert skipped.count == 1
    assert str(skipped).startswith("1 bad span(s) left out (the first: "
                                   "trace #1, span #2: ")


def test_a_trace_without_spans_costs_only_itself():
    skipped = Skipped()
    doc = document(GOOD)
    doc["data"].insert(0, {"traceID": "def"})
    assert len(read_document(doc, skipped=skipped)) == 1
    assert skipped.first == 'trace #1 has no "spans" list'


def test_a_reference_to_nothing_costs_only_itself():
    span = dict(GOOD, references=[{"refType": "CHILD_OF", "spanID": "0"},
                                  {"refType": "FOLLOWS_FROM", "spanID": "7"}])
    (read,) = read_document(document(span))
    assert read.references == [(1, 0xabc, 7)]


def test_a_file_of_bad_spans_only_is_refused_saying_why():
    with pytest.raises(ValueError, match="startTime is out of range: -1"):
        read_document(document(dict(GOOD, startTime=-1)))


# -- the collector's file, read back -------------------------------------------
# what the receivers may store: ids of any width (0 too), times and flags as
# any 64-bit integer the wire carries, tags of the types Thrift and OTLP have
i64 = st.integers(-(1 << 63), (1 << 63) - 1)
tag_values = (st.booleans() | i64 | st.floats() | st.text(max_size=20)
              | st.binary(max_size=12))
tags = st.dictionaries(st.text(max_size=10), tag_values, max_size=4)
spans = st.builds(
    SpanData,
    trace_id=st.integers(0, (1 << 128) - 1),
    span_id=st.integers(0, (1 << 64) - 1),
    parent_id=st.integers(0, (1 << 64) - 1),
    flags=i64,
    operation_name=st.text(max_size=20),
    start_us=i64 | st.integers(0, 1 << 53),
    duration_us=i64 | st.integers(0, 1 << 40),
    references=st.lists(st.tuples(st.integers(0, 1),
                                  st.integers(0, (1 << 128) - 1),
                                  st.integers(0, (1 << 64) - 1)), max_size=2),
    tags=tags,
    logs=st.lists(st.tuples(i64 | st.integers(0, 1 << 53), tags), max_size=2),
    process=st.builds(Process, st.text(max_size=10),
                      st.lists(st.tuples(st.text(max_size=8), tag_values),
                               max_size=2)),
    warnings=st.none() | st.lists(st.text(max_size=8), max_size=2),
)
_MAX_US = 1 << 62


def readable(span):
    """A span the reader keeps: ids that are ids, times that are times."""
    return (span.trace_id > 0 and span.span_id > 0
            and 0 <= span.start_us <= _MAX_US
            and 0 <= span.duration_us <= _MAX_US
            and all(0 <= ts <= _MAX_US for ts, _ in span.logs))


@pytest.mark.slow  # hundreds of generated examples: seconds
@settings(max_examples=300, deadline=None)
@given(st.lists(spans, min_size=1, max_size=6), st.booleans())
def test_the_collectors_reader_reads_every_file_its_writer_writes(
    stored, through_the_query_api
):
    if through_the_query_api:  # the query API's writer
        text = '{"data":[' + ",".join(
            trace_json(tid, [s for s in stored if s.trace_id == tid])
            for tid in dict.fromkeys(s.trace_id for s in stored)) + "]}"
    else:  # the file collect writes
        text = dumps(stored)
    skipped = Skipped()
    try:
        read = read_document(json.loads(text), skipped=skipped)
    except ValueError:
        # refused only when no span at all could be read
        assert not any(readable(s) for s in stored)
        return
    kept = [s for s in stored if readable(s)]
    assert skipped.count == len(stored) - len(kept)
    # the same spans come back (the collector may hold two with one id)
    assert Counter(map(content, read)) == Counter(map(content, kept))


def content(span):
    """What a span says, as the file writes it (a float that JSON cannot
    hold is text; bytes stay bytes)."""
    def value(item):
        if isinstance(item, float) and not math.isfinite(item):
            return ("str", str(item))
        if isinstance(item, bytearray):
            item = bytes(item)
        if isinstance(item, float) and item == 0:
            return ("float", repr(item))  # 0.0 and -0.0 both kept
        return (type(item).__name__, item)

    def fields(tags):
        return tuple(sorted((k, value(v)) for k, v in tags.items()))

    return (span.trace_id, span.span_id, span.parent_id, span.flags,
            span.operation_name, span.start_us, span.duration_us,
            fields(span.tags),
            tuple((ts, fields(f)) for ts, f in span.logs),
            span.process.service_name,
            tuple(span.warnings) if span.warnings else None)


# -- show and report: one line says what was left out -------------------------
@pytest.mark.slow  # the chaostracing command in a process
@pytest.mark.parametrize("command", ["show", "report"])
def test_show_and_report_draw_the_rest_and_say_so_once(tmp_path, command):
    import subprocess
    from pathlib import Path

    path = tmp_path / "t.json"
    path.write_text(json.dumps(document(
        GOOD, dict(GOOD, spanID="2", startTime=-1),
        dict(GOOD, spanID="3", operationName="also-good",
             references=[{"refType": "CHILD_OF", "spanID": "1"}]))))
    tool = str(Path(sys.executable).with_name("chaostracing"))
    args = [tool, command, str(path)] + (
        ["-o", str(tmp_path / "r.html")] if command == "report" else [])
    proc = subprocess.run(args, capture_output=True, text=True, timeout=60,
                          cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    said = [line for line in proc.stderr.splitlines() if "left out" in line]
    assert said == [f"chaostracing {command}: {path}: 1 bad span(s) left out "
                    "(the first: trace #1, span #2: startTime is out of "
                    "range: -1)"]
    if command == "show":
        assert "good" in proc.stdout and "also-good" in proc.stdout
        assert "2 spans" in proc.stdout
    else:
        page = (tmp_path / "r.html").read_text()
        assert page.count('"name":"good"') == 1 and "also-good" in page


# -- show's cycles: linear ----------------------------------------------------
def lines_run(spans):
    """Lines of waterfall.py executed to order ``spans`` (a count that
    grows as the work does, whatever the machine's speed)."""
    from chaostracing._viewers import waterfall

    count = 0

    def tracer(frame, event, arg):
        nonlocal count
        if frame.f_code.co_filename == waterfall.__file__:
            if event == "line":
                count += 1
            return tracer
        return None

    sys.settrace(tracer)
    try:
        list(waterfall._rows(spans))
    finally:
        sys.settrace(None)
    return count


def two_span_cycles(n):
    out = []
    for i in range(n):
        a, b = 2 * i + 1, 2 * i + 2
        out += [SpanData(1, a, b, start_us=i), SpanData(1, b, a, start_us=i)]
    return out


def test_shows_handling_of_parent_cycles_is_linear():
    small = lines_run(two_span_cycles(100))
    large = lines_run(two_span_cycles(400))
    # four times the cycles: four times the work (it was sixteen)
    assert large / small < 4.5, (small, large)
