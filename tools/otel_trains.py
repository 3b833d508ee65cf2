"""Are setup.py's OpenTelemetry caps still the newest complete train?

OpenTelemetry's Python packages come in trains: the API, the SDK and the
exporters ``1.X.K`` go with the semantic conventions, the instrumentations
and their helpers ``0.(X+21)bK``, which pin one another exactly. A train
whose packages are not all on PyPI (1.45.2 / 0.66b2 has no urllib3 or
aiohttp-client instrumentation) sends pip 23, which does not backjump, into
minutes of backtracking that end in ``ResolutionImpossible``. So setup.py
caps both lines (``OTEL`` and ``CONTRIB``) just above the newest train PyPI
holds complete for the packages our extras install.

This script reads PyPI's release lists (its JSON API), finds the newest
complete train, and says whether the caps should move, and to what::

    python tools/otel_trains.py

Exit status: 0 when the caps are at the newest complete train, 1 when they
should move (the line to write is printed), 2 when PyPI cannot be read.
After moving them: ``make install``, then the install test, which resolves
the extras with the pip of a fresh virtualenv under a time limit
(``.venv/bin/python -m pytest tests/test_pip_install.py``).
"""
import json
import re
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Dict, List, Optional, Set, Tuple

ROOT = Path(__file__).resolve().parent.parent
#: released as 1.X.K, on every train our extras install
CORE = ["opentelemetry-api", "opentelemetry-sdk", "opentelemetry-proto",
        "opentelemetry-exporter-otlp-proto-common",
        "opentelemetry-exporter-otlp-proto-http",
        "opentelemetry-exporter-otlp-proto-grpc"]
#: released as 0.(X+21)bK, pinned exactly by the 1.X.K packages or by the
#: instrumentations
CONTRIB = ["opentelemetry-semantic-conventions",
           "opentelemetry-instrumentation", "opentelemetry-util-http",
           "opentelemetry-instrumentation-urllib3",
           "opentelemetry-instrumentation-httpx",
           "opentelemetry-instrumentation-botocore",
           "opentelemetry-instrumentation-aiohttp-client",
           "opentelemetry-instrumentation-requests"]
#: 0.(X+21)bK packages the exporters began to require at some train (1.44):
#: required from their first release on
LATER = ["opentelemetry-exporter-otlp-common",
         "opentelemetry-exporter-http-transport"]
Version = Tuple[int, int, int]


def releases(name: str) -> Set[str]:
    """The versions of ``name`` on PyPI that have a file not yanked."""
    url = f"https://pypi.org/pypi/{name}/json"
    with urllib.request.urlopen(url, timeout=30) as response:
        data = json.load(response)
    if not isinstance(data.get("releases"), dict):
        return set()
    return {version for version, files in data["releases"].items()
            if files and not all(f.get("yanked") for f in files)}


def core_version(text: str) -> Optional[Version]:
    match = re.fullmatch(r"1\.(\d+)\.(\d+)", text)
    return (1, int(match.group(1)), int(match.group(2))) if match else None


def contrib_of(version: Version) -> str:
    """The 0.(X+21)bK that goes with 1.X.K."""
    return f"0.{version[1] + 21}b{version[2]}"


def first_train(versions: Set[str]) -> Optional[Version]:
    """The train a 0.NbK package first appeared on."""
    trains = []
    for text in versions:
        match = re.fullmatch(r"0\.(\d+)b(\d+)", text)
        if match:
            trains.append((1, int(match.group(1)) - 21, int(match.group(2))))
    return min(trains) if trains else None


def caps() -> Tuple[Version, str]:
    """setup.py's caps: the 1.X.K the OTEL cap excludes, and CONTRIB's."""
    text = (ROOT / "setup.py").read_text()
    otel = re.search(r'^OTEL = ">=[\d.]+,<(1\.\d+\.\d+)"', text, re.M)
    contrib = re.search(r'^CONTRIB = ">=[\w.]+,<(0\.\d+b\d+)"', text, re.M)
    if not otel or not contrib:
        raise SystemExit("setup.py: no OTEL = \">=...,<1.X.K\" and CONTRIB = "
                         "\">=...,<0.NbK\" lines to read")
    version = core_version(otel.group(1))
    assert version is not None
    return version, contrib.group(1)


def missing(train: Version, known: Dict[str, Set[str]]) -> List[str]:
    core = ".".join(map(str, train))
    contrib = contrib_of(train)
    absent = [n for n in CORE if core not in known[n]]
    absent += [n for n in CONTRIB if contrib not in known[n]]
    for name in LATER:
        started = first_train(known[name])
        if started is not None and train >= started \
                and contrib not in known[name]:
            absent.append(name)
    return absent


def main() -> int:
    cap, contrib_cap = caps()
    try:
        known = {name: releases(name) for name in CORE + CONTRIB + LATER}
    except (OSError, urllib.error.URLError, ValueError) as error:
        print(f"cannot read PyPI's release lists: {error}", file=sys.stderr)
        return 2
    trains = sorted(v for v in map(core_version, known["opentelemetry-sdk"])
                    if v is not None and v >= (1, 20, 0))
    complete = [t for t in trains if not missing(t, known)]
    if not complete:
        print("no complete train on PyPI from 1.20.0 on: check the lists")
        return 2
    newest = complete[-1]
    allowed = [t for t in trains if t < cap]
    print(f"setup.py caps: <{'.'.join(map(str, cap))} and <{contrib_cap} "
          f"(newest train allowed: {'.'.join(map(str, allowed[-1]))} / "
          f"{contrib_of(allowed[-1])})" if allowed else "setup.py caps admit "
          "no train")
    for train in trains:
        if train > newest or (allowed and train == allowed[-1]):
            absent = missing(train, known)
            state = ("complete" if not absent
                     else "incomplete, missing " + ", ".join(absent))
            print(f"  {'.'.join(map(str, train))} / {contrib_of(train)}: "
                  f"{state}")
    admitted_broken = [t for t in allowed if t > newest]
    target = (1, newest[1], newest[2] + 1)
    if allowed and allowed[-1] == newest and not admitted_broken:
        print(f"newest complete train: {'.'.join(map(str, newest))} / "
              f"{contrib_of(newest)}: the caps are up to date")
        return 0
    print(f"newest complete train: {'.'.join(map(str, newest))} / "
          f"{contrib_of(newest)}: in setup.py, write\n"
          f"    OTEL = \">=1.20,<{'.'.join(map(str, target))}\"\n"
          f"    CONTRIB = \">=0.41b0,<{contrib_of(target)}\"\n"
          "then run make install and "
          ".venv/bin/python -m pytest tests/test_pip_install.py")
    return 1


if __name__ == "__main__":
    sys.exit(main())
