"""Scene tests keep the demo-scene cache in one temporary folder per session, never in the user's cache."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _demo_cache_in_tmp(monkeypatch, tmp_path_factory):
    folder = tmp_path_factory.getbasetemp() / "realcam-cache"
    monkeypatch.delenv("REALCAM_DEMO_CACHE", raising=False)  # these tests check the REALCAM_CACHE-based location
    monkeypatch.setenv("REALCAM_CACHE", str(folder))
    return folder
