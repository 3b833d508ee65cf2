"""chaostracing_contrib.requests: client spans, headers, errors, patching."""
import opentracing
import pytest
import requests
import responses
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from chaostracing import traced_activity, use_span
from chaostracing_contrib import requests as traced


@pytest.fixture(autouse=True)
def _uninstrumented():
    traced.uninstrument()
    yield
    traced.uninstrument()


def header_ids(headers):
    # MockTracer's propagator writes ot-tracer-traceid / ot-tracer-spanid
    return (int(headers["ot-tracer-traceid"], 16),
            int(headers["ot-tracer-spanid"], 16))


@responses.activate
def test_a_request_is_a_client_span_with_http_tags(mock_tracer):
    responses.get("http://api.local:8080/items?page=2", json=[1])
    parent = opentracing.tracer.start_span("activity")
    with use_span(parent):
        r = traced.session().get("http://api.local:8080/items?page=2")
    assert r.json() == [1]
    (span,) = mock_tracer.finished_spans()
    assert span.operation_name == "HTTP GET"
    assert span.parent_id == parent.context.span_id
    assert span.tags == {
        "span.kind": "client", "component": "requests", "http.method": "GET",
        "http.url": "http://api.local:8080/items?page=2",
        "http.status_code": 200, "peer.hostname": "api.local",
        "peer.port": 8080,
    }


@responses.activate
def test_headers_carry_the_client_span_and_the_callers_dict_is_untouched(
    mock_tracer
):
    responses.post("http://127.0.0.1/x", body="ok")
    mine = {"X-Mine": "1"}
    traced.session().post("http://127.0.0.1/x", headers=mine, data=b"d")
    assert mine == {"X-Mine": "1"}
    sent = responses.calls[0].request.headers
    (span,) = mock_tracer.finished_spans()
    assert header_ids(sent) == (span.context.trace_id, span.context.span_id)
    assert sent["X-Mine"] == "1"
    assert span.tags["peer.ipv4"] == "127.0.0.1"


@responses.activate
def test_a_server_error_is_an_error_span(mock_tracer):
    responses.get("http://api.local/boom", status=503)
    traced.session().get("http://api.local/boom")
    (span,) = mock_tracer.finished_spans()
    assert span.tags["http.status_code"] == 503
    assert span.tags["error"] is True


@responses.activate
def test_a_client_error_is_not_an_error_span(mock_tracer):
    responses.get("http://api.local/missing", status=404)
    traced.session().get("http://api.local/missing")
    (span,) = mock_tracer.finished_spans()
    assert "error" not in span.tags


@responses.activate
def test_an_exception_is_logged_on_the_span_and_reraised(mock_tracer):
    failure = requests.ConnectionError("refused")
    responses.get("http://api.local/down", body=failure)
    with pytest.raises(requests.ConnectionError) as raised:
        traced.session().get("http://api.local/down")
    assert raised.value is failure
    (span,) = mock_tracer.finished_spans()
    assert span.tags["error"] is True
    assert span.logs[0].key_values["error.kind"] == "ConnectionError"


def test_urls_lose_credentials_and_secret_query_values():
    assert traced.sanitize_url(
        "https://bob:pw@h/p?token=abc&page=2&X-Amz-Signature=s"
    ) == "https://h/p?token=***&page=2&X-Amz-Signature=***"
    assert traced.sanitize_url("http://h/p?q=1") == "http://h/p?q=1"


@responses.activate
def test_hooks_see_the_span_and_a_failing_hook_is_harmless(mock_tracer):
    responses.get("http://api.local/h", body="ok")
    calls = []

    def request_hook(span, request):
        calls.append(("request", request.url))
        span.set_tag("custom", "yes")

    def response_hook(span, request, response):
        calls.append(("response", response.status_code))
        raise RuntimeError("hook bug")

    http = traced.session(request_hook=request_hook,
                          response_hook=response_hook)
    assert http.get("http://api.local/h").text == "ok"
    assert calls == [("request", "http://api.local/h"), ("response", 200)]
    assert mock_tracer.finished_spans()[0].tags["custom"] == "yes"


@responses.activate
def test_instrument_traces_plain_requests_calls_and_is_reversible(mock_tracer):
    responses.get("http://api.local/a", body="ok")
    traced.instrument()
    traced.instrument()  # a repeat only warns
    requests.get("http://api.local/a")
    assert len(mock_tracer.finished_spans()) == 1
    traced.uninstrument()
    assert not traced.is_instrumented()
    requests.get("http://api.local/a")
    assert len(mock_tracer.finished_spans()) == 1


