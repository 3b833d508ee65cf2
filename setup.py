"""Packaging for chaostoolkit-opentracing (import package ``chaostracing``)."""
import re
from pathlib import Path

from setuptools import find_packages, setup

HERE = Path(__file__).parent
VERSION = re.search(
    r'^__version__ = "([^"]+)"',
    (HERE / "chaostracing" / "_version.py").read_text(),
    re.M,
).group(1)

# each list once; dev and bench are made of them
JAEGER = ["jaeger-client>=4.8,<5", "six>=1.16"]
# OpenTelemetry's Python packages are released in trains: the API, the SDK,
# the exporters and the propagators 1.X.K go with the semantic conventions
# and the instrumentations 0.(X+21)bK, which pin one another exactly. So that
# pip (23 included, which does not backjump) resolves any extra in seconds,
# and extras installed one at a time stay on one train (a clean `pip
# check`), every extra that pulls the API or the SDK caps both lines at the
# newest train PyPI holds complete for every package below. Raise both caps
# together: `python tools/otel_trains.py` says when a newer train is
# complete (1.45.2 / 0.66b2 has no urllib3 or aiohttp-client
# instrumentation).
OTEL = ">=1.20,<1.45.2"
CONTRIB = ">=0.41b0,<0.66b2"
SDK = ["opentelemetry-sdk" + OTEL]
# the otlp provider: OpenTelemetry's SDK types and OTLP/HTTP exporter
OPENTELEMETRY = SDK + ["opentelemetry-exporter-otlp-proto-http" + OTEL]
# OTLP over gRPC (tracing_otlp_protocol: grpc, 0.18.1's oltp-grpc)
GRPC = SDK + ["opentelemetry-exporter-otlp-proto-grpc" + OTEL]
# tracing_instrument: OpenTelemetry's instrumentations and the propagators
# that write tracing_propagation's headers on that path
INSTRUMENTATIONS = [
    "opentelemetry-instrumentation-urllib3" + CONTRIB,
    "opentelemetry-instrumentation-httpx" + CONTRIB,
    "opentelemetry-instrumentation-botocore" + CONTRIB,
    "opentelemetry-instrumentation-aiohttp-client" + CONTRIB,
    "opentelemetry-propagator-b3" + OTEL,
    "opentelemetry-propagator-jaeger" + OTEL,
]
INSTRUMENT = ["opentelemetry-api" + OTEL] + INSTRUMENTATIONS
# OTEL_VENDOR=aws: X-Ray ids and propagation (the SDK line keeps an AWS
# install on the train of the others)
AWS = SDK + [
    "opentelemetry-sdk-extension-aws>=2.0,<3",
    "opentelemetry-propagator-aws-xray>=1.0,<2",
]
# chaostracing impact, tracing_impact, probes.blast_radius: the statistics
# (Fisher's exact test, Mann-Whitney U), imported only when an impact is
# computed; 1.7 gave mannwhitneyu its one-sided exact and asymptotic methods
IMPACT = ["scipy>=1.7"]
# chaostracing collect's HTTP ports (OTLP, Jaeger's query API): aiohttp's
# server (3.10.11: the last request-smuggling fixes that also reach
# Python 3.8), and OTLP's definitions to decode what arrives (on the train
# of the other OpenTelemetry packages: the exporters pin it exactly)
COLLECT = ["aiohttp>=3.10.11", "opentelemetry-proto" + OTEL]
# the documentation site: `mkdocs build --strict` (tests/test_docs.py)
DOCS = ["mkdocs>=1.5", "mkdocs-material>=9.4"]
# the clients tests/test_e2e_clients.py traces
CLIENTS = ["httpx>=0.23", "aiohttp>=3.8", "botocore>=1.31"]
EXTRAS = {
    # The jaeger provider needs nothing more since 0.2 (our own tracer and
    # exporter); the extra stays so that the original README's
    # `pip install chaostoolkit-opentracing[jaeger]` keeps working, and
    # brings jaeger-client (with the six it imports without declaring it
    # on Python 3.11) for extensions that use it directly.
    "jaeger": JAEGER,
    "opentelemetry": OPENTELEMETRY,
    "grpc": GRPC,
    "instrument": INSTRUMENT,
    "aws": AWS,
    "impact": IMPACT,
    "collect": COLLECT,
    "docs": DOCS,
    "dev": [
        "chaostoolkit>=1.19",
        "pytest>=7",
        "pytest-timeout>=2.1",
        "responses>=0.23",
        # opentracing.harness.api_check imports it
        "mock>=4",
        # tests/test_install.py builds our wheel offline
        "setuptools>=61",
        "wheel>=0.38",
        "hypothesis>=6",
        # drives Debian's chromium in tests/test_report_browser.py (no
        # browser of its own is downloaded)
        "playwright>=1.40",
        "opentelemetry-instrumentation-requests" + CONTRIB,
        # tests/test_apiv3_idl.py compiles Jaeger's api_v3 protos (where
        # JAEGER_IDL names a jaeger-idl checkout)
        "grpcio-tools>=1.60",
        # make lint (configured in pyproject.toml); ruff pinned to a minor:
        # a new ruff adds rules to the families selected
        "ruff>=0.17,<0.18",
        "mypy>=1.10",
        # the types of what the package imports, where it ships none
        "types-opentracing",
        "types-requests",
        "types-protobuf",
    ] + JAEGER + OPENTELEMETRY + GRPC + INSTRUMENTATIONS + AWS + CLIENTS
    + DOCS + IMPACT + COLLECT,
    # what benchmarks/ compare against (rows are skipped when absent)
    "bench": [
        "opentelemetry-instrumentation-requests" + CONTRIB,
    ] + OPENTELEMETRY + INSTRUMENTATIONS + CLIENTS + JAEGER + IMPACT + COLLECT,
}

setup(
    name="chaostoolkit-opentracing",
    version=VERSION,
    description="Chaos Toolkit extension: one distributed trace per run",
    long_description=(HERE / "README.md").read_text(),
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    packages=find_packages(include=["chaostracing*", "chaostracing_contrib*"]),
    # PEP 561: the packages' annotations are for their users' type checkers;
    # the report page, read at run time (chaostracing/_viewers/report.py)
    package_data={"chaostracing": ["py.typed"],
                  "chaostracing._viewers": ["report.html", "report.css",
                                            "report.js"],
                  "chaostracing_contrib": ["py.typed"]},
    python_requires=">=3.8",
    install_requires=[
        "chaostoolkit-lib>=1.40",
        "opentracing>=2.4,<3",
        "wrapt>=1.14",
        "requests>=2.25",
    ],
    # each requirement once per extra (dev and bench share the SDK line)
    extras_require={name: list(dict.fromkeys(requirements))
                    for name, requirements in EXTRAS.items()},
    entry_points={
        "console_scripts": ["chaostracing = chaostracing.cli:main"],
        # loaded by `chaos` as it starts, before any extension is imported:
        # see chaostracing/_run/chaosplugin.py
        "chaostoolkit.cli_plugins": [
            "chaostracing = chaostracing._run.chaosplugin:command"],
    },
    classifiers=[
        "Development Status :: 5 - Production/Stable",
        "Programming Language :: Python :: 3",
        "Programming Language :: Python :: 3.8",
        "Programming Language :: Python :: 3.9",
        "Programming Language :: Python :: 3.10",
        "Programming Language :: Python :: 3.11",
        "Programming Language :: Python :: 3.12",
    ],
)
