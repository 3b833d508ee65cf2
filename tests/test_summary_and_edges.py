"""The trace summary every viewer reads, and the edges between services."""
import pytest

from chaostracing._data.edges import Edge, call_pairs, edges
from chaostracing._data.model import Process, SpanData
from chaostracing._data.summary import ServiceSummary, summarize

FRONT, ORDERS, PAY = Process("front"), Process("orders"), Process("pay")


def span(span_id, parent=0, service=FRONT, start=0, duration=10, trace=1,
         name=None, tags=None):
    return SpanData(trace, span_id, parent_id=parent,
                    operation_name=name or f"op{span_id}", start_us=start,
                    duration_us=duration, process=service, tags=tags)


###############################################################################
# The summary
###############################################################################
def test_a_trace_is_summarised_from_its_root_services_times_and_counts():
    spans = [
        span(3, parent=1, service=ORDERS, start=120, duration=30,
             tags={"error": True}),
        span(1, service=FRONT, start=100, duration=100, name="GET /"),
        span(4, parent=3, service=PAY, start=130, duration=200,
             tags={"http.status_code": 502}),
        span(5, parent=1, service=ORDERS, start=110, duration=5),
    ]
    summary = summarize(spans)
    assert summary.trace_id == 1
    assert summary.root.span_id == 1
    assert (summary.root_service, summary.root_operation) == ("front",
                                                              "GET /")
    assert (summary.start_us, summary.end_us, summary.duration_us) == (
        100, 330, 230)
    assert (summary.span_count, summary.error_count,
            summary.orphan_count) == (4, 2, 0)
    assert summary.services == (ServiceSummary("front", 1, 0),
                                ServiceSummary("orders", 2, 1),
                                ServiceSummary("pay", 1, 1))
    assert summary.service_names == ["front", "orders", "pay"]


def test_the_root_is_the_earliest_span_whose_parent_is_not_in_the_trace():
    spans = [
        span(2, parent=99, start=50, name="orphan, earlier"),
        span(1, start=60, name="true root"),
        span(3, parent=1, start=10, name="a child started earliest"),
    ]
    summary = summarize(spans)
    assert summary.root.operation_name == "orphan, earlier"
    assert summary.orphan_count == 1


def test_ties_between_roots_go_to_the_lower_span_id():
    assert summarize([span(9, start=5), span(4, start=5)]).root.span_id == 4


def test_a_span_naming_itself_as_parent_is_a_root_not_an_orphan():
    summary = summarize([span(1, parent=1, start=5), span(2, parent=1)])
    assert summary.root.span_id == 1
    assert summary.orphan_count == 0


def test_a_trace_whose_parents_form_a_cycle_is_rooted_at_its_earliest_span():
    summary = summarize([span(1, parent=2, start=7), span(2, parent=1,
                                                          start=3)])
    assert summary.root.span_id == 2
    assert summary.orphan_count == 0


def test_the_summary_is_jaegers_api_v3_trace_summary():
    """The fields of jaeger-idl's api_v3 TraceSummary, as Jaeger UI reads
    them from /api/v3/trace-summaries (the next issue serves it)."""
    spans = [span(1, start=1_000, duration=500, trace=0xABC),
             span(2, parent=1, service=ORDERS, start=1_100, duration=900,
                  trace=0xABC, tags={"error": True}),
             span(3, parent=77, service=ORDERS, start=1_200, trace=0xABC)]
    assert summarize(spans).api_v3() == {
        "traceId": "00000000000000000000000000000abc",
        "rootServiceName": "front",
        "rootOperationName": "op1",
        "minStartTimeUnixNano": "1000000",
        "maxEndTimeUnixNano": "2000000",
        "spanCount": 3,
        "errorSpanCount": 1,
        "orphanSpanCount": 1,
        "services": [
            {"name": "front", "spanCount": 1, "errorSpanCount": 0},
            {"name": "orders", "spanCount": 2, "errorSpanCount": 1},
        ],
    }


def test_an_empty_trace_has_no_summary():
    with pytest.raises(ValueError):
        summarize([])


def test_the_trace_id_given_wins_and_iterables_are_read_once():
    summary = summarize(iter([span(1), span(2, parent=1)]), trace_id=42)
    assert (summary.trace_id, summary.span_count) == (42, 2)


###############################################################################
# The edges
###############################################################################
def test_an_edge_is_a_child_span_of_another_service():
    spans = [
        span(1, service=FRONT),
        span(2, parent=1, service=FRONT),       # inside front: no edge
        span(3, parent=2, service=ORDERS),      # front -> orders
        span(4, parent=3, service=PAY),         # orders -> pay
        span(5, parent=3, service=PAY),         # orders -> pay, again
        span(6, parent=5, service=PAY),         # inside pay
    ]
    assert edges(spans) == [Edge("front", "orders", 1),
                            Edge("orders", "pay", 2)]


def test_edges_are_counted_over_many_traces_in_any_order():
    spans = []
    for trace in (1, 2, 3):
        spans += [span(2, parent=1, service=ORDERS, trace=trace),
                  span(1, service=FRONT, trace=trace)]
    spans.append(span(2, parent=1, service=PAY, trace=4))  # parent missing
    assert edges(reversed(spans)) == [Edge("front", "orders", 3)]


def test_a_parent_in_another_trace_is_no_call():
    spans = [span(1, service=FRONT, trace=1),
             span(2, parent=1, service=ORDERS, trace=2)]
    assert edges(spans) == []


def test_follows_from_references_and_links_are_no_calls():
    linked = SpanData(1, 2, references=[(1, 1, 1)], process=ORDERS)
    assert edges([span(1, service=FRONT), linked]) == []


def test_a_span_given_twice_is_one_call():
    child = span(2, parent=1, service=ORDERS)
    assert edges([span(1), child, child.replace()]) == [
        Edge("front", "orders", 1)]


def test_call_pairs_give_both_sides_of_each_call():
    caller = span(1, service=FRONT, duration=90)
    callee = span(2, parent=1, service=ORDERS, duration=40,
                  tags={"http.status_code": 503})
    inner = span(3, parent=2, service=ORDERS)
    ((a, b),) = call_pairs([inner, callee, caller])
    assert (a, b) == (caller, callee)
    assert b.failed and b.duration_us == 40
