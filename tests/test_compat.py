"""0.18.1's names and attributes, read and written by one module
(:mod:`chaostracing._run.compat`): fast checks of each translation.
Real ``chaos run`` s of 0.18.1 experiments are in test_e2e_compat.py."""
import importlib.util

import pytest
from opentracing.mocktracer import MockTracer

from chaostracing import oltp
from chaostracing._run import compat, config, lifecycle, safety
from chaostracing._run.config import load_config, unknown_keys, validate


def test_0_18_1_control_arguments_are_read_as_ours():
    loaded = load_config({}, {
        "provider": "jaeger", "host": "10.0.0.7", "port": 6832,
        "propagation": "b3", "id_name": "x-trace-id",
        "baggage_prefix": "x-bag-"}, environ={})
    assert (loaded.provider, loaded.host, loaded.port) == (
        "jaeger", "10.0.0.7", 6832)
    assert loaded.propagation == ("b3",)
    assert (loaded.trace_header, loaded.baggage_prefix) == (
        "x-trace-id", "x-bag-")
    assert loaded.sources["tracing_host"] == "control arguments:host"


def test_0_18_1_configuration_keys_and_exporters_are_read_as_ours():
    loaded = load_config({
        "tracing_provider": "opentelemetry",
        "tracing_opentelemetry_exporter": "oltp-grpc",
        "tracing_opentelemetry_collector_endpoint": "collector:4317",
        "tracing_opentelemetry_collector_endpoint_insecure": True,
        "tracing_opentelemetry_collector_headers": {"x-api-key": "k"},
        "otel_vendor": "aws"}, environ={})
    assert (loaded.provider, loaded.otlp_protocol) == ("otlp", "grpc")
    assert (loaded.otlp_endpoint, loaded.otlp_insecure) == (
        "collector:4317", True)
    assert loaded.otlp_headers == {"x-api-key": "k"}
    assert loaded.vendor == "aws"
    thrift = load_config({"tracing_opentelemetry_exporter": "jaeger-thrift"},
                         environ={})
    assert thrift.provider == "jaeger"


def test_a_provider_of_ours_named_explicitly_wins_over_the_exporter():
    translated = compat.translate({
        "tracing_provider": "file",
        "tracing_opentelemetry_exporter": "oltp-http"})
    assert translated == {"tracing_provider": "file",
                          "tracing_otlp_protocol": "http/protobuf"}


def test_0_18_1_baggage_prefix_for_opentelemetry_means_b3_headers():
    assert compat.translate({"tracing_opentelemetry_baggage_prefix": "x"}) \
        == {"tracing_propagation": ["b3"]}
    assert compat.translate({"tracing_opentelemetry_baggage_prefix": "x",
                             "tracing_propagation": ["w3c"]}) \
        == {"tracing_propagation": ["w3c"]}


def test_0_18_1_argument_names_are_not_configuration_keys():
    assert compat.translate({"host": "h"}) == {"host": "h"}
    assert compat.translate({"host": "h"}, arguments=True) == {
        "tracing_host": "h"}


def test_the_jaeger_grpc_exporter_is_one_problem_naming_what_to_set():
    with pytest.raises(config.ConfigError) as caught:
        load_config({"tracing_opentelemetry_exporter": "jaeger-grpc"},
                    environ={})
    (problem,) = caught.value.problems
    assert problem.startswith("tracing_opentelemetry_exporter is "
                              "'jaeger-grpc'")
    assert "tracing_otlp_protocol 'grpc'" in problem
    assert validate({}, {"exporter": "jaeger-grpc"}) == [problem]


def test_0_18_1_names_are_known_keys_not_misspellings():
    assert unknown_keys(
        {"tracing_opentelemetry_exporter": "oltp-http", "otel_vendor": "gcp"},
        {"provider": "jaeger", "collector_headers": {}}) == []
    assert unknown_keys({}, {"collector_header": {}}) != []


def test_otel_vendor_is_read_from_the_environment_for_otlp_only():
    loaded = load_config({"tracing_provider": "otlp"},
                         environ={"OTEL_VENDOR": "gcp"})
    assert loaded.vendor == "gcp"
    assert loaded.sources["tracing_vendor"] == "$OTEL_VENDOR"
    assert load_config({"tracing_provider": "jaeger"},
                       environ={"OTEL_VENDOR": "gcp"}).vendor is None


@pytest.mark.parametrize("vendor, where", [("gcp", "Google Cloud Trace"),
                                           ("azure", "Azure Monitor")])
