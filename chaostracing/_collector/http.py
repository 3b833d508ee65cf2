"""The collector's HTTP serving: aiohttp's server in front of plain endpoints.

The endpoints (the OTLP receiver, Jaeger's query API) are plain functions
``handler(context, request) -> Answer`` listed in one routing table per
port (:class:`Route`), and know nothing of the HTTP library: they take a
:class:`Request` whose body is already read whole and inflated, and give an
:class:`Answer` whose body is bytes, or an iterator of bytes for a large
answer, sent piece by piece.

This module does the HTTP, on aiohttp's server (its C parser): one asyncio
loop in one daemon thread serves every port, and the endpoint functions run
in a small thread pool, so that decoding, searching and writing JSON never
hold the loop that keeps the connections and their clocks. What it holds to:

- **Timeouts** (``Limits.timeout``, ``--timeout``): a connection idle that
  long is closed, before its first request as after its last, and so is
  one whose request headers take longer (a sweep, every second, closes
  connections with no request under way since; aiohttp 3.14 does the same
  itself, older releases did not before a first request); a body must
  arrive whole within it (else 408), and each piece of an answer must be
  taken within it.
- **Bounds**: at most ``max_connections`` connections in all (beyond, a
  503 and the connection closed), at most ``max_requests`` requests handled
  at once per port (beyond, a request waits for its turn, then 503; a body
  is read before its turn, so that a slow one holds no turn), and a listen
  backlog of ``backlog``.
- **Bodies**: read whole, with a ``Content-Length`` or chunked
  (``Transfer-Encoding: chunked``, as OpenTelemetry's JavaScript exporters
  send). A bad ``Content-Length`` or chunk size is answered 400 by the
  parser. ``max_body`` caps a body, once inflated too (413); the bytes of
  bodies held at once, raw and inflated, across requests, are bounded by
  ``body_budget`` (counted as they arrive, not as a ``Content-Length``
  promises them): beyond, a request waits for room, then 503. Bodies of
  :data:`BIG_BODY` or more are decoded one at a time. A gzip body
  that is cut short, or has more than :data:`MAX_MEMBERS` members, is 400;
  inflating takes time linear in the body (:func:`inflate`). A body that
  is not read and decoded whole is never answered 200: a connection that
  ends in the middle of one gets no answer, and nothing of it is stored.
- **Host**: the ``Host`` header must name an address served (see
  :class:`HostGuard`), against DNS rebinding; else 421. No CORS headers,
  unless an origin is allowed (``--cors``).
"""
import asyncio
import collections
import concurrent.futures
import functools
import logging
import socket
import threading
import urllib.parse
import zlib
from typing import (
    Any,
    Awaitable,
    Callable,
    Deque,
    Dict,
    Iterable,
    Iterator,
    List,
    Mapping,
    NamedTuple,
    Optional,
    Sequence,
    Set,
    Tuple,
    Union,
)

from chaostracing._data.otlp import MAX_BODY
from chaostracing._data.spanquery import first_value

__all__ = [
    "Answer",
    "HostGuard",
    "HttpError",
    "Limits",
    "MAX_MEMBERS",
    "MissingExtra",
    "PIECE",
    "Request",
    "Route",
    "Serving",
    "Site",
    "inflate",
    "match",
]

logger = logging.getLogger("chaostoolkit")

#: what the collector's HTTP ports need, and the extra that brings it
EXTRA = "chaostoolkit-opentracing[collect]"
#: bytes of a streamed answer's pieces, about (each is sent before the next
#: is made)
PIECE = 256 * 1024
#: bytes of a body from which its handler runs alone: decoding a body takes
#: about twice its size again (the parsed message, then Python's strings),
#: and that is not counted in the budget
BIG_BODY = 4 * 1024 * 1024
#: gzip members of one body at most (clients send one, or a few)
MAX_MEMBERS = 10_000
#: bytes of a gzip member fed to zlib at first, and at most (see
#: :func:`inflate`)
_FEED, _FEED_MAX = 256, 1024 * 1024
Body = Union[bytes, Iterator[bytes]]


class MissingExtra(RuntimeError):
    """The collector's HTTP library is not installed."""


