"""Checks of api_v3 answers against definitions: our schema of Jaeger's
api_v3 messages (tests/apiv3_schema.json), and protobuf descriptors
(OpenTelemetry's OTLP messages from opentelemetry-proto, or Jaeger's api_v3
compiled from a jaeger-idl checkout by tests/test_apiv3_idl.py).

Each check returns the list of problems found (empty: the document is
what the definition says), so a failing test names every one of them.

Besides protobuf's own JSON parser (``json_format.Parse`` with
``ignore_unknown_fields=False``), three things it does not see are checked
here: a key must be the field's JSON name (protobuf also accepts the proto
name, ``span_kind`` for ``spanKind``); a field marked REQUIRED must be
present (proto3 parsers do not enforce ``google.api.field_behavior``); and
ids must be hex of their length (OTLP/JSON writes them in hex, and hex of
the wrong length still parses as base64).
"""
import base64
import json
import re
from pathlib import Path
from typing import Any, Dict, List

__all__ = ["SCHEMA", "check_schema", "check_descriptor", "parse_with",
           "ids_to_base64"]

SCHEMA = json.loads((Path(__file__).parent / "apiv3_schema.json").read_text())
_INT32 = ("int32", "sint32", "sfixed32", "uint32", "fixed32")
_INT64 = ("int64", "sint64", "sfixed64")
_UINT64 = ("uint64", "fixed64")
#: OTLP/JSON writes these bytes fields as hex of this many digits
OTLP_IDS = {"traceId": 32, "spanId": 16, "parentSpanId": 16}


# -- our schema ---------------------------------------------------------------
def check_schema(document: Any, message: str, path: str = "$") -> List[str]:
    """Problems of ``document`` read as ``message`` of our schema."""
    fields = SCHEMA["messages"][message]
    if not isinstance(document, dict):
        return [f"{path}: a {message} is an object, got {document!r:.60}"]
    problems = [f"{path}: {key!r} is not a field of {message}"
                for key in document if key not in fields]
    for name, field in fields.items():
        where = f"{path}.{name}"
        if name not in document:
            if field["required"]:
                problems.append(f"{where}: required, missing")
            continue
        values = document[name]
        if field["repeated"]:
            if not isinstance(values, list):
                problems.append(f"{where}: repeated, got {values!r:.60}")
                continue
        else:
            values = [values]
        for index, value in enumerate(values):
            at = f"{where}[{index}]" if field["repeated"] else where
            problems.extend(_check_value(value, field["type"],
                                         f"{message}.{name}", at))
    return problems


def _check_value(value: Any, kind: str, name: str, path: str) -> List[str]:
    if kind in SCHEMA["messages"]:
        return check_schema(value, kind, path)
    if kind.startswith("opentelemetry."):
        return check_descriptor(value, otlp_descriptor(kind), path)
    problem = _scalar(value, kind)
    if problem:
        return [f"{path}: {problem}"]
    pattern = SCHEMA["formats"].get(name)
    if pattern and not re.match(pattern, value):
        return [f"{path}: {value!r:.60} does not match {pattern}"]
    return []


def _scalar(value: Any, kind: str) -> str:
    if kind == "string":
        return "" if isinstance(value, str) else f"not a string: {value!r:.40}"
    if kind == "bool":
        return "" if isinstance(value, bool) else f"not a bool: {value!r:.40}"
    if kind in _INT32:
        ok = isinstance(value, int) and not isinstance(value, bool) \
            and -(1 << 31) <= value < (1 << 32)
        return "" if ok else f"not a 32-bit number: {value!r:.40}"
    if kind in _INT64 + _UINT64:
        pattern = r"[0-9]+\Z" if kind in _UINT64 else r"-?[0-9]+\Z"
        ok = isinstance(value, str) and re.match(pattern, value)
        return "" if ok else (f"a {kind} is a decimal string in JSON, got "
                              f"{value!r:.40}")
    if kind in ("double", "float"):
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        return "" if ok else f"not a number: {value!r:.40}"
    raise AssertionError(f"unknown type {kind}")


