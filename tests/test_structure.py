"""The house's shape, checked: the public surface is pinned, no module
reaches into another's underscore names, and imports go the way
docs/architecture.md draws them."""
import ast
import importlib
import re
import types

import pytest
from conftest import ROOT

#: every public module and its ``__all__``: what experiments, extensions
#: and users may name. Changing it is an API change (CHANGELOG, migration).
PUBLIC = {
    "chaostracing": [
        "__version__", "bind_context", "current_span", "get_tracer",
        "record_exception", "trace_env", "traced_activity", "use_span",
    ],
    "chaostracing.control": [
        "after_activity_control", "after_experiment_control",
        "after_hypothesis_control", "after_method_control",
        "after_rollback_control", "before_activity_control",
        "before_experiment_control", "before_hypothesis_control",
        "before_method_control", "before_rollback_control",
        "cleanup_control", "configure_control", "validate_control",
    ],
    "chaostracing.probes": [
        "blast_radius", "span_count", "span_error_ratio",
        "span_latency_percentile",
    ],
    "chaostracing.testing": [
        "RecordedSpans", "chaostracing_spans", "record_spans",
    ],
    "chaostracing.cli": ["main"],
    "chaostracing_contrib.requests": [
        "RequestHook", "ResponseHook", "instrument", "is_instrumented",
        "sanitize_url", "session", "uninstrument",
    ],
}
PUBLIC["chaostracing.oltp"] = PUBLIC["chaostracing.control"]
#: public names outside ``__all__``, each called by name by someone else
CALLED_BY_NAME = {
    ("chaostracing", "discover"): "chaos discover chaostoolkit-opentracing",
    ("chaostracing.probes", "discover"): "chaostracing.discover's source",
}
#: underscore names of other packages we use, each because no public way
#: exists in the versions we support
FOREIGN_PRIVATE = {
    "_TRACER_PROVIDER": "OpenTelemetry has no public way to undo "
                        "set_tracer_provider, which cleanup must do",
    "_SUPPRESS_INSTRUMENTATION_KEY": "the exporter's thread is suppressed "
                                     "for its whole life: the public "
                                     "suppress_instrumentation() is a block, "
                                     "in opentelemetry-instrumentation, "
                                     "which the otlp provider lacks",
    "_SUPPRESS_HTTP_INSTRUMENTATION_KEY": "opentelemetry-instrumentation "
                                          "0.41b0-0.43b0 (setup.py allows "
                                          "them) has no suppress_http_"
                                          "instrumentation(): their "
                                          "instrumentations read this key "
                                          "of the API",
    "_propagators": "CompositePropagator has no public list of what it "
                    "holds: read to tell OpenTelemetry's default propagator "
                    "from one the process set",
    "_agnosticcontextmanager": "OpenTelemetry's own type for "
                               "start_as_current_span",
}
#: namedtuple's public methods start with an underscore
NAMEDTUPLE = {"_replace", "_asdict", "_fields", "_make"}
PACKAGES = ("chaostracing", "chaostracing_contrib")


def modules():
    """``(dotted name, path)`` of every module of the two packages."""
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            yield ".".join(parts), path


def room(dotted):
    """The unit docs/architecture.md draws: a public module, or a private
    folder (or module) of chaostracing."""
    parts = dotted.split(".")
    if parts[0] == "chaostracing_contrib":
        return "chaostracing_contrib"
    return parts[1] if len(parts) > 1 else "chaostracing"


