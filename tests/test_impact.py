"""The impact, piece by piece, on spans made here: windows from journals
and traces, units and their figures, verdicts and their thresholds, blast
radius, likely origin, recovery, the JSON schema the docs show, the table,
the graph, the command (``--spans``), the end-of-run impact and the probe
against a collector's query API on loopback (in this process: threads).

The end-to-end test with real services and chaos runs is
test_e2e_impact.py."""
import json
import logging
import random
import re
import sys

import pytest
from chaoslib.exceptions import ActivityFailed
from conftest import ROOT

from chaostracing import cli, control, probes
from chaostracing._data.model import Process, SpanData
from chaostracing._impact import analysis, graph, text, units, verdicts
from chaostracing._impact import windows as win
from chaostracing._impact.verdicts import Thresholds
from chaostracing._run import lifecycle

pytest.importorskip("scipy")
# scipy.stats takes most of a second to import: here, while the tests are
# collected, rather than inside the first test that needs it
verdicts.stats()

T0 = 1_700_000_000_000_000  # µs
SEC = 1_000_000
SERVICES = ("frontend", "orders", "payments", "stock", "catalog", "ledger")
PROCESSES = {name: Process(name) for name in SERVICES}
#: the shop's run: baseline [0, 10 s), method [10, 15 s), after [15, 16 s)
TIMES = win.RunTimes(T0 + 10 * SEC, T0 + 15 * SEC, T0 + 16 * SEC)


class Shop:
    """Spans of the shop (examples/shop.py's calls) made here, with a
    seeded randomness: checkouts through orders to payments and stock,
    browsing to the catalog."""

    def __init__(self, seed=3):
        self.spans = []
        self.random = random.Random(seed)
        self.ids = iter(range(1, 1 << 62))

    def span(self, trace, parent, service, name, start, duration, kind,
             failed=False):
        tags = {"span.kind": kind}
        if failed:
            tags["error"] = True
        span = SpanData(trace, next(self.ids),
                        parent.span_id if parent else 0, 1, name, start,
                        duration, process=PROCESSES[service], tags=tags)
        self.spans.append(span)
        return span

    def traffic(self, start_s, end_s, latency_ms=0, error_rate=0.0,
                fallback=False, rate=40):
        rnd, t = self.random, start_s
        while t < end_s:
            trace = next(self.ids)
            at = T0 + int(t * SEC)
            if rnd.random() < 0.6:
                self.checkout(trace, at, latency_ms,
                              rnd.random() < error_rate, fallback)
            else:
                root = self.span(trace, None, "frontend", "GET /browse", at,
                                 0, "server")
                call = self.span(trace, root, "frontend", "GET", at + 100, 0,
                                 "client")
                items = self.span(trace, call, "catalog", "GET /items",
                                  at + 200, int(rnd.gauss(10_000, 800)),
                                  "server")
                call.duration_us = items.duration_us + 300
                root.duration_us = call.duration_us + 8000
            t += rnd.expovariate(rate)

    def checkout(self, trace, at, latency_ms, failing, fallback):
        rnd = self.random
        root = self.span(trace, None, "frontend", "GET /checkout", at, 0,
                         "server")
        call = self.span(trace, root, "frontend", "POST", at + 100, 0,
                         "client")
        orders = self.span(trace, call, "orders", "POST /orders", at + 200,
                           0, "server")
        pay_call = self.span(trace, orders, "orders", "POST", at + 300, 0,
                             "client")
        pay = self.span(trace, pay_call, "payments", "POST /pay", at + 400,
                        500 if failing else int(rnd.gauss(15_000, 1500))
                        + latency_ms * 1000, "server", failed=failing)
        pay_call.duration_us = pay.duration_us + 300
        pay_call.tags["error"] = failing
        spent = pay_call.duration_us
        if failing and fallback:
            record_call = self.span(trace, orders, "orders", "POST",
                                    at + 500 + spent, 0, "client")
            record = self.span(trace, record_call, "ledger", "POST /record",
                               at + 600 + spent, int(rnd.gauss(6000, 500)),
                               "server")
            record_call.duration_us = record.duration_us + 300
            spent += record_call.duration_us
        stock_call = self.span(trace, orders, "orders", "GET",
                               at + 500 + spent, 0, "client")
        stock = self.span(trace, stock_call, "stock", "GET /stock",
                          at + 600 + spent, int(rnd.gauss(10_000, 1000)),
                          "server")
        stock_call.duration_us = stock.duration_us + 300
        failed = failing and not fallback
        orders.duration_us = 12_000 + spent + stock_call.duration_us
        orders.tags["error"] = failed
        call.duration_us = orders.duration_us + 300
        call.tags["error"] = failed
        root.duration_us = call.duration_us + 8000
        root.tags["error"] = failed


def run_of(fault=None, fallback=False):
    """A shop's spans around a run: 10 s of baseline, 5 s of ``fault``
    (``{"latency_ms": ...}`` or ``{"error_rate": ...}``), then 11 s
    without."""
    shop = Shop()
    shop.traffic(0, 10, fallback=fallback)
    shop.traffic(10, 15, fallback=fallback, **(fault or {}))
    shop.traffic(15, 26, fallback=fallback)
    return shop.spans


