"""Probes of the example extension."""
import requests

__all__ = ["service_is_healthy", "order_count"]


def service_is_healthy(url: str) -> bool:
    """Whether the demo service answers its health check."""
    return requests.get(url.rstrip("/") + "/health", timeout=5).ok


def order_count(url: str) -> int:
    """How many orders the demo service holds."""
    r = requests.get(url.rstrip("/") + "/orders", timeout=5)
    return len(r.json()["orders"])
