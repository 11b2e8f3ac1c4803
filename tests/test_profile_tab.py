"""The Profile tab's handlers, in-process: the example feed end to end (offline, and with the
tiny CLIP), similar profiles from an index, per-photo explanations, and the refusals a user
sees."""

from __future__ import annotations

import gradio as gr
import numpy as np
import pytest
from PIL import Image
from skimage import data

from demos import TABS, profile_tab
from demos.common import NotAnUpload
from models.profile.index import build_index

FEED = [str(path) for path in profile_tab.EXAMPLE_FEED]


def test_the_tab_is_in_the_app_and_its_example_feed_is_recorded():
    assert "profile" in [tab.KEY for tab in TABS]
    assert len(FEED) == 9
    readme = (profile_tab.EXAMPLES_DIR / "README.md").read_text()
    assert "`feed/`" in readme
    for path in profile_tab.EXAMPLE_FEED:
        assert path.stat().st_size < 80_000


@pytest.fixture(scope="module")
def example_result():
    return profile_tab.check_feed(FEED)


def test_the_example_feed_marks_its_two_misfits_and_says_what_to_change(example_result):
    verdict, grid, group_chart, photo_chart, note, similar, numbers, choices = example_result
    # the rocket (5) and the underexposed cat (9) were put there to break the grid
    # (the coffee photos, more contrasty than the cats, are the feed's other subject, not
    # misfits: tests/test_profile_misfits.py)
    flagged = {o["photo"] for o in numbers["outliers"]}
    assert flagged == {5, 9}
    assert any(o["photo"] == 9 and o["measure"] == "brightness" for o in numbers["outliers"])
    assert any(o["photo"] == 5 and o["measure"] == "temperature" for o in numbers["outliers"])
    assert f"{numbers['score']:.0f} <small>/ 100" in verdict and "Photo 9" in verdict
    for recommendation in numbers["recommendations"]:
        assert recommendation["text"][:40] in verdict.replace("&#x27;", "'")
    # the grid: three columns of 3:4 tiles, three rows, with red frames on the misfits
    assert grid.shape[1] == 3 * 180 + 2 * 3 and grid.shape[0] == 3 * 240 + 2 * 3
    frame = grid[240 + 3 + 1, 180 + 3 + 90]  # top edge of photo 5, the middle tile
    assert tuple(frame) == (214, 39, 40)
    # the charts: a bar per group, a bar per photo, and the photo picker's choices
    assert len(group_chart.axes[0].patches) == len(numbers["shapley_by_group"])
    assert len(photo_chart.axes[0].patches) == 9
    assert [value for _, value in choices] == list(range(1, 10))
    assert sum(numbers["shapley_by_photo"]) == pytest.approx(numbers["score"] - 50)
    # offline: the card says content needs CLIP, and no similar profiles are made up
    assert "python -m weights pull clip" in verdict
    assert "python -m models.profile index DIR" in note and similar == []


def test_with_the_tiny_clip_content_cohesion_joins(tiny_clip):
    verdict, *_, numbers, _ = profile_tab.check_feed(FEED[:4])
    keys = [m["key"] for m in numbers["measures"]]
    assert "content_cohesion" in keys
    assert all(p["content"] is not None for p in numbers["photos"])
    # each photo's content score is the Aesthetic tab's, scored on its own
    from models.aesthetic.content import content_scores
    from models.images import judged_copy, prepare_photo

    alone = content_scores([judged_copy(prepare_photo(FEED[1]).image)])[0]
    assert numbers["photos"][1]["content"] == pytest.approx(alone, abs=1e-5)
    assert "needs the CLIP weights" not in verdict


def test_similar_profiles_come_from_the_index(tmp_path, monkeypatch):
    monkeypatch.setenv("INSTAVIS_DATA_DIR", str(tmp_path / "data"))
    folders = tmp_path / "profiles"
    for name, photo in (("cats", data.chelsea()), ("coffee", data.coffee()),
                        ("rockets", data.rocket()), ("astronauts", data.astronaut())):
        (folders / name).mkdir(parents=True)
        for i in range(3):
            Image.fromarray(np.ascontiguousarray(photo[:, i * 40:])).save(
                folders / name / f"{i}.png")
    build_index(folders, say=lambda line: None)
    feed = [str(p) for p in sorted((folders / "coffee").iterdir())]
    *_, note, similar, numbers, _ = profile_tab.check_feed(feed)
    assert "3 nearest of 4 indexed profiles" in note
    assert numbers["similar_profiles"][0]["name"] == "coffee"
    assert numbers["similar_profiles"][0]["distance"] == pytest.approx(0, abs=1e-9)
    assert len(similar) == 3 and similar[0][1].startswith("coffee: 0.0 steps away")


def test_explanations_explain_the_picked_photo(example_result):
    request = profile_tab.make_request(FEED, 9, target="quality")
    assert request.target == "quality" and "photo 9" in request.title
    expected = np.asarray(Image.open(FEED[8]).convert("RGB"))
    assert request.image.shape == expected.shape
    with pytest.raises(Exception, match=r"^photo: got 10; expected a photo position from 1 to 9"):
        profile_tab.make_request(FEED, 10)
    with pytest.raises(gr.Error, match="needs the CLIP weights"):
        profile_tab.make_request(FEED, 1, target="content")
    with pytest.raises(gr.Error, match="no trained RAN-56 on this machine"):
        profile_tab.make_request(FEED, 1, target="ran56")


@pytest.mark.parametrize("value, words", [
    (None, "Please upload your feed's photos first."),
    ([], "Please upload your feed's photos first."),
    (FEED[:2], "A feed needs at least 3 readable photos; 2 of 2 were usable."),
    (NotAnUpload(5), "photos: got 5; expected a list of uploaded image files"),
])
def test_bad_feeds_get_one_line(value, words):
    with pytest.raises(gr.Error) as refused:
        profile_tab.check_feed(value)
    assert str(refused.value.message).startswith(words)
    assert "\n" not in str(refused.value.message)


def test_a_corrupt_photo_is_named_and_the_rest_checked(tmp_path):
    broken = tmp_path / "holiday.jpg"
    broken.write_bytes(b"\xff\xd8\xff broken")
    verdict, *_, numbers, choices = profile_tab.check_feed([*FEED[:3], str(broken)])
    assert numbers["unreadable"][0]["name"] == "holiday.jpg"
    assert "holiday.jpg" in verdict and len(choices) == 3


def test_the_preview_draws_the_uploaded_feed_before_the_check():
    grid = profile_tab.preview(FEED[:4])
    assert grid.shape[0] == 2 * 240 + 3  # two rows of three
    assert profile_tab.preview(None) is None


def test_an_upload_keeps_only_the_files_it_brought_whichever_event_comes_first():
    """Gradio's multi-file input adds an upload to the files there; the tab keeps only the
    upload's, in the order the upload and its change event reach the server, and also when a
    photo of the old feed is uploaded again (same path in Gradio's cache)."""
    import gradio as gr

    from demos.profile_tab import remember_feed, uploaded_feed_only

    example = ["/c/a/01.jpg", "/c/b/02.jpg", "/c/c/03.jpg"]
    upload = ["/c/a/01.jpg", "/c/d/new.jpg"]
    seen = remember_feed(example, ((), ()))
    assert uploaded_feed_only(example + upload, seen) == upload  # the upload's event first
    seen_after_change = remember_feed(example + upload, seen)
    assert uploaded_feed_only(example + upload, seen_after_change) == upload  # the change first
    # The first upload into an empty input is the feed as it is.
    assert isinstance(uploaded_feed_only(upload, remember_feed(None, ((), ()))), type(gr.skip()))
