"""Settings: defaults, the config file, environment overrides and the errors for bad values."""

from __future__ import annotations

import pytest

import arcticsql
from arcticsql.config import ConfigError, load_settings


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch, tmp_path):
    for name in ("ARCTICSQL_CONFIG", "ARCTICSQL_URI", "LOCAL_STORAGE_PATH", "GCS_BUCKET_NAME",
                 "ARCTICSQL_STORAGE_TYPE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)  # no ./config/config.yaml here


def test_defaults():
    settings = load_settings()
    assert settings.arctic_uri.startswith("lmdb://") and settings.arctic_uri.endswith("data/arctic_storage")
    assert settings.max_workers == 4 and settings.storage_type == "local"
    assert settings.listing_ttl_s == 2
    assert settings.source is None


@pytest.mark.parametrize(("value", "expected"), [(0, 0), (3, 3), ("2.5", 2.5), (-1, 0)])
def test_listing_ttl(value, expected):
    assert load_settings({"processing": {"listing_ttl_s": value}}).listing_ttl_s == expected


def test_bad_numbers_are_a_config_error():
    with pytest.raises(ConfigError, match="processing settings must be numbers"):
        load_settings({"processing": {"listing_ttl_s": "many"}})
    with pytest.raises(ConfigError, match="processing settings must be numbers"):
        load_settings({"processing": {"max_workers": "x"}})


def test_file_and_environment(tmp_path, monkeypatch):
    path = tmp_path / "settings.yaml"
    path.write_text("arctic_storage_path: mem://\nstorage:\n  type: gcs\n  gcs:\n    bucket_name: from-file\n"
                    "processing:\n  listing_ttl_s: 0\n")
    settings = load_settings(str(path))
    assert (settings.arctic_uri, settings.storage_type, settings.storage["gcs"]["bucket_name"]) == \
        ("mem://", "gcs", "from-file")
    assert settings.listing_ttl_s == 0 and settings.source == str(path)
    monkeypatch.setenv("ARCTICSQL_CONFIG", str(path))
    monkeypatch.setenv("GCS_BUCKET_NAME", "from-env")
    monkeypatch.setenv("ARCTICSQL_URI", "lmdb:///tmp/elsewhere")
    settings = load_settings()
    assert settings.storage["gcs"]["bucket_name"] == "from-env" and settings.arctic_uri == "lmdb:///tmp/elsewhere"
    assert load_settings(uri="mem://").arctic_uri == "mem://"


def test_missing_or_broken_files(tmp_path):
    with pytest.raises(ConfigError, match="config file not found"):
        load_settings(str(tmp_path / "nope.yaml"))
    broken = tmp_path / "broken.yaml"
    broken.write_text("storage: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_settings(str(broken))
    with pytest.raises(arcticsql.InterfaceError, match="config file not found"):
        arcticsql.connect(config=str(tmp_path / "nope.yaml"))
