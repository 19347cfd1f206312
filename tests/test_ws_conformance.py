"""RFC 6455 conformance, both ways, against a raw-frame peer written here from the RFC.

rtnb's server (aiohttp behind rtnb/server/wsconform.py) is driven by a raw client
that masks its frames by hand; rtnb's client (websockets behind
rtnb/transports/ws.py) talks to a raw server thread. Each case names its section
and says the rule in the RFC's words, in the manner of the Autobahn suite:
framing, fragmentation, UTF-8, close codes, limits, handshake.
"""

from __future__ import annotations

import base64
import hashlib
import os
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import rtnb
from rtnb.errors import ConnectError
from rtnb.server import Server
from rtnb.server.wsconform import _FrameGuard

from .conftest import wait_for

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
LIMIT = 1000  # max_message_size of the server and max_size of the client under test

TEXT, BINARY, CONT, CLOSE, PING, PONG = 0x1, 0x2, 0x0, 0x8, 0x9, 0xA


# --- the raw peer: frames as RFC 6455 section 5.2 draws them -----------------------------


def mask(payload: bytes, key: bytes) -> bytes:
    """5.3: octet i of the payload XOR octet i MOD 4 of the masking key."""
    if not key:
        return payload
    return bytes(b ^ key[i % 4] for i, b in enumerate(payload))


def frame(
    opcode: int,
    payload: bytes = b"",
    *,
    fin: bool = True,
    rsv: int = 0,
    masked: bool = True,
    key: bytes | None = None,
) -> bytes:
    """One frame: FIN, RSV1-3, opcode, MASK bit, 7/7+16/7+64-bit length, key, payload."""
    first = (0x80 if fin else 0) | (rsv << 4) | opcode
    bit = 0x80 if masked else 0
    n = len(payload)
    if n < 126:
        head = struct.pack("!BB", first, bit | n)
    elif n < 1 << 16:
        head = struct.pack("!BBH", first, bit | 126, n)
    else:
        head = struct.pack("!BBQ", first, bit | 127, n)
    if not masked:
        return head + payload
    key = os.urandom(4) if key is None else key
    return head + key + mask(payload, key)


def close_payload(code: int, reason: bytes = b"") -> bytes:
    return struct.pack("!H", code) + reason


@dataclass
class Frame:
    fin: bool
    rsv: int
    opcode: int
    masked: bool
    key: bytes
    payload: bytes  # unmasked

    @property
    def code(self) -> int | None:
        return struct.unpack("!H", self.payload[:2])[0] if len(self.payload) >= 2 else None


class Peer:
    """A blocking socket speaking frames (either side)."""

    def __init__(self, sock: socket.socket, buffered: bytes = b"") -> None:
        self.sock = sock
        self.buf = buffered
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def _exact(self, n: int) -> bytes:
        while len(self.buf) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError("peer closed TCP")
            self.buf += chunk
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def read(self, timeout: float = 5.0) -> Frame:
        self.sock.settimeout(timeout)
        b0, b1 = self._exact(2)
        n = b1 & 0x7F
        if n == 126:
            n = struct.unpack("!H", self._exact(2))[0]
        elif n == 127:
            n = struct.unpack("!Q", self._exact(8))[0]
        key = self._exact(4) if b1 & 0x80 else b""
        payload = self._exact(n)
        return Frame(
            bool(b0 & 0x80), (b0 >> 4) & 7, b0 & 0xF, bool(b1 & 0x80), key, mask(payload, key)
        )

    def read_data(self, timeout: float = 5.0) -> Frame:
        """The next frame that is not a pong."""
        while True:
            f = self.read(timeout)
            if f.opcode != PONG:
                return f

    def closed_by_peer(self, timeout: float = 5.0) -> bool:
        """True once the other side closes TCP (after any frames still in flight)."""
        self.sock.settimeout(timeout)
        try:
            while self.sock.recv(65536):
                pass
        except (ConnectionResetError, TimeoutError):
            return False
        return True


