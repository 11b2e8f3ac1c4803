"""Requests nobody listens to stop, and one client cannot fill the queue (`demos.listeners`):
the whole app served in-process with its middleware, driven over plain HTTP as a client that
posts and walks away would drive it, and with gradio_client as a client that listens."""

from __future__ import annotations

import logging
import time

import httpx
import pytest

from demos import listeners
from demos.listeners import stream_key


def test_result_streams_are_told_apart_from_everything_else():
    assert stream_key("/gradio_api/queue/data", b"session_hash=abc") == "session:abc"
    assert stream_key("/gradio_api/call/aesthetic_explain/e1f2", b"") == "event:e1f2"
    assert stream_key("/gradio_api/call/v2/aesthetic/e1f2", b"") == "event:e1f2"
    assert stream_key("/gradio_api/queue/data", b"") is None
    assert stream_key("/gradio_api/info", b"") is None
    assert stream_key("/gradio_api/call/aesthetic", b"") is None  # the POST's own path


@pytest.fixture(scope="module")
def served():
    """The offline app with the middleware app.py launches it with; (URL, its queue)."""
    import app
    from demos.listeners import guard_middleware
    from tests.served import serve

    demo = app.build_app(offline=True)
    with serve(demo, app_kwargs={"middleware": guard_middleware(demo)}) as url:
        yield url.rstrip("/"), demo


@pytest.fixture
def short_grace(monkeypatch):
    monkeypatch.setattr(listeners, "LISTEN_GRACE_SECONDS", 1.0)


def uploaded(url: str) -> dict:
    from demos import aesthetic_tab

    photo = (aesthetic_tab.EXAMPLES_DIR / "coffee.jpg").read_bytes()
    [path] = httpx.post(f"{url}/gradio_api/upload", files={"files": ("coffee.jpg", photo)},
                        timeout=60).json()
    return {"path": path, "meta": {"_type": "gradio.FileData"}}


def post_and_walk_away(url: str, photo: dict, budget: int = 2000) -> httpx.Response:
    """An explanation at a large budget, posted without ever asking for its result."""
    return httpx.post(f"{url}/gradio_api/call/aesthetic_explain",
                      json={"data": [photo, ["lime"], "quality", 0, budget, 10]}, timeout=60)