class HttpError(ValueError):
    """A request refused with ``status``; the message says why."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class Limits(NamedTuple):
    """How much the HTTP ports take (the module documentation says how)."""

    #: seconds: idle connections, slow headers, a body, a piece of answer
    timeout: float = 30.0
    #: bytes of one request body, inflated or not
    max_body: int = MAX_BODY
    #: bytes of bodies held at once (raw and inflated), all requests
    body_budget: int = 2 * MAX_BODY
    #: connections at once, all ports
    max_connections: int = 1000
    #: requests handled at once, per port (the others wait their turn)
    max_requests: int = 64
    #: the listen backlog
    backlog: int = 1024


class Request:
    """What an endpoint sees of a request: no socket, no library."""

    __slots__ = ("method", "path", "args", "params", "headers", "body")

    def __init__(self, method: str = "GET", path: str = "/",
                 args: Optional[Dict[str, str]] = None,
                 params: Optional[Dict[str, List[str]]] = None,
                 headers: Optional[Mapping[str, str]] = None,
                 body: bytes = b"") -> None:
        self.method = method
        #: the path as sent (percent-encoded), without the query
        self.path = path
        #: the pattern's ``{name}`` segments, decoded
        self.args = args or {}
        #: the query string's parameters, each a list of its values
        self.params = params or {}
        #: header names in lower case
        self.headers = {k.lower(): v for k, v in (headers or {}).items()}
        #: read whole, and inflated when it came gzip-encoded
        self.body = body

    def first(self, name: str) -> str:
        """The first value of the query parameter ``name``, or ``""``."""
        return first_value(self.params, name)


class Answer:
    """An endpoint's answer: status, type, body (bytes, or an iterator of
    bytes sent as it is produced), more headers."""

    __slots__ = ("status", "content_type", "body", "headers")

    def __init__(self, status: int, content_type: str, body: Body,
                 headers: Sequence[Tuple[str, str]] = ()) -> None:
        self.status = status
        self.content_type = content_type
        self.body = body
        self.headers = tuple(headers)


Handler = Callable[[Any, Request], Answer]


class Route(NamedTuple):
    """One line of a port's routing table.

    ``pattern`` is a path whose ``{name}`` segments match any one segment
    (percent-decoded into ``request.args``). A ``GET`` route answers
    ``HEAD`` too. A route with ``accepts`` (content types) reads a body;
    other types are refused with 415 before it is read. Handlers run in
    the thread pool, except for bodies shorter than ``inline`` bytes: the
    handler is quick for those, and runs on the loop's thread without the
    hop to the pool (which cost more than decoding a small OTLP body).
    """

    method: str
    pattern: str
    handler: Handler
    accepts: Tuple[str, ...] = ()
    inline: int = 0


class Site:
    """One port: its routing table, the context its handlers get (the
    store, the receiver), and its own way of saying no.

    :param refuse: the answer for a refusal ``(status, message)``, in the
        port's own error format
    :param not_found: the answer for a path no route has
    """

    def __init__(self, what: str, routes: Sequence[Route], context: Any,
                 refuse: Callable[[int, str], Answer],
                 not_found: Optional[Callable[[Request], Answer]] = None
                 ) -> None:
        self.what = what
        self.routes = list(routes)
        self.context = context
        self.refuse = refuse
        self.not_found = not_found or (
            lambda request: refuse(404, f"nothing at {request.path[:200]}"))
        #: requests answered by a handler / refused before or by one
        self.counters = {"requests": 0, "refused": 0}


def match(routes: Sequence[Route], method: str, path: str
          ) -> Tuple[Optional[Route], Dict[str, str], List[str]]:
    """The route for ``method`` and ``path`` (percent-encoded), its
    arguments, and the methods the path allows (for a 405) when no route
    of that method matches."""
    segments = path.split("/")
    allowed: List[str] = []
    for route in routes:
        args = _match_pattern(route.pattern, segments)
        if args is None:
            continue
        methods = ("GET", "HEAD") if route.method == "GET" else (route.method,)
        if method in methods:
            return route, args, []
        allowed.extend(m for m in methods if m not in allowed)
    return None, {}, allowed


@functools.lru_cache(maxsize=64)
def _pattern_segments(pattern: str) -> Tuple[str, ...]:
    return tuple(pattern.split("/"))


def _match_pattern(pattern: str, segments: List[str]
                   ) -> Optional[Dict[str, str]]:
    expected = _pattern_segments(pattern)
    if len(expected) != len(segments):
        return None
    args = {}
    for want, got in zip(expected, segments):
        if want.startswith("{") and want.endswith("}"):
            args[want[1:-1]] = urllib.parse.unquote(got)
        elif want != urllib.parse.unquote(got):
            return None
    return args


###############################################################################
# The Host header (DNS rebinding) and CORS
###############################################################################
_LOOPBACK_NAMES = ("localhost",)
_WILDCARDS = ("", "0.0.0.0", "::")


class HostGuard:
    """Which ``Host`` headers and browser origins are answered.

    A page on another site can make a browser send requests to 127.0.0.1
    by giving its own name the address 127.0.0.1 (DNS rebinding): the
    browser then reads the answers as that site's own. Such a request
    carries the other site's name in ``Host``. So ``Host`` must be one of
    the names of what is served: ``localhost`` (and ``*.localhost``), a
    loopback address, the ``--host`` address, any IP address when
    ``--host`` is a wildcard (0.0.0.0, ::: a name, not an address, is what
    rebinding needs), or a name listed with ``--allow-host`` (``*``: any).
    Other requests are answered 421 Misdirected Request: the request is
    not forbidden to this client, it is addressed to a name this server
    does not serve (RFC 9110, 15.5.20).

    Without ``--cors``, answers carry no CORS header, so a page of another
    origin cannot read them; ``--cors ORIGIN`` lets that origin (``*``:
    any) read them and send OTLP from a browser.
    """

    def __init__(self, host: str = "127.0.0.1", allowed: Iterable[str] = (),
                 cors: Iterable[str] = ()) -> None:
        names = {_host_name(name) for name in allowed}
        self.any_host = "*" in names
        self.any_address = host.strip("[]") in _WILDCARDS
        self.names = names | {_host_name(host)} | set(_LOOPBACK_NAMES)
        self.origins = {origin.rstrip("/") for origin in cors}
        #: requests refused for their Host (a count, not the names: a
        #: client may send any number of them; the first few are said,
        #: see :meth:`Serving._warn_host`)
        self.refused = 0

    def refusal(self, host: Optional[str], http11: bool
                ) -> Optional[Tuple[int, str]]:
        """``(status, message)`` when a request with this ``Host`` header
        is not answered, else ``None``."""
        if host is None:
            if http11:  # RFC 9112, 3.2
                return 400, "an HTTP/1.1 request needs a Host header"
            return None  # HTTP/1.0, no browser
        if self.any_host:
            return None
        name = _host_name(host)
        if name in self.names or name.endswith(".localhost"):
            return None
        address = _address(name)
        if address is not None and (self.any_address or address.is_loopback):
            return None
        self.refused += 1
        return 421, (f"Host {name[:100]!r} is not an address served here (a "
                     "guard against DNS rebinding): start collect with "
                     f"--allow-host {name[:100]} to accept it")

    def cors_headers(self, origin: Optional[str]) -> List[Tuple[str, str]]:
        """The CORS headers for a request from ``origin``: none unless it
        is allowed."""
        if not origin or not self.origins:
            return []
        if "*" in self.origins:
            return [("Access-Control-Allow-Origin", "*")]
        if origin.rstrip("/") in self.origins:
            return [("Access-Control-Allow-Origin", origin), ("Vary", "Origin")]
        return []


def _host_name(host: str) -> str:
    """The name or address of a ``Host`` value, without its port."""
    host = host.strip().lower()
    if host.startswith("["):  # [::1]:4318
        return host[1:].split("]", 1)[0]
    if host.count(":") == 1:
        host = host.split(":", 1)[0]
    return host.rstrip(".")


def _address(name: str) -> Any:
    import ipaddress

    try:
        return ipaddress.ip_address(name.split("%", 1)[0])
    except ValueError:
        return None


###############################################################################
# Bodies
###############################################################################
class _NeedsMore(Exception):
    """An inflated body grew past what was set aside for it."""


async def _continue(raw: Any) -> None:
    """A client that asked to be told before it sends its body (``Expect:
    100-continue``; curl does for a body over 1 MiB) is told now, once the
    head was accepted: aiohttp's low-level server leaves that to us (it
    would wait, then send anyway). Another expectation is 417, as RFC 9110
    says."""
    expect = raw.headers.get("Expect")
    if expect is None or raw.version < (1, 1):
        return
    if expect.strip().lower() != "100-continue":
        raise HttpError(417, "only Expect: 100-continue is understood")
    await raw.writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")


def inflate(body: bytes, limit: int, cap: int) -> bytes:
    """A gzip body inflated (several members, as gzip allows), at most
    ``limit`` bytes (what was set aside for it) and never more than
    ``cap`` (the body cap).

    The work is linear in the body: it is read through a view at an
    offset, a member at a time, never copied whole again. zlib copies what
    follows a member's end (``unused_data``), so each member is fed in
    pieces that start at :data:`_FEED` bytes and double while the member
    goes on: what is copied after a member is under twice what it took,
    plus :data:`_FEED`. At most :data:`MAX_MEMBERS` members (a client
    sends one, or a few).

    :raises HttpError: 400 when it is not gzip, is cut short or has more
        than :data:`MAX_MEMBERS` members, 413 over ``cap``
    :raises _NeedsMore: over ``limit`` but not over ``cap``
    """
    out: List[bytes] = []
    size = 0
    view = memoryview(body)
    end = len(view)
    at = 0
    members = 0
    bound = min(limit, cap)
    while True:
        if members == MAX_MEMBERS:
            raise HttpError(400, f"more than {MAX_MEMBERS} gzip members")
        members += 1
        inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
        feed = _FEED
        while not inflater.eof:
            if at >= end:
                raise HttpError(400, "the gzip body is cut short (it does "
                                     "not end where its data does)")
            data = view[at:at + feed]
            try:
                piece = inflater.decompress(data, bound - size + 1)
            except zlib.error as error:
                raise HttpError(400, f"not a gzip body: {error}") from None
            size += len(piece)
            out.append(piece)
            if size > cap:
                raise HttpError(413, f"more than {cap} bytes once inflated")
            if size > limit or inflater.unconsumed_tail:
                raise _NeedsMore()
            at += len(data) - len(inflater.unused_data)
            feed = min(feed * 2, _FEED_MAX)
        if at >= end:
            return b"".join(out)
        if view[at] == 0:  # trailing zeros: some writers pad
            if body.count(0, at) != end - at:
                raise HttpError(400, "not a gzip body: bytes after its "
                                     "padding")
            return b"".join(out)


def _gzip_size(body: bytes, cap: int) -> int:
    """What a gzip body says it inflates to (its last member's ISIZE, the
    size modulo 4 GiB), at most ``cap``: the room set aside first."""
    if len(body) < 18:
        return 1
    return max(1, min(int.from_bytes(body[-4:], "little"), cap))


class _Budget:
    """Bytes of bodies set aside, on the loop.

    A reader takes room as its body's bytes arrive, and gives it back once
    its request is handled. Readers that wait while holding room could wait
    for each other forever; so when room is short, one reader at a time (the
    first that found it short) may go past the total, by its own body: it
    always finishes, then the next one may. At most the total plus one body
    is held.
    """

    def __init__(self, total: int) -> None:
        self.total = total
        self.free = total
        self._waiters: Deque[Tuple[int, asyncio.Future[None], object]] = (
            collections.deque())
        #: the reader allowed past the total, if any
        self._past: Optional[object] = None

    async def take(self, size: int, timeout: float, reader: object) -> int:
        """``size`` bytes for ``reader``, at once or within ``timeout``.

        :raises HttpError: 503 when no room came in time
        """
        if size <= 0:
            return 0
        if self._past is reader or (self.free >= size and not self._waiters):
            self.free -= size
            return size
        if self._past is None:
            self._past = reader
            self.free -= size
            return size
        future = asyncio.get_event_loop().create_future()
        entry = (size, future, reader)
        self._waiters.append(entry)
        try:
            await asyncio.wait_for(asyncio.shield(future), timeout)
        except asyncio.TimeoutError:
            if future.done():  # granted as time ran out
                return size
            self._waiters.remove(entry)
            self._wake()
            raise HttpError(503, "the collector is busy with other bodies: "
                                 "try again") from None
        except BaseException:
            if future.done() and not future.cancelled():
                self.give(size)
            elif entry in self._waiters:
                self._waiters.remove(entry)
            raise
        return size

    def give(self, size: int) -> None:
        if size:
            self.free += size
            self._wake()

    def done(self, reader: object) -> None:
        """``reader`` has its whole body: another may go past the total."""
        if self._past is reader:
            self._past = None
            self._wake()

    def _wake(self) -> None:
        while self._waiters:
            size, future, reader = self._waiters[0]
            if future.done():
                self._waiters.popleft()
                continue
            if self.free < size:
                if self._past is not None and self._past is not reader:
                    return
                self._past = reader
            self._waiters.popleft()
            self.free -= size
            future.set_result(None)


###############################################################################
# Serving
###############################################################################
class _Counting(logging.Handler):
    """aiohttp logs each request its parser refused (400): counted, not
    printed."""

    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.count += 1


_BUSY = (b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\n"
         b"Retry-After: 1\r\nConnection: close\r\nContent-Length: 54\r\n\r\n"
         b"too many connections to the collector: try again soon\n")


class _Busy(asyncio.Protocol):
    """A connection over ``max_connections``: 503, closed."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        transport.write(_BUSY)
        transport.close()


