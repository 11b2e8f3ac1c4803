"""The stale-output rule on the server: a run's answer lands only while the page still shows the
values it was computed from, and a late change carrying the values a run already uses clears
nothing (demos.freshness)."""

from __future__ import annotations

import contextlib
from types import SimpleNamespace

import gradio as gr
import pytest
from gradio.context import LocalContext

from demos.freshness import InputLedger, fingerprint, fresh_only

SCOPE = "test rating"


@contextlib.contextmanager
def page(session: str):
    """Run the enclosed calls as Gradio runs a handler for the page `session`."""
    token = LocalContext.request.set(SimpleNamespace(session_hash=session))
    try:
        yield
    finally:
        LocalContext.request.reset(token)


def is_skip(value) -> bool:
    return value == gr.skip()


@pytest.fixture
def ledger(monkeypatch):
    """A fresh ledger in place of the app's one."""
    import demos.freshness

    fresh = InputLedger(capacity=8)
    monkeypatch.setattr(demos.freshness, "LEDGER", fresh)
    return fresh


def rating_that(during=None):
    """A two-output handler of one photo; `during(photo)` runs while it computes, as a change
    reaching the server mid-run would."""
    @fresh_only(SCOPE, count=1, outputs=2)
    def rate(photo, progress=None):
        if during is not None:
            during(photo)
        return f"score of {photo}", f"chart of {photo}"

    return rate


def test_a_run_for_the_photo_on_screen_lands(ledger):
    with page("p1"):
        assert rating_that()("cat.jpg") == ("score of cat.jpg", "chart of cat.jpg")


def test_a_run_whose_photo_was_replaced_meanwhile_lands_nothing(ledger):
    def user_picks_coffee(photo):
        assert ledger.record("p1", SCOPE, ["coffee.jpg"])  # the change handler clears

    with page("p1"):
        result = rating_that(user_picks_coffee)("cat.jpg")
    assert len(result) == 2 and all(is_skip(value) for value in result)


def test_a_late_change_for_the_photo_a_run_uses_neither_clears_nor_cancels(ledger):
    """The race `cancels=` lost: an example is picked and Rate pressed at once; the example's
    change reaches the server after the run started, with the same photo."""
    ledger.record("p1", SCOPE, ["coffee.jpg"])  # what the page showed before

    def example_change_arrives_late(photo):
        # The change handler's test: same values as the run recorded, so nothing to clear.
        assert not ledger.record("p1", SCOPE, [photo])

    with page("p1"):
        result = rating_that(example_change_arrives_late)("cat.jpg")
    assert result == ("score of cat.jpg", "chart of cat.jpg")


def test_pages_do_not_void_each_others_runs(ledger):
    def another_visitor_changes_photo(photo):
        ledger.record("p2", SCOPE, ["coffee.jpg"])

    with page("p1"):
        result = rating_that(another_visitor_changes_photo)("cat.jpg")
    assert result == ("score of cat.jpg", "chart of cat.jpg")


def test_an_error_about_a_photo_no_longer_shown_is_dropped(ledger):
    @fresh_only(SCOPE, count=1, outputs=2)
    def rate(photo):
        ledger.record("p1", SCOPE, ["coffee.jpg"])
        raise gr.Error("No person in that photo.")

    with page("p1"):
        assert all(is_skip(value) for value in rate("landscape.jpg"))

    @fresh_only(SCOPE, count=1, outputs=2)
    def rate_still_shown(photo):
        raise gr.Error("No person in that photo.")

    with page("p1"), pytest.raises(gr.Error, match="No person"):
        rate_still_shown("landscape.jpg")


def test_without_a_page_every_run_is_current(ledger):
    """A script calling a handler directly has no session: nothing recorded, nothing dropped."""
    assert rating_that()("cat.jpg") == ("score of cat.jpg", "chart of cat.jpg")
    assert len(ledger) == 0


def test_the_ledger_forgets_the_least_recently_used_scope_first(ledger):
    for index in range(8):
        ledger.record(f"p{index}", SCOPE, [index])
    ledger.record("p0", SCOPE, [0])  # p0 used again: p1 is now the oldest
    ledger.record("p8", SCOPE, [8])
    assert len(ledger) == 8
    assert ledger.is_current("p1", SCOPE, ["anything"])  # forgotten: nothing newer known
    assert not ledger.is_current("p0", SCOPE, [1])  # kept
    assert not ledger.is_current("p8", SCOPE, [0])


def test_fingerprints_tell_values_apart_and_lists_from_order():
    assert fingerprint(["a.jpg", True]) == fingerprint(("a.jpg", True))
    assert fingerprint(["a.jpg", True]) != fingerprint(["a.jpg", False])
    assert fingerprint([["lime", "shap"]]) != fingerprint([["shap", "lime"]])
    assert fingerprint([None]) != fingerprint(["None"])