def wait_until_idle(demo, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds  # against hanging, not a speed check
    while demo._queue.event_ids_to_events and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not demo._queue.event_ids_to_events, "the queue never emptied"


def test_a_request_nobody_listens_to_stops_and_frees_the_worker(served, short_grace, caplog):
    from gradio_client import Client, handle_file

    from demos import aesthetic_tab

    url, demo = served
    with caplog.at_level(logging.INFO, logger="instavis"):
        assert post_and_walk_away(url, uploaded(url)).status_code == 200
        # A listening client's small request, behind it on the same worker, is answered.
        status, maps, _, _ = Client(url, verbose=False).predict(
            photo=handle_file(str(aesthetic_tab.EXAMPLES_DIR / "coffee.jpg")),
            methods=["lime"], target="quality", seed=0, lime_budget=10,
            api_name="/aesthetic_explain")
        assert "Explained **technical quality**" in status and maps
        wait_until_idle(demo)
    lines = [r.getMessage() for r in caplog.records if r.name == "instavis"]
    # The abandoned one stopped rather than running its 2000 evaluations to the end.
    assert "aesthetic_explain stopped: its request was cancelled or its page closed" in lines


def test_one_client_cannot_have_more_than_its_share_in_the_queue(served, short_grace):
    url, demo = served
    photo = uploaded(url)
    limit = listeners.IN_FLIGHT_PER_CLIENT
    for _ in range(limit):
        assert post_and_walk_away(url, photo).status_code == 200
    refused = post_and_walk_away(url, photo)
    assert refused.status_code == 429
    assert refused.json()["detail"] == (
        f"Too many requests at once: at most {limit} from one client can wait or run; try "
        "again when one has finished.")
    # Nobody listens to them: each stops in turn, and the client may ask again.
    wait_until_idle(demo)
    assert post_and_walk_away(url, photo, budget=10).status_code == 200
    wait_until_idle(demo)


def at_work(demo, api_names: set[str]) -> list[str]:
    """The endpoints among `api_names` the server's queue has at work now, one entry per
    request. Read from the server: the clients' status streams are separate connections, so one
    client can hear "started" before another hears "finished"."""
    return [event.fn.api_name for job in list(demo._queue.active_jobs) if job
            for event in job if event.fn.api_name in api_names]


def most_at_work_together(demo, jobs: dict, api_names: set[str]) -> tuple[int, set[str]]:
    """Polls the server's queue until every job is done: (the most requests among `api_names`
    seen at work at once, the endpoints seen at work)."""
    most, seen = 0, set()
    deadline = time.monotonic() + 300  # against hanging, not a speed check
    while not all(job.done() for job in jobs.values()) and time.monotonic() < deadline:
        running = at_work(demo, api_names)
        seen |= set(running)
        most = max(most, len(running))
        time.sleep(0.01)
    assert all(job.done() for job in jobs.values())
    return most, seen


def test_explanations_of_different_tabs_run_one_at_a_time(served):
    """Two visitors ask for explanations in two tabs at once: the second waits in the queue
    until the first is done (demos.explain_panel.EXPLANATION_WORKERS), and both are answered."""
    from gradio_client import Client, handle_file

    from demos import aesthetic_tab, profile_tab

    url, demo = served
    photo = handle_file(str(aesthetic_tab.EXAMPLES_DIR / "coffee.jpg"))
    feed = [handle_file(str(path)) for path in profile_tab.EXAMPLE_FEED[:3]]
    jobs = {
        "aesthetic": Client(url, verbose=False).submit(
            photo=photo, methods=["lime"], target="quality", seed=0, lime_budget=40,
            api_name="/aesthetic_explain"),
        "profile": Client(url, verbose=False).submit(
            photos=feed, photo=1, methods=["lime"], target="quality", seed=0, lime_budget=40,
            api_name="/profile_explain"),
    }
    names = {"aesthetic_explain", "profile_explain"}
    most, seen = most_at_work_together(demo, jobs, names)
    for job in jobs.values():
        status, maps, _, _ = job.result()
        assert "Explained **technical quality**" in status and maps
    assert seen == names  # each was seen at work
    assert most == 1


def test_an_app_served_without_the_guard_takes_no_request_for_abandoned(short_grace):
    """Without `guard_middleware` no stream is counted, so nothing can be known to be
    abandoned: an explanation that outlasts the grace period runs to its end."""
    from gradio_client import Client, handle_file

    import app
    from demos import aesthetic_tab
    from tests.served import serve

    demo = app.build_app(offline=True)
    with serve(demo) as url:
        status, maps, _, _ = Client(url, verbose=False).predict(
            photo=handle_file(str(aesthetic_tab.EXAMPLES_DIR / "coffee.jpg")),
            # LIME and its faithfulness pass: about 100 evaluations, seconds past the grace.
            methods=["lime"], target="quality", seed=0, lime_budget=20,
            api_name="/aesthetic_explain")
    assert "Explained **technical quality**" in status and maps


def test_one_api_client_asking_for_several_photos_at_once_gets_every_answer(served):
    """gradio_client gives all of one Client's calls one session. Three photos rated at once
    by one Client each get their own rating, the one each gets when asked alone, not the empty
    answer of a run the page has moved past (`demos.freshness`): each tab's action runs one
    request at a time, so one session's runs of one scope never overlap."""
    from gradio_client import Client, handle_file

    from demos import aesthetic_tab

    url, _ = served
    names = ("coffee.jpg", "chelsea.jpg", "flower.jpg")
    client = Client(url, verbose=False)
    jobs = [client.submit(photo=handle_file(str(aesthetic_tab.EXAMPLES_DIR / name)),
                          api_name="/aesthetic") for name in names]
    together = [job.result(timeout=300)[1] for job in jobs]
    alone = [Client(url, verbose=False).predict(
        photo=handle_file(str(aesthetic_tab.EXAMPLES_DIR / name)), api_name="/aesthetic")[1]
        for name in names]
    assert all(isinstance(rating, dict) and "score" in rating for rating in together)
    assert [rating["score"] for rating in together] == [rating["score"] for rating in alone]
    assert len({rating["brisque"] for rating in together}) == 3  # three photos, three answers
