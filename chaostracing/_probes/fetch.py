"""The HTTP fetch of a Jaeger query API, and its answer read as spans.

Whatever goes wrong (unreachable, an HTTP error, not JSON, not Jaeger's
model, too large, too slow) fails the activity with a sentence naming the
URL, never its credentials: credentials in the URL are sent as basic
authentication, to that origin only.

- ``timeout`` is one deadline for the whole fetch (connecting, redirects,
  headers and body), not a limit per read: an answer that drips in slowly
  is cut at the deadline, and the activity fails saying so;
- a redirect to another origin (scheme, host or port) does not carry the
  ``Authorization`` header;
- credentials are found wherever the password puts them: a password may
  hold ``/``, ``?``, ``#`` or ``@`` (:func:`split_credentials`).
"""
import base64
import http.client
import json
import logging
import socket
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import (
    AbstractSet,
    Any,
    Dict,
    List,
    Optional,
    Sequence,
    Tuple,
    Union,
)

from chaoslib.exceptions import ActivityFailed

from chaostracing._data.gcpause import paused_gc
from chaostracing._data.model import SpanData

__all__ = ["MAX_ANSWER", "Refused", "get_json", "read_spans", "shown",
           "split_credentials"]
logger = logging.getLogger("chaostoolkit")

#: the largest answer read
MAX_ANSWER = 512 * 1024 * 1024
_CHUNK = 1 << 16


def split_credentials(url: str) -> Tuple[str, Optional[str], Optional[str]]:
    """``(url without credentials, user, password)``; user and password
    percent-decoded, or None.

    The standard reading ends the host part at the first ``/``, ``?`` or
    ``#``; a password holding one of them would then be read as the path
    (and printed). So when that host part has no ``@`` but holds a
    ``user:`` and an ``@`` comes later, the credentials run to the first
    ``@`` that a host name (and a port) follows.

    >>> split_credentials("http://reader:pa/ss#w?d@jaeger:16686")
    ('http://jaeger:16686', 'reader', 'pa/ss#w?d')
    """
    from chaostracing._run.redact import split_userinfo

    bare, userinfo = split_userinfo(url)
    if userinfo is None:
        return url, None, None
    user, colon, password = userinfo.partition(":")
    return (bare, urllib.parse.unquote(user),
            urllib.parse.unquote(password) if colon else None)


class Refused(ActivityFailed):  # type: ignore[misc]  # chaoslib: untyped
    """The query service answered an HTTP error (``status``): it is there,
    but does not serve this (an endpoint it lacks, a parameter it
    refuses)."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


def shown(url: str) -> str:
    """``url`` as messages show it: no credentials."""
    from chaostracing._run.redact import sanitize_url

    return sanitize_url(split_credentials(url)[0])


class _Deadline:
    """One deadline for a whole fetch: each connection's socket is watched,
    and shut down when the deadline passes, which ends any read waiting on
    it (a per-read timeout would let a dripping answer go on)."""

    def __init__(self, seconds: float) -> None:
        self.end = time.monotonic() + seconds
        self.expired = False
        self._sockets: List[socket.socket] = []
        self._lock = threading.Lock()
        self._timer = threading.Timer(seconds, self.expire)
        self._timer.daemon = True
        self._timer.start()

    def left(self) -> float:
        return max(0.001, self.end - time.monotonic())

    def watch(self, sock: Any) -> None:
        with self._lock:
            self._sockets.append(sock)
            expired = self.expired
        if expired:
            _shut(sock)

    def expire(self) -> None:
        with self._lock:
            self.expired = True
            sockets = list(self._sockets)
        for sock in sockets:
            _shut(sock)

    def cancel(self) -> None:
        self._timer.cancel()


def _shut(sock: Any) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


class _Watched(http.client.HTTPConnection):
    """A connection whose socket the deadline watches from its start."""

    def __init__(self, *args: Any, deadline: _Deadline, **kwargs: Any
                 ) -> None:
        super().__init__(*args, **kwargs)
        self.deadline = deadline

    def connect(self) -> None:
        self.timeout = self.deadline.left()
        super().connect()
        self.deadline.watch(self.sock)


class _Connection(_Watched):
    pass


class _SecureConnection(_Watched, http.client.HTTPSConnection):
    pass


class _Handler(urllib.request.HTTPHandler):
    def __init__(self, deadline: _Deadline) -> None:
        super().__init__()
        self.deadline = deadline

    def http_open(self, req: Any) -> Any:
        def connection(*args: Any, **kwargs: Any) -> _Connection:
            return _Connection(*args, deadline=self.deadline, **kwargs)

        return self.do_open(connection, req)


class _SecureHandler(urllib.request.HTTPSHandler):
    def __init__(self, deadline: _Deadline) -> None:
        super().__init__()
        self.deadline = deadline

    def https_open(self, req: Any) -> Any:
        def connection(*args: Any, **kwargs: Any) -> _SecureConnection:
            return _SecureConnection(*args, deadline=self.deadline, **kwargs)

        options: Dict[str, Any] = {"context": getattr(self, "_context", None)}
        if hasattr(self, "_check_hostname"):  # Python < 3.12
            options["check_hostname"] = self._check_hostname
        return self.do_open(connection, req, **options)


class _Redirects(urllib.request.HTTPRedirectHandler):
    """urllib's redirects, but the credentials stay with their origin."""

    def redirect_request(self, req: Any, fp: Any, code: int, msg: str,
                         headers: Any, newurl: str) -> Any:
        new = super().redirect_request(req, fp, code, msg, headers, newurl)
        if new is not None and _origin(new.full_url) != _origin(
                req.full_url):
            for store in (new.headers, new.unredirected_hdrs):
                for name in [k for k in store if k.lower() == "authorization"]:
                    del store[name]
        return new