@responses.activate
def test_a_session_under_global_instrumentation_makes_one_span(mock_tracer):
    responses.get("http://api.local/a", body="ok")
    traced.instrument()
    traced.session().get("http://api.local/a")
    assert len(mock_tracer.finished_spans()) == 1


def test_session_attributes_are_applied_and_unknown_ones_refused():
    http = traced.session(verify=False, headers={"A": "1"})
    assert http.verify is False and http.headers == {"A": "1"}
    with pytest.raises(TypeError):
        traced.session(nonsense=1)


@responses.activate
def test_nothing_is_recorded_when_tracing_is_off(monkeypatch):
    responses.get("http://api.local/a", body="ok")
    opentracing._reset_global_tracer()
    from chaostracing._run.context import install_noop_proxy

    install_noop_proxy()
    # with tracing off the wrapper must call straight through: a span
    # started or a header injected anyway would fail here
    def refuse(*args, **kwargs):
        raise AssertionError("the wrapper traced a request with tracing off")

    monkeypatch.setattr(opentracing.tracer, "start_span", refuse)
    monkeypatch.setattr(opentracing.tracer, "inject", refuse)
    traced.session().get("http://api.local/a")
    sent = responses.calls[0].request.headers
    assert not any(
        k.lower() in ("uber-trace-id", "traceparent", "ot-tracer-traceid")
        for k in sent)


@responses.activate
def test_the_same_session_traces_once_tracing_is_on(mock_tracer):
    # the positive control of the test above: same call, a tracer installed
    responses.get("http://api.local/a", body="ok")
    traced.session().get("http://api.local/a")
    assert "ot-tracer-traceid" in responses.calls[0].request.headers
    assert len(mock_tracer.finished_spans()) == 1


# -- against a real HTTP server on loopback ------------------------------------
@pytest.mark.parametrize("opentelemetry", [False, True])
def test_redirect_hops_are_sibling_spans(mock_tracer, demo_service,
                                         opentelemetry):
    if opentelemetry:
        # its instrumentation loaded in the process: our request suppresses
        # its HTTP spans, not our own redirect hops
        pytest.importorskip("opentelemetry.instrumentation.utils")
    parent = opentracing.tracer.start_span("activity")
    with use_span(parent):
        r = traced.session().get(demo_service.url + "/redirect?to=/health")
    assert r.status_code == 200 and len(r.history) == 1
    hops = mock_tracer.finished_spans()
    assert [s.tags["http.status_code"] for s in hops] == [200, 302]
    assert {s.parent_id for s in hops} == {parent.context.span_id}
    received = [x for x in demo_service.received if x["path"] != "/_received"]
    assert [x["path"] for x in received] == ["/redirect?to=/health", "/health"]


def test_a_streamed_response_ends_its_span_when_headers_arrive(
    mock_tracer, demo_service
):
    r = traced.session().get(demo_service.url + "/orders", stream=True)
    (span,) = mock_tracer.finished_spans()
    assert span.tags["http.status_code"] == 200
    assert r.json() == {"orders": [1, 2, 3]}


def test_retries_of_a_mounted_adapter_are_counted(mock_tracer, demo_service):
    http = traced.session()
    retry = Retry(total=2, status_forcelist=[500], backoff_factor=0,
                  raise_on_status=False)
    http.mount("http://", HTTPAdapter(max_retries=retry))
    r = http.get(demo_service.url + "/status/500")
    assert r.status_code == 500
    (span,) = mock_tracer.finished_spans()
    assert span.tags["http.retry_count"] == 2
    assert span.tags["error"] is True
    hits = [x for x in demo_service.received if x["path"] == "/status/500"]
    assert len(hits) == 3


def test_a_timeout_is_an_error_span(mock_tracer, demo_service):
    with pytest.raises(requests.Timeout):
        traced.session().get(demo_service.url + "/slow?s=0.5", timeout=0.05)
    (span,) = mock_tracer.finished_spans()
    assert span.tags["error"] is True
    assert "Timeout" in span.logs[0].key_values["error.kind"]


def test_a_decorated_function_parents_its_requests(mock_tracer, demo_service):
    @traced_activity
    def probe():
        return traced.session().get(demo_service.url + "/health").ok

    assert probe()
    client, function = mock_tracer.finished_spans()
    assert client.parent_id == function.context.span_id
