"""Backend selection: argument > $PYDPDK_BACKEND > automatic."""

from __future__ import annotations

import pytest

import pydpdk
from pydpdk import backend
from pydpdk.errors import BackendUnavailableError, DpdkUnavailableError


def test_automatic_choice_prefers_dpdk_when_usable(monkeypatch):
    monkeypatch.delenv(backend.ENV_VAR, raising=False)
    avail = backend.available()
    expected = "dpdk" if avail["dpdk"] is None else "native"
    assert backend.select() == expected
    assert backend.current() == expected
    assert backend.describe()["chosen_by"] == "automatic"


def test_native_is_usable_on_linux():
    assert backend.available()["native"] is None
    assert backend.select("native") == "native"


def test_environment_overrides_automatic(monkeypatch):
    monkeypatch.setenv(backend.ENV_VAR, "native")
    assert backend.select() == "native"
    info = backend.describe()
    assert info["selected"] == "native" and info["chosen_by"] == "environment"
    monkeypatch.setenv(backend.ENV_VAR, "auto")
    assert backend.select() in backend.BACKENDS


def test_argument_overrides_environment(monkeypatch):
    monkeypatch.setenv(backend.ENV_VAR, "dpdk")
    assert backend.select("native") == "native"


def test_unknown_backend_names_the_choices(monkeypatch):
    with pytest.raises(ValueError, match="dpdk, native"):
        backend.select("netmap")
    monkeypatch.setenv(backend.ENV_VAR, "bogus")
    with pytest.raises(ValueError, match=r"\$PYDPDK_BACKEND"):
        backend.select()
    assert backend.describe()["selected"] is None


def test_requesting_unusable_dpdk_says_why(monkeypatch):
    reason = backend.available()["dpdk"]
    if reason is None:
        pytest.skip("DPDK is usable in this build")
    with pytest.raises(DpdkUnavailableError, match="cannot be used") as info:
        backend.select("dpdk")
    assert isinstance(info.value, BackendUnavailableError)


def test_build_without_dpdk_reports_it():
    if pydpdk.BUILD_INFO["dpdk"]:
        pytest.skip("this build has DPDK")
    assert "built without DPDK" in backend.available()["dpdk"]
    assert backend.select() == "native"
