"""Shared fixtures: every test gets its own HAVEN_HOME so nothing touches the real user folders."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def haven_home(tmp_path, monkeypatch):
    """Point HAVEN_HOME at a fresh temp folder for every test."""
    home = tmp_path / "haven-home"
    monkeypatch.setenv("HAVEN_HOME", str(home))
    return home