def test_vendors_0_18_1_exported_to_are_one_note(vendor, where):
    note = compat.vendor_note(vendor)
    assert note.startswith(f"OTEL_VENDOR {vendor!r} (tracing_vendor)")
    assert f"to reach {where}" in note
    assert compat.vendor_note("aws") is None
    assert compat.vendor_note(None) is None


def test_oltp_flags_become_tracing_instrument_and_otlp():
    arguments = {"trace_request": True, "trace_requests": "true",
                 "trace_httpx": "False", "trace_urllib3": 1,
                 "tracing_port": 4318}
    assert compat.oltp_arguments(arguments) == {
        "tracing_provider": "otlp", "tracing_instrument": ["requests",
                                                           "urllib3"],
        "tracing_port": 4318}
    assert "trace_request" in arguments  # the caller's dict is untouched
    assert compat.oltp_arguments({"tracing_provider": "file"}) == {
        "tracing_provider": "file"}


def test_oltp_validation_ignores_its_own_flags_only(caplog):
    block = {"name": "opentelemetry", "provider": {
        "type": "python", "module": "chaostracing.oltp",
        "arguments": {"trace_httpx": True, "tracing_prot": 1}}}
    stripped = compat.without_oltp_flags(block)
    assert stripped["provider"]["arguments"] == {"tracing_prot": 1}
    assert block["provider"]["arguments"]["trace_httpx"] is True
    lifecycle.cleanup()  # forgets what was reported (once a run)
    safety.reset_warnings()
    with caplog.at_level("WARNING", logger="chaostoolkit"):
        oltp.validate_control(block)
    lifecycle.cleanup()
    (warning,) = [r.getMessage() for r in caplog.records]
    assert "unknown control argument 'tracing_prot'" in warning
    assert "trace_httpx" not in warning


def test_0_18_1_attributes_are_written_next_to_ours(monkeypatch):
    monkeypatch.setenv("BAGGAGE", "team=sre;ttl=5,run%20kind=nightly,bad")
    attributes = compat.ATTRIBUTES_0_18_1
    begun = attributes.begin("experiment", {"title": "t"}, {})
    assert begun["chaostoolkit.platform.full"]
    assert (begun["team"], begun["run kind"]) == ("sre", "nightly")
    assert "bad" not in begun
    assert attributes.begin("hypothesis", {}, {
        "chaostoolkit.hypothesis.phase": "during"}) == {
        "chaostoolkit.hypothesis.phase": "continuous"}
    assert attributes.begin("hypothesis", {}, {
        "chaostoolkit.hypothesis.phase": "before"}) == {}
    assert attributes.begin("activity", {"background": True}, {}) == {
        "chaostoolkit.activity.background": True}

    tracer = MockTracer()
    span = tracer.start_span("call")
    http = {"provider": {"type": "http", "url": "http://svc"}}
    attributes.end(span, "activity", http, {
        "status": "failed", "exception": ["Boom: no"],
        "output": {"status": 503, "headers": {"Set-Cookie": "s"}}})
    assert span.tags["chaostoolkit.activity.status"] == "failed"
    assert span.tags["chaostoolkit.activity.error"] == ["Boom: no"]
    assert "Set-Cookie" not in span.tags["chaostoolkit.activity.output"]
    attributes.end(span, "activity", {}, {"output": "text"})
    assert span.tags["chaostoolkit.activity.output"] == '"text"'
    attributes.end(span, "hypothesis", {}, {"steady_state_met": False})
    assert span.tags["chaostoolkit.hypothesis.met"] is False
    attributes.end(span, "experiment", {}, {"status": "completed",
                                            "deviated": True})
    assert (span.tags["chaostoolkit.experiment.status"],
            span.tags["chaostoolkit.experiment.deviated"]) == (
        "completed", True)
    attributes.event(span, "interrupted")
    attributes.event(span, "signal_exit")
    attributes.event(span, "start_method")
    assert span.tags["chaostoolkit.experiment.interrupted"] is True
    assert span.tags["chaostoolkit.experiment.exit_signal"] is True


def test_0_18_1_metrics_module_is_gone_on_purpose():
    """0.18.1's ``chaostracing.metrics`` raised NotImplementedError from
    every function, so a ``chaos run`` declaring it ended in a traceback
    without a journal (chaoslib calls ``cleanup_control`` unguarded): no
    experiment can have relied on it. Without it chaoslib warns that the
    module cannot be found and the run goes on (CHANGELOG)."""
    assert importlib.util.find_spec("chaostracing.metrics") is None
