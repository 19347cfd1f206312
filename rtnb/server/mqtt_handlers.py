"""The in-kernel MQTT 3.1.1 broker, over WebSocket at ``/mqtt`` on the server's own port.

Served by aiohttp like every other endpoint, so the server's token, Origin
and connection limits apply to it unchanged (subprotocol ``mqtt``, binary
frames, MQTT over WebSocket as in section 6 of the standard). It is a small
broker for trying things offline, not a production one:

- QoS 0 and 1 end to end; a QoS 2 PUBLISH is received with the full
  PUBREC/PUBREL/PUBCOMP exchange, and subscriptions are granted at most QoS 1.
- Sessions are not kept: every CONNECT starts clean (CONNACK session present 0).
- Retained messages (at most ``MAX_RETAINED`` topics), wills, ``+``/``#`` wildcards.
- Refused (SUBACK 0x80): invalid filters, ``$`` topics, more than
  ``MAX_SUBSCRIPTIONS`` per client.
- A subscriber that cannot keep up is dropped (the server's send-queue bounds).
- Ticks: while someone subscribes to a filter matching ``ticks/SYMBOL``, the
  broker publishes random-walk ticks there (2 per second per symbol).

Why not amqtt (the maintained asyncio broker): it pins ``websockets==15.0.1``
and would hold rtnb's own WebSocket library back for every user, and it brings
typer, pydantic, psutil and argon2 along. The packet rules live in the pure,
tested :mod:`rtnb.mqttwire`; the interop tests run rtnb's client against
mosquitto as well.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass, field

from aiohttp import WSCloseCode, WSMsgType, web

from .. import jsonfast, mqttwire
from ..mqttwire import MQTTWireError, Publish
from ..ticker import DEFAULT_SYMBOLS, Schedule, TickGenerator
from .common import Outbox, close_ws, open_ws
from .config import Endpoint, ServerConfig, config_of
from .pacing import Step, stream_paced

__all__ = ["BROKER", "Broker", "setup"]

log = logging.getLogger("rtnb.server")

MAX_RETAINED = 1000
MAX_SUBSCRIPTIONS = 100
TICK_RATE = 2.0  # per symbol per second
CONNECT_TIMEOUT = 10.0


@dataclass(eq=False)
class _Client:
    client_id: str
    outbox: Outbox
    subs: dict[str, int] = field(default_factory=dict)
    next_id: int = 0

    def pid(self) -> int:
        self.next_id = self.next_id % 65535 + 1
        return self.next_id


class Broker:
    """Who subscribes to what, and the retained messages of one server."""

    def __init__(self, seed: int) -> None:
        self.clients: dict[str, _Client] = {}
        self.retained: dict[str, tuple[bytes, int]] = {}
        self.seed = seed
        self.ticker: asyncio.Task[None] | None = None

    def route(self, msg: Publish) -> None:
        """Deliver ``msg`` to every matching subscription (and keep it if retained)."""
        if msg.retain:
            if not msg.payload:
                self.retained.pop(msg.topic, None)
            elif msg.topic in self.retained or len(self.retained) < MAX_RETAINED:
                self.retained[msg.topic] = (msg.payload, msg.qos)
        for client in list(self.clients.values()):
            granted = max(
                (q for f, q in client.subs.items() if mqttwire.topic_matches(f, msg.topic)),
                default=None,
            )
            if granted is not None:
                self.send(client, msg.topic, msg.payload, min(granted, msg.qos), False)

    def send(self, client: _Client, topic: str, payload: bytes, qos: int, retain: bool) -> None:
        """Queue one PUBLISH for ``client``; drop the client if it cannot keep up."""
        frame = mqttwire.publish(topic, payload, qos, retain, client.pid() if qos else None)
        if not client.outbox.offer(frame):
            log.info("mqtt: dropping client %s that cannot keep up", client.client_id)
            client.outbox.drop()

    def wants_ticks(self) -> list[str]:
        """The symbols some subscription asks ticks for."""
        return [
            s
            for s in DEFAULT_SYMBOLS
            if any(
                mqttwire.topic_matches(f, f"ticks/{s}")
                for c in self.clients.values()
                for f in c.subs
            )
        ]

    def start_ticks(self) -> None:
        """Publish ticks while some subscription matches them."""
        if (self.ticker is None or self.ticker.done()) and self.wants_ticks():
            self.ticker = asyncio.get_running_loop().create_task(
                self._ticks(), name="rtnb-mqtt-ticks"
            )

    async def _ticks(self) -> None:
        gen = TickGenerator(DEFAULT_SYMBOLS, seed=self.seed)
        schedule = Schedule(TICK_RATE * len(DEFAULT_SYMBOLS), time.time())
        wanted = set(self.wants_ticks())

        async def send_next() -> Step:
            tick = gen.next(time.time())
            if tick is None:
                return "nothing"
            if tick["symbol"] in wanted:
                self.route(Publish(f"ticks/{tick['symbol']}", jsonfast.dumps(tick).encode()))
            return "sent"

        def running() -> bool:
            wanted.clear()
            wanted.update(self.wants_ticks())
            return bool(wanted)

        await stream_paced(schedule, send_next, running=running)

    async def aclose(self) -> None:
        """Stop the ticks."""
        if self.ticker is not None:
            self.ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.ticker


BROKER = web.AppKey("rtnb_mqtt_broker", Broker)


class _Refused(Exception):
    """The client broke the protocol: close with this reason."""


async def mqtt(request: web.Request) -> web.WebSocketResponse:
    """One MQTT client over WebSocket (subprotocol ``mqtt``)."""
    config = config_of(request)
    broker = request.app[BROKER]
    ws = await open_ws(request, protocols=("mqtt", "mqttv3.1"))
    reader = mqttwire.PacketReader(config.max_message_size)
    outbox = Outbox(
        ws, request, config.send_queue, config.send_queue_bytes, None, "rtnb-mqtt-writer"
    )
    client: _Client | None = None
    clean_exit = False
    will: Publish | None = None
    try:
        async with asyncio.timeout(CONNECT_TIMEOUT) as first:
            async for msg in ws:
                if msg.type != WSMsgType.BINARY:
                    raise _Refused("MQTT over WebSocket uses binary frames")
                for pkt in reader.feed(msg.data):
                    if client is None:
                        client, will = _connect(broker, pkt, outbox, ws)
                        first.reschedule(None)
                        continue
                    if pkt.type == mqttwire.DISCONNECT:
                        clean_exit = True
                        raise _Refused("")
                    _handle(broker, client, pkt)
    except _Refused as exc:
        if str(exc):
            log.info("mqtt: %s", exc)
    except MQTTWireError as exc:
        log.info("mqtt: malformed packet: %s", exc)
    except TimeoutError:
        log.info("mqtt: no CONNECT within %s s", CONNECT_TIMEOUT)
    finally:
        if client is not None and broker.clients.get(client.client_id) is client:
            del broker.clients[client.client_id]
        if will is not None and not clean_exit:
            broker.route(will)
        await asyncio.sleep(0)  # let the writer send what the last packet queued
        await _drained(outbox)
        await outbox.aclose()
        if not ws.closed:
            await close_ws(ws, request, WSCloseCode.OK, b"")
    return ws


async def _drained(outbox: Outbox) -> None:
    for _ in range(100):  # at most a second
        if outbox.queue.empty():
            return
        await asyncio.sleep(0.01)


def _connect(
    broker: Broker, pkt: mqttwire.Packet, outbox: Outbox, ws: web.WebSocketResponse
) -> tuple[_Client, Publish | None]:
    if pkt.type != mqttwire.CONNECT:
        raise _Refused(f"first packet must be CONNECT, not type {pkt.type}")
    c = mqttwire.parse_connect(pkt.body)
    if c.level != 4:
        outbox.offer(mqttwire.connack(1))  # unacceptable protocol version
        raise _Refused(f"protocol level {c.level} refused: this broker speaks MQTT 3.1.1")
    client_id = c.client_id
    if not client_id:
        if not c.clean_session:
            outbox.offer(mqttwire.connack(2))  # identifier rejected
            raise _Refused("an empty client id needs a clean session")
        client_id = f"rtnb-{id(ws):x}"
    old = broker.clients.get(client_id)
    if old is not None:  # 3.1.4-2: the same id takes over
        old.outbox.drop()
    client = _Client(client_id, outbox)
    broker.clients[client_id] = client
    outbox.offer(mqttwire.connack(0))
    return client, c.will


def _handle(broker: Broker, client: _Client, pkt: mqttwire.Packet) -> None:
    kind = pkt.type
    out = client.outbox
    if kind == mqttwire.PUBLISH:
        msg = mqttwire.parse_publish(pkt.flags, pkt.body)
        if msg.qos == 1 and msg.packet_id:
            out.offer(mqttwire.with_id(mqttwire.PUBACK, msg.packet_id))
        elif msg.qos == 2 and msg.packet_id:
            out.offer(mqttwire.with_id(mqttwire.PUBREC, msg.packet_id))
        if not msg.dup or msg.qos == 0:
            broker.route(msg)
    elif kind == mqttwire.PUBREL:
        out.offer(mqttwire.with_id(mqttwire.PUBCOMP, mqttwire.packet_id(pkt.body)))
    elif kind in (mqttwire.PUBACK, mqttwire.PUBCOMP):
        mqttwire.packet_id(pkt.body)  # nothing is resent, so nothing to forget
    elif kind == mqttwire.PUBREC:
        out.offer(mqttwire.with_id(mqttwire.PUBREL, mqttwire.packet_id(pkt.body)))
    elif kind == mqttwire.SUBSCRIBE:
        pid, subs = mqttwire.parse_subscribe(pkt.body)
        codes = []
        for filt, qos in subs:
            ok = (
                mqttwire.valid_filter(filt)
                and not filt.startswith("$")
                and (filt in client.subs or len(client.subs) < MAX_SUBSCRIPTIONS)
            )
            if ok:
                client.subs[filt] = min(qos, 1)
            codes.append(min(qos, 1) if ok else mqttwire.SUBSCRIBE_FAILURE)
        out.offer(mqttwire.suback(pid, codes))
        for (filt, _), code in zip(subs, codes, strict=True):
            if code == mqttwire.SUBSCRIBE_FAILURE:
                continue
            for topic, (payload, qos) in list(broker.retained.items()):
                if mqttwire.topic_matches(filt, topic):
                    broker.send(client, topic, payload, min(qos, code), True)
        broker.start_ticks()
    elif kind == mqttwire.UNSUBSCRIBE:
        pid, filters = mqttwire.parse_unsubscribe(pkt.body)
        for filt in filters:
            client.subs.pop(filt, None)
        out.offer(mqttwire.unsuback(pid))
    elif kind == mqttwire.PINGREQ:
        out.offer(mqttwire.pingresp())
    else:
        raise _Refused(f"a client does not send packet type {kind}")


async def _stop(app: web.Application) -> None:
    await app[BROKER].aclose()


def setup(app: web.Application, config: ServerConfig, endpoints: list[Endpoint]) -> None:
    """Add the broker's route."""
    app[BROKER] = Broker(config.seed)
    app.router.add_get("/mqtt", mqtt)
    app.on_shutdown.append(_stop)
    endpoints.append(
        Endpoint(
            "/mqtt",
            "mqtt",
            "MQTT 3.1.1 broker over WebSocket (srv.mqtt_url); subscribe to ticks/# for ticks",
        )
    )
