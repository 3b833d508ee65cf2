"""Keep secrets and oversized values out of everything we export or log.

One choke point: every tag key and value, log field, operation name and
process tag leaves the process through :meth:`Redactor.clean_value` (or
:meth:`Redactor.clean_text`), on the exporter's thread, for every provider.
The traced thread stores values as they are and pays nothing.

The rule is **mask first, cut last**: a value is turned into text (safely,
whatever it is), every form of every secret in it is replaced by ``***``,
and only then is it cut to ``tracing_max_tag_length``. Cutting first would
let a secret that straddles the cut leave as an unmasked piece.

Forms of a secret that are masked, each alone and nested once inside
another: the raw value; JSON-escaped (``\\"``, ``\\u00f1``, with and without
``ensure_ascii``); Python ``repr``/``ascii`` escapes (``{token!r}`` in a
message, ``b'...'`` bytes); percent-encoded (``%2B`` and ``%2b``, ``+`` for
spaces, with and without ``/`` kept). Numbers that spell a secret are
masked too.

Secrets shorter than :data:`MIN_SECRET_LENGTH` characters cannot be told
apart from ordinary text (a secret ``ed`` would turn ``succeeded`` into
``succe***``, revealing it): they are masked only where they are a whole
value (a tag, a log field, a string or number inside an output), and the
control warns once about them.

URLs lose their credentials (``https://user:password@host`` →
``https://***@host``); in URL tags (``http.url``, ``url.full``...) the values
of secret-looking query and fragment parameters are masked as well.
"""
import functools
import json
import math
import re
import urllib.parse
from typing import (
    Any,
    Callable,
    Dict,
    Iterable,
    Iterator,
    List,
    Mapping,
    Optional,
    Pattern,
    Set,
    Tuple,
)

from chaostracing._data import tags
from chaostracing._data.text import safe_repr, safe_str

__all__ = [
    "MASK",
    "MIN_SECRET_LENGTH",
    "URL_TAGS",
    "Redactor",
    "safe_repr",
    "safe_text",
    "sanitize_url",
    "secret_values",
    "truncate",
]

MASK = "***"
#: shorter secrets are masked only as whole values (see the module doc)
MIN_SECRET_LENGTH = 4
#: tags whose values are URLs: their secret-looking parameters are masked
URL_TAGS = tags.URL_TAGS
#: longest tag key kept
MAX_KEY_LENGTH = 256
_TRUNCATED = "...[truncated; {n} chars in all]"
_TRUNCATED_UNKNOWN = "...[truncated]"
_MAX_DEPTH = 32

# credentials in URLs: scheme://user:password@host (user alone too)
_URL_CREDENTIALS = re.compile(r"(?<=://)[^/?#@\s]+@")

#: query/fragment parameters whose values are masked in URL tags: exact
#: names, and names containing one of the fragments
_SENSITIVE_NAMES = frozenset((
    "auth", "authorization", "code", "key", "pass", "passwd", "password",
    "pwd", "secret", "session", "sessionid", "sig", "signature", "token",
    "awsaccesskeyid", "x-amz-credential", "x-amz-security-token",
    "x-amz-signature", "x-goog-credential", "x-goog-signature",
))
_SENSITIVE_PARTS = ("token", "secret", "password", "passwd", "apikey",
                    "api_key", "api-key", "signature", "credential",
                    "private_key", "access_key", "auth")


###############################################################################
# Secrets
###############################################################################
def secret_values(
    secrets: Optional[Mapping[str, Any]],
) -> Iterator[Tuple[str, str]]:
    """``(name, value)`` of every leaf of a chaoslib ``secrets`` mapping.

    chaoslib passes secrets as ``{scope: {name: value}}`` once loaded;
    values may be of any JSON type. ``name`` is the dotted path (never the
    value), for messages.
    """
    if not isinstance(secrets, Mapping):
        return
    stack: List[Tuple[str, Any]] = [("", secrets)]
    seen: Set[int] = set()
    while stack:
        path, item = stack.pop()
        if isinstance(item, (Mapping, list, tuple, set)):
            if id(item) in seen:
                continue
            seen.add(id(item))
            pairs = (
                item.items() if isinstance(item, Mapping) else enumerate(item)
            )
            for key, child in pairs:
                stack.append((f"{path}.{key}" if path else str(key), child))
        elif item is None or isinstance(item, bool):
            continue
        elif isinstance(item, (bytes, bytearray)):
            yield path, bytes(item).decode("utf-8", "replace")
        else:
            yield path, safe_repr(item) if not isinstance(
                item, (str, int, float)) else str(item)


