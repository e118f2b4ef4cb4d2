"""The naming convention, the versioning attrs, and the glob matcher."""

from __future__ import annotations

import json
from datetime import datetime

import pandas as pd
import pytest

from arcticsql.pickles import make_path, parse_path, read_attrs, save_dataset, stamp_attrs
from arcticsql.pickles.globbing import glob_matches, literal_directory, literal_prefix
from tests.pickles.samples import ohlc_frame, option_chain_frame

WHEN = datetime(2023, 9, 1, 12, 30, 45)


def test_make_path_follows_the_seed_examples():
    assert make_path("index", "nifty", "gbm", "bullish_high_vol", WHEN) == \
        "index/nifty/gbm/20230901_123045_bullish_high_vol.pkl"
    assert make_path("option_chain", "nifty", "black_scholes", ["weekly", "expiry"], WHEN) == \
        "option_chain/nifty/black_scholes/20230901_123045_weekly_expiry.pkl"
    assert make_path("index", "nifty", "gbm", timestamp="20230901_123045") == "index/nifty/gbm/20230901_123045.pkl"


def test_make_path_defaults_to_now_and_validates():
    before = datetime.now().replace(microsecond=0)
    stamp = parse_path(make_path("index", "nifty", "gbm"))["timestamp"]
    assert before <= stamp <= datetime.now()
    with pytest.raises(ValueError, match="data_type"):
        make_path("", "nifty", "gbm")
    with pytest.raises(ValueError, match="market_type"):
        make_path("index", "a/b", "gbm")
    with pytest.raises(ValueError, match="params"):
        make_path("index", "nifty", "gbm", "a/b")
    with pytest.raises(ValueError):
        make_path("index", "nifty", "gbm", timestamp="2023-09-01")


@pytest.mark.parametrize(("path", "expected"), [
    ("index/nifty/gbm/20230901_123045_bullish_high_vol.pkl",
     ("index", "nifty", "gbm", WHEN, "bullish_high_vol")),
    ("option_chain/nifty/black_scholes/20230901_123045_weekly_expiry.pkl",
     ("option_chain", "nifty", "black_scholes", WHEN, "weekly_expiry")),
    ("index/nifty/gbm/20230901_123045.pkl", ("index", "nifty", "gbm", WHEN, "")),
    ("v1/index/nifty/gbm/20230901_123045_x.pkl", ("index", "nifty", "gbm", WHEN, "x")),  # version folder
    ("gbm/20230901_123045_x.pkl", (None, None, None, WHEN, "x")),  # too few folders to say
    ("index/nifty/gbm/latest.pkl", (None, None, None, None, None)),
    ("index/nifty/gbm/20231301_123045_x.pkl", (None, None, None, None, None)),  # month 13
    ("notes.pkl", (None, None, None, None, None)),
    ("", (None, None, None, None, None)),
])
def test_parse_path(path, expected):
    fields = parse_path(path)
    assert tuple(fields[k] for k in ("data_type", "market_type", "model_type", "timestamp", "params")) == expected


def test_make_and_parse_round_trip():
    path = make_path("index", "banknifty", "heston", "calm", WHEN)
    assert parse_path(path) == {"data_type": "index", "market_type": "banknifty", "model_type": "heston",
                                "timestamp": WHEN, "params": "calm"}


def test_stamp_attrs_sets_the_seed_fields():
    frame = stamp_attrs(ohlc_frame(), {"mu": 0.1, "sigma": 0.2})
    assert frame.attrs["version"] == "1.0"
    assert datetime.fromisoformat(frame.attrs["created_at"]) <= datetime.now()
    assert json.loads(frame.attrs["model_params"]) == {"mu": 0.1, "sigma": 0.2}


def test_stamp_attrs_keeps_what_the_caller_set():
    frame = ohlc_frame()
    frame.attrs.update(version="2.0", created_at="2020-01-01T00:00:00", model_params='{"k": 1}', other="x")
    stamp_attrs(frame, {"mu": 0.1}, version="1.0")
    assert frame.attrs == {"version": "2.0", "created_at": "2020-01-01T00:00:00", "model_params": '{"k": 1}',
                           "other": "x"}
    assert stamp_attrs([1, 2]) == [1, 2]  # no attrs: unchanged


def test_save_dataset_writes_by_convention(local_store):
    path = save_dataset(local_store, option_chain_frame(), "option_chain", "nifty", "black_scholes", "weekly",
                        model_params={"r": 0.07}, timestamp=WHEN)
    assert path == "option_chain/nifty/black_scholes/20230901_123045_weekly.pkl"
    back = local_store.load(path)
    pd.testing.assert_frame_equal(back, option_chain_frame())
    assert read_attrs(back)["version"] == "1.0"
    assert json.loads(read_attrs(back)["model_params"]) == {"r": 0.07}
    assert read_attrs({"x": 1}) == {"version": None, "created_at": None, "model_params": None}


@pytest.mark.parametrize(("pattern", "path", "matches"), [
    ("index/nifty/gbm/*.pkl", "index/nifty/gbm/a.pkl", True),
    ("index/nifty/gbm/*.pkl", "index/nifty/gbm/sub/a.pkl", False),
    ("index/**/*.pkl", "index/a.pkl", True),
    ("index/**/*.pkl", "index/x/y/z/a.pkl", True),
    ("index/**/*.pkl", "indexx/a.pkl", False),
    ("**", "a/b/c", True),
    ("*.pkl", ".hidden.pkl", False),
    ("**/*.pkl", "a/.hidden/b.pkl", False),
    ("a/[!b]*.pkl", "a/c.pkl", True),
    ("a/[!b]*.pkl", "a/b.pkl", False),
    ("a/[ab].pkl", "a/b.pkl", True),
    ("a/[ab].pkl", "a/[ab].pkl", False),
    ("a/x[.pkl", "a/x[.pkl", True),  # an unclosed bracket is literal
    ("a/?.pkl", "a/b.pkl", True),
    ("a/?.pkl", "a//.pkl", False),
    ("a+b/(c).pkl", "a+b/(c).pkl", True),  # regex characters are literal
])
def test_glob_matches(pattern, path, matches):
    assert glob_matches(pattern, path) is matches


def test_literal_parts():
    assert literal_prefix("index/nifty/gb*/x.pkl") == "index/nifty/gb"
    assert literal_directory("index/nifty/gb*/x.pkl") == "index/nifty"
    assert literal_directory("index/nifty/gbm/x.pkl") == "index/nifty/gbm"
    assert literal_directory("*.pkl") == ""


def test_naming_columns_are_file_then_parse_path_fields():
    from arcticsql.pickles.arrow import NAMING_COLUMNS

    assert NAMING_COLUMNS == ("file", *parse_path("index/nifty/gbm/20230901_123045_x.pkl"))
