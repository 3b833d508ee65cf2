"""Keep secrets and oversized values out of everything we export or log.

One choke point: every tag key and value, log field, operation name and
process tag leaves the process through :meth:`Redactor.clean_value` (or
:meth:`Redactor.clean_text`), on the exporter's thread, for every provider.
The traced thread stores values as they are and pays nothing.

The rule is **mask first, cut last**: a value is turned into text (safely,
whatever it is), every form of every secret in it is replaced by ``***``,
and only then is it cut to ``tracing_max_tag_length``. Cutting first would
let a secret that straddles the cut leave as an unmasked piece.

Forms of a secret that are masked (docs/security.md lists them): the raw
value; any mixture of its characters percent-encoded (``%2B`` or ``%2b``,
one character or all: what quote, quote_plus, requests, urllib3, httpx and
yarl write), ``+`` for a space; JSON's ``\\uXXXX`` escapes in either case
and its short escapes (``\\"``); Python's ``repr``/``ascii`` escapes
(``{token!r}`` in a message, ``b'...'`` bytes); each of those escaped once
more by an outer layer (a URL of JSON, JSON of a repr); base64 of its UTF-8
bytes at any of the three alignments inside a longer value (standard and
URL-safe alphabets, padded or not: a Basic ``Authorization`` value); hex of
them in lower or upper case. Numbers that spell a secret are masked too.

Secrets shorter than :data:`MIN_SECRET_LENGTH` characters cannot be told
apart from ordinary text (a secret ``ed`` would turn ``succeeded`` into
``succe***``, revealing it): they are masked only where they are a whole
value (a tag, a log field, a string or number inside an output), and the
control warns once about them.

URLs lose their credentials (``https://user:password@host`` →
``https://***@host``); in URL tags (``http.url``, ``url.full``...) the values
of secret-looking query and fragment parameters are masked as well.
"""
import base64
import functools
import json
import math
import re
import threading
import urllib.parse
from typing import (
    Any,
    Callable,
    Dict,
    Iterable,
    Iterator,
    List,
    Mapping,
    Match,
    NamedTuple,
    Optional,
    Pattern,
    Set,
    Tuple,
)

from chaostracing._data import tags
from chaostracing._data.text import safe_repr, safe_str, truncate

__all__ = [
    "MASK",
    "MIN_SECRET_LENGTH",
    "URL_TAGS",
    "Redactor",
    "hide_credentials",
    "safe_repr",
    "safe_text",
    "sanitize_url",
    "secret_values",
    "split_userinfo",
    "truncate",
]

MASK = "***"
#: shorter secrets are masked only as whole values (see the module doc)
MIN_SECRET_LENGTH = 4
#: tags whose values are URLs: their secret-looking parameters are masked
URL_TAGS = tags.URL_TAGS
#: longest tag key kept
MAX_KEY_LENGTH = 256
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


# -- the forms of a secret -----------------------------------------------------
# Each character of a secret may be written by an encoder as itself or
# escaped, and encoders escape characters one by one: so the forms of a
# secret are a sequence, one group of alternatives per character, and any
# mixture of escaped and plain characters (partial percent-encoding) is one
# of them. An escape's marker (``\`` or ``%``) may itself be escaped once
# more by an outer layer (JSON of a repr, a URL of JSON...).

#: an escape's backslash, as outer layers write it: as is, JSON- or
#: repr-escaped (once, twice, three times: 2, 4, 8 backslashes),
#: percent-encoded (once or twice, alone or escaped: %5C%5C)
_ANY_BACKSLASH = r"(?:\\{1,8}|(?:%(?:25)?5[cC]){1,2})"
#: a percent sign, as is or percent-encoded again (twice)
_ANY_PERCENT = "%(?:25){0,2}"
#: characters JSON or Python write as a backslash and a letter
_SHORT_ESCAPES = {'"': '"', "'": "'", "\\": "\\", "/": "/", "\b": "b",
                  "\f": "f", "\n": "n", "\r": "r", "\t": "t"}
