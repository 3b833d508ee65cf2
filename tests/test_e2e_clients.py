"""Every client an extension uses joins the run's trace (issue "Every
client"): real clients (urllib3, httpx sync and async, requests, session(),
aiohttp, botocore) against the demo service on loopback, inside real
``chaos run`` processes, decoded on the wire (Jaeger UDP datagrams, OTLP
protobuf). One client span per request, under the innermost current span,
and the headers each request carried hold that span's ids.
"""
import json
import sys

import pytest
from conftest import assert_one_trace

CONTROL = {"name": "chaostracing",
           "provider": {"type": "python", "module": "chaostracing.control"}}
#: activity name -> (function, arguments, requests it makes)
ACTIVITIES = {
    "urllib3": ("urllib3_get", {"count": 2}, 2),
    "httpx": ("httpx_get", {}, 1),
    "httpx-async": ("httpx_async", {"count": 4}, 4),
    "requests": ("requests_get", {}, 1),
    "session": ("session_get", {}, 1),
    "aiohttp": ("aiohttp_get", {"count": 3}, 3),
    "botocore": ("dynamodb_list_tables", {}, 1),
    "otel-api": ("otel_api_work", {}, 1),
    "decorated": ("traced_function_urllib3", {}, 1),
    "threads": ("urllib3_in_threads", {"count": 3}, 3),
}
EVERY_CLIENT = ["requests", "urllib3", "httpx", "botocore", "aiohttp"]


def activity(name, func, arguments):
    return {"type": "action", "name": name, "provider": {
        "type": "python", "module": "client_helpers", "func": func,
        "arguments": dict(arguments, url="${service_url}")}}


def experiment(configuration, demo_service, names=ACTIVITIES):
    return {
        "title": "clients", "description": "every client library",
        "configuration": dict(configuration, service_url=demo_service.url,
                              tracing_instrument=EVERY_CLIENT,
                              tracing_propagation=["w3c", "jaeger"]),
        "controls": [CONTROL],
        "method": [activity(n, *ACTIVITIES[n][:2]) for n in names],
    }


def is_client(span):
    # the jaeger provider keeps span.kind as a tag; OTLP makes it the kind
    return span.tags.get("span.kind") == "client" or \
        span.tags.get("otel.kind") == 3


def ancestors(span, by_id):
    names = []
    while span.parent_id in by_id:
        span = by_id[span.parent_id]
        names.append(span.operation_name)
    return names


def check_the_trace(spans, demo_service):
    assert_one_trace(spans)
    by_id = {s.span_id: s for s in spans}
    clients = [s for s in spans if is_client(s)]
    requests = [r for r in demo_service.received if r["path"] != "/_received"]
    # exactly one client span per request, whatever layers were on
    assert len(clients) == len(requests) == sum(n for _, _, n in
                                                 ACTIVITIES.values())
    for name, (_, _, count) in ACTIVITIES.items():
        under = [c for c in clients if name in ancestors(c, by_id)]
        assert len(under) == count, (name, [c.operation_name for c in under])
    # the innermost current span is the parent
    parent_names = {by_id[c.parent_id].operation_name for c in clients}
    assert "extension-work" in parent_names and "decorated-work" in parent_names
    work = next(s for s in spans if s.operation_name == "extension-work")
    assert by_id[work.parent_id].operation_name == "otel-api"
    assert work.tags["work.kind"] == "orders"
    # every request carried its own client span's ids, in both formats
    ids = {c.span_id: c for c in clients}
    for request in requests:
        headers = request["headers"]
        _, trace_id, span_id, _ = headers["traceparent"].split("-")
        client = ids[int(span_id, 16)]
        assert int(trace_id, 16) == client.trace_id
        jaeger_trace, jaeger_span = headers["uber-trace-id"].split(":")[:2]
        assert (jaeger_trace, int(jaeger_span, 16)) == (
            trace_id, client.span_id)
    (botocore,) = [c for c in clients if "botocore" in ancestors(c, by_id)]
    assert botocore.tags["rpc.method"] == "ListTables"
    # AWS services read X-Ray's header: it carries the same client span
    (aws,) = [r["headers"] for r in requests if r["method"] == "POST"]
    xray = dict(p.split("=") for p in aws["x-amzn-trace-id"].split(";"))
    assert int(xray["Parent"], 16) == botocore.span_id
    assert xray["Root"].replace("-", "")[1:] == f"{botocore.trace_id:032x}"