def impact_of(spans, recovery_s=5, **thresholds):
    windows = win.make(TIMES, 10, recovery_s)
    return analysis.analyze(spans, windows, Thresholds(**thresholds))


def found(impact, kind, *names):
    (result,) = [r for r in impact.results
                 if r.unit == units.Unit(kind, *names)]
    return result


# -- windows ---------------------------------------------------------------
def iso(seconds):
    import datetime

    return datetime.datetime.fromtimestamp(
        T0 / SEC + seconds, datetime.timezone.utc).isoformat()


def journal(**changes):
    document = {
        "experiment": {"title": "t"}, "start": iso(0), "end": iso(20),
        "steady_states": {
            "before": {"probes": [{"start": iso(1), "end": iso(2)}]},
            "after": {"probes": [{"start": iso(9), "end": iso(10)}]}},
        "run": [{"start": iso(3), "end": iso(4)},
                {"start": iso(7), "end": iso(8)}],
        "rollbacks": [{"start": iso(11), "end": iso(12)}],
    }
    document.update(changes)
    return document


def test_a_journals_method_runs_from_the_hypothesis_before_to_the_one_after():
    # the pauses of its activities (4 s to 7 s, after 8 s) are inside it
    times = win.from_journal(journal())
    assert times == win.RunTimes(T0 + 2 * SEC, T0 + 9 * SEC, T0 + 20 * SEC)


def test_without_hypotheses_the_method_runs_from_the_start_to_the_rollbacks():
    times = win.from_journal(journal(steady_states={}))
    assert times == win.RunTimes(T0, T0 + 11 * SEC, T0 + 20 * SEC)
    bare = win.from_journal(journal(steady_states={}, rollbacks=[]))
    assert bare.method_end_us == T0 + 20 * SEC


def test_a_journal_without_times_is_refused():
    with pytest.raises(ValueError, match="no time of its method"):
        win.from_journal({"experiment": {}})


def test_the_runs_own_trace_gives_the_exact_method():
    trace_id = 0xABC
    spans = [SpanData(trace_id, 1, 0, 1, "t", T0, 30 * SEC,
                      tags={"chaostoolkit.type": "experiment"}),
             SpanData(trace_id, 2, 1, 1, "Method", T0 + 5 * SEC, 3 * SEC,
                      tags={"chaostoolkit.type": "method"}),
             SpanData(7, 2, 1, 1, "Method", T0, SEC,  # another run's
                      tags={"chaostoolkit.type": "method"})]
    document = journal(extensions=[{"name": "chaostracing",
                                    "trace_id": "abc"}])
    assert win.from_journal(document, spans) == win.RunTimes(
        T0 + 5 * SEC, T0 + 8 * SEC, T0 + 30 * SEC)
    # without the trace in the spans: the journal's times
    assert win.from_journal(document, spans[2:]) == win.from_journal(
        journal())


def test_windows_are_contiguous_each_holding_its_start_not_its_end():
    windows = win.make(TIMES, 10, 5)
    assert [w.name for w in windows.all] == ["baseline", "during", "after",
                                            "recovery"]
    find = windows.finder()
    assert find(T0 - 1) is None
    assert find(T0) == "baseline"
    assert find(TIMES.method_start_us) == "during"
    assert find(TIMES.method_end_us) == "after"
    assert find(TIMES.run_end_us) == "recovery"
    assert find(TIMES.run_end_us + 5 * SEC) is None
    assert windows.judged_for_recovery.name == "recovery"
    assert win.make(TIMES, 10).judged_for_recovery.name == "after"
    # a span of the baseline under way when the method starts is in no
    # window; one ending as it starts, or under way when the method ends,
    # stays where it began
    start = TIMES.method_start_us
    assert find(start - 10, start) == "baseline"
    assert find(start - 10, start + 1) is None
    assert find(T0 - 1, start + 1) is None
    assert find(start, start + 1) == "during"
    assert find(TIMES.method_end_us - 10, TIMES.run_end_us) == "during"
    assert find(TIMES.method_end_us, TIMES.run_end_us + 1) == "after"


def test_a_request_under_way_when_the_fault_begins_is_not_the_baselines():
    # a checkout that began 0.3 ms before the method and failed inside it:
    # its frontend and orders spans started in the baseline, its payments
    # span (0.4 ms in) in the method
    shop = Shop()
    at = TIMES.method_start_us - 300
    shop.checkout(next(shop.ids), at, 0, failing=True, fallback=False)
    samples = units.collect(shop.spans, win.make(TIMES, 10))
    # frontend's and orders' spans (and the call between them) started in
    # the baseline and were under way: in no window
    assert units.Unit("service", "frontend") not in samples
    assert units.Unit("service", "orders") not in samples
    assert units.Unit("edge", "frontend", "orders") not in samples
    # the call to payments started with the method: the method's
    for unit in (units.Unit("service", "payments"),
                 units.Unit("edge", "orders", "payments")):
        assert samples[unit]["baseline"].durations == [], unit
        assert samples[unit]["during"].errors == 1, unit


