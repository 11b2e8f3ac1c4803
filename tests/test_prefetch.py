"""Missing weights arrive in the background on a connected machine (weights.prefetch), and
every place that needs them says how far along they are; offline nothing is attempted.

The Hub is unreachable here, so the download itself is a stand-in that copies the tests' tiny
CLIP preset into $INSTAVIS_WEIGHTS_DIR in steps, reporting bytes as huggingface_hub does, and
waits between steps for the test to let it go on. What is tested is everything around the
transfer: what is queued, the progress each place shows, the arrival, and the failures. The
byte counter given to huggingface_hub is driven through huggingface_hub's own bar factory.
"""

from __future__ import annotations

import shutil
import threading

import pytest

import weights
from weights import prefetch


@pytest.fixture
def online(monkeypatch):
    """A connected machine with no weights, and no download records from other tests."""
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    prefetch.reset()
    yield
    prefetch.wait(30)
    prefetch.reset()


class SteppedDownload:
    """Copies a preset folder into the weights override in two halves, reporting bytes after
    each, and waits for the test's go-ahead before each half."""

    def __init__(self, preset, target_root):
        self.preset, self.target_root = preset, target_root
        self.go = [threading.Event(), threading.Event()]
        self.halfway = threading.Event()
        self.names: list[str] = []

    def __call__(self, name, progress):
        self.names.append(name)
        files = sorted(p for p in self.preset.rglob("*") if p.is_file())
        total = sum(p.stat().st_size for p in files)
        halves = [files[: len(files) // 2], files[len(files) // 2:]]
        target = self.target_root / name
        done = 0
        for index, half in enumerate(halves):
            assert self.go[index].wait(60), "the test never let the download go on"
            for path in half:
                destination = target / path.relative_to(self.preset)
                destination.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy(path, destination)
                done += path.stat().st_size
            progress(done, total)
            if index == 0:
                self.halfway.set()


@pytest.fixture
def stepped(online, tiny_weights_root, tmp_path, monkeypatch):
    target_root = tmp_path / "arriving"
    target_root.mkdir()
    monkeypatch.setenv("INSTAVIS_WEIGHTS_DIR", str(target_root))
    return SteppedDownload(tiny_weights_root / "clip", target_root)


def test_offline_nothing_is_attempted(monkeypatch):
    prefetch.reset()
    fetched = []
    assert prefetch.start(["clip"], fetch=lambda name, progress: fetched.append(name)) == []
    assert prefetch.wait(5) and fetched == [] and prefetch.arrival("clip") is None
    assert prefetch.missing_advice("clip") == "run `python -m weights pull clip`"


def test_only_missing_hub_artifacts_the_manifest_names_are_queued(stepped):
    stepped.go[0].set(), stepped.go[1].set()
    # quality ships in the repository, mediapipe in a package, the head is not published.
    queued = prefetch.start(["quality", "clip", "mediapipe", "aesthetic_head", "clip"],
                            fetch=stepped)
    assert queued == ["clip"]
    assert prefetch.wait(60) and stepped.names == ["clip"]


def test_a_download_shows_its_progress_everywhere_then_arrives(stepped):
    from demos import models_tab, pose_tab
    from models.aesthetic.content import clip_missing_note, content_available

    arrived = []
    assert prefetch.start(["clip"], fetch=stepped, on_arrival=arrived.append) == ["clip"]
    # Before a byte has come, the manifest's size stands in for the total.
    before = prefetch.arrival("clip")
    assert before.pending and before.total_bytes == 606_000_000

    stepped.go[0].set()
    assert stepped.halfway.wait(60)
    now = prefetch.arrival("clip")
    assert now.state == prefetch.DOWNLOADING and 0 < now.fraction < 1
    share = f"{now.fraction:.0%}"
    # Every place that needs CLIP says it is on its way, and how far.
    assert "CLIP ViT-B/32 image-text model is on its way (downloading: " + share in \
        prefetch.missing_advice("clip")
    assert share in clip_missing_note() and "pull clip" not in clip_missing_note()
    assert share in pose_tab.gradcam_missing()
    from models.style.classify import StyleUnavailable

    assert ("Style needs the CLIP weights, and CLIP ViT-B/32 image-text model is on its way "
            "(downloading: " + share) in StyleUnavailable().summary
    clip_row = next(row for row in models_tab.table_rows() if row[0] == "clip")
    assert clip_row[1].startswith("arriving: downloading: " + share)
    assert models_tab.downloading() and "downloading in the background" in \
        models_tab.network_note()
    assert not weights.available("clip")

    stepped.go[1].set()
    assert prefetch.wait(60)
    assert prefetch.arrival("clip").state == prefetch.ARRIVED and arrived == ["clip"]
    assert weights.available("clip") and not models_tab.downloading()
    clip_row = next(row for row in models_tab.table_rows() if row[0] == "clip")
    assert clip_row[1] == "ready (local override)"
    assert content_available()


def test_a_failed_download_is_said_and_the_next_still_comes(online, monkeypatch):
    tried = []

    def fetch(name, progress):
        tried.append(name)
        if name == "clip":
            raise weights.WeightsUnavailable(weights.get_artifact("clip"),
                                             ["Hub keras/clip (download failed: timed out)"],
                                             "python -m weights pull clip")

    assert prefetch.start(["clip", "vgg16"], fetch=fetch) == ["clip", "vgg16"]
    assert prefetch.wait(60) and tried == ["clip", "vgg16"]
    failed = prefetch.arrival("clip")
    assert failed.state == prefetch.FAILED and "timed out" in failed.error
    # A failed download is not "on its way": the command is given again.
    assert prefetch.missing_advice("clip") == "run `python -m weights pull clip`"
    from demos import models_tab

    clip_row = next(row for row in models_tab.table_rows() if row[0] == "clip")
    assert clip_row[1].startswith("missing, download failed: Hub keras/clip")


def test_a_second_start_while_downloading_starts_nothing(stepped):
    assert prefetch.start(["clip"], fetch=stepped) == ["clip"]
    assert prefetch.start(["clip"], fetch=stepped) == []
    stepped.go[0].set(), stepped.go[1].set()
    assert prefetch.wait(60) and stepped.names == ["clip"]


def test_the_byte_counter_reports_huggingface_hubs_byte_bar_only():
    from huggingface_hub.utils.tqdm import _create_progress_bar

    from weights.resolver import byte_counter

    heard = []
    counter = byte_counter(lambda done, total: heard.append((done, total)))
    # As snapshot_download makes its bars: one for bytes, whose total grows as file sizes
    # become known, and one counting files.
    bytes_bar = _create_progress_bar(cls=counter, log_level=20, name="x", desc="Reconstructing "
                                     "(incomplete total...)", total=0, initial=0, unit="B",
                                     unit_scale=True)
    files_bar = counter(total=3, desc="Fetching 3 files")
    bytes_bar.total = 1000
    bytes_bar.update(400)
    files_bar.update(1)
    bytes_bar.update(600)
    assert heard == [(400, 1000), (1000, 1000)]