def test_every_client_is_traced_on_the_jaeger_provider(chaos, agent,
                                                        demo_service):
    run = chaos(experiment({"tracing_provider": "jaeger",
                            "tracing_port": agent.port}, demo_service))
    assert run.status == "completed", run.log[-3000:]
    assert all(r["status"] == "succeeded" for r in run.journal["run"]), \
        [r.get("exception") for r in run.journal["run"]]
    agent.wait_for(30)
    check_the_trace(agent.wait_quiet(0.3), demo_service)


def test_every_client_is_traced_on_the_otlp_provider(chaos, otlp, demo_service):
    run = chaos(experiment({"tracing_provider": "otlp",
                            "tracing_port": otlp.port}, demo_service))
    assert run.status == "completed", run.log[-3000:]
    check_the_trace(otlp.wait_for(36), demo_service)
    # the exporter's own requests to the receiver are not traced
    assert not any("/v1/traces" in str(s.tags.get("http.url", ""))
                   for s in otlp.spans)


def test_every_client_is_traced_on_the_file_provider(chaos, demo_service,
                                                     tmp_path):
    from chaostracing._data.jaegerjson import load_spans

    run = chaos(experiment({"tracing_provider": "file"}, demo_service))
    assert run.status == "completed", run.log[-3000:]
    check_the_trace(load_spans(str(tmp_path / "chaostracing-trace.json")),
                    demo_service)


@pytest.mark.slow  # a fresh interpreter
def test_the_control_imports_no_opentelemetry_in_process(agent):
    import subprocess

    code = (
        "import sys, chaoslib.run; "
        "from chaostracing import control; "
        f"control.configure_control(configuration={{'tracing_provider': "
        f"'jaeger', 'tracing_port': {agent.port}}}, secrets={{}}); "
        "control.before_experiment_control(context={'title': 't'}); "
        "control.after_experiment_control(context={'title': 't'}, state={}); "
        "control.cleanup_control(); "
        "print(sorted(m for m in sys.modules if m.startswith('opentelemetry')"
        " or m == 'wrapt'))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True,
                         text=True, check=True).stdout
    assert out.strip() == "[]"


def test_an_unknown_or_missing_instrumentation_warns_once_and_the_rest_work(
    chaos, agent, demo_service, tmp_path
):
    # httpx's instrumentation made unimportable, as when it is not installed
    stub = tmp_path / "stub" / "opentelemetry" / "instrumentation" / "httpx"
    stub.mkdir(parents=True)
    (stub / "__init__.py").write_text("raise ImportError('not installed')\n")
    exp = experiment({"tracing_provider": "jaeger", "tracing_port": agent.port},
                     demo_service, names=["urllib3", "httpx"])
    exp["configuration"]["tracing_instrument"] = ["urllib3", "httpx", "flask"]
    import os

    from conftest import EXAMPLES, ROOT, TESTS

    path = os.pathsep.join([str(stub.parent.parent.parent),
                            str(EXAMPLES / "extension"), str(ROOT), str(TESTS)])
    run = chaos(exp, env={"PYTHONPATH": path})
    assert run.status == "completed", run.log[-2000:]
    assert run.log.count("tracing_instrument lists 'flask'") == 1
    assert run.log.count("pip install 'chaostoolkit-opentracing[instrument]'"
                         " (or opentelemetry-instrumentation-httpx)") == 1
    # experiment, method, rollbacks, the 2 activities, urllib3's 2 requests
    agent.wait_for(7)
    spans = agent.wait_quiet(0.2)
    assert len(spans) == 7
    clients = [s for s in spans if is_client(s)]
    assert len(clients) == 2  # httpx untraced, the run went on


def test_a_process_activity_gets_the_trace_context(chaos, agent):
    code = ("import json, os; print(json.dumps({k: os.environ.get(k) for k in "
            "('TRACEPARENT', 'UBER_TRACE_ID')}))")
    exp = {
        "title": "processes", "description": "d",
        "configuration": {"tracing_provider": "jaeger",
                          "tracing_port": agent.port,
                          "tracing_propagation": ["w3c", "jaeger"]},
        "controls": [CONTROL],
        "method": [{"type": "action", "name": f"child-{i}",
                    "background": i < 2,
                    "provider": {"type": "process", "path": sys.executable,
                                 "arguments": ["-c", code]}}
                   for i in range(3)],
    }
    ci_trace = "0af7651916cd43dd8448eb211c80319c"
    run = chaos(exp, env={"TRACEPARENT": f"00-{ci_trace}-b7ad6b7169203331-01"})
    assert run.status == "completed", run.log[-2000:]
    spans = {s.operation_name: s for s in agent.wait_for(6)}
    for result in run.journal["run"]:
        seen = json.loads(result["output"]["stdout"])
        span = spans[result["activity"]["name"]]
        # the activity's own context, not the CI pipeline's it inherited
        assert seen["TRACEPARENT"] == \
            f"00-{span.trace_id:032x}-{span.span_id:016x}-01"
        assert seen["UBER_TRACE_ID"].startswith(
            f"{span.trace_id:032x}:{span.span_id:016x}:")
        assert span.trace_id == int(ci_trace, 16)


