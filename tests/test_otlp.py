"""The otlp provider and trace-context propagation, end to end."""
import socket
import time

import pytest
from conftest import assert_one_trace, by_name, load_example
from test_e2e_control import EXPECTED


def otlp_example(demo_service, **configuration):
    experiment = load_example()
    experiment["configuration"] = dict(
        {"service_url": demo_service.url}, **configuration)
    return experiment


def test_a_run_exports_the_same_tree_over_otlp(chaos, otlp, demo_service):
    run = chaos(otlp_example(demo_service, tracing_provider="otlp",
                             tracing_port=otlp.port))
    assert run.status == "completed", run.log
    assert "internal error" not in run.log and "WARNING" not in run.log
    spans = otlp.wait_for(12)
    assert len(spans) == 12
    assert_one_trace(spans)
    names = by_name(spans)
    ids = {s.span_id: s.operation_name for s in spans}
    for name, parent in EXPECTED.items():
        assert ids.get(names[name].parent_id) == parent, name
    root = names["The demo service survives stress"]
    assert root.tags["chaostoolkit.status"] == "completed"
    assert root.service_name == "chaostoolkit"
    resource = dict(root.process.tags)
    assert resource["chaostoolkit.experiment.title"] == \
        "The demo service survives stress"
    assert resource["chaostracing.version"]
    assert resource["chaostoolkit.lib.version"]
    assert resource["chaostoolkit.version"]
    assert all(path == "/v1/traces" for path, _ in otlp.requests)
    # the README snippet's headers: W3C's and Jaeger's by default, ids of
    # the inner span
    inner = names["my-inner-span"]
    (headers,) = [r["headers"] for r in demo_service.received
                  if "traceparent" in r["headers"]]
    version, trace_id, span_id, flags = headers["traceparent"].split("-")
    assert (int(trace_id, 16), int(span_id, 16)) == (
        inner.trace_id, inner.span_id)
    assert flags == "01"
    assert headers["uber-trace-id"].split(":")[:2] == [trace_id, span_id]
    (entry,) = run.journal["extensions"]
    assert entry["trace_id"] == format(root.trace_id, "032x")


def test_the_standard_otel_environment_variables_are_honoured(
    chaos, otlp, demo_service
):
    run = chaos(otlp_example(demo_service, tracing_provider="opentelemetry"),
                env={"OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{otlp.port}",
                     "OTEL_EXPORTER_OTLP_HEADERS": "x-api-key=abc123",
                     "OTEL_SERVICE_NAME": "chaos-in-ci",
                     "JAEGER_AGENT_PORT": "6831"})
    assert run.status == "completed", run.log
    spans = otlp.wait_for(12)
    assert {s.service_name for s in spans} == {"chaos-in-ci"}
    assert all(h.get("x-api-key") == "abc123" for _, h in otlp.requests)


def test_an_unreachable_endpoint_warns_once_and_does_not_hang(
    chaos, demo_service
):
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    started = time.monotonic()
    run = chaos(otlp_example(demo_service, tracing_provider="otlp",
                             tracing_port=port, tracing_flush_timeout=1))
    elapsed = time.monotonic() - started
    assert run.status == "completed"
    assert run.log.count("cannot export spans to the OTLP endpoint") == 1
    assert "Traceback" not in run.log
    assert elapsed < 15


def test_the_jaeger_provider_writes_every_propagation_format_asked(
    chaos, agent, demo_service
):
    experiment = otlp_example(demo_service, tracing_provider="jaeger",
                              tracing_port=agent.port,
                              tracing_propagation=["jaeger", "b3", "w3c"])
    run = chaos(experiment)
    assert run.status == "completed", run.log
    inner = by_name(agent.wait_for(12))["my-inner-span"]
    (headers,) = [r["headers"] for r in demo_service.received
                  if "traceparent" in r["headers"]]
    assert headers["uber-trace-id"].startswith(
        f"{inner.trace_id:032x}:{inner.span_id:016x}:")
    assert headers["x-b3-traceid"] == f"{inner.trace_id:032x}"
    assert headers["x-b3-spanid"] == f"{inner.span_id:016x}"
    assert headers["x-b3-parentspanid"] == f"{inner.parent_id:016x}"
    assert headers["traceparent"] == \
        f"00-{inner.trace_id:032x}-{inner.span_id:016x}-01"


