"""jsonlite parses what json parses, and refuses what json refuses, with ValueError only."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipework._lowlevel.jsonlite import loads

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: st.lists(children) | st.dictionaries(st.text(), children),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None, database=None)
@given(JSON_VALUES)
def test_loads_agrees_with_json(value):
    text = json.dumps(value)
    assert loads(text) == json.loads(text)
    assert loads(text.encode()) == json.loads(text)


def test_a_docker_inspect_like_document():
    doc = b' {"Id": "3f4e", "Name": "/web", "State": {"Running": true, "Pid": 4242}}\n'
    assert loads(doc) == {"Id": "3f4e", "Name": "/web", "State": {"Running": True, "Pid": 4242}}


def test_constants():
    value = loads("[NaN, Infinity, -Infinity]")
    assert math.isnan(value[0]) and value[1:] == [math.inf, -math.inf]


@pytest.mark.parametrize("text", ["", " ", "{", '{"a": 1,}', "[1] [2]", "nul", "'x'", '{"a" 1}'])
def test_malformed_documents_are_value_errors(text):
    with pytest.raises(ValueError):
        loads(text)


@settings(max_examples=300, deadline=None, database=None)
@given(st.text())
def test_arbitrary_text_is_a_value_or_a_value_error(text):
    try:
        loads(text)
    except ValueError:
        pass


@settings(max_examples=300, deadline=None, database=None)
@given(JSON_VALUES)
def test_dumps_round_trips_through_json(value):
    from pipework._lowlevel.jsonlite import dumps

    assert json.loads(dumps(value)) == value