def accept_key(key: str) -> str:
    """4.2.2: base64 of the SHA-1 of the key concatenated with the GUID."""
    return base64.b64encode(hashlib.sha1(key.encode() + GUID).digest()).decode()


def _head_end(sock: socket.socket) -> tuple[bytes, bytes]:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    return head, rest


# --- rtnb's server against a raw client ------------------------------------------------


@pytest.fixture(scope="module")
def wsserver() -> Iterator[Server]:
    srv = rtnb.serve(max_message_size=LIMIT)
    yield srv
    srv.stop()


def handshake(
    srv: Server, *, version: str | None = "13", extra: bytes = b"", key: str | None = None
) -> tuple[int, dict[str, str], Peer]:
    """Send an opening handshake (plus ``extra`` bytes in the same write)."""
    sock = socket.create_connection(("127.0.0.1", srv.port), timeout=5)
    key = base64.b64encode(os.urandom(16)).decode() if key is None else key
    lines = [
        "GET /ws/echo HTTP/1.1",
        f"Host: 127.0.0.1:{srv.port}",
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Key: {key}",
    ]
    if version is not None:
        lines.append(f"Sec-WebSocket-Version: {version}")
    sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode() + extra)
    head, rest = _head_end(sock)
    status_line, *fields = head.decode().split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (f.partition(":") for f in fields)}
    return int(status_line.split()[1]), headers, Peer(sock, rest)


@pytest.fixture
def client(wsserver: Server) -> Iterator[Peer]:
    status, _, peer = handshake(wsserver)
    assert status == 101
    yield peer
    peer.sock.close()


def assert_fails_with(peer: Peer, code: int) -> None:
    """The server sends a close frame with ``code`` and echoes nothing before it."""
    f = peer.read_data()
    assert (f.opcode, f.code) == (CLOSE, code), f


# 4.2.2 handshake


def test_server_handshake_accept_is_sha1_of_key_and_guid(wsserver: Server) -> None:
    # 4.2.2 and 1.3's worked example: key "dGhlIHNhbXBsZSBub25jZQ==" gives
    # "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=".
    status, headers, peer = handshake(wsserver, key="dGhlIHNhbXBsZSBub25jZQ==")
    assert status == 101
    assert headers["sec-websocket-accept"] == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
    assert headers["upgrade"].lower() == "websocket" and "upgrade" in headers["connection"].lower()
    peer.sock.close()


@pytest.mark.parametrize("version", ["99", "8", "", None])
def test_server_refuses_other_versions_naming_13(wsserver: Server, version: str | None) -> None:
    # 4.2.2: "If this version does not match a version understood by the server, the
    # server MUST abort the WebSocket handshake ... and instead send an appropriate
    # HTTP error code (such as 426 Upgrade Required) and a |Sec-WebSocket-Version|
    # header field indicating the version(s) the server is capable of understanding."
    status, headers, peer = handshake(wsserver, version=version)
    assert status == 426 and headers["sec-websocket-version"] == "13"
    peer.sock.close()


def test_server_refuses_a_key_that_is_not_16_bytes(wsserver: Server) -> None:
    # 4.2.1 item 5: a |Sec-WebSocket-Key| that, base64-decoded, is 16 bytes long.
    status, _, peer = handshake(wsserver, key=base64.b64encode(b"short").decode())
    assert status == 400
    peer.sock.close()


# 5.1-5.3 framing and masking


def test_server_frames_are_not_masked_client_frames_are_unmasked(client: Peer) -> None:
    # 5.1: "A server MUST NOT mask any frames that it sends to the client."
    client.send(frame(TEXT, "héllo".encode()))
    f = client.read_data()
    assert (f.opcode, f.masked, f.payload) == (TEXT, False, "héllo".encode())


def test_server_fails_an_unmasked_client_frame(client: Peer) -> None:
    # 5.1: "The server MUST close the connection upon receiving a frame that is not
    # masked. In this case, a server MAY send a Close frame with a status code of
    # 1002 (protocol error)". (issue 15: aiohttp echoed it.)
    client.send(frame(TEXT, b"hello", masked=False))
    assert_fails_with(client, 1002)


