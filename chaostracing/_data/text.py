"""Any value as text, never raising: one ``str()`` for the whole package.

Span data comes from everywhere (an extension's objects, another service's
spans, a crafted file), and an object's ``__str__`` or ``__repr__`` may
raise, return something that is not text, or be very long. Tracing must not
fail on it, so every place that turns a value into text for a span, a file,
a page or a message uses :func:`safe_str` (or :func:`safe_repr`):

- ``safe_str`` is ``str()``, falling back to ``safe_repr`` when ``__str__``
  fails, and that to ``<TypeName (repr failed)>``;
- both take a ``limit``: at most that many characters. The run side passes
  none: the redactor must see a value whole before it cuts it (a cut first
  could split a secret and leave half of it unmasked), and cuts it itself.
  Viewers pass the number of characters they show.

Display-specific cleaning stays a thin layer on top (the terminal's
``printable`` in :mod:`chaostracing._viewers.waterfall`).

A value cut short says so, the same way wherever it is cut (the run's
redactor, the collector's store): :func:`truncate` ends it with
``...[truncated; N chars in all]``.
"""
from typing import Any, Optional

__all__ = ["TRUNCATED", "safe_repr", "safe_str", "truncate"]

#: the end of a value cut short, ``n`` being its whole length
TRUNCATED = "...[truncated; {n} chars in all]"
_TRUNCATED_UNKNOWN = "...[truncated]"


def safe_repr(value: Any, limit: Optional[int] = 4096) -> str:
    """``repr(value)``, never raising, at most ``limit`` characters
    (``None``: all of it).

    >>> class Broken:
    ...     def __repr__(self):
    ...         raise RuntimeError("no")
    >>> safe_repr(Broken())
    '<Broken (repr failed)>'
    """
    try:
        text = repr(value)
        if not isinstance(text, str):
            raise TypeError("__repr__ returned a non-string")
    except Exception:
        return f"<{_type_name(value)} (repr failed)>"
    return text if limit is None else text[:limit]


def safe_str(value: Any, limit: Optional[int] = None) -> str:
    """``str(value)``, never raising, at most ``limit`` characters
    (``None``: all of it; see the module documentation for why the run
    side never cuts here).

    >>> safe_str(b"x"), safe_str(None), safe_str("abcdef", 3)
    ("b'x'", 'None', 'abc')
    """
    if type(value) is str:  # most values: no call, no copy
        return value if limit is None or len(value) <= limit else value[:limit]
    try:
        text = str(value)
        if not isinstance(text, str):
            raise TypeError("__str__ returned a non-string")
    except Exception:
        return safe_repr(value, limit)
    return text if limit is None else text[:limit]


def truncate(
    text: str,
    max_length: int,
    total: Optional[int] = None,
    force: bool = False,
) -> str:
    """Cut ``text`` to at most ``max_length`` characters with a visible marker.

    :param total: the length of the whole value, when known
    :param force: mark ``text`` as cut even when it fits (it is itself
        only the beginning of a longer value)

    >>> truncate("x" * 50, 40)
    'xxxxxxxxx...[truncated; 50 chars in all]'
    """
    if len(text) <= max_length and not force:
        return text
    if total is None and not force:
        total = len(text)
    marker = (
        TRUNCATED.format(n=total) if total is not None else _TRUNCATED_UNKNOWN
    )
    keep = max_length - len(marker)
    if keep < 0:  # no room for the marker: an ellipsis says it all
        return text[: max(0, max_length - 1)] + "…"
    return text[:keep] + marker


def _type_name(value: Any) -> str:
    try:
        name = type(value).__qualname__
        return name if isinstance(name, str) else "object"
    except Exception:
        return "object"
