"""Probes of the example extension."""
import requests

from chaostracing import traced_activity
from chaostracing_contrib.requests import session

__all__ = ["service_is_healthy", "order_count", "orders_are_served"]


def service_is_healthy(url: str) -> bool:
    """Whether the demo service answers its health check."""
    return requests.get(url.rstrip("/") + "/health", timeout=5).ok


def order_count(url: str) -> int:
    """How many orders the demo service holds."""
    r = requests.get(url.rstrip("/") + "/orders", timeout=5)
    return len(r.json()["orders"])


@traced_activity
def orders_are_served(url: str) -> bool:
    """Whether the demo service serves its orders.

    Traced: a span for this function, and a client span for its request,
    whose context reaches the service in the request's headers.
    """
    with session() as http:
        return http.get(url.rstrip("/") + "/orders", timeout=5).ok
