"""chaostracing.testing: what extension authors use to test their spans."""
import opentracing
import responses

from chaostracing.testing import record_spans


@responses.activate
def test_record_spans_runs_the_example_extension_as_an_activity():
    from chaostracing_demo.actions import call_service, place_orders

    responses.get("http://svc.local/orders", json={"orders": []})
    before = opentracing.tracer
    with record_spans(activity="place-orders") as spans:
        assert place_orders("http://svc.local", count=2) == 2
        assert call_service("http://svc.local") == 200
    assert opentracing.tracer is before
    (function,) = spans.named("place_orders")
    (inner,) = spans.named("my-inner-span")
    assert function.parent_id == spans.activity.context.span_id
    assert inner.parent_id == spans.activity.context.span_id
    clients = spans.children_of(function)
    assert [c.operation_name for c in clients] == ["HTTP GET", "HTTP GET"]
    sent = responses.calls[0].request.headers
    assert int(sent["ot-tracer-spanid"], 16) == clients[0].context.span_id


def test_the_fixture_records_under_an_activity(chaostracing_spans):
    tracer = opentracing.tracer
    span = tracer.start_span("inner", child_of=tracer.activity_span)
    span.finish()
    (inner,) = chaostracing_spans.named("inner")
    assert inner.parent_id == chaostracing_spans.activity.context.span_id
