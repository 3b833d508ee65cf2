"""The redactor's cost: every tag, log field and name of every span passes
it (on the exporter's thread), so its time bounds how fast spans leave.

Values a run's spans typically hold (statuses, names, numbers, URLs, an
activity's JSON output, a long value that is cut), cleaned by a redactor
holding three secrets, against the same redactor without secrets (the
floor: typing, the URL and cut logic) in the same round; and the time to
learn the secrets and clean a first value, paid once a run. CPU time of
the benchmark's thread, so that other work on the machine counts less.

Only the API every version has (``Redactor``, ``add_secrets``,
``clean_value``, ``clean_text``), so the same script times an older install
(``.bench/REV/venv/bin/python benchmarks/redact_cost.py``).

    python benchmarks/redact_cost.py [--rounds 15] [--repeat 200]
"""
import argparse
import json
import re
import time

from _common import median, report, where_installed

from chaostracing._run.redact import Redactor

SECRETS = ["hunter2-Passw0rd!", 'Contraseña "quote" \\back\tTab-2024',
           "9f86d081884c7d659a2feaa0c55ad015"]
OUTPUT = json.dumps({"status": 200, "headers": {"content-type": "json"},
                     "body": {"items": [{"id": i, "name": f"item-{i}",
                                         "price": i * 1.5}
                                        for i in range(20)]}})
VALUES = [
    ("chaostoolkit.status", "succeeded"),
    ("chaostoolkit.type", "activity"),
    ("span.kind", "client"),
    ("http.status_code", 200),
    ("duration", 12.5),
    ("error", False),
    ("http.url", "http://127.0.0.1:8080/orders?page=2&via=requests"),
    ("http.url", "http://127.0.0.1:8080/login?user=bob&password=x%20y"),
    ("chaostoolkit.output", OUTPUT),
    ("message", "authentication failed for 'hunter2-Passw0rd!'"),
    ("chaostoolkit.output", "x" * 10_000),
]


def clean_all(redactor, repeat: int) -> float:
    """CPU µs of this thread to clean every value once (the mean over
    ``repeat`` passes: what a run pays; CPU time, so that other work on
    the machine does not count)."""
    clean = redactor.clean_value
    start = time.thread_time()
    for _ in range(repeat):
        for key, value in VALUES:
            clean(value, key)
    return (time.thread_time() - start) / repeat * 1e6


def learn(repeat: int) -> float:
    """CPU ms to learn the secrets and clean a first value (a version may
    compile its patterns at either)."""
    total = 0.0
    for _ in range(repeat):
        re.purge()  # as in a fresh run: no compiled pattern cached
        start = time.thread_time()
        redactor = Redactor()
        redactor.add_secrets(SECRETS)
        redactor.clean_value("first")
        total += time.thread_time() - start
    return total / repeat * 1e3


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--repeat", type=int, default=200)
    parser.add_argument("--json", action="store_true",
                        help="print the medians as JSON")
    args = parser.parse_args()
    with_secrets, without = Redactor(), Redactor()
    with_secrets.add_secrets(SECRETS)
    times = {"secrets": [], "none": [], "learn": []}
    for _ in range(args.rounds):
        times["secrets"].append(clean_all(with_secrets, args.repeat))
        times["none"].append(clean_all(without, args.repeat))
        times["learn"].append(learn(max(1, args.repeat // 20)))
    figures = {name: median(values) for name, values in times.items()}
    if args.json:
        print(json.dumps(figures))
        return
    print(f"chaostracing from {where_installed()}")
    report(f"{len(VALUES)} typical values, {args.rounds} rounds, medians", [
        ("clean them: 3 secrets", figures["secrets"], "µs"),
        ("clean them: no secret", figures["none"], "µs"),
        ("3 secrets / no secret", figures["secrets"] / figures["none"], "x"),
        ("learn 3 secrets, clean a first value", figures["learn"], "ms"),
    ])


if __name__ == "__main__":
    main()
