"""MQTT 3.1.1 packets for the in-kernel broker: pure parsing, encoding and topic matching.

Covers what a broker reads and writes (OASIS MQTT 3.1.1, section 2-3):
CONNECT/CONNACK, PUBLISH with QoS 0-2 and its acknowledgements,
SUBSCRIBE/SUBACK, UNSUBSCRIBE/UNSUBACK, PINGREQ/PINGRESP, DISCONNECT.
:class:`PacketReader` reassembles packets from a byte stream (MQTT over
WebSocket may split or join packets across frames); a malformed packet raises
:class:`MQTTWireError` naming what is wrong.

    >>> r = PacketReader()
    >>> [(p.type, p.body) for p in r.feed(pingreq() + b"\\xc0")]
    [(12, b'')]
    >>> [(p.type, p.body) for p in r.feed(b"\\x00")]
    [(12, b'')]
    >>> topic_matches("ticks/#", "ticks/AAPL"), topic_matches("a/+/c", "a/b/c/d")
    (True, False)
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = [
    "CONNACK",
    "CONNECT",
    "DISCONNECT",
    "PINGREQ",
    "PINGRESP",
    "PUBACK",
    "PUBCOMP",
    "PUBLISH",
    "PUBREC",
    "PUBREL",
    "SUBACK",
    "SUBSCRIBE",
    "SUBSCRIBE_FAILURE",
    "UNSUBACK",
    "UNSUBSCRIBE",
    "Connect",
    "MQTTWireError",
    "Packet",
    "PacketReader",
    "Publish",
    "connack",
    "packet_id",
    "parse_connect",
    "parse_publish",
    "parse_subscribe",
    "parse_unsubscribe",
    "pingreq",
    "pingresp",
    "publish",
    "suback",
    "topic_matches",
    "unsuback",
    "valid_filter",
    "valid_topic",
    "with_id",
]

CONNECT, CONNACK, PUBLISH, PUBACK, PUBREC, PUBREL, PUBCOMP = 1, 2, 3, 4, 5, 6, 7
SUBSCRIBE, SUBACK, UNSUBSCRIBE, UNSUBACK, PINGREQ, PINGRESP, DISCONNECT = 8, 9, 10, 11, 12, 13, 14

#: The SUBACK return code of a refused subscription.
SUBSCRIBE_FAILURE = 0x80

#: Largest Remaining Length the four length bytes can say (2.2.3).
MAX_REMAINING = 268_435_455

#: Fixed-header flags each packet type must carry (2.2.2); PUBLISH's are its own.
_FIXED_FLAGS = {PUBREL: 2, SUBSCRIBE: 2, UNSUBSCRIBE: 2}


class MQTTWireError(ValueError):
    """A packet breaks MQTT 3.1.1 (the message says which rule)."""


@dataclass(frozen=True)
class Packet:
    """One packet: its type (1-14), the fixed header's low four bits, and the rest."""

    type: int
    flags: int
    body: bytes


class PacketReader:
    """Packets from a stream of bytes, at most ``max_size`` bytes each."""

    def __init__(self, max_size: int = MAX_REMAINING) -> None:
        self.max_size = max_size
        self._buf = bytearray()

    def feed(self, data: bytes) -> list[Packet]:
        """Add ``data``; return every packet now complete.

        Raises:
            MQTTWireError: for a bad length, an oversized or malformed packet.
        """
        buf = self._buf
        buf += data
        out: list[Packet] = []
        while len(buf) >= 2:
            length, used = 0, 0
            for i in range(1, 5):
                if i >= len(buf):
                    return out  # the length is not all here yet
                byte = buf[i]
                length |= (byte & 0x7F) << (7 * (i - 1))
                if not byte & 0x80:
                    used = i + 1
                    break
            else:
                raise MQTTWireError("Remaining Length longer than four bytes")
            if length > self.max_size:
                raise MQTTWireError(f"packet of {length} bytes over the limit of {self.max_size}")
            if len(buf) < used + length:
                return out
            first = buf[0]
            ptype, flags = first >> 4, first & 0x0F
            if not 1 <= ptype <= 14:
                raise MQTTWireError(f"packet type {ptype} is reserved")
            if ptype != PUBLISH and flags != _FIXED_FLAGS.get(ptype, 0):
                raise MQTTWireError(f"packet type {ptype} with wrong fixed-header flags {flags}")
            out.append(Packet(ptype, flags, bytes(buf[used : used + length])))
            del buf[: used + length]
        return out