@pytest.mark.parametrize("method_s", [0.5, 2, 10])
def test_no_fault_with_long_tailed_latency_is_unchanged(method_s):
    # 50 requests a second, log-normal latencies (median 200 ms, a long
    # tail): the spans under way when the method starts are mostly long
    # ones; counted in the method's window, they made it look slower
    process = Process("svc")
    for seed in range(3):
        rnd = random.Random(seed)
        spans, at, number = [], TIMES.method_start_us - 60 * SEC, 0
        while at < TIMES.method_start_us + 30 * SEC:
            number += 1
            spans.append(SpanData(
                number, number, 0, 1, "GET /", at,
                int(rnd.lognormvariate(-1.6, 1.5) * SEC),
                tags={"span.kind": "server"}, process=process))
            at += int(rnd.expovariate(50) * SEC)
        times = win.RunTimes(TIMES.method_start_us,
                             TIMES.method_start_us + int(method_s * SEC),
                             TIMES.method_start_us + 30 * SEC)
        impact = analysis.analyze(spans, win.make(times, 60))
        (service,) = [r for r in impact.results if r.unit.kind == "service"]
        assert service.during.verdict == "unchanged", (seed, method_s)


def test_the_baseline_is_clipped_to_where_data_exists():
    impact = analysis.analyze([s for s in run_of() if s.start_us
                               >= T0 + 6 * SEC], win.make(TIMES, 10))
    assert 3.9 < impact.windows.baseline.seconds <= 4.0


# -- the lean read of a query's answer ----------------------------------------
def test_failed_reads_only_its_tags():
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from chaostracing._data.model import FAILED_TAGS, failed

    keys = st.sampled_from(sorted(FAILED_TAGS) + ["span.kind", "http.url",
                                                  "status", "x"])
    values = (st.booleans() | st.integers(-1, 700) | st.sampled_from(
        ["true", "True", "ERROR", "OK", "503", " 500 ", "abc", ""]))

    @settings(max_examples=120, deadline=None)
    @given(st.dictionaries(keys, values, max_size=6))
    def same(tags):
        kept = {k: v for k, v in tags.items() if k in FAILED_TAGS}
        assert failed(kept) is failed(tags)

    same()


@pytest.mark.parametrize("fault", [{"error_rate": 0.5}, {"latency_ms": 40}])
def test_the_lean_read_gives_the_impact_the_full_read_gives(fault):
    from chaostracing._data.jaegerjson import read_document, to_document
    from chaostracing._impact import source

    spans = run_of(fault, fallback="error_rate" in fault)
    for span in spans[::7]:  # what the impact does not read
        span.logs.append((span.start_us, {"event": "noise", "n": 1}))
        span.tags.update({"http.url": "http://x/", "otel.scope.name": "y"})
    document = json.loads(json.dumps(to_document(spans)))
    full = read_document(document)
    lean = read_document(document, tag_keys=source.TAGS)
    assert len(lean) == len(full) == len(spans)
    for a, b in zip(full, lean):
        assert (a.trace_id, a.span_id, a.parent_id, a.start_us,
                a.duration_us, a.operation_name, a.process.service_name) == (
            b.trace_id, b.span_id, b.parent_id, b.start_us, b.duration_us,
            b.operation_name, b.process.service_name)
        assert b.tags == {k: v for k, v in a.tags.items()
                          if k in source.TAGS}
        assert b.logs == [] and b.process.tags == ()
    windows = win.make(TIMES, 10, 5)
    assert analysis.analyze(lean, windows).as_json() == \
        analysis.analyze(full, windows).as_json()


# -- units -----------------------------------------------------------------
def test_units_are_services_operations_and_edges_between_services():
    samples = units.collect(run_of(), win.make(TIMES, 10))
    kinds = {(u.kind, u.first, u.second) for u in samples}
    assert ("service", "catalog", "") in kinds
    assert ("operation", "frontend", "GET /browse") in kinds
    assert ("edge", "orders", "payments") in kinds
    # client spans are not entries; a call inside a service is no edge
    assert ("operation", "orders", "POST") not in kinds
    assert not [u for u in kinds if u[0] == "edge" and u[1] == u[2]]
    during = samples[units.Unit("service", "payments")]["during"]
    assert 100 < during.calls < 150


def test_an_edges_call_lasts_what_the_caller_waited_and_fails_with_either():
    caller = Process("a")
    callee = Process("b")
    spans = [
        SpanData(1, 1, 0, 1, "GET", T0 + 11 * SEC, 9000, process=caller,
                 tags={"span.kind": "client", "error": True}),
        SpanData(1, 2, 1, 1, "GET /x", T0 + 11 * SEC + 10, 5000,
                 process=callee, tags={"span.kind": "server"}),
        SpanData(2, 1, 0, 1, "job", T0 + 11 * SEC, 9000, process=caller),
        SpanData(2, 2, 1, 1, "GET /x", T0 + 11 * SEC + 10, 4000,
                 process=callee, tags={"span.kind": "server",
                                       "http.status_code": 503}),
    ]
    samples = units.collect(spans, win.make(TIMES, 10))
    edge = samples[units.Unit("edge", "a", "b")]["during"]
    # a client caller: its duration; a parent of another kind: the callee's
    assert sorted(edge.durations) == [4000, 9000]
    assert edge.errors == 2


