"""A fast loopback HTTP server for request benchmarks.

The demo service's ``http.server`` takes 2-3 ms a request, and its noise
swamps the ~75 µs a traced request adds. This one answers every request on a
keep-alive connection with the same canned 200 response, from a thread per
connection, in tens of microseconds. It records nothing.

    python benchmarks/fast_server.py      # prints "listening on PORT"
"""
import socket
import sys
import threading

RESPONSE = (b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
            b"Content-Length: 2\r\nConnection: keep-alive\r\n\r\nok")


def serve(conn: socket.socket) -> None:
    buffer = b""
    with conn:
        while True:
            data = conn.recv(65536)
            if not data:
                return
            buffer += data
            # requests without bodies (GET): one answer per header block
            count = buffer.count(b"\r\n\r\n")
            if count:
                buffer = buffer[buffer.rfind(b"\r\n\r\n") + 4:]
                conn.sendall(RESPONSE * count)


def main() -> None:
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    print(f"listening on {listener.getsockname()[1]}", flush=True)
    while True:
        conn, _ = listener.accept()
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        threading.Thread(target=serve, args=(conn,), daemon=True).start()


def start():
    """Start the server in a child process; return (process, base URL)."""
    import subprocess

    proc = subprocess.Popen([sys.executable, __file__], stdout=subprocess.PIPE,
                            text=True)
    port = proc.stdout.readline().split()[-1]
    return proc, f"http://127.0.0.1:{port}"


if __name__ == "__main__":
    main()
