"""Experiments written for chaostoolkit-opentracing 0.18.1 run unchanged
(issue "Every client", point 7): its ``chaostracing.oltp`` control as its
README declares it, its ``chaostracing.control`` settings, OTLP over gRPC,
and ``OTEL_VENDOR``. Real chaos runs, loopback receivers, protobuf decoded.
"""
import json

import pytest
from conftest import assert_one_trace, by_name, load_example
from otlp_receiver import GrpcOtlpReceiver


def oltp_experiment(demo_service, arguments):
    """0.18.1's README: the oltp control, its arguments, nothing else."""
    experiment = load_example()
    experiment["configuration"] = {"service_url": demo_service.url}
    experiment["controls"] = [{
        "name": "opentelemetry",
        "provider": {"type": "python", "module": "chaostracing.oltp",
                     "arguments": arguments}}]
    return experiment


@pytest.mark.parametrize("flag", ["trace_request", "trace_requests"])
def test_an_experiment_written_for_0_18_1_oltp_runs_unchanged(
    chaos, otlp, demo_service, flag
):
    run = chaos(
        oltp_experiment(demo_service, {flag: True, "trace_httpx": True,
                                       "trace_botocore": True,
                                       "trace_urllib3": True}),
        env={"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT":
                 f"http://127.0.0.1:{otlp.port}/v1/traces",
             "OTEL_SERVICE_NAME": "chaos-0181",
             "BAGGAGE": "team=sre,run%20kind=nightly"})
    assert run.status == "completed", run.log[-3000:]
    assert "WARNING" not in "\n".join(
        line for line in run.log.splitlines() if "chaostracing" in line)
    spans = otlp.wait_for(12)
    assert_one_trace(spans)
    assert {s.service_name for s in spans} == {"chaos-0181"}
    names = by_name(spans)
    root = names["The demo service survives stress"]
    # 0.18.1's attributes, next to ours
    assert root.tags["chaostoolkit.experiment.title"] == \
        "The demo service survives stress"
    assert root.tags["chaostoolkit.experiment.status"] == "completed"
    assert root.tags["chaostoolkit.experiment.deviated"] is False
    assert root.tags["chaostoolkit.platform.full"]
    assert (root.tags["team"], root.tags["run kind"]) == ("sre", "nightly")
    assert root.tags["chaostoolkit.status"] == "completed"  # ours
    hypotheses = [s for s in spans
                  if s.operation_name == "The service is healthy"]
    assert {h.tags["chaostoolkit.hypothesis.met"] for h in hypotheses} == {True}
    assert {h.tags["chaostoolkit.hypothesis.phase"] for h in hypotheses} == {
        "before", "after"}
    call = names["call-the-service"]
    assert call.tags["chaostoolkit.activity.name"] == "call-the-service"
    assert call.tags["chaostoolkit.activity.status"] == "succeeded"
    assert call.tags["chaostoolkit.activity.background"] is True
    count = names["count-orders"]
    assert count.tags["chaostoolkit.activity.background"] is False
    # the demo's fault comes first: the service answers 503
    assert json.loads(call.tags["chaostoolkit.activity.output"]) == 503
    # trace_request: the example's plain requests calls are client spans
    clients = [s for s in spans if s.tags.get("otel.kind") == 3]
    assert any("/health" in s.tags.get("http.url", "") for s in clients)


def test_0_18_1_control_settings_keep_their_meaning(chaos, agent, otlp,
                                                    demo_service):
    # control arguments provider/host/port/propagation/id_name/baggage_prefix
    experiment = load_example()
    experiment["configuration"] = {"service_url": demo_service.url}
    experiment["controls"][0]["provider"]["arguments"] = {
        "provider": "jaeger", "host": "127.0.0.1", "port": agent.port,
        "propagation": "b3", "id_name": "x-trace-id"}
    run = chaos(experiment)
    assert run.status == "completed", run.log[-2000:]
    inner = by_name(agent.wait_for(12))["my-inner-span"]
    (headers,) = [r["headers"] for r in demo_service.received
                  if "x-b3-traceid" in r["headers"]]
    assert headers["x-b3-spanid"] == f"{inner.span_id:016x}"
    # configuration: tracing_provider opentelemetry + oltp-http exporter
    experiment = load_example()
    experiment["configuration"] = {
        "service_url": demo_service.url,
        "tracing_provider": "opentelemetry",
        "tracing_opentelemetry_exporter": "oltp-http",
        "tracing_opentelemetry_collector_endpoint":
            f"http://127.0.0.1:{otlp.port}/v1/traces",
        "tracing_opentelemetry_collector_headers": {"x-api-key": "k3y-123456"},
        "tracing_id_name": "x-trace-id"}
    run = chaos(experiment)
    assert run.status == "completed", run.log[-2000:]
    assert len(otlp.wait_for(12)) == 12
    assert all(h.get("x-api-key") == "k3y-123456" for _, h in otlp.requests)
    assert "k3y-123456" not in run.log


