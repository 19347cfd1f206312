"""Messages as a pandas DataFrame: one row each, JSON payloads flattened into columns.

Pure (pandas is imported only when called).

    >>> from rtnb.message import Message
    >>> to_dataframe([Message('{"price": 1.5, "bid": {"size": 3}}', seq=0, ts=0.0)])[
    ...     ["seq", "price", "bid.size"]].to_dict("records")
    [{'seq': 0, 'price': 1.5, 'bid.size': 3}]
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from .fields import flatten

if TYPE_CHECKING:
    import pandas

__all__ = ["to_dataframe"]

COLUMNS = ["seq", "time", "direction", "event", "id", "data"]


def to_dataframe(messages: Iterable[Any], flatten_json: bool = True) -> pandas.DataFrame:
    """A DataFrame, one row per :class:`~rtnb.message.Message`; JSON flattened into columns.

    Columns: ``seq``, ``time`` (UTC datetime), ``direction``, ``event``, ``id``,
    ``data`` (text payloads; binary shown as ``bytes``), ``topic`` when a
    message has one (MQTT), then one column per flattened JSON field
    (``price``, ``bid.size``, ...).

    Raises:
        ImportError: when pandas is not installed (``pip install 'rtnb[pandas]'``).
    """
    try:
        import pandas as pd
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("to_pandas() needs pandas: pip install 'rtnb[pandas]'") from exc
    rows = []
    for m in messages:
        row: dict[str, Any] = {
            "seq": m.seq,
            "time": m.ts,
            "direction": m.direction,
            "event": m.event,
            "id": m.id,
            "data": m.data,
        }
        if m.topic is not None:  # MQTT: a column only when some message has one
            row["topic"] = m.topic
        if flatten_json:
            doc = m.json
            if doc is not None:
                for key, value in flatten(doc).items():
                    row.setdefault(key, value)
        rows.append(row)
    df = pd.DataFrame(rows)
    if df.empty:
        return pd.DataFrame(columns=COLUMNS)
    df["time"] = pd.to_datetime(df["time"], unit="s", utc=True)
    return df
