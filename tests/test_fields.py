"""Field paths and JSON flattening (pure)."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rtnb.fields import MISSING, flatten, get_path, parse_path, union_columns


def test_parse_path_splits_dots_and_indices() -> None:
    assert parse_path("bid.size") == ("bid", "size")
    assert parse_path("levels.0.price") == ("levels", 0, "price")


@pytest.mark.parametrize("bad", ["", "a..b", ".a", "a."])
def test_parse_path_rejects_empty_parts(bad: str) -> None:
    with pytest.raises(ValueError):
        parse_path(bad)


def test_get_path_finds_nested_values_and_missing() -> None:
    doc = {"bid": {"size": 3}, "levels": [{"price": 9}], "a.b": 1}
    assert get_path(doc, "bid.size") == 3
    assert get_path(doc, "levels.0.price") == 9
    assert get_path(doc, "a.b") == 1
    assert get_path(doc, "levels.5.price") is MISSING
    assert get_path(doc, "bid.size.x") is MISSING
    assert get_path(doc, "nope", default=None) is None
    assert not MISSING


def test_flatten_nested_documents() -> None:
    doc = {"price": 1, "bid": {"size": 3, "px": 1.5}, "tags": ["a"], "empty": {}}
    assert flatten(doc) == {"price": 1, "bid.size": 3, "bid.px": 1.5, "tags.0": "a", "empty": {}}


def test_flatten_scalar_and_bounds() -> None:
    assert flatten(5) == {"value": 5}
    wide = {f"k{i}": i for i in range(1000)}
    assert len(flatten(wide, max_items=10)) == 10
    deep: dict[str, object] = {"x": 1}
    for _ in range(20):
        deep = {"d": deep}
    flat = flatten(deep, max_depth=3)
    assert list(flat) == ["d.d.d"]


def test_union_columns_keeps_first_seen_order() -> None:
    assert union_columns([{"a": 1}, {"b": 2, "a": 3}, {"c": 1}], limit=2) == ["a", "b"]


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.text(alphabet="abc_", min_size=1, max_size=3), children, max_size=4)
    ),
    max_leaves=20,
)


@given(json_values)
def test_every_flattened_key_resolves_back_to_its_value(doc: object) -> None:
    for key, value in flatten(doc).items():
        if key == "value" and not isinstance(doc, dict | list):
            assert value == doc
            continue
        assert json.dumps(get_path(doc, key)) == json.dumps(value)