def test_percentiles_are_nearest_rank_as_the_probes_compute_them():
    from chaostracing._probes.counting import latency_percentile_ms

    durations = [random.Random(1).randrange(1, 10**6) for _ in range(101)]
    sample = units.Sample()
    spans = []
    for d in durations:
        sample.add(d, False)
        spans.append(SpanData(1, len(spans) + 1, duration_us=d))
    for rank in (50, 95, 99, 100):
        assert sample.percentile_ms(rank) == latency_percentile_ms(spans,
                                                                   rank)


# -- verdicts ----------------------------------------------------------------
def sample(durations_ms, errors=0):
    out = units.Sample()
    for index, ms in enumerate(durations_ms):
        out.add(int(ms * 1000), index < errors)
    return out


def compare(base, window, base_s=10.0, window_s=5.0, **thresholds):
    return verdicts.compare(base, window, base_s, window_s,
                            Thresholds(**thresholds))


def test_more_errors_beyond_chance_and_by_five_points_is_impacted():
    base = sample([10] * 200)
    assert compare(base, sample([10] * 100, errors=10)).verdict == "impacted"
    assert compare(base, sample([10] * 100, errors=10)).reasons == ["errors"]
    # significant, but 4 points only
    big = sample([10] * 10_000, errors=0)
    result = compare(big, sample([10] * 10_000, errors=400))
    assert result.p_errors < 1e-10 and result.verdict == "unchanged"
    # 5 points, but by chance (p above 0.01)
    result = compare(sample([10] * 40, errors=1), sample([10] * 40, errors=3))
    assert result.p_errors > 0.01 and result.verdict == "unchanged"


def test_slower_beyond_chance_and_by_20_percent_and_5_ms_is_impacted():
    rnd = random.Random(5)
    base = sample([rnd.gauss(50, 3) for _ in range(300)])
    slower = sample([rnd.gauss(70, 3) for _ in range(200)])
    result = compare(base, slower)
    assert result.verdict == "impacted" and result.reasons == ["latency"]
    assert result.p_latency < 1e-10
    # +20 % but under 5 ms: a fast service's jitter
    fast = sample([rnd.gauss(5, 0.2) for _ in range(300)])
    assert compare(fast, sample([rnd.gauss(7, 0.2) for _ in range(200)])
                   ).verdict == "unchanged"
    # +5 ms but under 20 %
    assert compare(base, sample([rnd.gauss(57, 3) for _ in range(200)])
                   ).verdict == "unchanged"
    # faster is never impacted (one-sided)
    assert compare(slower, base).verdict == "unchanged"


def test_every_threshold_is_an_option():
    base = sample([10] * 300)
    window = sample([10] * 200, errors=8)  # 4 %, p about 0.0007
    assert compare(base, window).verdict == "unchanged"
    assert compare(base, window, error_rise=0.03).verdict == "impacted"
    assert compare(base, sample([10] * 10), min_spans=5).verdict == \
        "unchanged"
    assert compare(base, window, error_rise=0.03, alpha=1e-9).verdict == \
        "unchanged"


def test_new_and_gone_need_calls_and_windows_long_enough_to_mean_it():
    empty = units.Sample()
    assert compare(empty, sample([5] * 40)).verdict == "new"
    assert compare(sample([5] * 40), empty).verdict == "gone"
    # too few calls to say
    assert compare(empty, sample([5] * 10)).verdict == "not-enough-data"
    # 40 calls in 10 s; none in 0.1 s means nothing
    assert compare(sample([5] * 40), empty, window_s=0.1).verdict == \
        "not-enough-data"


def test_too_few_spans_is_not_enough_data_never_healthy():
    result = compare(sample([10] * 19), sample([500] * 100, errors=100))
    assert result.verdict == "not-enough-data"


def test_a_missing_scipy_names_the_extra(monkeypatch):
    monkeypatch.setattr(verdicts, "_loaded", None)
    monkeypatch.setitem(sys.modules, "scipy", None)
    monkeypatch.setitem(sys.modules, "scipy.stats", None)
    with pytest.raises(verdicts.ImpactUnavailable) as caught:
        compare(sample([10] * 100), sample([10] * 100))
    assert "pip install 'chaostoolkit-opentracing[impact]'" in str(
        caught.value)


# -- the run -----------------------------------------------------------------
def test_latency_in_a_leaf_blast_radius_origin_and_recovery():
    impact = impact_of(run_of({"latency_ms": 200}))
    assert impact.blast_radius == ["frontend", "orders", "payments"]
    assert impact.likely_origin == ["payments"]
    assert impact.recovered is True
    assert found(impact, "service", "catalog").verdict == "unchanged"
    assert found(impact, "edge", "orders", "stock").verdict == "unchanged"
    assert found(impact, "service", "orders").during.reasons == ["latency"]