def test_server_fails_an_unmasked_frame_sent_with_the_handshake(wsserver: Server) -> None:
    # the same rule for bytes that arrive in the handshake's own TCP segment
    status, _, peer = handshake(wsserver, extra=frame(TEXT, b"early", masked=False))
    assert status == 101
    assert_fails_with(peer, 1002)
    peer.sock.close()


def test_server_reads_frames_delivered_one_byte_at_a_time(client: Peer) -> None:
    data = frame(TEXT, b"a" * 130) + frame(PING, b"p") + frame(BINARY, b"\x00" * 3)
    for i in range(len(data)):
        client.send(data[i : i + 1])
    got = [client.read() for _ in range(3)]
    assert [(f.opcode, f.payload) for f in got] == [
        (TEXT, b"a" * 130),
        (PONG, b"p"),
        (BINARY, b"\x00" * 3),
    ]


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (frame(TEXT, b"x", rsv=2), "5.2: RSV bits MUST be 0 unless an extension says otherwise"),
        (frame(0x3, b"x"), "5.2: reserved non-control opcode"),
        (frame(0xB, b"x"), "5.2: reserved control opcode"),
        (frame(PING, b"p" * 126), "5.5: control frames have a payload of 125 bytes or less"),
        (frame(PING, b"p", fin=False), "5.5: control frames MUST NOT be fragmented"),
        (frame(CONT, b"x"), "5.4: a continuation with no message started"),
    ],
)
def test_server_fails_framing_errors_with_1002(client: Peer, data: bytes, why: str) -> None:
    client.send(data)
    assert_fails_with(client, 1002)


def test_server_pongs_with_the_pings_payload(client: Peer) -> None:
    # 5.5.3: "A Pong frame sent in response to a Ping frame must have identical
    # "Application data" as found in the message body of the Ping frame".
    client.send(frame(PING, b"\x00ping\xff"))
    f = client.read()
    assert (f.opcode, f.payload) == (PONG, b"\x00ping\xff")


# 5.4 fragmentation


def test_server_reassembles_fragments_with_a_ping_between(client: Peer) -> None:
    # 5.4: "Control frames MAY be injected in the middle of a fragmented message."
    client.send(frame(TEXT, b"frag", fin=False))
    client.send(frame(PING, b"mid"))
    client.send(frame(CONT, b"men", fin=False))
    client.send(frame(CONT, b"ted"))
    pong, echo = client.read(), client.read()
    assert (pong.opcode, pong.payload) == (PONG, b"mid")
    assert (echo.opcode, echo.payload) == (TEXT, b"fragmented")


def test_server_fails_a_new_message_inside_a_fragmented_one(client: Peer) -> None:
    # 5.4: fragments of one message are not interleaved with another's
    client.send(frame(TEXT, b"one", fin=False))
    client.send(frame(TEXT, b"two"))
    assert_fails_with(client, 1002)


# 8.1 UTF-8


def test_server_accepts_utf8_split_inside_a_character(client: Peer) -> None:
    # 5.6: a text message is UTF-8 as a whole; a fragment may end mid-character.
    data = "€uro".encode()
    client.send(frame(TEXT, data[:2], fin=False))
    client.send(frame(CONT, data[2:]))
    assert client.read_data().payload == data