def _forms(secret: str) -> Set[str]:
    """The ways ``secret`` may be written in a message, a URL or JSON."""
    def escapes(text: str) -> Set[str]:
        out = {
            json.dumps(text)[1:-1],
            json.dumps(text, ensure_ascii=False)[1:-1],
            repr(text)[1:-1],
            ascii(text)[1:-1],
            repr(text.encode("utf-8", "surrogatepass"))[2:-1],
        }
        for safe in ("", "/"):
            quoted = urllib.parse.quote(text, safe=safe)
            out.add(quoted)
            out.add(re.sub(r"%[0-9A-F]{2}", lambda m: m.group().lower(),
                           quoted))
        out.add(urllib.parse.quote_plus(text, safe=""))
        return out

    first = escapes(secret)
    forms = {secret} | first
    for form in first:
        forms |= escapes(form)
    return {form for form in forms if form}


class _Trie:
    """Literal alternatives as one regex whose branches share prefixes.

    ``re`` tries the branches of ``a|b|c`` one after the other at each
    position; with hundreds of secret forms that is slow. A trie-shaped
    pattern walks the text once per position, and prefers the longest form.
    """

    @staticmethod
    def pattern(words: Iterable[str]) -> Pattern[str]:
        root: Dict[str, Any] = {}
        for word in words:
            node = root
            for char in word:
                node = node.setdefault(char, {})
            node[""] = True
        return re.compile(_Trie._emit(root), re.DOTALL)

    @staticmethod
    def _emit(node: Dict[str, Any]) -> str:
        """A regex for the words below ``node`` (which has children)."""
        branches = []
        for char, child in sorted(node.items()):
            if char == "":
                continue
            chain = [re.escape(char)]
            # a run without branching is one literal
            while len(child) == 1 and "" not in child:
                ((char, child),) = child.items()
                chain.append(re.escape(char))
            rest = ""
            if child.keys() - {""}:
                rest = _Trie._emit(child)
                if "" in child:  # a word ends here: the rest is optional,
                    rest = f"(?:{rest})?"  # and greedy (longest form first)
            branches.append("".join(chain) + rest)
        if len(branches) == 1:
            return branches[0]
        return "(?:" + "|".join(branches) + ")"