CI_TRACE = 0x4BF92F3577B34DA6A3CE929D0E0E4736
CI_SPAN = 0x00F067AA0BA902B7


@pytest.mark.parametrize("variable, value", [
    ("TRACEPARENT", f"00-{CI_TRACE:032x}-{CI_SPAN:016x}-01"),
    ("UBER_TRACE_ID", f"{CI_TRACE:x}:{CI_SPAN:x}:0:1"),
])
def test_a_run_joins_the_ci_trace_from_the_environment_with_jaeger(
    chaos, agent, demo_service, variable, value
):
    experiment = otlp_example(demo_service, tracing_provider="jaeger",
                              tracing_port=agent.port)
    run = chaos(experiment, env={variable: value})
    assert run.status == "completed"
    spans = agent.wait_for(12)
    assert {s.trace_id for s in spans} == {CI_TRACE}
    root = by_name(spans)["The demo service survives stress"]
    assert root.parent_id == CI_SPAN


def test_a_run_joins_the_ci_trace_from_the_environment_with_otlp(
    chaos, otlp, demo_service
):
    run = chaos(otlp_example(demo_service, tracing_provider="otlp",
                             tracing_port=otlp.port),
                env={"TRACEPARENT": f"00-{CI_TRACE:032x}-{CI_SPAN:016x}-01"})
    assert run.status == "completed"
    spans = otlp.wait_for(12)
    assert {s.trace_id for s in spans} == {CI_TRACE}
    stress = by_name(spans)["The demo service survives stress"]
    assert stress.parent_id == CI_SPAN


def test_a_malformed_traceparent_warns_once_and_starts_a_new_trace(
    chaos, agent, demo_service
):
    run = chaos(otlp_example(demo_service, tracing_provider="jaeger",
                             tracing_port=agent.port),
                env={"TRACEPARENT": "00-zzzz-01"})
    assert run.status == "completed"
    assert run.log.count("ignoring the trace context in the environment") == 1
    assert_one_trace(agent.wait_for(12))


def test_secrets_are_masked_in_otlp_exports_too(chaos, otlp):
    secret = "0tlp-S3cret-v4lue"
    experiment = {
        "title": "secret", "description": "d",
        "configuration": {"tracing_provider": "otlp",
                          "tracing_port": otlp.port},
        "secrets": {"demo": {"token": {"type": "env", "key": "DEMO_TOKEN"}}},
        "controls": [{"name": "chaostracing", "provider": {
            "type": "python", "module": "chaostracing.control"}}],
        "method": [{"type": "action", "name": "echo", "provider": {
            "type": "python", "module": "chaos_helpers", "func": "echo",
            "arguments": {"value": "token=${token}"}}}],
    }
    run = chaos(experiment, env={"DEMO_TOKEN": secret})
    assert run.status == "completed"
    spans = by_name(otlp.wait_for(4))
    assert spans["echo"].tags["chaostoolkit.output"] == "token=***"
    assert secret not in repr(otlp.spans)


def test_the_sdk_chain_is_the_same_over_otlp(chaos, otlp, demo_service):
    from conftest import EXAMPLES
    from test_e2e_sdk import chain

    run = chaos(EXAMPLES / "experiment-sdk.yaml", env={
        "TRACING_PROVIDER": "otlp", "JAEGER_AGENT_PORT": str(otlp.port),
        "DEMO_SERVICE_URL": demo_service.url})
    assert run.status == "completed", run.log
    spans = otlp.wait_for(21)
    assert len(spans) == 21
    assert_one_trace(spans)
    clients = [s for s in spans if s.operation_name == "HTTP GET"]
    assert len(clients) == 7
    assert chain(clients[-1], spans)[-3:] in (
        ["place-orders", "place_orders", "HTTP GET"],
        ["place-orders-in-background", "place_orders", "HTTP GET"],
        ["orders-are-served", "orders_are_served", "HTTP GET"])
    received = {}
    for request in demo_service.received:
        header = request["headers"].get("traceparent")
        if header:
            _, trace_id, span_id, _ = header.split("-")
            received[int(span_id, 16)] = int(trace_id, 16)
    for client in clients:
        assert received[client.span_id] == client.trace_id
        assert client.tags["http.status_code"] == 200