# -- protobuf descriptors -----------------------------------------------------
_TYPE_NAMES = {
    1: "double", 2: "float", 3: "int64", 4: "uint64", 5: "int32",
    6: "fixed64", 7: "fixed32", 8: "bool", 9: "string", 12: "bytes",
    13: "uint32", 15: "sfixed32", 16: "sfixed64", 17: "sint32", 18: "sint64",
}


def type_name(field: Any) -> str:
    """A field's type as our schema writes it."""
    if field.message_type is not None:
        return field.message_type.full_name
    if field.enum_type is not None:
        return field.enum_type.full_name
    return _TYPE_NAMES[field.type]


def is_repeated(field: Any) -> bool:
    repeated = getattr(field, "is_repeated", None)
    if repeated is None:  # protobuf before 6
        return field.label == field.LABEL_REPEATED
    return bool(repeated)


def otlp_descriptor(full_name: str) -> Any:
    """A message of opentelemetry-proto (installed from PyPI)."""
    from google.protobuf import descriptor_pool
    from opentelemetry.proto.trace.v1 import trace_pb2  # noqa: F401

    return descriptor_pool.Default().FindMessageTypeByName(full_name)


def check_descriptor(document: Any, descriptor: Any, path: str = "$",
                     required: Any = None) -> List[str]:
    """Problems of ``document`` as the message ``descriptor`` describes,
    with OTLP/JSON's hex ids, and ``required(field)`` saying which fields
    must be present."""
    if not isinstance(document, dict):
        return [f"{path}: a {descriptor.full_name} is an object"]
    by_json = {f.json_name: f for f in descriptor.fields}
    problems = []
    for key, value in document.items():
        field = by_json.get(key)
        where = f"{path}.{key}"
        if field is None:
            problems.append(f"{where}: not a field of {descriptor.full_name}"
                            + (" (its proto name?)"
                               if key in descriptor.fields_by_name else ""))
            continue
        values = value if is_repeated(field) else [value]
        if is_repeated(field) and not isinstance(value, list):
            problems.append(f"{where}: repeated, got {value!r:.60}")
            continue
        for index, item in enumerate(values):
            at = f"{where}[{index}]" if is_repeated(field) else where
            if field.message_type is not None:
                problems.extend(check_descriptor(item, field.message_type, at,
                                                 required))
            elif field.enum_type is not None:
                # Jaeger (pdata) writes enums as numbers
                if not isinstance(item, int) or isinstance(item, bool) or \
                        field.enum_type.values_by_number.get(item) is None:
                    problems.append(f"{at}: not a number of "
                                    f"{field.enum_type.full_name}: {item!r}")
            elif field.type == field.TYPE_BYTES:
                digits = OTLP_IDS.get(key)
                pattern = (f"[0-9a-f]{{{digits}}}\\Z" if digits
                           else r"[A-Za-z0-9+/]*={0,2}\Z")
                if not isinstance(item, str) or not re.match(pattern, item):
                    problems.append(f"{at}: {item!r:.50} is not "
                                    + (f"{digits} hex digits" if digits
                                       else "base64"))
            else:
                problem = _scalar(item, _TYPE_NAMES[field.type])
                if problem:
                    problems.append(f"{at}: {problem}")
    if required is not None:
        for field in descriptor.fields:
            if required(field) and field.json_name not in document:
                problems.append(f"{path}.{field.json_name}: required, missing")
    return problems


def ids_to_base64(node: Any) -> Any:
    """OTLP/JSON's hex ids as proto3 JSON's base64, for protobuf's parser."""
    if isinstance(node, dict):
        return {key: (base64.b64encode(bytes.fromhex(value)).decode()
                      if key in OTLP_IDS and isinstance(value, str)
                      else ids_to_base64(value))
                for key, value in node.items()}
    if isinstance(node, list):
        return [ids_to_base64(item) for item in node]
    return node


def parse_with(message_class: Any, document: Dict[str, Any]) -> Any:
    """``json_format.Parse`` refusing unknown fields (ids converted)."""
    from google.protobuf import json_format

    return json_format.Parse(json.dumps(ids_to_base64(document)),
                             message_class(), ignore_unknown_fields=False)
