"""``hogformer app``'s command line: it binds 127.0.0.1 and makes no share link unless told to."""

from __future__ import annotations

import argparse

import pytest

from .conftest import need


def _launch_kwargs(monkeypatch: pytest.MonkeyPatch, argv: list[str]) -> dict:
    gr = need("gradio")
    from hogformer.app import cli

    seen: dict = {}
    monkeypatch.setattr(gr.Blocks, "launch", lambda self, **kw: seen.update(kw))
    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    assert cli.run(parser.parse_args(["--no-preload", *argv])) == 0
    return seen


def test_local_only_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    kw = _launch_kwargs(monkeypatch, [])
    assert kw["server_name"] == "127.0.0.1"
    assert kw["share"] is False
    assert kw["show_error"] is False  # no tracebacks in the page


def test_host_and_share_only_when_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    kw = _launch_kwargs(monkeypatch, ["--host", "0.0.0.0", "--share", "--port", "9999"])
    assert kw["server_name"] == "0.0.0.0" and kw["share"] is True and kw["server_port"] == 9999


def test_named_api_endpoint() -> None:
    need("gradio")
    from hogformer.app.page import build_app

    demo = build_app()
    named = {d["api_name"]: d for d in demo.get_config_file()["dependencies"] if d.get("api_name")}
    assert named["restore"]["api_visibility"] == "public"
    public = [n for n, d in named.items() if d["api_visibility"] == "public"]
    assert public == ["restore"]