def test_server_fails_invalid_utf8_with_1007(client: Peer) -> None:
    # 8.1: "When an endpoint is to interpret a byte stream as UTF-8 but finds that the
    # byte stream is not, in fact, a valid UTF-8 stream, that endpoint MUST _Fail the
    # WebSocket Connection_." 7.4.1: 1007 for data inconsistent with the message type.
    client.send(frame(TEXT, b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80"))
    assert_fails_with(client, 1007)


# 5.5.1 / 7.4 close


@pytest.mark.parametrize("code", [1000, 1001, 1003, 1011, 3000, 4999])
def test_server_answers_a_valid_close(client: Peer, code: int) -> None:
    # 5.5.1: "If an endpoint receives a Close frame and did not previously send a
    # Close frame, the endpoint MUST send a Close frame in response."
    client.send(frame(CLOSE, close_payload(code, b"bye")))
    f = client.read_data()
    assert f.opcode == CLOSE and f.code in (code, 1000)
    assert client.closed_by_peer()


def test_server_answers_an_empty_close(client: Peer) -> None:
    client.send(frame(CLOSE))
    assert client.read_data().opcode == CLOSE


@pytest.mark.parametrize("code", [0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535])
def test_server_fails_a_close_code_that_may_not_be_sent(client: Peer, code: int) -> None:
    # 7.4.1: 1005, 1006 and 1015 "MUST NOT be set as a status code in a Close control
    # frame by an endpoint"; 7.4.2: 0-999 are not used, 1000-2999 are the protocol's
    # (only the registered ones exist), nothing is defined past 4999. (issue 15:
    # 1006 was answered with 1000.)
    client.send(frame(CLOSE, close_payload(code)))
    assert_fails_with(client, 1002)


def test_server_fails_a_one_byte_close_payload(client: Peer) -> None:
    # 5.5.1: a body, if any, starts with a two-byte status code
    client.send(frame(CLOSE, b"\x03"))
    assert_fails_with(client, 1002)


def test_server_fails_a_close_reason_that_is_not_utf8(client: Peer) -> None:
    client.send(frame(CLOSE, close_payload(1000, b"\xff\xfe")))
    assert_fails_with(client, 1007)


# 10.4 limits


@pytest.mark.parametrize("fragments", [1, 4])
def test_server_accepts_a_message_of_exactly_the_limit(client: Peer, fragments: int) -> None:
    # 10.4: an implementation may limit frame and message size; max_message_size
    # names the largest accepted. (issue 15: exactly the limit was refused.)
    data = os.urandom(LIMIT)
    step = LIMIT // fragments
    for i in range(fragments):
        op = BINARY if i == 0 else CONT
        client.send(frame(op, data[i * step : (i + 1) * step], fin=i == fragments - 1))
    f = client.read_data()
    assert (f.opcode, f.payload) == (BINARY, data)


@pytest.mark.parametrize("fragments", [1, 3])
def test_server_fails_a_message_over_the_limit_with_1009(client: Peer, fragments: int) -> None:
    data = b"y" * (LIMIT + 1)
    cuts = [0, 400, 800, LIMIT + 1] if fragments == 3 else [0, LIMIT + 1]
    for i in range(len(cuts) - 1):
        op = TEXT if i == 0 else CONT
        client.send(frame(op, data[cuts[i] : cuts[i + 1]], fin=i == len(cuts) - 2))
    assert_fails_with(client, 1009)


def test_server_limit_is_exact_for_compressed_messages_too(wsserver: Server) -> None:
    # permessage-deflate: the limit applies to the inflated message (rtnb's client
    # compresses by default, so "x" * 1001 is a few bytes on the wire)
    c = rtnb.connect("ws", wsserver.url_for("/ws/echo"), reconnect=False).wait_open(10)
    c.send("x" * LIMIT)
    assert c.recv(timeout=5).data == "x" * LIMIT
    c.send("x" * (LIMIT + 1))
    wait_for(lambda: c.state == "failed", 10)
    assert "1009" in (c.stats.last_error or "")


# the frame-header scan itself, fed every way a TCP stream can be cut


class _Inner:
    """Stands in for aiohttp's reader: keeps what the guard passes on."""

    def __init__(self) -> None:
        self.fed = b""
        self.error: BaseException | None = None

    def feed_data(self, data: bytes) -> tuple[bool, bytes]:
        self.fed += data
        return False, b""

    def feed_eof(self) -> None:
        pass

    def set_exception(self, exc: BaseException) -> None:
        self.error = exc


payloads = st.binary(max_size=300)
good_frames = st.lists(
    st.one_of(
        payloads.map(lambda p: frame(BINARY, p)),
        st.binary(max_size=70_000).map(lambda p: frame(TEXT, p)),
        st.binary(max_size=125).map(lambda p: frame(PING, p)),
        st.sampled_from([1000, 1001, 3000, 4999]).map(lambda c: frame(CLOSE, close_payload(c))),
    ),
    max_size=6,
)
bad_frames = st.one_of(
    payloads.map(lambda p: frame(TEXT, p, masked=False)),
    st.sampled_from([1005, 1006, 1015, 5000]).map(lambda c: frame(CLOSE, close_payload(c))),
)


def feed(data: bytes, cuts: list[int]) -> _Inner:
    inner = _Inner()
    guard = _FrameGuard(inner, inner)  # type: ignore[arg-type]
    last = 0
    for cut in [*sorted(c % (len(data) + 1) for c in cuts), len(data)]:
        if guard.feed_data(data[last:cut])[0]:
            break
        last = cut
    return inner


@settings(max_examples=150, deadline=None)
@given(
    before=good_frames,
    bad=st.one_of(st.none(), bad_frames),
    cuts=st.lists(st.integers(0, 10**6), max_size=10),
)
def test_frame_guard_passes_good_frames_and_stops_at_the_first_bad_one(
    before: list[bytes], bad: bytes | None, cuts: list[int]
) -> None:
    good = b"".join(before)
    tail = frame(TEXT, b"after")
    inner = feed(good + (bad or b"") + tail, cuts)
    if bad is None:
        assert inner.error is None and inner.fed == good + tail
    else:
        assert inner.error is not None and getattr(inner.error, "code", None) == 1002
        # aiohttp's reader may hold the start of the bad frame (from an earlier
        # chunk), never all of it nor anything after it
        assert (good + bad).startswith(inner.fed) and len(inner.fed) < len(good + bad)


# --- rtnb's client against a raw server ------------------------------------------------


class RawServer:
    """One-connection WebSocket server thread that runs ``script(peer)`` after its handshake.

    ``request`` keeps the client's handshake lines; ``accept`` can be replaced to
    send a wrong ``Sec-WebSocket-Accept`` or another status line.
    """

    def __init__(
        self,
        script: Callable[[Peer], None],
        respond: Callable[[str], bytes] | None = None,
    ) -> None:
        self.script = script
        self.respond = respond or (
            lambda key: (
                "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Accept: {accept_key(key)}\r\n\r\n"
            ).encode()
        )
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(10)
        self.url = f"ws://127.0.0.1:{self.listener.getsockname()[1]}/raw"
        self.request: list[str] = []
        self.error: BaseException | None = None
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._run, name="raw-ws-server", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            sock, _ = self.listener.accept()
            with sock:
                sock.settimeout(10)
                head, rest = _head_end(sock)
                self.request = head.decode().split("\r\n")
                key = next(
                    line.split(":", 1)[1].strip()
                    for line in self.request
                    if line.lower().startswith("sec-websocket-key:")
                )
                sock.sendall(self.respond(key))
                self.script(Peer(sock, rest))
        except BaseException as exc:  # reported by finish()
            self.error = exc
        finally:
            self.done.set()

    def finish(self) -> None:
        assert self.done.wait(15), "raw server script did not finish"
        self.listener.close()
        if self.error is not None:
            raise self.error


@pytest.fixture
def raw() -> Iterator[Callable[..., RawServer]]:
    made: list[RawServer] = []

    def make(script: Callable[[Peer], None], **kw: object) -> RawServer:
        made.append(RawServer(script, **kw))  # type: ignore[arg-type]
        return made[-1]

    yield make
    for s in made:
        s.listener.close()


def connect(url: str, **options: object) -> rtnb.Connection:
    return rtnb.connect("ws", url, reconnect=False, compression=None, ping_interval=None, **options)


def test_client_handshake_is_a_valid_rfc6455_request(raw: Callable[..., RawServer]) -> None:
    # 4.1: GET, Host, Upgrade: websocket, Connection: Upgrade, a random 16-byte
    # base64 Sec-WebSocket-Key and Sec-WebSocket-Version: 13.
    got: dict[str, str] = {}

    def script(peer: Peer) -> None:
        got["close"] = str(peer.read().code)

    srv = raw(script)
    c = connect(srv.url).wait_open(10)
    c.close()
    srv.finish()
    fields = {
        k.strip().lower(): v.strip()
        for k, _, v in (line.partition(":") for line in srv.request[1:])
    }
    assert srv.request[0] == "GET /raw HTTP/1.1"
    assert fields["upgrade"].lower() == "websocket" and "upgrade" in fields["connection"].lower()
    assert len(base64.b64decode(fields["sec-websocket-key"])) == 16
    assert fields["sec-websocket-version"] == "13"
    assert got["close"] == "1000"  # 7.1.2: a normal close from the client


def test_client_masks_every_frame_with_a_fresh_key(raw: Callable[..., RawServer]) -> None:
    # 5.3: "The masking key is a 32-bit value chosen at random by the client ... MUST
    # pick a fresh masking key from the set of allowed 32-bit values" for each frame;
    # 5.1: "a client MUST mask all frames that it sends to the server".
    frames: list[Frame] = []

    def script(peer: Peer) -> None:
        for _ in range(3):
            frames.append(peer.read())

    srv = raw(script)
    c = connect(srv.url).wait_open(10)
    for payload in ("a", "a", b"\x00\x01"):
        c.send(payload)
    srv.finish()
    assert all(f.masked for f in frames)
    assert [(f.opcode, f.payload) for f in frames] == [
        (TEXT, b"a"),
        (TEXT, b"a"),
        (BINARY, b"\x00\x01"),
    ]
    assert frames[0].key != frames[1].key


def test_client_refuses_a_wrong_accept_key(raw: Callable[..., RawServer]) -> None:
    # 4.1: "If the |Sec-WebSocket-Accept| contains a value other than the base64-encoded
    # SHA-1 of the concatenation of the |Sec-WebSocket-Key| ... the client MUST _Fail
    # the WebSocket Connection_."
    def respond(key: str) -> bytes:
        return (
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Accept: {accept_key(key + 'x')}\r\n\r\n"
        ).encode()

    srv = raw(lambda peer: None, respond=respond)
    c = connect(srv.url)
    with pytest.raises(ConnectError, match="Sec-WebSocket-Accept"):
        c.wait_open(10)
    srv.finish()


def test_client_refuses_a_status_other_than_101(raw: Callable[..., RawServer]) -> None:
    # 4.1: "If the status code received from the server is not 101, the client handles
    # the response per HTTP procedures"; it is no WebSocket.
    srv = raw(
        lambda peer: None,
        respond=lambda key: b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nno",
    )
    c = connect(srv.url)
    with pytest.raises(ConnectError, match="HTTP 200"):
        c.wait_open(10)
    srv.finish()


def run_client(
    raw: Callable[..., RawServer], script: Callable[[Peer], None], **options: object
) -> rtnb.Connection:
    srv = raw(script)
    c = connect(srv.url, **options)
    srv.finish()
    return c


def test_client_reassembles_fragments_and_pongs_a_ping_between(
    raw: Callable[..., RawServer],
) -> None:
    # 5.4 and 5.5.2: "Upon receipt of a Ping frame, an endpoint MUST send a Pong frame
    # in response" with the same application data (5.5.3), even mid-message.
    seen: list[Frame] = []

    def script(peer: Peer) -> None:
        euro = "€".encode()
        peer.send(frame(TEXT, b"pri" + euro[:1], fin=False, masked=False))
        peer.send(frame(PING, b"mid", masked=False))
        peer.send(frame(CONT, euro[1:] + b"ce", masked=False))
        seen.append(peer.read())

    c = run_client(raw, script)
    assert c.recv(timeout=5).data == "pri€ce"
    assert (seen[0].opcode, seen[0].payload, seen[0].masked) == (PONG, b"mid", True)


def client_close_code(
    raw: Callable[..., RawServer], first: bytes, **options: object
) -> tuple[int | None, rtnb.Connection]:
    """Send ``first`` to rtnb's client; return the close code it answers with."""
    got: list[Frame] = []

    def script(peer: Peer) -> None:
        peer.send(first)
        got.append(peer.read_data())

    c = run_client(raw, script, **options)
    wait_for(lambda: c.state in ("closed", "failed"), 10)
    assert got[0].opcode == CLOSE
    return got[0].code, c


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (frame(TEXT, b"x", masked=True), 1002),  # 5.1: a client MUST close on a masked frame
        (frame(TEXT, b"x", rsv=4, masked=False), 1002),  # 5.2: RSV1 without an extension
        (frame(0x3, b"x", masked=False), 1002),  # 5.2: reserved opcode
        (frame(PING, b"p" * 126, masked=False), 1002),  # 5.5: control frame over 125
        (frame(CONT, b"x", masked=False), 1002),  # 5.4: nothing to continue
        (frame(TEXT, b"\xed\xa0\x80", masked=False), 1007),  # 8.1: invalid UTF-8
        (frame(CLOSE, close_payload(1006), masked=False), 1002),  # 7.4.1
        (frame(CLOSE, close_payload(5000), masked=False), 1002),  # 7.4.2
        (frame(CLOSE, close_payload(1000, b"\xff"), masked=False), 1007),  # 5.5.1 + 8.1
    ],
)
def test_client_fails_protocol_errors_with_the_right_code(
    raw: Callable[..., RawServer], data: bytes, code: int
) -> None:
    got, c = client_close_code(raw, data)
    assert got == code
    assert c.state == "failed" and str(code) in (c.stats.last_error or "")