def test_a_fallback_keeps_the_caller_out_and_opens_a_new_edge():
    impact = impact_of(run_of({"error_rate": 0.5}, fallback=True))
    assert impact.blast_radius == ["payments"]
    assert impact.likely_origin == ["payments"]
    assert found(impact, "edge", "orders", "payments").verdict == "impacted"
    assert found(impact, "service", "orders").verdict == "unchanged"
    assert found(impact, "edge", "orders", "ledger").verdict == "new"
    assert found(impact, "service", "ledger").verdict == "new"
    # impacted units come first, then new ones
    assert [r.verdict for r in impact.results][:4] == ["impacted"] * 3 + [
        "new"]


def test_an_impacted_edge_adds_its_callee_not_its_caller():
    spans = run_of({"error_rate": 0.5}, fallback=True)
    for span in spans:  # payments' own spans look healthy: a network fault
        if span.process.service_name == "payments":
            span.tags.pop("error", None)
    impact = impact_of(spans)
    assert found(impact, "service", "payments").verdict == "unchanged"
    assert found(impact, "edge", "orders", "payments").verdict == "impacted"
    assert impact.blast_radius == ["payments"]
    assert impact.likely_origin == ["payments"]


def test_not_recovered_when_what_impacted_it_lasts():
    shop = Shop()
    shop.traffic(0, 10)
    shop.traffic(10, 26, error_rate=0.5)  # never healed
    impact = impact_of(shop.spans)
    assert impact.recovered is False
    assert found(impact, "service", "payments").recovered is False
    # with too few calls after the method to say: unknown
    short = TIMES._replace(run_end_us=TIMES.method_end_us + SEC // 4)
    impact = analysis.analyze(shop.spans, win.make(short, 10))
    assert 0 < found(impact, "service", "payments").samples["after"].calls \
        < 20
    assert impact.recovered is None
    # none at all, where the baseline's rate says there should be: gone,
    # not recovered
    impact = analysis.analyze([s for s in shop.spans if s.start_us
                               < TIMES.method_end_us], win.make(TIMES, 10))
    assert found(impact, "service", "payments").recovered is False


def test_nothing_impacted_has_nothing_to_recover_from():
    impact = impact_of(run_of())
    assert impact.impacted == [] and impact.blast_radius == []
    assert impact.recovered is None
    assert text.summary_line(impact).startswith(
        "impact: nothing impacted (15 unit(s) compared")


# -- what is written -----------------------------------------------------------
def documented_json():
    page = (ROOT / "docs" / "impact.md").read_text()
    block = page.split("## The JSON")[1].split("```json\n")[1].split(
        "```")[0]
    return json.loads(block)["extensions"][0]["impact"], page


def test_the_json_has_the_keys_the_docs_show_and_explain():
    shown, page = documented_json()
    written = impact_of(run_of({"error_rate": 0.5}, fallback=True),
                        recovery_s=0).as_json()
    assert set(written) == set(shown)
    assert set(written["windows"]) == set(shown["windows"])
    for written_unit in written["units"]:
        (same,) = [u for u in shown["units"]
                   if u["kind"] == written_unit["kind"]] or [None]
        if same is not None:
            assert set(written_unit) == set(same), written_unit["kind"]
    assert set(written["units"][0]["during"]) == set(
        shown["units"][0]["during"])
    explained = set(re.findall(r"^\| `([a-z_]+)`", page, re.M))
    assert set(written) <= explained
    assert written["counts"] == {
        "impacted": 3, "new": 3, "gone": 0, "not-enough-data": 0,
        "unchanged": 12}
    assert written["thresholds"] == shown["thresholds"]


def test_the_json_is_json_all_the_way_down():
    written = impact_of(run_of({"latency_ms": 200})).as_json()
    assert json.loads(json.dumps(written, allow_nan=False)) == written


def test_the_docs_table_and_summary_line_are_what_is_printed():
    from docs_blocks import blocks

    impact = impact_of(run_of({"error_rate": 0.5}), recovery_s=0)
    printed = text.table(impact).splitlines()
    (table,) = [b for b in blocks(ROOT / "docs" / "impact.md", "text")
                if b.text.startswith("unit ")]
    shown = table.text.splitlines()
    assert shown[0].split() == printed[0].split()
    assert shown[1] == printed[1]
    assert shown[-3:] == ["blast radius: frontend, orders, payments",
                          "likely origin: payments", "recovered: yes"]
    line = text.summary_line(impact)
    assert re.match(r"impact: frontend errors 0% → \d+%, orders errors 0% → "
                    r"\d+%, payments errors 0% → \d+%; recovered$", line)


def test_the_graph_lays_callers_left_of_their_callees_and_colours_verdicts():
    impact = impact_of(run_of({"error_rate": 0.5}, fallback=True))
    layout = graph.layout(impact)
    nodes = {n["name"]: n for n in layout["nodes"]}
    assert nodes["frontend"]["x"] < nodes["orders"]["x"] < \
        nodes["payments"]["x"] == nodes["ledger"]["x"]
    assert nodes["payments"]["verdict"] == "impacted"
    assert nodes["payments"]["origin"] is True
    assert nodes["ledger"]["verdict"] == "new"
    edges = {(e["caller"], e["callee"]): e for e in layout["edges"]}
    assert edges[("orders", "payments")]["label"].startswith("2")
    assert "errors 0% \u2192" in edges[("orders", "payments")]["label"]
    assert edges[("orders", "ledger")]["label"].endswith("(new)")
    for node in layout["nodes"]:
        assert node["x"] + node["w"] <= layout["width"]
        assert node["y"] + node["h"] <= layout["height"]


def test_a_cycle_between_services_is_cut_where_it_closes():
    depth = graph._depths(["a", "b", "c"], [("a", "b"), ("b", "c"),
                                            ("c", "a"), ("c", "c")])
    assert depth == {"a": 0, "b": 1, "c": 2}


# -- the command -------------------------------------------------------------
def files_of(tmp_path, spans, document=None):
    from chaostracing._data.jaegerjson import dumps

    trace = tmp_path / "services.json"
    trace.write_text(dumps(spans))
    path = tmp_path / "journal.json"
    path.write_text(json.dumps(document or journal_of_times()))
    return path, trace


def journal_of_times():
    import datetime

    def at(us):
        return datetime.datetime.fromtimestamp(
            us / SEC, datetime.timezone.utc).isoformat()

    return {"experiment": {"title": "payments <b>fail</b>"},
            "start": at(TIMES.method_start_us - SEC),
            "end": at(TIMES.run_end_us), "status": "completed",
            "run": [{"start": at(TIMES.method_start_us),
                     "end": at(TIMES.method_end_us)}]}


def test_the_command_prints_the_impacted_units_then_the_verdict(tmp_path,
                                                                capsys):
    path, trace = files_of(tmp_path, run_of({"latency_ms": 200}))
    assert cli.main(["impact", str(path), "--spans", str(trace),
                     "--baseline", "9", "--recovery", "5"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0].split()[:3] == ["unit", "verdict", "calls"]
    assert lines[2].startswith("service frontend")
    assert "impacted (latency)" in lines[2]
    assert "blast radius: frontend, orders, payments" in out
    assert "likely origin: payments" in out
    assert "recovered: yes" in out


def test_the_commands_json_and_thresholds(tmp_path, capsys):
    path, trace = files_of(tmp_path, run_of({"latency_ms": 200}))
    assert cli.main(["impact", str(path), "--spans", str(trace), "--json",
                     "--baseline", "9", "--min-latency-ms", "500"]) == 0
    written = json.loads(capsys.readouterr().out)
    assert written["blast_radius"] == []
    assert written["thresholds"]["latency_ms"] == 500


def test_the_commands_report_has_the_impact_section(tmp_path, capsys):
    path, trace = files_of(tmp_path, run_of({"error_rate": 0.5},
                                            fallback=True))
    report = tmp_path / "impact.html"
    assert cli.main(["impact", str(path), "--spans", str(trace), "-o",
                     str(report), "--baseline", "9"]) == 0
    page = report.read_text()
    assert '<section id="impact" hidden>' in page
    assert "<b>fail</b>" not in page  # the journal's title, escaped
    data = json.loads(page.split('id="chaostracing-data">')[1].split(
        "</script>")[0])
    assert data["impact"]["result"]["blast_radius"] == ["payments"]
    assert {n["name"] for n in data["impact"]["graph"]["nodes"]} == set(
        SERVICES)
    # the run's trace, rebuilt from the journal
    assert data["traces"][0]["rebuilt"] is True


def test_the_command_says_what_is_wrong_in_one_line(tmp_path, capsys):
    path, trace = files_of(tmp_path, run_of())
    assert cli.main(["impact", str(trace), "--spans", str(trace)]) == 1
    assert "not a Chaos Toolkit journal" in capsys.readouterr().err
    assert cli.main(["impact", str(path), "--query-url",
                     "http://127.0.0.1:9", "--timeout", "2"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "cannot reach" in err


# -- against a query API: the control at the end of a run, the probe -----------
@pytest.fixture
def query_api():
    """A collector's store and query API on loopback, holding the shop's
    spans of a run that ended a second ago."""
    import time

    from chaostracing._collector import Collector

    now = time.time_ns() // 1000
    shift = now - SEC - TIMES.run_end_us
    spans = [s.replace(start_us=s.start_us + shift)
             for s in run_of({"error_rate": 0.5})
             if s.start_us < TIMES.run_end_us + SEC]
    collector = Collector(udp_port=None, otlp_port=None, query_port=0,
                          max_spans=len(spans) + 1)
    collector.store.add(spans)
    collector.start()
    times = win.RunTimes(*(t + shift for t in TIMES))
    yield f"http://127.0.0.1:{collector.query_port}", times
    collector.stop()


def end_of_run(url, times, configuration, declared=1):
    import datetime

    def at(us):
        return datetime.datetime.fromtimestamp(
            us / SEC, datetime.timezone.utc).isoformat()

    state = {"experiment": {"title": "t"}, "start": at(times.method_start_us),
             "end": at(times.run_end_us),
             "run": [{"start": at(times.method_start_us),
                      "end": at(times.method_end_us)}]}
    control.configure_control(configuration=configuration, experiment={})
    try:
        for _ in range(declared):  # a control declared twice: called twice
            control.after_experiment_control(context={}, state=state)
    finally:
        control.cleanup_control()
    return state


def test_the_control_stores_the_impact_in_the_journal(query_api, caplog):
    url, times = query_api
    caplog.set_level(logging.INFO, "chaostoolkit")
    state = end_of_run(url, times, {
        "tracing_impact": True, "tracing_impact_baseline": 10,
        "tracing_impact_wait": 0, "tracing_query_url": url})
    (entry,) = state["extensions"]
    assert entry["name"] == "chaostracing"
    assert entry["impact"]["blast_radius"] == ["frontend", "orders",
                                               "payments"]
    assert "impact: frontend errors 0% \u2192" in caplog.text
    assert "waiting up to 0s for the services' late spans" in caplog.text


def test_a_control_declared_twice_computes_the_impact_once(query_api,
                                                           caplog):
    url, times = query_api
    caplog.set_level(logging.INFO, "chaostoolkit")
    state = end_of_run(url, times, {
        "tracing_impact": True, "tracing_impact_baseline": 10,
        "tracing_impact_wait": 0, "tracing_query_url": url}, declared=2)
    assert len(state["extensions"]) == 1
    assert caplog.text.count("impact: frontend errors") == 1


def test_a_back_end_out_of_reach_costs_the_run_one_warning(caplog):
    caplog.set_level(logging.INFO, "chaostoolkit")
    state = end_of_run("", win.RunTimes(T0, T0 + SEC, T0 + 2 * SEC), {
        "tracing_impact": True, "tracing_impact_wait": 0,
        "tracing_query_url": "http://127.0.0.1:9"})
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "impact: not computed: cannot reach" in warnings[0].getMessage()
    assert "extensions" not in state


def test_without_tracing_impact_the_run_ends_as_before(caplog):
    caplog.set_level(logging.INFO, "chaostoolkit")
    state = end_of_run("", TIMES, {})
    assert "extensions" not in state and "impact" not in caplog.text


def test_the_probe_needs_the_control():
    with pytest.raises(ActivityFailed, match="needs the chaostracing control"):
        probes.blast_radius(["payments"], query_url="http://127.0.0.1:9")


def test_the_probe_before_the_method_has_nothing_to_compare(caplog):
    caplog.set_level(logging.INFO, "chaostoolkit")
    control.configure_control(configuration={}, experiment={})
    try:
        assert probes.blast_radius(["payments"],
                                   query_url="http://127.0.0.1:9") is True
    finally:
        control.cleanup_control()
    assert "nothing to compare" in caplog.text


def test_the_probe_checks_its_arguments():
    for bad in ({"allowed": {"a": 1}}, {"baseline": "soon"},
                {"baseline": 0}, {"wait": -1}, {"min_spans": -2}):
        with pytest.raises(ActivityFailed):
            probes.blast_radius(**bad)
    assert probes._services("payments, orders") == ["payments", "orders"]


def probe_during(url, times, allowed):
    control.configure_control(configuration={}, experiment={})
    try:
        lifecycle._clock.update(start=times.method_start_us / SEC,
                                end=times.method_end_us / SEC)
        return probes.blast_radius(allowed, baseline=10, wait=0,
                                   query_url=url)
    finally:
        control.cleanup_control()


@pytest.mark.slow  # two queries of the whole shop: about a second each
def test_the_probe_is_false_when_a_service_outside_allowed_was_hit(
        query_api, caplog):
    url, times = query_api
    caplog.set_level(logging.INFO, "chaostoolkit")
    assert probe_during(url, times, ["payments"]) is False
    assert "outside allowed: frontend, orders" in caplog.text
    assert probe_during(url, times, ["frontend", "orders", "payments"]) is \
        True


# -- the page, in a browser ----------------------------------------------------
@pytest.mark.slow  # chromium
def test_the_impact_section_draws_the_graph_and_the_table(tmp_path):
    from test_report_browser import CHROMIUM, dump_dom

    if CHROMIUM is None:
        pytest.skip("no chromium here (make test installs it)")
    from chaostracing._viewers.report import render

    impact = impact_of(run_of({"error_rate": 0.5}, fallback=True))
    page = tmp_path / "impact.html"
    page.write_text(render(run_of()[:3], title="t", impact={
        "result": impact.as_json(), "graph": graph.layout(impact)}))
    dom = dump_dom(page, tmp_path)
    nodes = {attrs["data-service"]: attrs for tag, attrs in dom.elements
             if tag == "g" and attrs.get("class") == "node"}
    assert set(nodes) == set(SERVICES)
    assert nodes["payments"]["data-verdict"] == "impacted"
    assert nodes["payments"]["data-origin"] == "true"
    assert nodes["ledger"]["data-verdict"] == "new"
    assert nodes["catalog"]["data-verdict"] == "unchanged"
    edges = [attrs for tag, attrs in dom.elements
             if tag == "g" and attrs.get("class") == "edge"]
    assert {(e["data-caller"], e["data-callee"], e["data-verdict"])
            for e in edges} >= {("orders", "payments", "impacted"),
                                ("orders", "ledger", "new")}
    rows = [attrs for tag, attrs in dom.elements
            if tag == "tr" and "data-verdict" in attrs]
    assert len(rows) == len(impact.results)
    section = [attrs for tag, attrs in dom.elements
               if tag == "section" and attrs.get("id") == "impact"]
    assert section and "hidden" not in section[0]
    assert "blast radius: payments" in "".join(dom.text)


# -- api_v3's trace summaries: each trace fetched once ------------------------
class SummariesProxy:
    """A query API that also answers api_v3's trace summaries, as Jaeger
    2.19 does (a service required, unless ``any_service``): the v1 paths go
    to a real collector's query API, the summaries come from its store. It
    counts the traces it was asked for by id."""

    def __init__(self, collector, any_service=False):
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        from chaostracing._data.spanquery import SpanQuery
        from chaostracing._data.summary import summarize

        upstream = f"http://127.0.0.1:{collector.query_port}"
        proxy = self
        self.by_id = []

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                import datetime
                import urllib.parse
                import urllib.request

                url = urllib.parse.urlsplit(self.path)
                params = dict(urllib.parse.parse_qsl(url.query))
                if url.path != "/api/v3/trace-summaries":
                    proxy.by_id += urllib.parse.parse_qs(url.query).get(
                        "traceID", [])
                    with urllib.request.urlopen(upstream + self.path) as up:
                        return self.answer(up.status, up.read())
                service = params.get("query.serviceName")
                if not service and not any_service:
                    return self.answer(400, b'{"error": {"httpCode": 400}}')

                def us(name):
                    return int(datetime.datetime.fromisoformat(
                        params[name].replace("Z", "+00:00")).timestamp()
                        * 1e6)

                names = [service] if service else \
                    collector.store.services()
                found = {}
                for name in names:
                    for trace_id, spans in collector.store.find(SpanQuery(
                            name, start_us=us("query.startTimeMin"),
                            end_us=us("query.startTimeMax") - 1)):
                        found[trace_id] = summarize(spans, trace_id).api_v3()
                self.answer(200, json.dumps(
                    {"summaries": list(found.values())}).encode())

            def answer(self, status, body):
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, args=(0.05,),
                         daemon=True).start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.mark.parametrize("any_service", [False, True],
                         ids=["a service at a time", "every service at once"])
def test_trace_summaries_fetch_each_trace_once_for_the_same_impact(
        any_service):
    from chaostracing._collector import Collector
    from chaostracing._impact import source

    spans = run_of({"error_rate": 0.5}, fallback=True)
    collector = Collector(udp_port=None, otlp_port=None, query_port=0,
                          max_spans=len(spans) + 1)
    collector.store.add(spans)
    collector.start()
    proxy = SummariesProxy(collector, any_service)
    try:
        windows = win.make(TIMES, 10, 5)
        direct = f"http://127.0.0.1:{collector.query_port}"
        searched = source.from_query(direct, windows.start_us,
                                     windows.end_us, timeout=30)
        summarized = source.from_query(proxy.url, windows.start_us,
                                       windows.end_us, timeout=30)
    finally:
        proxy.stop()
        collector.stop()
    traces = {s.trace_id for s in spans
              if windows.start_us <= s.start_us <= windows.end_us}
    assert len(proxy.by_id) == len(set(proxy.by_id)) == len(traces)
    assert {(s.trace_id, s.span_id) for s in summarized.spans} == {
        (s.trace_id, s.span_id) for s in searched.spans}
    one = analysis.analyze(searched.spans, windows).as_json()
    other = analysis.analyze(summarized.spans, windows).as_json()
    assert one == other and one["blast_radius"] == ["payments"]


def test_without_scipy_the_run_says_so_once_and_goes_on(monkeypatch, caplog,
                                                        tmp_path):
    from chaostracing._run import extras

    real = extras.installed
    monkeypatch.setattr(extras, "installed",
                        lambda module: module != "scipy" and real(module))
    caplog.set_level(logging.INFO, "chaostoolkit")
    state = end_of_run("", TIMES, {
        "tracing_impact": True, "tracing_provider": "file",
        "tracing_file": str(tmp_path / "trace.json"),
        "tracing_query_url": "http://127.0.0.1:9"})
    said = [r.getMessage() for r in caplog.records
            if "needs scipy" in r.getMessage()]
    assert len(said) == 1
    assert "pip install 'chaostoolkit-opentracing[impact]'" in said[0]
    assert "impact" not in json.dumps(state.get("extensions", []))