#: longest text one escape marker can take (``%255C%255C``)
_MARKER = 10
_SPACE = re.escape(" ")
#: base64's alphabets (standard and URL-safe), as a character class
_B64_CHAR = "[A-Za-z0-9+/_-]"
#: shortest base64 run masked: shorter ones would mask ordinary text
_MIN_B64 = 4


def _hex_any_case(digits: str) -> str:
    """A regex matching ``digits`` (hex) in upper or lower case."""
    return "".join(f"[{d}{d.upper()}]" if d.isalpha() else d for d in digits)


class _Char(NamedTuple):
    """The ways one character may be written, as regexes: ``literal``;
    percent-encoded, ``pct_rest`` being what follows its first ``%``;
    backslash-escaped, ``bs_rest`` being what follows its first ``\\``;
    and the longest text any of them matches."""

    literal: str
    pct_rest: str
    bs_rest: str
    longest: int

    def regex(self, last: bool = False) -> str:
        """The alternatives, the plain character first (the usual case);
        for the ``last`` character of a secret the escaped ones first:
        the regex stops at the first that matches, and the longer match
        masks more ("%25" rather than "%" and a "25" left)."""
        extra = "|%2[bB]|\\+" if self.literal == _SPACE else ""
        escaped = (f"{_ANY_PERCENT}{self.pct_rest}"
                   f"|{_ANY_BACKSLASH}{self.bs_rest}{extra}")
        if last:
            return f"(?:{escaped}|{self.literal})"
        return f"(?:{self.literal}|{escaped})"

    def heads(self) -> List[str]:
        """The same alternatives grouped by the literal character each
        starts with (``re`` then skips to where a match may start)."""
        space = self.literal == _SPACE
        heads = [f"%(?:(?:25){{0,2}}{self.pct_rest}"
                 f"|(?:25)?5[cC](?:%(?:25)?5[cC])?{self.bs_rest}"
                 + ("|2[bB])" if space else ")"),
                 # a literal first (a repeat would hide where a match
                 # may start from the regex engine: every position tried)
                 f"\\\\(?:\\\\){{0,7}}{self.bs_rest}"]
        if space:
            heads.append("\\+")
        return heads + [self.literal]


@functools.lru_cache(maxsize=4096)
def _char(char: str) -> _Char:
    data = char.encode("utf-8", "surrogatepass")
    code = ord(char)
    hexes = [_hex_any_case(f"{b:02x}") for b in data]
    # percent-encoding (quote, quote_plus, requote_uri, httpx, yarl, urllib3)
    pct_rest = hexes[0] + "".join(_ANY_PERCENT + h for h in hexes[1:])
    # JSON's \uXXXX (either case), Python's \xNN, \uNNNN, \UNNNNNNNN
    escapes = []
    if code > 0xFFFF:
        high = 0xD800 + ((code - 0x10000) >> 10)
        low = 0xDC00 + ((code - 0x10000) & 0x3FF)
        escapes.append("u" + _hex_any_case(f"{high:04x}") + _ANY_BACKSLASH
                       + "u" + _hex_any_case(f"{low:04x}"))
        escapes.append("U" + _hex_any_case(f"{code:08x}"))
    else:
        escapes.append("u" + _hex_any_case(f"{code:04x}"))
    if code < 0x100:
        escapes.append("x" + hexes[0] if len(data) == 1
                       else "x" + _hex_any_case(f"{code:02x}"))
    if len(data) > 1:  # bytes as Python writes them: b'\xc3\xb1'
        escapes.append("x" + hexes[0] + "".join(
            _ANY_BACKSLASH + "x" + h for h in hexes[1:]))
    short = _SHORT_ESCAPES.get(char)
    if short == "\\":  # \\, and an outer layer's \\\\ or %5C%5C
        escapes.append(_ANY_BACKSLASH)
    elif short is not None:  # \" and an outer layer's \\\" or %5C%22
        escapes.append("(?:" + _ANY_BACKSLASH + ")?" + "(?:" + "|".join([
            re.escape(short), f"%{ord(short):02X}", f"%{ord(short):02x}"])
            + ")")
    bs_rest = "(?:" + "|".join(escapes) + ")"
    size = len(data)
    longest = max(size * 7,  # %2541 per byte
                  _MARKER + (13 if code > 0xFFFF else 5),  # \U... \u...
                  2 * (_MARKER + 5) if code > 0xFFFF else 0,  # a pair
                  size * (_MARKER + 3),  # \xNN per byte
                  2 * _MARKER + 3 if short is not None else 0)  # \\\"
    return _Char(re.escape(char), pct_rest, bs_rest, longest)


