"""The api_v3 answers checked against Jaeger's own definitions: the proto
files of jaegertracing/jaeger-idl, compiled here at test time.

The .proto files cannot be downloaded where the tests run (only the package
registries are reachable) and upstream files are not committed, so this
runs where ``JAEGER_IDL`` names a local jaeger-idl checkout (the folder
holding ``proto/api_v3/query_service.proto``), and skips, saying so,
elsewhere. tests/test_apiv3.py checks the same answers against our own
schema of those messages (tests/apiv3_schema.json); here that schema is
compared with the proto too.

The compilation, with grpcio-tools' protoc (in process):

- OTLP's messages (``opentelemetry/proto/trace/v1/trace.proto``, a git
  submodule of jaeger-idl) come from opentelemetry-proto, which ships no
  .proto files: their descriptors are handed to protoc as a
  FileDescriptorSet built from its ``_pb2`` modules;
- ``google/api/*.proto`` from googleapis-common-protos (its wheel has them),
  ``google/protobuf/*.proto`` from grpcio-tools;
- gnostic's ``openapiv3/annotations.proto`` (options on a few fields) is on
  no registry: a stand-in declaring the same option names is written, since
  protoc needs only the names to compile the options.

Each answer must parse with protobuf's JSON parser refusing unknown fields
(``json_format.Parse(..., ignore_unknown_fields=False)``), and pass what
that parser does not check (tests/apiv3_check.py): keys are the fields'
JSON names, fields marked REQUIRED are present, ids are hex of their length.
"""
import importlib
import json
import os
import sys
from pathlib import Path

import pytest
from apiv3_check import (
    SCHEMA,
    check_descriptor,
    ids_to_base64,
    is_repeated,
    type_name,
)

IDL = os.environ.get("JAEGER_IDL", "")
QUERY_SERVICE = Path(IDL, "proto", "api_v3", "query_service.proto")

pytestmark = [
    pytest.mark.skipif(not IDL, reason=(
        "JAEGER_IDL is not set: it names a local checkout of "
        "jaegertracing/jaeger-idl, whose proto/api_v3/query_service.proto "
        "these tests compile (it cannot be downloaded here); "
        "tests/test_apiv3.py checks the answers against our own schema")),
    pytest.mark.skipif(bool(IDL) and not QUERY_SERVICE.is_file(), reason=(
        f"JAEGER_IDL={IDL} holds no proto/api_v3/query_service.proto")),
    pytest.mark.slow,  # protoc and the imports: about a second
]

GNOSTIC_STAND_IN = """\
syntax = "proto3";
// A stand-in for gnostic's openapiv3/annotations.proto: the option names
// jaeger-idl's protos use, so that protoc compiles them.
package openapi.v3;
import "google/protobuf/descriptor.proto";
message Any { string yaml = 1; }
message SchemaOrReference { Schema schema = 1; }
message Schema {
  string type = 1; Any example = 2; repeated Any enum = 3;
  repeated string required = 4; repeated SchemaOrReference one_of = 5;
  int64 min_items = 6;
}
extend google.protobuf.FieldOptions { Schema property = 1042; }
extend google.protobuf.MessageOptions { Schema schema = 1042; }
"""


@pytest.fixture(scope="module")
def api_v3(tmp_path_factory):
    """The module protoc generates from query_service.proto."""
    grpc_tools = pytest.importorskip(
        "grpc_tools", reason="grpcio-tools (the dev extra) compiles the "
        "protos")
    from google.api import annotations_pb2
    from google.protobuf import descriptor_pb2
    from grpc_tools import protoc
    from opentelemetry.proto.trace.v1 import trace_pb2

    work = tmp_path_factory.mktemp("jaeger-idl")
    otlp = descriptor_pb2.FileDescriptorSet()
    seen = set()

    def add(file):
        if file.name not in seen:
            seen.add(file.name)
            for dependency in file.dependencies:
                add(dependency)
            file.CopyToProto(otlp.file.add())

    add(trace_pb2.DESCRIPTOR)
    (work / "otlp.pb").write_bytes(otlp.SerializeToString())
    stand_in = work / "include" / "gnostic" / "openapiv3"
    stand_in.mkdir(parents=True)
    (stand_in / "annotations.proto").write_text(GNOSTIC_STAND_IN)
    out = work / "out"
    out.mkdir()
    google_api = Path(annotations_pb2.__file__).parents[2]
    well_known = Path(grpc_tools.__file__).parent / "_proto"
    status = protoc.main([
        "protoc", f"--descriptor_set_in={work / 'otlp.pb'}",
        f"-I{Path(IDL) / 'proto'}", f"-I{work / 'include'}",
        f"-I{well_known}", f"-I{google_api}", f"--python_out={out}",
        "api_v3/query_service.proto", "expression/v1/expression.proto",
        "gnostic/openapiv3/annotations.proto"])
    assert status == 0, "protoc failed on the jaeger-idl protos"
    sys.path.insert(0, str(out))
    try:
        yield importlib.import_module("api_v3.query_service_pb2")
    finally:
        sys.path.remove(str(out))