# -- in process: what the run installs, it undoes ------------------------------
@pytest.mark.slow  # a process activity
def test_a_process_with_its_own_tracer_provider_keeps_it(agent, demo_service):
    from chaoslib.experiment import run_experiment
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import (
        InMemorySpanExporter,
    )

    theirs = TracerProvider()
    exported = InMemorySpanExporter()
    theirs.add_span_processor(SimpleSpanProcessor(exported))
    saved = trace._TRACER_PROVIDER
    trace._TRACER_PROVIDER = theirs
    try:
        exp = experiment({"tracing_provider": "jaeger",
                          "tracing_port": agent.port}, demo_service,
                         names=["otel-api"])
        exp["configuration"]["tracing_instrument"] = ["urllib3"]
        journal = run_experiment(exp, settings={})
        assert journal["status"] == "completed"
        assert trace.get_tracer_provider() is theirs  # respected, and kept
    finally:
        trace._TRACER_PROVIDER = saved
    ours = {s.operation_name: s for s in agent.wait_for(6)}
    (work,) = [s for s in exported.get_finished_spans()
               if s.name == "extension-work"]
    # their provider recorded the extension's span, in the run's trace, under
    # the activity; urllib3's client span (ours) under their span
    activity = ours["otel-api"]
    assert work.context.trace_id == activity.trace_id
    assert work.parent.span_id == activity.span_id
    client = next(s for s in ours.values() if is_client(s))
    assert client.parent_id == work.context.span_id


def test_two_runs_in_one_process_leave_nothing_installed(agent, demo_service):
    import urllib3
    from chaoslib.experiment import run_experiment
    from opentelemetry import propagate, trace
    from opentelemetry.instrumentation.urllib3 import URLLib3Instrumentor

    from chaostracing._run import scope

    default_propagator = propagate.get_global_textmap()
    for _ in range(2):
        exp = experiment({"tracing_provider": "jaeger",
                          "tracing_port": agent.port}, demo_service,
                         names=["urllib3"])
        assert run_experiment(exp, settings={})["status"] == "completed"
        assert trace._TRACER_PROVIDER is None
        assert propagate.get_global_textmap() is default_propagator
        assert not URLLib3Instrumentor().is_instrumented_by_opentelemetry
        assert scope.SCOPE_MANAGER.mirror is None
    traces = {s.trace_id for s in agent.wait_for(2 * 6)}
    assert len(traces) == 2
    # urllib3 is itself again: no span, no header outside a run
    before = len(demo_service.received)
    urllib3.PoolManager().request("GET", demo_service.url + "/health")
    assert "traceparent" not in demo_service.received[before]["headers"]


@pytest.mark.parametrize("provider", ["jaeger", "otlp"])
def test_the_opentelemetry_api_alone_joins_the_run(chaos, agent, otlp,
                                                    demo_service, provider):
    # no tracing_instrument: the API is bridged when the extension imports it
    port = agent.port if provider == "jaeger" else otlp.port
    exp = experiment({"tracing_provider": provider, "tracing_port": port},
                     demo_service, names=["otel-api"])
    exp["configuration"].pop("tracing_instrument")
    run = chaos(exp)
    assert run.status == "completed", run.log[-2000:]
    receiver = agent if provider == "jaeger" else otlp
    spans = receiver.wait_for(5)
    by_id = {s.span_id: s for s in spans}
    work = next(s for s in spans if s.operation_name == "extension-work")
    assert by_id[work.parent_id].operation_name == "otel-api"
    assert_one_trace(spans)


