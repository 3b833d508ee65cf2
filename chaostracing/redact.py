"""Keep secrets and oversized values out of what we export.

chaoslib substitutes secrets into activity arguments, URLs and outputs; an
extension may put any of them in a tag. Every string value leaves through
:meth:`Redactor.clean` on the exporter's thread, so there is one choke point
and the hot path (``set_tag``) pays nothing for it.
"""
import json
import math
import re
from typing import Any, Iterable, Iterator, Mapping, Optional, Pattern

__all__ = ["MASK", "Redactor", "secret_values", "to_tag_value", "truncate"]

MASK = "***"
TRUNCATED = "...[truncated {n} chars]"

# credentials in URLs: scheme://user:password@host
_URL_CREDENTIALS = re.compile(r"(?<=://)[^/@\s:]*:[^/@\s]*@")


def secret_values(secrets: Optional[Mapping[str, Any]]) -> Iterator[str]:
    """Every leaf value of a chaoslib ``secrets`` mapping, as text.

    chaoslib passes secrets as ``{scope: {name: value}}`` once they are
    loaded; values may be of any JSON type.
    """
    if not secrets:
        return
    stack = [secrets]
    while stack:
        item = stack.pop()
        if isinstance(item, Mapping):
            stack.extend(item.values())
        elif isinstance(item, (list, tuple, set)):
            stack.extend(item)
        elif item is None or isinstance(item, bool):
            continue
        elif isinstance(item, bytes):
            yield item.decode("utf-8", "replace")
        else:
            yield str(item)


class Redactor:
    """Masks known secret values and URL credentials, and caps lengths."""

    def __init__(self, max_length: int = 1024) -> None:
        self.max_length = max_length
        self._values: set = set()
        self._pattern: Optional[Pattern[str]] = None

    def add_secrets(self, values: Iterable[str]) -> None:
        fresh = {v for v in values if v and v not in self._values}
        if not fresh:
            return
        self._values |= fresh
        # longest first, so that a secret containing another is masked whole
        ordered = sorted(self._values, key=len, reverse=True)
        self._pattern = re.compile("|".join(re.escape(v) for v in ordered))

    def clean(self, text: str) -> str:
        if self._pattern is not None:
            text = self._pattern.sub(MASK, text)
        if "://" in text:
            text = _URL_CREDENTIALS.sub(MASK + "@", text)
        return truncate(text, self.max_length)


def truncate(text: str, max_length: int) -> str:
    """Cut ``text`` to at most ``max_length`` characters with a visible marker.

    >>> truncate("x" * 50, 30)
    'xxxxxxx...[truncated 43 chars]'
    """
    if len(text) <= max_length:
        return text
    keep = max_length
    for _ in range(3):  # the marker's length depends on the count it shows
        marker = TRUNCATED.format(n=len(text) - keep)
        keep = max_length - len(marker)
    if keep < 0:  # no room for the marker: an ellipsis says it all
        return text[: max(0, max_length - 1)] + "…"
    return text[:keep] + TRUNCATED.format(n=len(text) - keep)


def to_tag_value(value: Any, max_length: int = 1024) -> Any:
    """A JSON-ish value (an activity output, say) as a tag value.

    Scalars stay scalars; anything else becomes compact JSON text, cut to
    ``max_length``. Never raises: what JSON cannot encode is shown by
    ``repr``.
    """
    if value is None or isinstance(value, (bool, int)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if not isinstance(value, str):
        try:
            value = json.dumps(value, default=repr, separators=(",", ":"))
        except (TypeError, ValueError, RecursionError):
            value = repr(value)
    return truncate(value, max_length)
