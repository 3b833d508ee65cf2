"""Probes of the example extension."""
import requests

from chaostracing import traced_activity
from chaostracing_contrib.requests import session

__all__ = ["service_is_healthy", "order_count", "orders_are_served",
           "send_traffic"]


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


def send_traffic(url: str, count: int = 20, path: str = "/orders") -> bool:
    """Send ``count`` requests to the demo service, one after the other.

    A load generator for a steady state read from traces: the service's
    spans of these requests are what ``chaostracing.probes`` measure. True
    when every request got an HTTP answer, whatever its status (a 503 is
    the service's health to judge, not the traffic's).
    """
    answered = 0
    with session() as http:
        for _ in range(int(count)):
            try:
                http.get(url.rstrip("/") + path, timeout=5)
                answered += 1
            except OSError:  # requests' ConnectionError and Timeout
                pass
    return answered == int(count)
