"""Shared test set-up: no test may reach a network or touch the user's own caches."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"


@pytest.fixture(autouse=True)
def isolated_weights(monkeypatch, tmp_path_factory):
    """Every test starts offline, with an empty Hugging Face cache and no weights override."""
    import weights.resolver

    hf_home = tmp_path_factory.mktemp("hf_home")
    monkeypatch.setenv("HF_HOME", str(hf_home))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.delenv("INSTAVIS_WEIGHTS_DIR", raising=False)
    monkeypatch.setattr(weights.resolver, "_offline_flag", False)
    yield hf_home