def imported(tree, dotted):
    """Every chaostracing module ``tree`` imports, at any depth (lazy
    imports inside functions count)."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] in PACKAGES:
                    yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom) and node.module:
            if node.level:
                raise AssertionError(f"{dotted}: relative import")
            if node.module.split(".")[0] not in PACKAGES:
                continue
            for alias in node.names:
                sub = f"{node.module}.{alias.name}"
                if importlib.util.find_spec(node.module) and _is_module(sub):
                    yield sub, node.lineno
                else:
                    yield node.module, node.lineno


def _is_module(dotted):
    try:
        return importlib.util.find_spec(dotted) is not None
    except (ImportError, ValueError):
        return False


def drawn_imports():
    text = (ROOT / "docs" / "architecture.md").read_text()
    (block,) = re.findall(r"^```imports\n(.*?)^```", text, re.M | re.S)
    drawn = {}
    for line in block.splitlines():
        source, arrow, targets = line.partition("──▶")
        assert arrow, f"not an arrow: {line!r}"
        targets = re.sub(r"\([^)]*\)", "", targets).strip()
        drawn[source.strip()] = (set() if targets == "nothing" else
                                 {t.strip() for t in targets.split(",")})
    return drawn


def test_public_modules_export_exactly_the_pinned_names():
    for name, expected in PUBLIC.items():
        module = importlib.import_module(name)
        assert sorted(module.__all__) == sorted(expected), name
        for attribute in expected:
            assert getattr(module, attribute) is not None, (name, attribute)


def test_public_modules_define_nothing_public_outside_all():
    for name in PUBLIC:
        module = importlib.import_module(name)
        for attribute, value in vars(module).items():
            if attribute.startswith("_") or attribute in module.__all__:
                continue
            if isinstance(value, types.ModuleType):
                continue
            home = getattr(value, "__module__", name)
            if home != name or attribute == "logger":
                continue  # imported, or chaoslib's logger convention
            assert (name, attribute) in CALLED_BY_NAME, (
                f"{name}.{attribute} is public but not in __all__: add it "
                "there (and here) or give it a leading underscore")


def test_every_other_module_is_marked_internal():
    for dotted, _ in modules():
        if dotted in PUBLIC or dotted == "chaostracing_contrib":
            continue
        parts = dotted.split(".")[1:]
        assert any(p.startswith("_") for p in parts), (
            f"{dotted} is neither public nor under a private name")


def test_no_module_uses_another_modules_underscore_names():
    found = []
    for dotted, path in modules():
        tree = ast.parse(path.read_text())
        own = _defined_names(tree)
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.Attribute):
                if isinstance(node.value, ast.Name) and \
                        node.value.id in ("self", "cls"):
                    continue
                names = [node.attr]
            else:
                continue
            for name in names:
                if not name.startswith("_") or name.startswith("__"):
                    continue
                if name in own or name in NAMEDTUPLE or \
                        name in FOREIGN_PRIVATE:
                    continue
                found.append(f"{dotted}:{node.lineno} uses {name}")
    assert not found, "\n".join(found)


def test_the_foreign_underscore_names_we_allow_are_still_used():
    text = "".join(path.read_text() for _, path in modules())
    for name in FOREIGN_PRIVATE:
        assert name in text, f"{name} is no longer used: drop it from the list"


def _defined_names(tree):
    """Names a module defines: top-level and class-level assignments,
    functions and classes, and attributes assigned on any object in it."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef,
                             ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx,
                                                            ast.Store):
            names.add(node.attr)
        elif isinstance(node, ast.arg):
            names.add(node.arg)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) \
                and node.value.isidentifier():
            names.add(node.value)  # __slots__ entries
    return names


def actual_imports():
    edges = {}
    for dotted, path in modules():
        source = room(dotted)
        for target, line in imported(ast.parse(path.read_text()), dotted):
            target_room = room(target)
            if target_room != source:
                edges.setdefault((source, target_room), []).append(
                    f"{dotted}:{line} imports {target}")
    return edges


def test_imports_match_the_drawing_in_docs_architecture():
    drawn = drawn_imports()
    actual = actual_imports()
    rooms = {room(dotted) for dotted, _ in modules()}
    assert set(drawn) == rooms, "every room is drawn, and only those"
    undrawn = [why for (s, t), whys in actual.items()
               if t not in drawn.get(s, set()) for why in whys]
    assert not undrawn, "imports the drawing does not show:\n" + \
        "\n".join(undrawn)
    unused = [f"{s} ──▶ {t}" for s, targets in drawn.items()
              for t in targets if (s, t) not in actual]
    assert not unused, "arrows no import needs: " + ", ".join(unused)


def test_the_drawn_imports_go_one_way():
    drawn = drawn_imports()
    order = []

    def visit(node, path):
        if node in path:
            pytest.fail("a cycle: " + " ──▶ ".join(path + [node]))
        if node in order:
            return
        for target in sorted(drawn.get(node, ())):
            visit(target, path + [node])
        order.append(node)

    for node in sorted(drawn):
        visit(node, [])
