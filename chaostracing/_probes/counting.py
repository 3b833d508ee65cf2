"""The figures of the probes, over the matching spans.

**No data is not health**: fewer matching spans than ``min_spans`` fails
the activity (:func:`require`), never a silent 0.
"""
from typing import List

from chaoslib.exceptions import ActivityFailed

from chaostracing._data.model import SpanData

__all__ = ["require"]


def require(spans: List[SpanData], least: float, described: str) -> None:
    if len(spans) < least:
        raise ActivityFailed(
            f"no data is not health: {len(spans)} span(s) of {described}, "
            f"fewer than min_spans={least:g}. Is the service traced, do its "
            "spans reach this query service, did it serve requests in the "
            "window (spans arrive a few seconds after they end)?")
