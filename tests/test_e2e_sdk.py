"""End to end: the SDK inside real ``chaos run`` processes."""
from conftest import EXAMPLES, assert_one_trace, by_name, load_example


def env_for(agent, demo_service):
    return {"JAEGER_AGENT_PORT": str(agent.port),
            "DEMO_SERVICE_URL": demo_service.url}


def parent_of(span, spans):
    return next(s for s in spans if s.span_id == span.parent_id)


def chain(span, spans):
    names = [span.operation_name]
    while span.parent_id:
        span = parent_of(span, spans)
        names.append(span.operation_name)
    return names[::-1]


def test_the_yaml_example_chains_activity_function_and_http_client_spans(
    chaos, agent, demo_service
):
    run = chaos(EXAMPLES / "experiment-sdk.yaml",
                env=env_for(agent, demo_service))
    assert run.status == "completed", run.log
    assert "internal error" not in run.log
    spans = agent.wait_for(21)
    assert len(spans) == 21
    assert_one_trace(spans)
    clients = [s for s in spans if s.operation_name == "HTTP GET"]
    assert len(clients) == 7
    foreground = [s for s in clients
                  if chain(s, spans)[2] == "place-orders"]
    assert len(foreground) == 3
    assert chain(foreground[0], spans) == [
        "Orders keep flowing while the service is stressed", "Method",
        "place-orders", "place_orders", "HTTP GET"]
    function = parent_of(foreground[0], spans)
    assert function.tags["arg.count"] == 3
    assert function.tags["code.namespace"] == "chaostracing_demo.actions"
    # every client span's context reached the server in uber-trace-id
    received = {}
    for request in demo_service.received:
        header = request["headers"].get("uber-trace-id")
        if header:
            trace_id, span_id, parent_id, _ = header.split(":")
            received[int(span_id, 16)] = (int(trace_id, 16), int(parent_id, 16))
    for client in clients:
        assert received[client.span_id] == (client.trace_id, client.parent_id)
        assert client.tags["span.kind"] == "client"
        assert client.tags["http.status_code"] == 200
        assert client.tags["http.url"].startswith(demo_service.url)


def test_eight_background_actions_each_parent_their_own_spans(
    chaos, agent, demo_service
):
    experiment = load_example()
    experiment["method"] = [
        {"type": "action", "name": f"bg-{i}", "background": True,
         "provider": {"type": "python", "module": "chaostracing_demo.actions",
                      "func": "place_orders",
                      "arguments": {"url": "${service_url}", "count": 2}}}
        for i in range(8)
    ]
    run = chaos(experiment, env=env_for(agent, demo_service))
    assert run.status == "completed", run.log
    # experiment, 2 x (hypothesis + probe), method, 8 x (activity + function
    # + 2 requests), rollbacks + restore
    expected = 1 + 4 + 1 + 8 * 4 + 2
    spans = agent.wait_for(expected)
    assert len(spans) == expected
    assert_one_trace(spans)
    for i in range(8):
        activity = by_name(spans)[f"bg-{i}"]
        assert parent_of(activity, spans).operation_name == "Method"
        functions = [s for s in spans if s.parent_id == activity.span_id]
        assert [f.operation_name for f in functions] == ["place_orders"]
        clients = [s for s in spans if s.parent_id == functions[0].span_id]
        assert len(clients) == 2
        assert all(c.operation_name == "HTTP GET" for c in clients)


def test_instrumenting_requests_traces_chaoslib_http_activities(
    chaos, agent, demo_service
):
    experiment = {
        "title": "http provider", "description": "d",
        "configuration": {"tracing_provider": "jaeger",
                          "tracing_port": agent.port,
                          "tracing_instrument_requests": True},
        "controls": [{"name": "chaostracing", "provider": {
            "type": "python", "module": "chaostracing.control"}}],
        "method": [{"type": "probe", "name": "http-probe", "provider": {
            "type": "http", "url": demo_service.url + "/health?token=abc"}}],
    }
    run = chaos(experiment)
    assert run.status == "completed", run.log
    spans = agent.wait_for(5)
    probe = next(s for s in spans if s.operation_name == "http-probe")
    client = next(s for s in spans if s.operation_name == "HTTP GET")
    assert client.parent_id == probe.span_id
    assert client.tags["http.url"].endswith("/health?token=***")
    (received,) = [r for r in demo_service.received
                   if r["path"].startswith("/health")]
    trace_id, span_id, _, _ = received["headers"]["uber-trace-id"].split(":")
    assert (int(trace_id, 16), int(span_id, 16)) == (
        client.trace_id, client.span_id)