###############################################################################
# The redactor
###############################################################################
class Redactor:
    """Masks secrets and URL credentials, then caps lengths.

    >>> r = Redactor(max_length=40)
    >>> r.add_secrets(["hunter2"])
    []
    >>> r.clean_value({"password": "hunter2"})
    '{"password":"***"}'
    >>> r.clean_value("x" * 100)
    'xxxxxxxx...[truncated; 100 chars in all]'
    """

    def __init__(self, max_length: int = 1024) -> None:
        self.max_length = max_length
        self._secrets: Set[str] = set()
        self._short: Set[str] = set()
        self._pattern: Optional[Pattern[str]] = None
        #: the longest form of any secret: how far a cut can split one
        self._longest = 0
        self._byte_forms: Tuple[bytes, ...] = ()
        #: cleaned tag keys: the same few keys come again and again
        self._keys: Dict[Any, str] = {}

    # -- secrets --------------------------------------------------------------
    def add_secrets(self, values: Iterable[Any]) -> List[str]:
        """Mask these values from now on.

        :param values: strings, or ``(name, value)`` pairs as
            :func:`secret_values` gives them
        :return: the names (or ``"a secret"``) of values too short to be
            masked inside text (see :data:`MIN_SECRET_LENGTH`)
        """
        short_names = []
        fresh = []
        self._keys.clear()
        for item in values:
            name, value = item if isinstance(item, tuple) else ("", item)
            value = str(value)
            if (not value.strip() or value in self._secrets
                    or value in self._short):
                continue
            if len(value) < MIN_SECRET_LENGTH:
                self._short.add(value)
                short_names.append(name or "a secret")
                continue
            self._secrets.add(value)
            fresh.append(value)
        if fresh:
            forms: Set[str] = set()
            for secret in self._secrets:
                forms |= _forms(secret)
            self._pattern = _Trie.pattern(forms)
            self._longest = max(len(f) for f in forms)
            self._byte_forms = tuple(
                {f.encode("utf-8", "surrogatepass") for f in forms})
        return short_names

    @property
    def has_secrets(self) -> bool:
        return bool(self._secrets or self._short)

    # -- the choke point ------------------------------------------------------
    def clean_value(self, value: Any, key: str = "") -> Any:
        """A tag or log value, safe to export: masked, then cut.

        Booleans, integers, floats and bytes keep their type unless they
        spell a secret. Anything else becomes text (JSON for containers,
        ``repr`` otherwise, never raising). ``key`` selects URL handling.
        """
        if value is True or value is False:
            return value
        if value is None:
            return "None"
        if isinstance(value, int):
            text = str(value)
            if self._spells_secret(text) or not -(1 << 63) <= value < (1 << 63):
                return self.clean_text(text)
            return value
        if isinstance(value, float):
            if not math.isfinite(value):
                return str(value)
            if self._spells_secret(repr(value)):
                return self.clean_text(repr(value))
            return value
        if isinstance(value, (bytes, bytearray)):
            data = bytes(value)
            if self._byte_forms and any(f in data for f in self._byte_forms):
                return self.clean_text(data.decode("utf-8", "replace"))
            if data.decode("utf-8", "replace") in self._short:
                return MASK
            return data[: self.max_length]
        if isinstance(value, str):
            if value in self._short:
                return MASK
            if key in URL_TAGS:
                value = _sanitize_cached(value)
            return self.clean_text(value)
        budget = self._budget()
        text, complete = safe_text(value, budget, self._leaf)
        return self.clean_text(text, complete)

    def clean_key(self, key: Any) -> str:
        """A tag or field key: text, masked, at most 256 characters."""
        cached = self._keys.get(key) if type(key) is str else None
        if cached is not None:
            return cached
        cleaned = self._clean_key(key)
        if type(key) is str and len(self._keys) < 4096:
            self._keys[key] = cleaned
        return cleaned

    def _clean_key(self, key: Any) -> str:
        if not isinstance(key, str):
            key, _ = safe_text(key, MAX_KEY_LENGTH * 2)
        if key in self._short:
            return MASK
        if len(key) <= MAX_KEY_LENGTH:
            return self.clean_text(key)
        masked = self._mask(key[: MAX_KEY_LENGTH * 2 + self._longest],
                            cut=len(key) > MAX_KEY_LENGTH * 2 + self._longest)
        return masked[:MAX_KEY_LENGTH]

    def clean_text(self, text: str, complete: bool = True) -> str:
        """``text`` masked, then cut to ``max_length`` with a marker.

        :param complete: ``False`` when ``text`` is only the beginning of a
            longer value (the rest was never produced).
        """
        if complete and len(text) <= self.max_length:
            # the common case: short text, no secret in it
            pattern = self._pattern
            if pattern is None or pattern.search(text) is None:
                if "@" in text and "://" in text:
                    return _URL_CREDENTIALS.sub(MASK + "@", text)
                return text
        total = len(text) if complete else None
        budget = self._budget()
        if len(text) > budget:
            text, complete = text[:budget], False
        masked = self._mask(text, cut=not complete)
        if complete and len(masked) <= self.max_length:
            return masked
        return truncate(masked, self.max_length, total, force=not complete)

    def mask(self, text: str) -> str:
        """``text`` with every secret form and URL credential masked, uncut
        (for our own log lines)."""
        return self._mask(text, cut=False)

    # -- internals ------------------------------------------------------------
    def _budget(self) -> int:
        # enough text that a cut at max_length never splits a secret that
        # the masking saw whole
        return 2 * self.max_length + self._longest + 64

    def _leaf(self, text: str) -> str:
        return MASK if text in self._short else text

    def _spells_secret(self, text: str) -> bool:
        if text in self._short:
            return True
        pattern = self._pattern
        return pattern is not None and pattern.search(text) is not None

    def _mask(self, text: str, cut: bool) -> str:
        """Mask ``text``; when ``cut``, it is the beginning of a longer text
        and a secret may straddle its end: that tail is dropped."""
        pattern = self._pattern
        intervals: List[List[int]] = []
        if pattern is not None:
            pos = 0
            search = pattern.search
            while True:
                match = search(text, pos)
                if match is None:
                    break
                start, end = match.span()
                if end == start:  # cannot happen with literal forms
                    pos = start + 1
                    continue
                if intervals and start <= intervals[-1][1]:
                    intervals[-1][1] = max(intervals[-1][1], end)
                else:
                    intervals.append([start, end])
                # overlapping occurrences too: look again one further on
                pos = start + 1
        limit = len(text)
        if cut:
            # an occurrence starting here may go on past the end
            limit = max(0, len(text) - max(self._longest - 1, 0))
        out = []
        last = 0
        for start, end in intervals:
            if start >= limit:
                break
            out.append(text[last:start])
            out.append(MASK)
            last = end
        if limit > last:
            out.append(text[last:limit])
        masked = "".join(out)
        if "://" in masked:
            masked = _URL_CREDENTIALS.sub(MASK + "@", masked)
        return masked


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
        _TRUNCATED.format(n=total) if total is not None else _TRUNCATED_UNKNOWN
    )
    keep = max_length - len(marker)
    if keep < 0:  # no room for the marker: an ellipsis says it all
        return text[: max(0, max_length - 1)] + "…"
    return text[:keep] + marker