def _secret_patterns(secret: str) -> List[Tuple[str, int]]:
    """``(regex, longest match)`` of the forms of ``secret``, each regex
    starting with a literal character (so that ``re`` finds where a match
    may start by a set of characters, not by trying every position)."""
    chars = [_char(char) for char in secret]
    tail = "".join(char.regex(last=index == len(chars) - 1)
                   for index, char in enumerate(chars[1:], 1))
    longest = sum(char.longest for char in chars)
    out = [(head + tail, longest) for head in chars[0].heads()]
    data = secret.encode("utf-8", "surrogatepass")
    # hex (binascii.hexlify, bytes.hex), lower or upper case
    for digits in {data.hex(), data.hex().upper()}:
        out.append((digits, len(digits)))
    out += [(re.escape(core) + f"(?:{_B64_CHAR}=*)?", len(core) + 3)
            for core in _base64_cores(data)]
    return out


class _LazyPattern:
    """A regex compiled at its first search, which then takes its place in
    the redactor."""

    _lock = threading.Lock()

    def __init__(self, owner: "Redactor", source: str) -> None:
        self.owner = owner
        self.source = source
        self.compiled: Optional[Pattern[str]] = None

    def search(self, text: str, pos: int = 0) -> Optional[Match[str]]:
        with self._lock:
            if self.compiled is None:
                self.compiled = re.compile(self.source, re.DOTALL)
        if self.owner._pattern is self:
            self.owner._pattern = self.compiled
        return self.compiled.search(text, pos)


