"""A plain aiohttp broadcast server: the baseline for the fan-out benchmark.

One loop sends a tick to every connected client ``rate`` times a second, the
way a hand-written notebook server would. Run: ``python -m
benchmarks.baseline_broadcast PORT RATE``.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time

from aiohttp import web


async def main(port: int, rate: float) -> None:
    clients: set[web.WebSocketResponse] = set()

    async def ws_handler(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        clients.add(ws)
        try:
            async for _ in ws:
                pass
        finally:
            clients.discard(ws)
        return ws

    async def broadcast() -> None:
        price = 100.0
        while True:
            price += 0.01
            data = json.dumps({"t": time.time(), "symbol": "AAPL", "price": round(price, 2)})
            for ws in list(clients):
                try:
                    await ws.send_str(data)
                except ConnectionError:
                    clients.discard(ws)
            await asyncio.sleep(1 / rate)

    app = web.Application()
    app.router.add_get("/ws", ws_handler)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    print("listening", flush=True)
    await broadcast()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), float(sys.argv[2])))