###############################################################################
# Hostile values as text (safe_repr and safe_str: chaostracing._data.text)
###############################################################################
def safe_text(
    value: Any,
    budget: int = 65536,
    leaf: Optional[Callable[[str], str]] = None,
) -> Tuple[str, bool]:
    """Any value as text, never raising, producing about ``budget`` chars.

    Strings stay as they are; containers (dicts, lists, tuples, sets) become
    compact JSON, with what JSON cannot hold written as its ``repr``, cycles
    as ``"<cycle>"`` and nesting beyond 32 levels as ``"..."``; exceptions
    read ``Kind: message``; anything else its ``repr``. Work stops once
    ``budget`` characters are written, so a huge or endless value costs a
    bounded time.

    :param leaf: applied to the text of each scalar leaf of a container
        (the redactor masks short secrets there)
    :return: ``(text, complete)``: ``complete`` is ``False`` when the text
        was cut at the budget.
    """
    if isinstance(value, str):
        if len(value) <= budget:
            return value, True
        return value[:budget], False
    if isinstance(value, (bytes, bytearray)):
        text = bytes(value[: budget * 4]).decode("utf-8", "replace")
        return (text[:budget], len(value) <= budget and len(text) <= budget)
    if isinstance(value, BaseException):
        text = f"{type(value).__name__}: {safe_str(value)}"
        return (text[:budget], len(text) <= budget)
    if isinstance(value, (dict, list, tuple, set, frozenset)) or (
        isinstance(value, Mapping)
    ):
        return _JsonWriter(budget, leaf).write(value)
    if value is None or isinstance(value, (bool, int, float)):
        return _scalar_json(value), True
    text = safe_repr(value, budget + 1)
    return (text[:budget], len(text) <= budget)


def _scalar_json(value: Any) -> str:
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, float) and not math.isfinite(value):
        return json.dumps(str(value))
    return repr(value) if isinstance(value, float) else str(value)