@pytest.mark.parametrize("code", [1000, 1001, 3000, 4999])
def test_client_echoes_a_valid_close(raw: Callable[..., RawServer], code: int) -> None:
    # 5.5.1: "When sending a Close frame in response, the endpoint typically echos the
    # status code it received."
    got, c = client_close_code(raw, frame(CLOSE, close_payload(code, b"bye"), masked=False))
    assert got == code
    assert f"code {code}" in (c.stats.last_error or "")


def test_client_accepts_a_message_of_exactly_max_size(raw: Callable[..., RawServer]) -> None:
    def script(peer: Peer) -> None:
        peer.send(frame(BINARY, b"\x01" * LIMIT, masked=False))
        peer.send(frame(CLOSE, close_payload(1000), masked=False))
        peer.read_data()

    c = run_client(raw, script, max_size=LIMIT)
    assert c.recv(timeout=5).data == b"\x01" * LIMIT


def test_client_fails_an_oversized_message_on_time_from_a_silent_server(
    raw: Callable[..., RawServer],
) -> None:
    # 7.4.1: 1009 for a message too big to process; 7.1.1: the client may close TCP
    # itself when the server does not. Issue 14 item 6: a server that neither answers
    # the close nor closes TCP left the connection "open" with no error for 12-20 s.
    state: dict[str, object] = {}

    def script(peer: Peer) -> None:
        peer.send(frame(BINARY, b"\x02" * (LIMIT + 1), masked=False))
        state["close"] = peer.read_data().code
        state["cut"] = peer.closed_by_peer(timeout=8)  # never answer; wait for the client

    srv = raw(script)
    start = time.monotonic()
    c = connect(srv.url, max_size=LIMIT)
    wait_for(lambda: c.state == "failed", 8)
    took = time.monotonic() - start
    srv.finish()
    assert state == {"close": 1009, "cut": True}
    assert took < 3.5  # close_timeout is 2 s
    assert "1009" in (c.stats.last_error or "") and f"max_size={LIMIT}" in (
        c.stats.last_error or ""
    )
