"""JSON encode/decode with orjson when it is installed, the standard library otherwise."""

from __future__ import annotations

import json
from typing import Any

__all__ = ["BACKEND", "dumps", "loads"]

_orjson: Any
try:
    import orjson as _orjson
except ImportError:  # pragma: no cover - exercised when the 'fast' extra is absent
    _orjson = None


def _std_dumps(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


if _orjson is not None:
    BACKEND = "orjson"
    _orjson_dumps = _orjson.dumps
    _OPT = _orjson.OPT_SERIALIZE_NUMPY | _orjson.OPT_NON_STR_KEYS

    def loads(data: str | bytes) -> Any:
        """Parse JSON text (str or UTF-8 bytes)."""
        return _orjson.loads(data)

    def dumps(obj: Any) -> str:
        """Serialise ``obj`` to compact JSON text."""
        try:
            return _orjson_dumps(obj, option=_OPT).decode()  # type: ignore[no-any-return,unused-ignore]
        except TypeError:
            return _std_dumps(obj)
else:  # pragma: no cover
    BACKEND = "json"

    def loads(data: str | bytes) -> Any:
        """Parse JSON text (str or UTF-8 bytes)."""
        return json.loads(data)

    dumps = _std_dumps
