"""Generate a large experiment, to load-test tracing.

1,000 activities: every 125th is a background action that naps, so 8 run
alongside the foreground ones; the others are quick Python probes. Run it
with the hypothesis checked continuously::

    python examples/load_experiment.py > load.json
    chaos run --hypothesis-strategy continuously \\
        --hypothesis-frequency 0.05 load.json
"""
import json
import sys

__all__ = ["load_experiment"]


def load_experiment(
    activities: int = 1000,
    background_every: int = 125,
    nap: float = 0.3,
    configuration: dict = None,
    traced: bool = True,
) -> dict:
    def quick(i):
        return {"type": "probe", "name": f"quick-{i}",
                "provider": {"type": "python", "module": "os.path",
                             "func": "exists", "arguments": {"path": "."}}}

    def background(i):
        return {"type": "action", "name": f"background-{i}", "background": True,
                "provider": {"type": "python",
                             "module": "chaostracing_demo.actions",
                             "func": "nap", "arguments": {"seconds": nap}}}

    experiment = {
        "title": f"{activities} activities under load",
        "description": "load test of chaostracing",
        "configuration": dict(configuration or {}),
        "steady-state-hypothesis": {
            "title": "the folder is there",
            "probes": [{
                "type": "probe", "name": "folder-exists", "tolerance": True,
                "provider": {"type": "python", "module": "os.path",
                             "func": "isdir", "arguments": {"s": "."}}}],
        },
        "method": [
            background(i) if i % background_every == 0 else quick(i)
            for i in range(activities)
        ],
    }
    if traced:
        experiment["controls"] = [{"name": "chaostracing", "provider": {
            "type": "python", "module": "chaostracing.control"}}]
    return experiment


if __name__ == "__main__":
    json.dump(load_experiment(), sys.stdout, indent=1)