def _base64_cores(data: bytes) -> Set[str]:
    """What base64 writes of ``data`` wherever it sits in a longer value:
    at each of the three alignments, the characters made of its bits only,
    in the standard and the URL-safe alphabet (padding or not)."""
    cores = set()
    for offset in range(3):
        text = base64.b64encode(b"\0" * offset + data).decode("ascii")
        first = -(-8 * offset // 6)  # the first character of data's bits
        last = 8 * (offset + len(data)) // 6
        core = text[first:last]
        if len(core) >= _MIN_B64:
            cores.add(core)
            cores.add(core.translate(_URLSAFE))
    return cores


_URLSAFE = str.maketrans("+/", "-_")
_B64_ALPHABET = dict.fromkeys(
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/-_", True)


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
        self._pattern: Optional[Any] = None  # a Pattern, once compiled
        #: the longest form of any secret: how far a cut can split one
        self._longest = 0
        #: the first characters of the secrets' base64 runs (a match there
        #: takes the character before it too: it holds bits of the secret)
        self._b64_heads: Set[str] = set()
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
            patterns: List[Tuple[str, int]] = []
            # the longest secret first: where two match at one place (one
            # is the other's beginning), the regex takes the first
            for secret in sorted(self._secrets, key=lambda s: (-len(s), s)):
                patterns += _secret_patterns(secret)
                self._b64_heads.update(
                    core[:_MIN_B64] for core in _base64_cores(
                        secret.encode("utf-8", "surrogatepass")))
            # compiled where first used (the exporter's thread), not on the
            # thread that configures the run: it takes milliseconds
            self._pattern = _LazyPattern(
                self, "|".join(regex for regex, _ in patterns))
            self._longest = max(size for _, size in patterns)
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
            if self._pattern is None and not self._short:
                return data[: self.max_length]
            text = data.decode("utf-8", "replace")
            if text in self._short:
                return MASK
            if self._spells_secret(text):
                return self.clean_text(text)
            return data[: self.max_length]
        if isinstance(value, str):
            if value in self._short:
                return MASK
            if key in URL_TAGS:
                return self._clean_url(value)
            return self.clean_text(value)
        budget = self._budget()
        text, complete = safe_text(value, budget, self._leaf)
        return self.clean_text(text, complete)

    def _clean_url(self, url: str) -> str:
        """A URL tag: masked first (parsing may change the text: an empty
        ``?`` is dropped), then its credentials and secret-looking
        parameters removed, then cut."""
        budget = self._budget()
        complete = len(url) <= budget
        if not complete:
            url = url[:budget]
        pattern = self._pattern
        if pattern is not None and (not complete
                                    or pattern.search(url) is not None):
            url = self._mask(url, cut=not complete)
        # masked: what sanitizing leaves holds no secret
        clean = _sanitize_cached(url)
        if complete and len(clean) <= self.max_length:
            return clean
        return truncate(clean, self.max_length,
                        len(clean) if complete else None, force=not complete)

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
        room = MAX_KEY_LENGTH * 2 + self._longest
        complete = True
        if not isinstance(key, str):  # masked before it is cut, as text is
            key, complete = safe_text(key, room)
        if key in self._short:
            return MASK
        if complete and len(key) <= MAX_KEY_LENGTH:
            return self.clean_text(key)
        masked = self._mask(key[:room], cut=not complete or len(key) > room)
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
                if end == start:  # cannot happen: no form is empty
                    pos = start + 1
                    continue
                if start and text[start:start + _MIN_B64] in self._b64_heads \
                        and _B64_ALPHABET.get(text[start - 1]):
                    start -= 1  # base64's character that straddles it
                if intervals and start <= intervals[-1][1]:
                    intervals[-1][1] = max(intervals[-1][1], end)
                else:
                    intervals.append([start, end])
                # overlapping occurrences too: look again one further on
                pos = match.start() + 1
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


#: what follows the ``@`` that ends credentials: a host (a name, or an
#: IPv6 address in brackets) and perhaps a port, then the path or nothing
_HOST_AFTER = re.compile(
    r"(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._~%!$&'()*+,;=-]+)(?::\d*)?(?=[/?#]|$)")


def split_userinfo(url: str) -> Tuple[str, Optional[str]]:
    """``(url without its user information, the user information)``.

    Read as the standard does when the host part (up to the first ``/``,
    ``?`` or ``#``) holds an ``@``. When it does not, but starts with
    ``user:`` and an ``@`` comes later, a password holding ``/``, ``?`` or
    ``#`` was written unencoded: the user information runs to the first
    ``@`` that a host name follows (a password may hold ``@`` too). (So a
    URL with a port and an ``@`` in its path, ``http://h:1/a/@b``, reads as
    credentials: no query URL has one; a password read as a path would be
    printed.)

    >>> split_userinfo("https://bob:pa/ss?w#d@jaeger:16686/x")
    ('https://jaeger:16686/x', 'bob:pa/ss?w#d')
    >>> split_userinfo("https://jaeger/users/@me")
    ('https://jaeger/users/@me', None)
    """
    scheme_end = url.find("://")
    if scheme_end < 0:
        return url, None
    start = scheme_end + 3
    end = len(url)
    for stop in "/?#":
        found = url.find(stop, start)
        if found >= 0:
            end = min(end, found)
    authority = url[start:end]
    if "@" in authority:
        at = authority.rfind("@")
        return url[:start] + url[start + at + 1:], authority[:at]
    user = authority.partition(":")[0]
    if ":" not in authority or not user or end == len(url):
        return url, None
    at = url.find("@", end)
    while at >= 0:
        if _HOST_AFTER.match(url, at + 1):
            return url[:start] + url[at + 1:], url[start:at]
        at = url.find("@", at + 1)
    return url, None


def hide_credentials(text: str) -> str:
    """``text`` (a setting's value, for a message) with any URL
    credentials in it masked, however the password is written."""
    bare, userinfo = split_userinfo(text)
    if userinfo is not None:
        start = text.find("://") + 3
        text = bare[:start] + MASK + "@" + bare[start:]
    return _URL_CREDENTIALS.sub(MASK + "@", text)


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
