"""Write the two small offline samples 07-public-streams.ipynb replays when there is no internet.

They are synthetic (a seeded random walk and made-up edits), shaped like the
real feeds' messages: Coinbase's ``ticker`` channel and Wikimedia's
``recentchange`` stream. Run: ``python scripts/make-07-samples.py``.
"""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime
from pathlib import Path

OUT = Path(__file__).resolve().parent.parent / "examples" / "data"
START = 1_764_950_400.0  # 2025-12-05 16:00 UTC


def line(obj: dict[str, object]) -> str:
    return json.dumps(obj, separators=(",", ":"))


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")


def coinbase(rng: random.Random) -> list[str]:
    url = "wss://ws-feed.exchange.coinbase.com"
    out = [line({"rtnb_record": 1, "kind": "ws", "url": url, "started": START})]
    price = {"BTC-USD": 91_250.0, "ETH-USD": 3_140.0}
    ts, seq = START, 0
    for _ in range(240):  # about 60 s at 4 ticks a second
        ts += rng.uniform(0.1, 0.4)
        product = rng.choice(list(price))
        price[product] *= 1 + rng.gauss(0, 0.0004)
        p = round(price[product], 2)
        seq += 1
        tick = {
            "type": "ticker",
            "sequence": seq,
            "product_id": product,
            "price": f"{p:.2f}",
            "best_bid": f"{p - 0.01:.2f}",
            "best_ask": f"{p + 0.01:.2f}",
            "side": rng.choice(["buy", "sell"]),
            "time": iso(ts),
            "last_size": f"{rng.uniform(0.0001, 0.05):.8f}",
        }
        out.append(line({"ts": round(ts, 3), "direction": "in", "data": line(tick)}))
    return out


def wikimedia(rng: random.Random) -> list[str]:
    url = "https://stream.wikimedia.org/v2/stream/recentchange"
    out = [line({"rtnb_record": 1, "kind": "sse", "url": url, "started": START})]
    wikis = ["enwiki", "dewiki", "frwiki", "wikidatawiki", "commonswiki", "jawiki"]
    titles = ["Sample page", "Example article", "Test entry", "Draft:Demo", "Q42", "File:Demo.png"]
    ts = START
    for i in range(60):
        ts += rng.uniform(0.2, 0.8)
        edit = {
            "wiki": rng.choice(wikis),
            "type": rng.choice(["edit", "edit", "edit", "new", "log"]),
            "title": f"{rng.choice(titles)} {i}",
            "user": f"SampleUser{rng.randint(1, 12)}",
            "bot": rng.random() < 0.2,
            "timestamp": int(ts),
        }
        record = {"ts": round(ts, 3), "direction": "in", "data": line(edit), "event": "message"}
        out.append(line(record))
    return out


def main() -> None:
    OUT.mkdir(exist_ok=True)
    rng = random.Random(19)
    (OUT / "coinbase-ticker-sample.jsonl").write_text("\n".join(coinbase(rng)) + "\n")
    (OUT / "wikimedia-recentchange-sample.jsonl").write_text("\n".join(wikimedia(rng)) + "\n")


if __name__ == "__main__":
    main()