def required(field):
    """Marked ``(google.api.field_behavior) = REQUIRED``."""
    from google.api import field_behavior_pb2

    options = field.GetOptions()
    return field_behavior_pb2.REQUIRED in options.Extensions[
        field_behavior_pb2.field_behavior]


def check(api_v3, message, document):
    """Parsed by protobuf refusing unknown fields, and what it does not
    check (JSON names, REQUIRED, id formats)."""
    from google.protobuf import json_format

    descriptor = getattr(api_v3, message).DESCRIPTOR
    json_format.Parse(json.dumps(ids_to_base64(document)),
                      getattr(api_v3, message)(), ignore_unknown_fields=False)
    problems = check_descriptor(document, descriptor, required=required)
    problems += _formats(document, descriptor)
    assert not problems, problems


def _formats(document, descriptor, path="$"):
    """The formats of tests/apiv3_schema.json (hex trace ids, decimal
    times), wherever the document holds those fields."""
    import re

    problems = []
    for field in descriptor.fields:
        if field.json_name not in document:
            continue
        values = document[field.json_name]
        values = values if is_repeated(field) else [values]
        pattern = SCHEMA["formats"].get(
            f"{descriptor.full_name}.{field.json_name}")
        for value in values:
            if pattern and isinstance(value, str) and \
                    not re.match(pattern, value):
                problems.append(f"{path}.{field.json_name}: {value!r} does "
                                f"not match {pattern}")
            if field.message_type is not None and isinstance(value, dict):
                problems += _formats(value, field.message_type,
                                     f"{path}.{field.json_name}")
    return problems


def test_our_schema_is_the_protos(api_v3):
    from google.protobuf import descriptor_pool

    pool = descriptor_pool.Default()
    for message, fields in SCHEMA["messages"].items():
        descriptor = pool.FindMessageTypeByName(message)
        found = {f.json_name: {"type": type_name(f), "repeated":
                               is_repeated(f), "required": required(f)}
                 for f in descriptor.fields}
        assert found == fields, message


@pytest.fixture
def shop():
    from test_apiv3 import collected, shop_traces

    with collected(*shop_traces()) as collector:
        yield collector


def test_every_answer_is_a_message_of_the_proto(api_v3, shop):
    from test_apiv3 import get_json, window

    base = shop.base
    check(api_v3, "GetServicesResponse", get_json(base, "/api/v3/services"))
    check(api_v3, "GetOperationsResponse",
          get_json(base, "/api/v3/operations", {"service": "shop"}))
    answer = get_json(base, "/api/v3/trace-summaries",
                      window(**{"query.serviceName": "shop"}))
    assert len(answer["summaries"]) == 2
    check(api_v3, "FindTraceSummariesResponse", answer)
    check(api_v3, "FindTraceSummariesResponse", get_json(
        base, "/api/v3/trace-summaries",
        window(**{"query.serviceName": "nobody"})))
    check(api_v3, "GRPCGatewayWrapper", get_json(
        base, "/api/v3/traces", window(**{"query.serviceName": "shop"})))
    check(api_v3, "GRPCGatewayWrapper",
          get_json(base, "/api/v3/traces/a1"))


def test_error_bodies_are_gateway_errors(api_v3, shop):
    from test_apiv3 import get

    for path, status in (("/api/v3/traces/c3", 404),
                         ("/api/v3/traces/zz", 400),
                         ("/api/v3/trace-summaries", 400)):
        code, _, body = get(shop.base, path)
        assert code == status
        check(api_v3, "GRPCGatewayError", json.loads(body))


@pytest.mark.parametrize("message, document, problem", [
    # the v1 envelope is not a v3 answer
    ("GetServicesResponse", {"data": ["a"], "total": 1}, "ParseError"),
    # proto names parse, but are not what Jaeger writes or the UI reads
    ("GetOperationsResponse",
     {"operations": [{"name": "a", "span_kind": "server"}]}, "span_kind"),
    # REQUIRED fields
    ("GetOperationsResponse", {"operations": [{"name": "a"}]},
     "spanKind: required"),
    ("FindTraceSummariesResponse",
     {"summaries": [{"rootServiceName": "a"}]}, "traceId: required"),
    # a 16-digit trace id: the UI refuses it
    ("FindTraceSummariesResponse",
     {"summaries": [{"traceId": "a1".zfill(16)}]}, "does not match"),
    ("FindTraceSummariesResponse", {"summaries": [{
        "traceId": "a1".zfill(32), "minStartTimeUnixNano": 5}]},
     "decimal string"),
    # OTLP ids in hex, of their length
    ("GRPCGatewayWrapper", {"result": {"resourceSpans": [{"scopeSpans": [{
        "spans": [{"traceId": "a1", "spanId": "0000000000000001"}]}]}]}},
     "32 hex digits"),
])
def test_the_checks_catch_what_jaeger_would_not_write(api_v3, message,
                                                      document, problem):
    with pytest.raises(Exception) as caught:
        check(api_v3, message, document)
    assert problem in f"{type(caught.value).__name__}: {caught.value}"
