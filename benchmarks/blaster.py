"""A WebSocket sender that is never the bottleneck: pre-encoded frames written in bulk.

The Node ``ws`` blaster sends ~130-150k small frames/s on a shared 2-core
machine, less than a fast client takes, so a client measured against it
measures the sender. This one answers the opening handshake, then writes
frames encoded once (1,000 distinct JSON texts, unmasked, as a server sends
them) with ``sendall`` in chunks of 1,000, then a close frame (1000), and
waits for the client's close. One connection at a time, loopback only.

    python -m benchmarks.blaster PORT     # prints "ready", serves until stdin closes
    ws://127.0.0.1:PORT/blast?n=200000&size=60
"""

from __future__ import annotations

import base64
import hashlib
import json
import socket
import sys
import threading
from urllib.parse import parse_qs, urlsplit

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def frame(payload: bytes, opcode: int = 0x1) -> bytes:
    """One unmasked, final frame (a server's)."""
    n = len(payload)
    if n < 126:
        head = bytes([0x80 | opcode, n])
    elif n < 1 << 16:
        head = bytes([0x80 | opcode, 126]) + n.to_bytes(2, "big")
    else:
        head = bytes([0x80 | opcode, 127]) + n.to_bytes(8, "big")
    return head + payload


def chunk(size: int) -> bytes:
    """1,000 text frames of about ``size`` bytes of JSON (the Node blaster's shape)."""
    head = len(json.dumps({"seq": 0, "price": 123.45, "symbol": "AAPL", "pad": ""}))
    pad = "x" * max(0, size - head - 6)
    return b"".join(
        frame(
            json.dumps({"seq": 100000 + i, "price": 123.45, "symbol": "AAPL", "pad": pad}).encode()
        )
        for i in range(1000)
    )


def serve_one(conn: socket.socket) -> None:
    """Handshake, blast, close."""
    with conn:
        conn.settimeout(30)
        request = b""
        while b"\r\n\r\n" not in request:
            part = conn.recv(4096)
            if not part:
                return
            request += part
        lines = request.split(b"\r\n")
        target = lines[0].split()[1].decode()
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            headers[name.strip().lower()] = value.strip()
        accept = base64.b64encode(hashlib.sha1(headers[b"sec-websocket-key"] + GUID).digest())
        conn.sendall(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
            b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept + b"\r\n\r\n"
        )
        query = parse_qs(urlsplit(target).query)
        n = int(query.get("n", ["100000"])[0])
        block = chunk(int(query.get("size", ["60"])[0]))
        for _ in range(n // 1000):
            conn.sendall(block)
        rest = n % 1000
        if rest:
            conn.sendall(b"".join(frame(p) for p in _split(block)[:rest]))
        conn.sendall(frame((1000).to_bytes(2, "big") + b"done", opcode=0x8))
        try:
            while conn.recv(65536):  # the client's close frame, then its FIN
                pass
        except OSError:
            pass


def _split(block: bytes) -> list[bytes]:
    """The payloads of a chunk's frames (for a count that is not a multiple of 1,000)."""
    out, i = [], 0
    while i < len(block):
        n = block[i + 1] & 0x7F
        i += 2
        if n == 126:
            n, i = int.from_bytes(block[i : i + 2], "big"), i + 2
        elif n == 127:
            n, i = int.from_bytes(block[i : i + 8], "big"), i + 8
        out.append(block[i : i + n])
        i += n
    return out


def main() -> None:
    port = int(sys.argv[1])
    srv = socket.create_server(("127.0.0.1", port))
    srv.settimeout(0.5)
    stop = threading.Event()
    threading.Thread(target=lambda: (sys.stdin.read(), stop.set()), daemon=True).start()
    print("ready", flush=True)
    while not stop.is_set():
        try:
            conn, _ = srv.accept()
        except TimeoutError:
            continue
        serve_one(conn)
    srv.close()


if __name__ == "__main__":
    main()