def _remaining(n: int) -> bytes:
    if not 0 <= n <= MAX_REMAINING:
        raise MQTTWireError(f"packet of {n} bytes cannot be encoded")
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _packet(ptype: int, flags: int, body: bytes) -> bytes:
    return bytes([ptype << 4 | flags]) + _remaining(len(body)) + body


def _string(text: str) -> bytes:
    raw = text.encode("utf-8")
    if len(raw) > 0xFFFF:
        raise MQTTWireError("string longer than 65535 bytes")
    return struct.pack("!H", len(raw)) + raw


class _Cursor:
    def __init__(self, body: bytes, what: str) -> None:
        self.body, self.pos, self.what = body, 0, what

    def take(self, n: int) -> bytes:
        if self.pos + n > len(self.body):
            raise MQTTWireError(f"{self.what} packet ends early")
        out = self.body[self.pos : self.pos + n]
        self.pos += n
        return out

    def u8(self) -> int:
        return self.take(1)[0]

    def u16(self) -> int:
        value: int = struct.unpack("!H", self.take(2))[0]
        return value

    def binary(self) -> bytes:
        return self.take(self.u16())

    def string(self) -> str:
        raw = self.binary()
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise MQTTWireError(f"{self.what} packet has a string that is not UTF-8") from None
        if "\x00" in text:
            raise MQTTWireError(f"{self.what} packet has a string with U+0000")
        return text

    def rest(self) -> bytes:
        out = self.body[self.pos :]
        self.pos = len(self.body)
        return out

    @property
    def left(self) -> int:
        return len(self.body) - self.pos


@dataclass(frozen=True)
class Connect:
    """A CONNECT packet (3.1)."""

    protocol: str
    level: int
    clean_session: bool
    keepalive: int
    client_id: str
    will: Publish | None = None
    username: str | None = None
    password: bytes | None = None


@dataclass(frozen=True)
class Publish:
    """A PUBLISH packet (3.3); ``packet_id`` is None at QoS 0."""

    topic: str
    payload: bytes
    qos: int = 0
    retain: bool = False
    dup: bool = False
    packet_id: int | None = None


def parse_connect(body: bytes) -> Connect:
    """Read a CONNECT body.

    A protocol level other than 4 is returned as is, for the broker to refuse
    with CONNACK code 1 (3.1.2.2).

    Raises:
        MQTTWireError: for a malformed packet.
    """
    c = _Cursor(body, "CONNECT")
    protocol = c.string()
    level = c.u8()
    if protocol not in ("MQTT", "MQIsdp"):
        raise MQTTWireError(f"CONNECT names protocol {protocol!r}, not MQTT")
    if level != 4:
        return Connect(protocol, level, True, 0, "")
    flags = c.u8()
    if flags & 0x01:
        raise MQTTWireError("CONNECT reserved flag is set")
    keepalive = c.u16()
    client_id = c.string()
    will = None
    if flags & 0x04:
        will_qos = (flags >> 3) & 0x03
        if will_qos == 3:
            raise MQTTWireError("CONNECT will QoS 3")
        topic = c.string()
        will = Publish(topic, c.binary(), will_qos, bool(flags & 0x20))
    elif flags & 0x38:
        raise MQTTWireError("CONNECT will QoS or retain without a will")
    username = c.string() if flags & 0x80 else None
    password = c.binary() if flags & 0x40 else None
    if c.left:
        raise MQTTWireError("CONNECT has bytes after its payload")
    return Connect(
        protocol, level, bool(flags & 0x02), keepalive, client_id, will, username, password
    )


def parse_publish(flags: int, body: bytes) -> Publish:
    """Read a PUBLISH packet from its fixed-header ``flags`` and body.

    Raises:
        MQTTWireError: for QoS 3, a wildcard topic or a missing packet id.
    """
    qos = (flags >> 1) & 0x03
    if qos == 3:
        raise MQTTWireError("PUBLISH with QoS 3")
    c = _Cursor(body, "PUBLISH")
    topic = c.string()
    if not valid_topic(topic):
        raise MQTTWireError(f"PUBLISH to {topic!r}: a topic name has no wildcards and is not empty")
    pid = c.u16() if qos else None
    if pid == 0:
        raise MQTTWireError("PUBLISH with packet id 0")
    return Publish(topic, c.rest(), qos, bool(flags & 0x01), bool(flags & 0x08), pid)