class Serving:
    """The HTTP ports of one collector: bound at once (:meth:`bind`),
    served from :meth:`start` to :meth:`stop`.

    :param warn: called (on the loop's thread) with a message worth one
        line on the console
    """

    def __init__(self, limits: Optional[Limits] = None,
                 guard: Optional[HostGuard] = None,
                 warn: Callable[[str], None] = logger.warning) -> None:
        try:
            import aiohttp.web  # noqa: F401
        except ImportError as error:
            raise MissingExtra(
                f"aiohttp is not installed: pip install '{EXTRA}' ({error})"
            ) from None
        self.limits = limits or Limits()
        self.guard = guard or HostGuard()
        self._warn = warn
        self._bound: List[Tuple[socket.socket, Site]] = []
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self._thread: Optional[threading.Thread] = None
        self._pool: Optional[concurrent.futures.ThreadPoolExecutor] = None
        self._servers: List[Any] = []
        self._web: List[Any] = []
        self._parse_errors = _Counting()
        self._warned_hosts: Set[str] = set()
        #: each connection: since when it has had no request under way
        #: (None: one is)
        self._idle: Dict[Any, Optional[float]] = {}
        self._sweeper: Optional[asyncio.Task[None]] = None
        #: connections accepted that aiohttp does not count yet (until
        #: their connection_made), and since when
        self._pending: Dict[Any, float] = {}
        #: connections turned away (over max_connections)
        self.busy = 0
        #: requests whose handling is over, answered or not (a body cut
        #: short ends one without an answer)
        self.handled = 0

    @property
    def malformed(self) -> int:
        """Requests aiohttp's parser refused (400)."""
        return self._parse_errors.count

    def bind(self, host: str, port: int, site: Site) -> int:
        """Listen on ``host:port`` for ``site``; the port (0: a free one).

        :raises OSError: naming the option (``site.what``)
        """
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        try:
            sock = socket.create_server((host, port), family=family,
                                        backlog=self.limits.backlog)
        except OSError as error:
            raise OSError(error.errno, f"cannot listen on {host}:{port} "
                          f"({site.what}): {error.strerror or error}"
                          ) from None
        sock.setblocking(False)
        self._bound.append((sock, site))
        return int(sock.getsockname()[1])

    def start(self) -> "Serving":
        if not self._bound or self._thread is not None:
            return self
        self._pool = concurrent.futures.ThreadPoolExecutor(
            max_workers=4, thread_name_prefix="chaostracing-http")
        loop = self._loop = asyncio.new_event_loop()
        ready: concurrent.futures.Future[None] = concurrent.futures.Future()
        self._thread = threading.Thread(target=self._run, args=(loop, ready),
                                        name="chaostracing-http", daemon=True)
        self._thread.start()
        ready.result(30)
        return self

    def stop(self) -> None:
        loop, thread = self._loop, self._thread
        if loop is not None and thread is not None and thread.is_alive():
            loop.call_soon_threadsafe(loop.stop)
            thread.join(min(self.limits.timeout + 5, threading.TIMEOUT_MAX))
        else:
            for sock, _ in self._bound:
                sock.close()
        self._bound = []
        if self._pool is not None:
            self._pool.shutdown(wait=False)

    # -- the loop's thread -----------------------------------------------------
    def _run(self, loop: asyncio.AbstractEventLoop,
             ready: "concurrent.futures.Future[None]") -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(self._open())
        except BaseException as error:
            ready.set_exception(error)
            loop.close()
            return
        ready.set_result(None)
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(self._close())
            loop.close()

    async def _open(self) -> None:
        from aiohttp import web

        quiet = logging.getLogger("chaostracing.collect.http")
        quiet.propagate = False
        quiet.handlers = [self._parse_errors]
        loop = asyncio.get_event_loop()
        pending = self._pending

        class Server(web.Server):
            """aiohttp's, saying when it counts a connection."""

            def connection_made(self, handler: Any, transport: Any) -> None:
                pending.pop(handler, None)
                super().connection_made(handler, transport)

        for sock, site in self._bound:
            site_state = _SiteState(site, self.limits.max_requests)
            server = Server(
                functools.partial(self._handle, site_state),
                keepalive_timeout=self.limits.timeout, access_log=None,
                auto_decompress=False, logger=quiet, lingering_time=2.0)
            self._web.append(server)
            self._servers.append(await loop.create_server(
                functools.partial(self._protocol, server), sock=sock,
                backlog=self.limits.backlog))
        self._budget = _Budget(self.limits.body_budget)
        self._big = asyncio.Lock()
        self._sweeper = loop.create_task(self._sweep())

    async def _sweep(self) -> None:
        """Close the connections idle, or sending headers, for longer than
        the timeout."""
        timeout = self.limits.timeout
        loop = asyncio.get_event_loop()
        while True:
            await asyncio.sleep(min(1.0, timeout / 4))
            now = loop.time()
            for protocol, since in list(self._idle.items()):
                if protocol.transport is None:  # gone
                    del self._idle[protocol]
                elif since is not None and now - since > timeout:
                    del self._idle[protocol]
                    protocol.force_close()

    async def _close(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
        for server in self._servers:
            server.close()
        for web in self._web:  # idle connections end now, not at the timeout
            getattr(web, "pre_shutdown", lambda: None)()
        await asyncio.gather(*(web.shutdown(2.0) for web in self._web),
                             return_exceptions=True)
        for server in self._servers:
            try:
                await asyncio.wait_for(server.wait_closed(), 2.0)
            except asyncio.TimeoutError:
                pass

    def _protocol(self, server: Any) -> asyncio.BaseProtocol:
        """A connection accepted: counted now, not once aiohttp has it
        (a burst is accepted whole before any is handed over)."""
        now = asyncio.get_event_loop().time()
        pending = self._pending
        while pending:  # never handed over (its transport failed): let go
            oldest, since = next(iter(pending.items()))
            if now - since < 5.0:
                break
            del pending[oldest]
        open_now = sum(len(web.connections) for web in self._web)
        if open_now + len(pending) >= self.limits.max_connections:
            self.busy += 1
            return _Busy()
        protocol: asyncio.BaseProtocol = server()
        pending[protocol] = now
        self._idle[protocol] = now
        return protocol

    async def _handle(self, state: "_SiteState", raw: Any) -> Any:
        """aiohttp's handler for every request of a port."""
        protocol = raw.protocol
        self._idle[protocol] = None  # a request under way
        try:
            return await self._answer(state, raw)
        finally:
            self.handled += 1
            if protocol.transport is not None:
                self._idle[protocol] = asyncio.get_event_loop().time()

    async def _answer(self, state: "_SiteState", raw: Any) -> Any:
        site = state.site
        guard = self.guard
        refusal = guard.refusal(raw.headers.get("Host"),
                                raw.version >= (1, 1))
        if refusal is not None:
            if refusal[0] == 421:
                self._warn_host(raw.headers.get("Host", ""))
            return await self._refuse(raw, site, *refusal, close=True)
        cors = guard.cors_headers(raw.headers.get("Origin"))
        if raw.method == "OPTIONS" and cors:
            return await self._send(raw, Answer(204, "text/plain", b"", [
                ("Access-Control-Allow-Methods", "GET, HEAD, POST, OPTIONS"),
                ("Access-Control-Allow-Headers", raw.headers.get(
                    "Access-Control-Request-Headers", "Content-Type")[:500]),
                ("Access-Control-Max-Age", "600")] + cors))
        path, _, query = raw.raw_path.partition("?")  # as sent: decoded once
        route, args, allowed = match(site.routes, raw.method, path)
        request = Request(raw.method, path, args,
                          urllib.parse.parse_qs(query, keep_blank_values=True),
                          {k: v for k, v in raw.headers.items()})
        if route is None:
            if allowed:
                answer = site.refuse(405, f"{raw.method} is not served here: "
                                          + ", ".join(allowed))
                answer.headers += (("Allow", ", ".join(allowed)),)
                site.counters["refused"] += 1
                return await self._send(raw, answer, cors)
            site.counters["refused"] += 1
            return await self._send(raw, await self._call(
                lambda _, req: site.not_found(req), None, request), cors)
        if route.accepts:
            kind = request.headers.get("content-type", "").split(";")[0]
            if kind.strip().lower() not in route.accepts:
                return await self._refuse(
                    raw, site, 415, "expected " + " or ".join(route.accepts),
                    cors, close=not raw.content.is_eof())
        held = 0
        if route.accepts:  # read before taking a turn: a slow body holds
            try:           # only the bytes it sent, never a turn
                request.body, held = await self._read(raw)
            except HttpError as error:  # the rest is not read: closed
                return await self._refuse(raw, site, error.status,
                                          error.message, cors, close=True)
        try:
            if state.slots.locked():  # wait for a turn, not for ever
                await asyncio.wait_for(state.slots.acquire(),
                                       self.limits.timeout)
            else:
                await state.slots.acquire()
        except asyncio.TimeoutError:
            self._budget.give(held)
            return await self._refuse(raw, site, 503, "the collector is busy: "
                                      "try again", cors)
        except BaseException:
            self._budget.give(held)
            raise
        try:
            if len(request.body) < route.inline:
                answer = route.handler(site.context, request)
            elif len(request.body) >= BIG_BODY:  # one at a time
                async with self._big:
                    answer = await self._call(route.handler, site.context,
                                              request)
            else:
                answer = await self._call(route.handler, site.context, request)
        except HttpError as error:
            site.counters["refused"] += 1
            answer = site.refuse(error.status, error.message)
        except (ConnectionError, asyncio.CancelledError):
            self._budget.give(held)
            state.slots.release()
            raise
        except Exception as error:  # a bug of ours: the collector goes on
            logger.warning("chaostracing collect: %s %s failed: %r",
                           raw.method, request.path[:200], error)
            site.counters["refused"] += 1
            answer = site.refuse(500, f"internal error: {error!r:.300}")
        else:
            if answer.status < 400:
                site.counters["requests"] += 1
            else:
                site.counters["refused"] += 1
        return await self._send(raw, answer, cors, release=(state, held))

    async def _call(self, handler: Handler, context: Any,
                    request: Request) -> Answer:
        loop = asyncio.get_event_loop()
        return await loop.run_in_executor(self._pool, handler, context,
                                          request)

    async def _read(self, raw: Any) -> Tuple[bytes, int]:
        """The body, whole and inflated, and the bytes of the budget it
        holds; within the timeout."""
        limits = self.limits
        length = raw.content_length
        if length is not None and length > limits.max_body:
            raise HttpError(413, f"more than {limits.max_body} bytes")
        await _continue(raw)
        loop = asyncio.get_event_loop()
        deadline = loop.time() + limits.timeout
        reader = object()
        held = 0
        try:
            chunks: List[bytes] = []
            size = 0
            content = raw.content
            while True:
                data = content.read_nowait()  # what arrived: no wait
                if not data:
                    if content.at_eof():
                        break
                    left = deadline - loop.time()
                    if left <= 0:
                        raise asyncio.TimeoutError()
                    data = await asyncio.wait_for(content.readany(), left)
                    if not data:
                        break
                size += len(data)
                if size > limits.max_body:
                    raise HttpError(413, f"more than {limits.max_body} bytes")
                if size > held:  # room as the bytes arrive, not as promised
                    held += await self._budget.take(
                        max(size - held, 64 * 1024),
                        max(0.0, deadline - loop.time()), reader)
                chunks.append(data)
            body = b"".join(chunks)
            del chunks
            encoding = raw.headers.get("Content-Encoding", "")
            encoding = encoding.strip().lower()
            if encoding == "gzip":
                body, room = await self._inflate(body, reader, deadline)
                self._budget.give(held)  # the raw body is gone
                held = room
            elif encoding not in ("", "identity"):
                raise HttpError(415, f"unsupported Content-Encoding "
                                     f"{encoding[:40]!r}: gzip or none")
            return body, held
        except asyncio.TimeoutError:
            self._budget.give(held)
            raise HttpError(408, f"the body did not arrive whole within "
                                 f"{limits.timeout:g} s") from None
        except HttpError:
            self._budget.give(held)
            raise
        except Exception as error:  # cut short: the connection ended
            self._budget.give(held)
            if isinstance(error, ConnectionError):
                raise
            raise HttpError(400, f"the body is cut short or malformed "
                                 f"({error})") from None
        except BaseException:
            self._budget.give(held)
            raise
        finally:
            self._budget.done(reader)

    async def _inflate(self, body: bytes, reader: object,
                       deadline: float) -> Tuple[bytes, int]:
        """``body`` inflated, and the room set aside for it (what its gzip
        trailer says first; the cap if that was a lie or there are several
        members)."""
        cap = self.limits.max_body
        loop = asyncio.get_event_loop()
        room = await self._budget.take(_gzip_size(body, cap),
                                       max(0.0, deadline - loop.time()),
                                       reader)
        try:
            try:
                data = await loop.run_in_executor(self._pool, inflate, body,
                                                  room, cap)
            except _NeedsMore:
                self._budget.give(room)
                room = 0
                room = await self._budget.take(
                    cap, max(0.0, deadline - loop.time()), reader)
                data = await loop.run_in_executor(self._pool, inflate, body,
                                                  room, cap)
        except BaseException:
            self._budget.give(room)
            raise
        return data, room

    async def _refuse(self, raw: Any, site: Site, status: int, message: str,
                      cors: Sequence[Tuple[str, str]] = (),
                      close: bool = False) -> Any:
        site.counters["refused"] += 1
        return await self._send(raw, site.refuse(status, message), cors,
                                close=close)

    async def _send(self, raw: Any, answer: Answer,
                    cors: Sequence[Tuple[str, str]] = (), close: bool = False,
                    release: Optional[Tuple["_SiteState", int]] = None) -> Any:
        """Send ``answer``: whole, or piece by piece (chunked) when its
        body is an iterator with more than one piece, each piece within
        the timeout. ``release``: the slot and budget to give back once
        the answer is out."""
        from aiohttp import web

        try:
            headers = [("Content-Type", answer.content_type),
                       ("Server", "chaostracing-collect")]
            headers.extend(answer.headers)
            headers.extend(cors)
            response = web.StreamResponse(status=answer.status,
                                          headers=headers)
            if close:
                response.force_close()
            body = answer.body
            pieces: Optional[Iterator[bytes]] = None
            if not isinstance(body, (bytes, bytearray)):
                pieces = iter(body)
                first = await self._next(pieces)
                second = await self._next(pieces) if first is not None \
                    else None
                if second is None:
                    body, pieces = first or b"", None
                else:
                    body = first or b""
            if release is not None:  # the body's room: the body is gone
                self._budget.give(release[1])
                release = (release[0], 0)
            if raw.method == "HEAD":  # its length, not its body
                if pieces is None:
                    response.content_length = len(body)
                await self._within(raw, response.prepare(raw))
                await self._within(raw, response.write_eof())
                return response
            if pieces is None:
                response.content_length = len(body)
                await self._within(raw, response.prepare(raw))
                await self._within(raw, response.write_eof(bytes(body)))
                return response
            await self._within(raw, response.prepare(raw))
            await self._within(raw, response.write(bytes(body)))
            await self._within(raw, response.write(second))  # type: ignore[arg-type]
            while True:
                piece = await self._next(pieces)
                if piece is None:
                    break
                await self._within(raw, response.write(piece))
            await self._within(raw, response.write_eof())
            return response
        except ConnectionError:  # gone, or too slow and let go
            return response
        except _Broken as broken:  # a bug of ours: the collector goes on
            logger.warning("chaostracing collect: %s %s: its answer failed "
                           "as it was made (the connection is closed): %r",
                           raw.method, raw.path[:200], broken.error)
            _abort(raw)  # whatever was sent is not taken for an answer
            if release is not None and answer.status < 400:
                counters = release[0].site.counters
                counters["requests"] -= 1
                counters["refused"] += 1
            return response
        finally:
            if release is not None:
                self._budget.give(release[1])
                release[0].slots.release()

    async def _within(self, raw: Any, sending: Awaitable[Any]) -> None:
        """Await ``sending``; a reader too slow to take it within the
        timeout is let go (its connection aborted). A timer, not
        ``wait_for``: most sends complete at once, and a task each would
        cost more than the send."""
        loop = asyncio.get_event_loop()
        timer = loop.call_later(self.limits.timeout, _abort, raw)
        try:
            await sending
        finally:
            timer.cancel()

    async def _next(self, pieces: Iterator[bytes]) -> Optional[bytes]:
        """The next piece of an answer (``None``: no more).

        :raises _Broken: the pieces' generator raised
        """
        loop = asyncio.get_event_loop()
        try:
            piece: Optional[bytes] = await loop.run_in_executor(
                self._pool, next, pieces, None)
        except Exception as error:
            raise _Broken(error) from error
        return piece

    def _warn_host(self, host: str) -> None:
        name = _host_name(host)
        if name not in self._warned_hosts and len(self._warned_hosts) < 20:
            self._warned_hosts.add(name)
            self._warn(f"refused requests for Host {name[:100]!r} (421, a "
                       "guard against DNS rebinding): if that name is "
                       f"yours, add --allow-host {name[:100]}")


class _Broken(Exception):
    """An answer's pieces could not be made: ``error`` was raised."""

    def __init__(self, error: Exception) -> None:
        super().__init__(error)
        self.error = error


def _abort(raw: Any) -> None:
    if raw.transport is not None:
        raw.transport.abort()


class _SiteState:
    """A port's slots, made on the loop."""

    def __init__(self, site: Site, slots: int) -> None:
        self.site = site
        self.slots = asyncio.Semaphore(slots)
