"""Activities and a control used by the end-to-end tests' experiments."""
import time

from chaoslib.exceptions import InterruptExecution

__all__ = ["echo", "reveal", "fail_with", "big_output", "nap"]


def echo(value):
    """Return ``value``."""
    return value


def reveal(secrets=None):
    """Return the secrets chaoslib handed the activity (a careless probe)."""
    return {"seen": secrets}


def fail_with(message: str):
    """Raise with ``message``."""
    raise RuntimeError(message)


def big_output(size: int = 10_000_000) -> str:
    """Return ``size`` characters."""
    return "x" * size


def nap(seconds: float = 0.1) -> float:
    """Sleep."""
    time.sleep(seconds)
    return seconds


# a control that interrupts the run before the activity named "stop-here"
def before_activity_control(context, **kwargs):
    if context.get("name") == "stop-here":
        raise InterruptExecution("stopped by the interrupting control")
