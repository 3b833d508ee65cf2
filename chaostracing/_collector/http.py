"""The collector's HTTP servers (OTLP receiver, query API): one base.

Python's ``ThreadingHTTPServer``: a thread per connection, daemon threads
(a client that holds a connection open cannot keep the collector from
stopping), HTTP/1.1 keep-alive, no line logged per request.
"""
import socket
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Tuple, Type

__all__ = ["Handler", "make_server"]


class Handler(BaseHTTPRequestHandler):
    """A handler that answers whole bodies with their length."""

    server_version = "chaostracing-collect"
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:  # no line per request
        pass

    def send_body(self, status: int, content_type: str, body: bytes,
                  headers: Tuple[Tuple[str, str], ...] = ()) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)


def make_server(host: str, port: int, handler: Type[Handler], what: str,
                **attributes: Any) -> Tuple[Any, int]:
    """A threading HTTP server on ``host:port`` with ``attributes`` set on
    it (the handler reads them as ``self.server.<name>``).

    :return: ``(server, port)``
    :raises OSError: naming ``what`` (the option) when it cannot listen
    """

    class Server(ThreadingHTTPServer):
        daemon_threads = True
        address_family = socket.AF_INET6 if ":" in host else socket.AF_INET

    try:
        server = Server((host, port), handler)
    except OSError as error:
        raise OSError(error.errno, f"cannot listen on {host}:{port} "
                      f"({what}): {error.strerror or error}") from None
    for name, value in attributes.items():
        setattr(server, name, value)
    return server, server.server_address[1]