class _JsonWriter:
    """Compact JSON of a hostile container, within a character budget."""

    def __init__(self, budget: int, leaf: Optional[Callable[[str], str]]):
        self.budget = budget
        self.leaf = leaf
        self.parts: List[str] = []
        self.size = 0

    def emit(self, text: str) -> bool:
        self.parts.append(text)
        self.size += len(text)
        return self.size <= self.budget

    def string(self, text: str) -> str:
        if self.leaf is not None:
            text = self.leaf(text)
        return json.dumps(text, ensure_ascii=False)

    def scalar(self, value: Any) -> str:
        if isinstance(value, str):
            return self.string(value)
        if value is None or isinstance(value, (bool, int, float)):
            text = _scalar_json(value)
            if self.leaf is not None and self.leaf(text) != text:
                return self.string(text)
            return text
        if isinstance(value, (bytes, bytearray)):
            return self.string(bytes(value[:4096]).decode("utf-8", "replace"))
        if isinstance(value, BaseException):
            return self.string(f"{type(value).__name__}: {safe_str(value)}")
        return self.string(safe_repr(value))

    def write(self, root: Any) -> Tuple[str, bool]:
        # an explicit stack: depth and size are bounded, recursion is not used
        stack: List[Any] = [("value", root, 0)]
        on_path: Set[int] = set()
        ok = True
        while stack and ok:
            kind, item, depth = stack.pop()
            if kind == "text":
                ok = self.emit(item)
                continue
            if kind == "leave":
                on_path.discard(item)
                continue
            if isinstance(item, (Mapping, list, tuple, set, frozenset)):
                if id(item) in on_path:
                    ok = self.emit('"<cycle>"')
                    continue
                if depth >= _MAX_DEPTH:
                    ok = self.emit('"..."')
                    continue
                try:
                    if isinstance(item, Mapping):
                        children = list(item.items())
                    else:
                        children = [(None, v) for v in item]
                except Exception:
                    ok = self.emit(self.string(safe_repr(item)))
                    continue
                mapping = isinstance(item, Mapping)
                on_path.add(id(item))
                todo: List[Any] = [("text", "}" if mapping else "]", depth),
                                   ("leave", id(item), depth)]
                for index in range(len(children) - 1, -1, -1):
                    key, child = children[index]
                    todo.append(("value", child, depth + 1))
                    head = "," if index else ""
                    if mapping:
                        name = key if isinstance(key, str) else (
                            _scalar_json(key) if key is None or isinstance(
                                key, (bool, int, float)) else safe_repr(key))
                        head += self.string(name) + ":"
                    if head:
                        todo.append(("text", head, depth))
                todo.append(("text", "{" if mapping else "[", depth))
                stack.extend(todo)
                # keep the cost of a huge container bounded as well
                if len(stack) > self.budget:
                    ok = False
                continue
            ok = self.emit(self.scalar(item))
        text = "".join(self.parts)
        complete = ok and not stack
        return (text[: self.budget], complete and len(text) <= self.budget)


###############################################################################
# URLs
###############################################################################
def _sensitive(name: str) -> bool:
    lowered = urllib.parse.unquote_plus(name).strip().lower()
    return lowered in _SENSITIVE_NAMES or any(
        part in lowered for part in _SENSITIVE_PARTS)


def _mask_pairs(text: str) -> str:
    """``a=1&token=x`` with the values of sensitive names masked (the
    original spelling of everything else is kept)."""
    out = []
    for pair in re.split(r"([&;])", text):
        if pair in ("&", ";"):
            out.append(pair)
            continue
        name, eq, _ = pair.partition("=")
        out.append(f"{name}={MASK}" if eq and _sensitive(name) else pair)
    return "".join(out)


@functools.lru_cache(maxsize=1024)
def _sanitize_cached(url: str) -> str:
    # activities call the same few URLs again and again: parse each once
    return sanitize_url(url)


def sanitize_url(url: object) -> str:
    """``url`` without credentials, secret-looking parameter values masked.

    Query parameters and ``key=value`` pairs of the fragment (as OAuth's
    ``#access_token=...``) whose names look secret (``token``,
    ``refresh_token``, ``private_token``, ``password``, ``api_key``,
    ``X-Amz-Signature``...) keep their name and lose their value.

    >>> sanitize_url("https://bob:pw@api.example/x?token=abc&page=2#id_token=z")
    'https://api.example/x?token=***&page=2#id_token=***'
    """
    if not isinstance(url, str):
        url = safe_str(url)
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:
        return _URL_CREDENTIALS.sub(MASK + "@", url)
    netloc = parts.netloc.rpartition("@")[2]
    query = _mask_pairs(parts.query) if parts.query else parts.query
    fragment = parts.fragment
    if fragment and "=" in fragment:
        fragment = _mask_pairs(fragment)
    return urllib.parse.urlunsplit(
        (parts.scheme, netloc, parts.path, query, fragment))