def parse_subscribe(body: bytes) -> tuple[int, list[tuple[str, int]]]:
    """Read a SUBSCRIBE body: its packet id and ``(filter, requested QoS)`` pairs.

    Raises:
        MQTTWireError: for an empty list or a requested QoS over 2.
    """
    c = _Cursor(body, "SUBSCRIBE")
    pid = c.u16()
    subs = []
    while c.left:
        topic = c.string()
        qos = c.u8()
        if qos > 2:
            raise MQTTWireError(f"SUBSCRIBE to {topic!r} asks for QoS {qos}")
        subs.append((topic, qos))
    if not subs:
        raise MQTTWireError("SUBSCRIBE names no topic filter")
    return pid, subs


def parse_unsubscribe(body: bytes) -> tuple[int, list[str]]:
    """Read an UNSUBSCRIBE body: its packet id and the filters.

    Raises:
        MQTTWireError: for an empty list.
    """
    c = _Cursor(body, "UNSUBSCRIBE")
    pid = c.u16()
    filters = []
    while c.left:
        filters.append(c.string())
    if not filters:
        raise MQTTWireError("UNSUBSCRIBE names no topic filter")
    return pid, filters


def packet_id(body: bytes) -> int:
    """The packet id of a PUBACK, PUBREC, PUBREL or PUBCOMP.

    Raises:
        MQTTWireError: when the body is not two bytes.
    """
    if len(body) != 2:
        raise MQTTWireError("an acknowledgement is a two-byte packet id")
    value: int = struct.unpack("!H", body)[0]
    return value


# --- encoding ------------------------------------------------------------------------------


def connack(code: int, session_present: bool = False) -> bytes:
    """A CONNACK (0: accepted; 1: unacceptable protocol version; 2: identifier rejected ...)."""
    return _packet(CONNACK, 0, bytes([1 if session_present and code == 0 else 0, code]))


def publish(
    topic: str, payload: bytes, qos: int = 0, retain: bool = False, pid: int | None = None
) -> bytes:
    """A PUBLISH packet (``pid`` needed for QoS 1 and 2)."""
    if qos and not pid:
        raise MQTTWireError("a QoS 1 or 2 PUBLISH needs a packet id")
    body = _string(topic) + (struct.pack("!H", pid) if qos and pid else b"") + payload
    return _packet(PUBLISH, qos << 1 | int(retain), body)


def with_id(ptype: int, pid: int) -> bytes:
    """PUBACK, PUBREC, PUBREL, PUBCOMP or UNSUBACK for packet id ``pid``."""
    return _packet(ptype, _FIXED_FLAGS.get(ptype, 0), struct.pack("!H", pid))


def suback(pid: int, codes: Iterable[int]) -> bytes:
    """A SUBACK: one granted QoS (0-2) or :data:`SUBSCRIBE_FAILURE` per filter."""
    return _packet(SUBACK, 0, struct.pack("!H", pid) + bytes(codes))


def unsuback(pid: int) -> bytes:
    """An UNSUBACK."""
    return with_id(UNSUBACK, pid)


def pingreq() -> bytes:
    """A PINGREQ."""
    return _packet(PINGREQ, 0, b"")


def pingresp() -> bytes:
    """A PINGRESP."""
    return _packet(PINGRESP, 0, b"")


# --- topics (4.7) ---------------------------------------------------------------------------


def valid_topic(topic: str) -> bool:
    """Whether ``topic`` may be published to: not empty, no ``+`` or ``#``."""
    return bool(topic) and "+" not in topic and "#" not in topic


def valid_filter(filt: str) -> bool:
    """Whether ``filt`` is a valid subscription filter (``#`` last and alone, ``+`` alone).

    >>> valid_filter("a/+/b"), valid_filter("a/#"), valid_filter("a/#/b"), valid_filter("a+")
    (True, True, False, False)
    """
    if not filt:
        return False
    levels = filt.split("/")
    for i, level in enumerate(levels):
        if "#" in level and (level != "#" or i != len(levels) - 1):
            return False
        if "+" in level and level != "+":
            return False
    return True


def topic_matches(filt: str, topic: str) -> bool:
    """Whether topic name ``topic`` matches filter ``filt``.

    Wildcards do not match topics starting with ``$`` at their first level (4.7.2).
    """
    if topic.startswith("$") and filt[:1] in ("+", "#"):
        return False
    f_levels = filt.split("/")
    t_levels = topic.split("/")
    for i, level in enumerate(f_levels):
        if level == "#":
            return True
        if i >= len(t_levels):
            return False
        if level != "+" and level != t_levels[i]:
            return False
    return len(f_levels) == len(t_levels)