def test_instrumentations_record_no_secret(chaos, agent, demo_service):
    secret = "S3cr3t-t0ken-4-clients"
    exp = {
        "title": "secret clients", "description": "d",
        "configuration": {"tracing_provider": "jaeger",
                          "tracing_port": agent.port,
                          "service_url": demo_service.url,
                          "tracing_instrument": ["urllib3", "httpx"]},
        "secrets": {"demo": {"token": {"type": "env", "key": "DEMO_TOKEN"}}},
        "controls": [CONTROL],
        "method": [
            {"type": "action", "name": name, "provider": {
                "type": "python", "module": "client_helpers", "func": func,
                "secrets": ["demo"],
                "arguments": {"url": "${service_url}", "token": "${token}"}}}
            for name, func in (("urllib3", "urllib3_with_secrets"),
                               ("httpx", "httpx_with_secrets"))],
    }
    run = chaos(exp, env={"DEMO_TOKEN": secret})
    assert run.status == "completed", run.log[-2000:]
    agent.wait_for(7)
    spans = agent.wait_quiet(0.2)
    urls = [s.tags.get("http.url") or s.tags.get("url.full")
            for s in spans if is_client(s)]
    assert len(urls) == 2
    assert secret.encode() not in b"".join(agent.raw)
    assert b"r3fresh-value" not in b"".join(agent.raw)
    (u3,) = [u for u in urls if "refresh_token" in u]
    assert "admin" not in u3 and "refresh_token=***" in u3
    (hx,) = [u for u in urls if "api_key" in u]
    assert "api_key=***" in hx


def test_a_failing_propagator_costs_headers_not_the_request():
    """Propagators run inside the extension's request: one failing on our
    spans is an internal error of ours (strict mode: reported), and without
    strict mode the request goes on, with the other formats' headers.
    OpenTelemetry's Jaeger propagator reads ``span.parent`` (1.33, what
    Python 3.8 gets): our spans have it."""
    from opentelemetry import trace
    from opentelemetry.propagators.textmap import TextMapPropagator

    from chaostracing._run import safety
    from chaostracing._run.otel import bridge, installation
    from chaostracing._run.tracer import Tracer

    class Broken(TextMapPropagator):
        def inject(self, carrier, context=None, setter=None):
            raise RuntimeError("propagator bug")

        def extract(self, carrier, context=None, getter=None):
            raise RuntimeError("propagator bug")

        fields = {"broken"}

    tracer = Tracer(service_name="t", reporter=None)
    parent = tracer.start_span("activity")
    child = tracer.start_span("request", child_of=parent)
    span = bridge.Span(child)
    assert span.parent.span_id == parent.context.span_id
    assert span.parent.trace_id == span.get_span_context().trace_id
    assert bridge.Span(parent).parent is None
    guarded = installation._Guarded(Broken())
    jaeger = installation._propagator_list(("jaeger",))[0]
    context = trace.set_span_in_context(span)
    with pytest.raises(RuntimeError, match="propagator bug"):  # strict mode
        guarded.inject({}, context=context)
    del safety.errors[:]
    with safety.strict(False):
        carrier = {}
        guarded.inject(carrier, context=context)
        jaeger.inject(carrier, context=context)
        assert guarded.extract(carrier) is not None
    trace_id, span_id, parent_id, _ = carrier["uber-trace-id"].split(":")
    assert int(parent_id, 16) == parent.context.span_id
    assert int(span_id, 16) == child.context.span_id
    assert guarded.fields == {"broken"}


def test_http_suppression_is_opentelemetrys_own_where_it_has_it():
    utils = pytest.importorskip("opentelemetry.instrumentation.utils")
    from chaostracing._run.otel import installation

    if not hasattr(utils, "suppress_http_instrumentation"):
        pytest.skip("opentelemetry-instrumentation < 0.44b0: the fallback")
    assert installation._http_api() == (
        utils.is_http_instrumentation_enabled,
        utils.suppress_http_instrumentation)
    assert not installation.is_http_suppressed()
    with installation.suppress_http():
        assert installation.is_http_suppressed()
        assert not utils.is_http_instrumentation_enabled()
    assert not installation.is_http_suppressed()


def test_http_suppression_before_0_44b0_sets_the_key_instrumentations_read(
    monkeypatch
):
    """opentelemetry-instrumentation 0.41b0 to 0.43b0 (setup.py allows them)
    have no suppress_http_instrumentation(): the fallback sets the API's key,
    which every release's instrumentations read."""
    utils = pytest.importorskip("opentelemetry.instrumentation.utils")
    from opentelemetry.instrumentation.utils import suppress_instrumentation

    from chaostracing._run.otel import installation

    monkeypatch.setitem(sys.modules, utils.__name__,
                        type(sys)(utils.__name__))  # neither helper in it
    monkeypatch.setattr(installation, "_HTTP_API", None)
    assert installation._http_api()[1] is not getattr(
        utils, "suppress_http_instrumentation", None)
    assert not installation.is_http_suppressed()
    with installation.suppress_http():
        assert installation.is_http_suppressed()
        assert not utils.is_http_instrumentation_enabled()
        assert utils.is_instrumentation_enabled()  # only HTTP's
    assert not installation.is_http_suppressed()
    with suppress_instrumentation():  # everything, HTTP included
        assert installation.is_http_suppressed()