def test_0_18_1_jaeger_thrift_exporter_is_the_jaeger_provider(chaos, agent,
                                                               demo_service):
    experiment = load_example()
    experiment["configuration"] = {
        "service_url": demo_service.url, "tracing_provider": "opentelemetry",
        "tracing_opentelemetry_exporter": "jaeger-thrift",
        "tracing_host": "127.0.0.1", "tracing_port": agent.port}
    run = chaos(experiment)
    assert run.status == "completed"
    assert_one_trace(agent.wait_for(12))


def test_0_18_1_jaeger_grpc_exporter_is_answered_by_one_warning(
    chaos, demo_service
):
    experiment = load_example()
    experiment["configuration"] = {
        "service_url": demo_service.url,
        "tracing_provider": "opentelemetry",
        "tracing_opentelemetry_exporter": "jaeger-grpc"}
    run = chaos(experiment)
    assert run.status == "completed"
    warnings = [line for line in run.log.splitlines()
                if "chaostracing" in line and "WARNING" in line]
    # one line: the problem, what to set instead, and what it costs
    (warning,) = warnings
    assert "tracing_provider 'otlp' with tracing_otlp_protocol 'grpc'" in \
        warning
    assert warning.endswith("; tracing is off until it is fixed")


def test_otlp_over_grpc(chaos, demo_service):
    with GrpcOtlpReceiver() as grpc_receiver:
        experiment = load_example()
        experiment["configuration"] = {
            "service_url": demo_service.url, "tracing_provider": "otlp",
            "tracing_otlp_protocol": "grpc", "tracing_otlp_insecure": True,
            "tracing_otlp_endpoint": f"http://127.0.0.1:{grpc_receiver.port}",
            "tracing_otlp_headers": "x-tenant=chaos"}
        run = chaos(experiment)
        assert run.status == "completed", run.log[-2000:]
        spans = grpc_receiver.wait_for(12)
        assert len(spans) == 12
        assert_one_trace(spans)
        assert all(h.get("x-tenant") == "chaos"
                   for _, h in grpc_receiver.http.requests)
        (entry,) = run.journal["extensions"]
        assert entry["delivered"] is True
        assert entry["destination"] == \
            f"OTLP/gRPC endpoint http://127.0.0.1:{grpc_receiver.port}"


def test_otel_vendor_aws_gives_x_ray_ids_and_headers(chaos, otlp, demo_service):
    import time

    experiment = load_example()
    experiment["configuration"] = {
        "service_url": demo_service.url, "tracing_provider": "otlp",
        "tracing_port": otlp.port}
    started = int(time.time())
    run = chaos(experiment, env={"OTEL_VENDOR": "aws"})
    assert run.status == "completed", run.log[-2000:]
    spans = otlp.wait_for(12)
    trace_id = spans[0].trace_id
    # X-Ray trace ids begin with the epoch seconds of the trace's start
    assert abs((trace_id >> 96) - started) < 60
    inner = by_name(spans)["my-inner-span"]
    (headers,) = [r["headers"] for r in demo_service.received
                  if "x-amzn-trace-id" in r["headers"]]
    xray = dict(p.split("=") for p in headers["x-amzn-trace-id"].split(";"))
    assert int(xray["Parent"], 16) == inner.span_id
    assert headers["traceparent"].split("-")[2] == f"{inner.span_id:016x}"


@pytest.mark.parametrize("vendor", ["gcp", "azure"])
def test_otel_vendor_gcp_or_azure_warns_once_and_traces_over_otlp(
    chaos, otlp, demo_service, vendor
):
    experiment = load_example()
    experiment["configuration"] = {"service_url": demo_service.url,
                                   "tracing_provider": "otlp",
                                   "tracing_port": otlp.port}
    run = chaos(experiment, env={"OTEL_VENDOR": vendor})
    assert run.status == "completed"
    assert run.log.count("docs: Migrating from 0.18.1, Vendors") == 1
    assert len(otlp.wait_for(12)) == 12