def _origin(url: str) -> Tuple[str, str, Optional[int]]:
    parts = urllib.parse.urlsplit(url)
    default = {"http": 80, "https": 443}.get(parts.scheme)
    try:
        port = parts.port or default
    except ValueError:
        port = None
    return parts.scheme, (parts.hostname or "").lower(), port


def get_json(url: str, path: str,
             params: Union[Dict[str, str], Sequence[Tuple[str, str]]],
             timeout: float) -> Any:
    """The JSON document at ``url + path`` (``params``: a mapping, or pairs
    for a repeated parameter), within ``timeout`` seconds in all;
    ActivityFailed naming the URL when it cannot be had (:class:`Refused`
    for an HTTP error)."""
    base, user, password = split_credentials(url)
    headers = {"Accept": "application/json"}
    if user is not None:
        credentials = f"{user}:{password or ''}"
        headers["Authorization"] = "Basic " + base64.b64encode(
            credentials.encode("utf-8")).decode("ascii")
    target = base + path
    if params:
        target += "?" + urllib.parse.urlencode(params)
    where = shown(url) + path
    deadline = _Deadline(timeout)
    opener = urllib.request.build_opener(
        _Handler(deadline), _SecureHandler(deadline), _Redirects())
    try:
        body = _fetch(opener, urllib.request.Request(target, headers=headers),
                      deadline, where)
    finally:
        deadline.cancel()
    if len(body) > MAX_ANSWER:
        raise ActivityFailed(f"the trace query service at {where} answered "
                             f"more than {MAX_ANSWER >> 20} MB: narrow the "
                             "window or lower limit")
    try:
        with paused_gc():
            return json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as error:
        raise ActivityFailed(f"the trace query service at {where} did not "
                             f"answer JSON: {str(error)[:200]}") from None


def _fetch(opener: Any, request: Any, deadline: _Deadline,
           where: str) -> bytes:
    started = time.monotonic()
    try:
        with opener.open(request, timeout=deadline.left()) as answer:
            chunks = []
            size = 0
            while size <= MAX_ANSWER:
                chunk = answer.read(_CHUNK)
                if not chunk or deadline.expired:
                    break
                chunks.append(chunk)
                size += len(chunk)
    except urllib.error.HTTPError as error:
        if deadline.expired:
            raise ActivityFailed(_late(where, started)) from None
        raise Refused(
            f"the trace query service at {where} answered HTTP {error.code}"
            f"{_jaeger_error(error)}", error.code) from None
    except (urllib.error.URLError, OSError, ValueError) as error:
        if deadline.expired:
            raise ActivityFailed(_late(where, started)) from None
        reason = getattr(error, "reason", None) or error
        raise ActivityFailed(f"cannot reach the trace query service at "
                             f"{where}: {reason}") from None
    except Exception as error:  # http.client's protocol errors
        if deadline.expired:
            raise ActivityFailed(_late(where, started)) from None
        raise ActivityFailed(f"cannot read the answer of the trace query "
                             f"service at {where}: {error!r:.200}") from None
    if deadline.expired:  # a shut socket reads as the end of the answer
        raise ActivityFailed(_late(where, started))
    return b"".join(chunks)


def _late(where: str, started: float) -> str:
    return (f"the trace query service at {where} did not answer within the "
            f"timeout ({time.monotonic() - started:.1f} s): raise timeout, "
            "narrow the window or lower limit")


def _jaeger_error(error: Any) -> str:
    try:
        document = json.loads(error.read(65536).decode("utf-8"))
        message = document["errors"][0]["msg"]
    except Exception:  # whatever the body is, the status says enough
        return ""
    return f": {str(message)[:300]}"


def read_spans(document: Any, url: str, service: Optional[str],
               tag_keys: Optional[AbstractSet[str]] = None
               ) -> List[SpanData]:
    """The spans of ``service`` (None: of every service) in a Jaeger
    ``/api/traces`` answer (``tag_keys``: with only those tags, see
    :func:`~chaostracing._data.jaegerjson.read_document`); ActivityFailed
    naming the URL when it is not Jaeger's JSON model. A bad span in it (a
    ``startTime`` of -1...) costs only itself: it is left out, and one
    warning says how many were."""
    from chaostracing._data.jaegerjson import Skipped, read_document

    if isinstance(document, dict) and "data" in document \
            and document["data"] is None and not document.get("errors"):
        return []  # Jaeger's "nothing found" may be a null list
    skipped = Skipped()
    try:
        with paused_gc():
            spans = read_document(document, service, skipped, tag_keys)
    except ValueError as error:
        raise ActivityFailed(f"the trace query service at {shown(url)} did "
                             f"not answer Jaeger's JSON model: {error}"
                             ) from None
    if skipped:
        logger.warning(
            f"chaostracing.probes: the trace query service at {shown(url)} "
            f"answered spans that are not Jaeger's model: {skipped}; the "
            "figure is over the others")
    return spans
