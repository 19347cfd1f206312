"""MQTT transport over WebSocket on aiomqtt (paho-mqtt's protocol engine on asyncio).

One :class:`~rtnb.Message` per PUBLISH received: ``topic`` is its topic,
``data`` its payload (``str`` when it is UTF-8, else ``bytes``). The
subscriptions (``topics``) are made again after every (re)connect; a filter
the broker refuses fails the connection with one line naming it.

Why aiomqtt: it drives paho-mqtt from the running loop (``add_reader`` /
``add_writer`` and one small task for keepalives), so it lives on rtnb's one
runtime loop with no thread of its own, unlike paho's ``loop_start()``. Only
paho's blocking ``connect()`` (TCP and the WebSocket handshake) runs in the
loop's default executor, once per (re)connect.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Mapping
from typing import Any, ClassVar
from urllib.parse import urlsplit

import aiohttp
import aiomqtt
from paho.mqtt.client import MQTT_CLEAN_START_FIRST_ONLY

from ..errors import ConnectError, ProtocolError, SendNotSupported
from ..errors import ConnectionClosed as Closed
from ..options import MQTTOptions
from .base import Ingest, Sent, Transport, check_options
from .tls import client_ssl_context

__all__ = ["MQTTTransport", "payload_data", "refused_topics"]

_NO_TOPIC = (
    "mqtt send() publishes to the topic option, and none was given: "
    "connect('mqtt', url, topic='a/b'), or use publish(topic, payload)"
)

#: CONNACK return codes of MQTT 3.1.1 (3.2.2.3).
_CONNACK = {
    1: "unacceptable protocol version",
    2: "client identifier rejected",
    3: "server unavailable",
    4: "bad user name or password",
    5: "not authorized",
}


def payload_data(payload: Any) -> str | bytes:
    """A PUBLISH payload as a Message's data: text when it is UTF-8, else the bytes.

    >>> payload_data(b'{"p": 1}'), payload_data(b"\\xff\\x00")
    ('{"p": 1}', b'\\xff\\x00')
    """
    if isinstance(payload, bytes | bytearray):
        try:
            return bytes(payload).decode("utf-8")
        except UnicodeDecodeError:
            return bytes(payload)
    return "" if payload is None else str(payload)


def refused_topics(topics: list[str], codes: Any) -> list[str]:
    """The filters whose SUBACK return code is a failure (0x80 and up).

    >>> refused_topics(["a/#", "$SYS/#"], [0, 128])
    ['$SYS/#']
    """
    out = []
    for topic, code in zip(topics, codes, strict=False):
        value = getattr(code, "value", code)
        if int(value) >= 0x80:
            out.append(topic)
    return out


class _Client(aiomqtt.Client):
    """aiomqtt's client handing each PUBLISH straight to the connection's log.

    aiomqtt puts received messages in a queue for ``async for``, one task per
    message on the way out; a bounded queue discards what does not fit (a
    backlog of 100k messages overflowed 10k within a second), an unbounded one
    grows without limit. Ingest is synchronous and cheap, so it runs where
    paho decodes the PUBLISH, in order; ``client.messages`` then only tells
    when the connection ends.
    """

    deliver: Callable[[str | bytes, str], None]
    session_present = False

    def _on_connect(self, client: Any, userdata: Any, flags: Any, *args: Any) -> None:
        self.session_present = bool(getattr(flags, "session_present", False))
        super()._on_connect(client, userdata, flags, *args)

    def _on_message(self, client: Any, userdata: Any, message: Any) -> None:
        self.deliver(payload_data(message.payload), message.topic)


class MQTTTransport(Transport):
    """PUBLISHes from a broker's ws:// or wss:// URL (MQTT 3.1.1 or 5).

    Options: see :class:`rtnb.options.MQTTOptions` (topics, qos, topic,
    client_id, username, password, clean_start, keepalive, mqtt_version,
    headers, verify, cafile).
    """

    kind: ClassVar[str] = "mqtt"
    send_refusal: ClassVar[str] = _NO_TOPIC
    options: ClassVar[frozenset[str]] = MQTTOptions.names()

    def __init__(self, url: str, ingest: Ingest, options: Mapping[str, Any]) -> None:
        super().__init__(url, ingest, options)
        check_options(self.kind, options, self.options)
        parts = urlsplit(url)
        if parts.scheme not in ("ws", "wss") or not parts.hostname:
            raise ValueError(
                f"an MQTT URL is the broker's WebSocket address (ws:// or wss://), not {url!r}"
            )
        self._opts = opts = MQTTOptions(**options)
        if opts.qos not in (0, 1, 2):
            raise ValueError(f"qos is 0, 1 or 2, not {opts.qos!r}")
        if opts.mqtt_version not in ("3.1.1", "5"):
            raise ValueError(f"mqtt_version is '3.1.1' or '5', not {opts.mqtt_version!r}")
        topics = opts.topics
        self._topics: list[str] = [topics] if isinstance(topics, str) else list(topics)
        self.can_send = opts.topic is not None  # type: ignore[misc]  # per connection
        self._host = parts.hostname
        self._port = parts.port or (443 if parts.scheme == "wss" else 80)
        self._path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self._tls = client_ssl_context(opts.verify, opts.cafile) if parts.scheme == "wss" else None
        headers = opts.headers
        items = headers.items() if isinstance(headers, Mapping) else headers or ()
        self._headers = {str(k): str(v) for k, v in items}
        self._client: _Client | None = None
        self._subscribed: asyncio.Future[Any] | None = None

    async def open(self) -> None:
        opts = self._opts
        v5 = opts.mqtt_version == "5"
        client = _Client(
            self._host,
            self._port,
            transport="websockets",
            websocket_path=self._path,
            websocket_headers=self._headers or None,
            identifier=opts.client_id,
            username=opts.username,
            password=opts.password,
            protocol=aiomqtt.ProtocolVersion.V5 if v5 else aiomqtt.ProtocolVersion.V311,
            clean_session=None if v5 else opts.clean_start,
            clean_start=opts.clean_start if v5 else MQTT_CLEAN_START_FIRST_ONLY,
            keepalive=opts.keepalive,
            tls_context=self._tls,
        )
        client.deliver = self._deliver
        try:
            await client.__aenter__()
        except aiomqtt.MqttCodeError as exc:
            raise ConnectError(_connack_text(exc, opts.mqtt_version), fatal=True) from exc
        except aiomqtt.MqttError as exc:
            refused = await self._refusal() if "handshake" in str(exc).lower() else None
            if refused is not None:
                raise ConnectError(refused, fatal=True) from exc
            raise ConnectError(_open_text(str(exc), self.url)) from exc
        self._client = client
        if not self._topics:
            return
        subscribed = asyncio.ensure_future(
            client.subscribe([(t, opts.qos) for t in self._topics], timeout=None)
        )
        if client.session_present:
            # A resumed session: the broker knows the subscriptions and may send a
            # backlog before the SUBACK, so the stream starts now; a refusal still
            # ends it with one line (see serve()).
            self._subscribed = subscribed
            return
        self._check_subscribed(await _subscribe_result(subscribed, self._topics))

    def _check_subscribed(self, codes: Any) -> None:
        denied = refused_topics(self._topics, codes)
        if denied:
            names = ", ".join(repr(t) for t in denied)
            raise ConnectError(f"broker refused the subscription to {names}", fatal=True)

    async def _refusal(self) -> str | None:
        """Why the server refused the WebSocket handshake, when it says 401 or 403.

        paho reports only that the upgrade failed; one plain GET of the same
        path shows the status and the reason (a missing token, a refused Origin).
        """
        scheme = "https" if self._tls is not None else "http"
        url = f"{scheme}://{urlsplit(self.url).netloc}{self._path}"
        try:
            async with (
                aiohttp.ClientSession(
                    connector=aiohttp.TCPConnector(ssl=self._tls or True)
                ) as session,
                session.get(
                    url, headers=self._headers, timeout=aiohttp.ClientTimeout(total=5)
                ) as resp,
            ):
                if resp.status not in (401, 403):
                    return None
                body = (await resp.content.read(300)).decode("utf-8", "replace").strip()
        except (aiohttp.ClientError, TimeoutError, OSError):
            return None
        return f"server refused the WebSocket handshake: HTTP {resp.status}" + (
            f" ({body})" if body else ""
        )

    def _deliver(self, data: str | bytes, topic: str) -> None:
        self.ingest(data, topic=topic)

    async def serve(self) -> str:
        client = self._client
        if client is None:
            raise ProtocolError("serve() before open()")
        pending, self._subscribed = self._subscribed, None
        try:
            if pending is not None:
                self._check_subscribed(await _subscribe_result(pending, self._topics, client))
            async for _ in client.messages:  # PUBLISHes went to the log already
                pass
        except aiomqtt.MqttError as exc:
            cause = exc.__cause__
            why = str(cause) if cause is not None else str(exc)
            raise Closed(f"MQTT connection lost: {why}") from exc
        return "disconnected"  # pragma: no cover  # the iterator only ends by raising

    async def send(self, data: str | bytes) -> Sent:
        """Publish ``data`` to the ``topic`` option at QoS 0 (refused when there is none)."""
        topic = self._opts.topic
        if topic is None:
            raise SendNotSupported(_NO_TOPIC)
        return await self.publish(topic, data, 0, False)

    async def publish(self, topic: str, payload: str | bytes, qos: int, retain: bool) -> Sent:
        client = self._client
        if client is None:
            raise ConnectionError("not connected")
        if not topic or "+" in topic or "#" in topic:
            raise ValueError(f"cannot publish to {topic!r}: a topic has no wildcards")
        if qos not in (0, 1, 2):
            raise ValueError(f"qos is 0, 1 or 2, not {qos!r}")
        raw = payload.encode() if isinstance(payload, str) else bytes(payload)
        await client.publish(topic, raw, qos=qos, retain=retain, timeout=10)
        return Sent(payload, len(raw), topic=topic)

    async def close(self) -> None:
        pending, self._subscribed = self._subscribed, None
        if pending is not None:
            pending.cancel()
        client, self._client = self._client, None
        if client is not None:
            with contextlib.suppress(aiomqtt.MqttError, OSError, TimeoutError):
                await asyncio.wait_for(client.__aexit__(None, None, None), 3)


async def _subscribe_result(
    subscribed: asyncio.Future[Any], topics: list[str], client: _Client | None = None
) -> Any:
    """The SUBACK codes; paho refuses a malformed filter before sending it (ValueError).

    With ``client``, also returns (None) when the connection ends first.
    """
    try:
        if client is None:
            return await subscribed
        ended = asyncio.ensure_future(client.messages.__anext__())
        try:
            await asyncio.wait({subscribed, ended}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            if ended.done():
                ended.exception()  # retrieved: serve() sees the disconnection itself
            else:
                ended.cancel()
        if subscribed.done():
            return subscribed.result()
        subscribed.cancel()
        return ()
    except ValueError as exc:
        named = ", ".join(repr(t) for t in topics)
        raise ConnectError(f"cannot subscribe to {named}: {exc}", fatal=True) from exc


def _connack_text(exc: aiomqtt.MqttCodeError, version: str) -> str:
    rc = exc.rc
    code = getattr(rc, "value", rc)
    name = _CONNACK.get(code) if isinstance(code, int) else None
    text = f"broker refused the connection: {name or rc}"
    if "protocol version" in text.lower():
        other = "3.1.1" if version == "5" else "5"
        text += f" (MQTT {version} was offered; try mqtt_version={other!r})"
    return text


def _open_text(text: str, url: str) -> str:
    host = urlsplit(url).netloc
    low = text.lower()
    if "refused" in low:
        return f"connection refused by {host} (is the broker running?)"
    if "websocket" in low or "handshake" in low:
        return f"WebSocket handshake with {host} failed: {text}"
    return f"MQTT connection to {host} failed: {text}"
