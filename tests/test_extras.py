"""What a run can have with the packages installed, and the one sentence
per missing extra (chaostracing._run.extras), with the installation
simulated; tests/test_extras_missing.py runs the real thing."""
import pytest

from chaostracing._run import extras
from chaostracing._run.config import load_config

INSTRUMENT = "pip install 'chaostoolkit-opentracing[instrument]'"


@pytest.fixture
def without(monkeypatch):
    """Make modules whose name starts with any of ``prefixes`` missing."""
    def hide(*prefixes):
        real = extras.installed

        def installed(module):
            return not module.startswith(prefixes) and real(module)

        monkeypatch.setattr(extras, "installed", installed)

    return hide


def plan(configuration, environ=None, **kwargs):
    config = load_config(configuration, environ=environ or {}, **kwargs)
    return extras.plan(config, fallback_file=lambda: "/tmp/x/trace.json")


def test_with_everything_installed_the_settings_are_kept_and_nothing_said():
    configuration = {"tracing_provider": "otlp", "tracing_vendor": "aws",
                     "tracing_instrument": ["requests", "httpx"]}
    config, said = plan(configuration)
    assert said == []
    assert config == load_config(configuration, environ={})


def test_missing_instrumentations_are_one_sentence_and_left_out(without):
    without("opentelemetry.instrumentation")
    config, said = plan({"tracing_provider": "jaeger", "tracing_instrument":
                         ["requests", "urllib3", "httpx"]})
    assert config.instrument == ("requests",)
    assert said == [
        "tracing_instrument lists urllib3 and httpx, whose OpenTelemetry "
        f"instrumentations are not installed: {INSTRUMENT}; the run is "
        "traced without them"]


def test_one_missing_instrumentation_among_installed_ones(without):
    without("opentelemetry.instrumentation.aiohttp")
    config, said = plan({"tracing_provider": "file",
                         "tracing_instrument": ["httpx", "aiohttp"]})
    assert config.instrument == ("httpx",)
    assert said == [
        "tracing_instrument lists aiohttp, whose OpenTelemetry "
        f"instrumentation is not installed: {INSTRUMENT}; the run is traced "
        "without it"]


def test_an_otlp_run_without_the_exporter_is_written_to_a_file(without):
    without("opentelemetry.exporter")
    config, said = plan({"tracing_provider": "otlp", "tracing_vendor": "aws"},
                        environ={"CHAOSTRACING_FILE": "/tmp/mine.json"})
    assert (config.provider, config.file) == ("file", "/tmp/mine.json")
    assert said == [
        "tracing_provider 'otlp' needs the OTLP exporter: pip install "
        "'chaostoolkit-opentracing[opentelemetry]'; the trace is written to "
        "/tmp/mine.json instead"]


def test_the_provider_from_the_environment_is_named_as_it_was_written(
        without, monkeypatch):
    without("opentelemetry")
    # messages quote the variable as the process has it
    monkeypatch.setenv("CHAOSTRACING_PROVIDER", "opentelemetry")
    config = load_config({})
    _, said = extras.plan(config, fallback_file=lambda: "/tmp/x/trace.json")
    assert said[0].startswith(
        "CHAOSTRACING_PROVIDER=opentelemetry needs the OTLP exporter")
    assert said[0].endswith("written to /tmp/x/trace.json instead")


def test_grpc_names_its_own_extra(without):
    without("opentelemetry.exporter.otlp.proto.grpc")
    config, said = plan({"tracing_provider": "otlp",
                         "tracing_otlp_protocol": "grpc"})
    assert config.provider == "file"
    assert said[0].startswith(
        "tracing_otlp_protocol 'grpc' needs OTLP over gRPC: pip install "
        "'chaostoolkit-opentracing[grpc]'")


def test_aws_without_its_extra_keeps_the_trace_with_ordinary_ids(without):
    without("opentelemetry.sdk.extension.aws", "opentelemetry.propagators.aws")
    config, said = plan({"tracing_provider": "otlp", "tracing_vendor": "aws"})
    assert config.provider == "otlp" and config.vendor is None
    assert config.propagation == ("w3c", "jaeger")
    assert said == [
        "tracing_vendor 'aws' needs the aws extra for X-Ray's trace ids: "
        "pip install 'chaostoolkit-opentracing[aws]'; the trace has "
        "ordinary ids",
        "'xray' (the trace header tracing_vendor 'aws' adds) needs the aws "
        "extra: pip install 'chaostoolkit-opentracing[aws]'; requests carry "
        "W3C's and Jaeger's headers",
    ]


def test_propagators_of_the_instrumented_clients_name_the_instrument_extra(
        without):
    without("opentelemetry.propagators.jaeger")
    config, said = plan({"tracing_provider": "file",
                         "tracing_instrument": ["httpx"]})
    assert config.propagation == ("w3c", "jaeger")  # ours need no package
    assert said == [
        "'jaeger' (a default trace header of tracing_propagation) on "
        "tracing_instrument's clients needs OpenTelemetry's propagators: "
        f"{INSTRUMENT}; their requests carry W3C's headers"]


def test_validation_says_what_the_run_will_say(without):
    without("opentelemetry")
    configuration = {"tracing_instrument": ["urllib3"],
                     "tracing_provider": {"type": "env", "key": "X"}}
    said = extras.validate(configuration, {})
    assert said == [
        "tracing_instrument lists urllib3, whose OpenTelemetry "
        f"instrumentation is not installed: {INSTRUMENT}; the run is traced "
        "without it"]
    assert extras.validate({"tracing_port": "abc",
                            "tracing_provider": "jaeger"}, {}) == []


def test_an_exporter_that_fails_to_import_keeps_the_trace_in_a_file(
        monkeypatch, tmp_path, caplog):
    # installed (its files are there) but broken: the import fails when the
    # run starts
    from chaostracing import control
    from chaostracing._run import lifecycle
    from chaostracing._run.providers import ProviderUnavailable, otlp

    def broken(config, redactor):
        raise ProviderUnavailable(
            f"{extras.provider_needs(config)} (ImportError: broken)")

    monkeypatch.setattr(otlp, "build", broken)
    path = tmp_path / "t.json"
    control.configure_control(configuration={
        "tracing_provider": "otlp", "tracing_file": str(path)})
    run = lifecycle.current_run()
    assert run is not None and run.config.provider == "file"
    assert run.backend.description == f"trace file {path}"
    (said,) = [r.getMessage() for r in caplog.records
               if r.levelname == "WARNING"]
    assert said == (
        "chaostracing: tracing_provider 'otlp' needs the OTLP exporter: pip "
        "install 'chaostoolkit-opentracing[opentelemetry]' (ImportError: "
        f"broken); the trace is written to {path} instead")
    control.before_experiment_control(context={"title": "t"})
    control.after_experiment_control(context={"title": "t"}, state={})
    control.cleanup_control()
    assert path.exists()
