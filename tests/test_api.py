"""The app's API as a hostile client sees it: the whole app served in-process and driven with
gradio_client. Only the tabs' real actions are endpoints, every parameter and output has a name,
and a value outside what a parameter accepts gets one line naming the field, the value and
what it accepts, and one line in the log, never a traceback."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest
from gradio_client import handle_file

from demos import aesthetic_tab
from demos.explain_runs import MAX_BUDGET
from demos.fields import SEED_MAX
from tests.served import app_client

PHOTO = str(aesthetic_tab.EXAMPLES_DIR / "coffee.jpg")

PUBLIC = {
    "/aesthetic": (["photo"], ["verdict", "rating", "attributes", "what_moves_the_score"]),
    "/aesthetic_explain": (
        ["photo", "methods", "target", "seed", "lime_budget", "shap_budget"],
        ["status", "explanation_maps", "faithfulness", "download_figure_png"]),
    "/pose": (
        ["post", "photo", "allow_mirror"],
        ["verdict", "comparison", "the_post_the_pose_instavis_found",
         "your_photo_the_pose_instavis_found", "joint_by_joint", "the_post_people_found",
         "your_photo_people_found", "the_post_background_only", "your_photo_background_only"]),
    "/pose_explain": (
        ["post", "photo", "allow_mirror", "methods", "target", "seed", "lime_budget",
         "shap_budget"],
        ["status", "explanation_maps", "faithfulness", "download_figure_png"]),
    "/style": (["photo", "label_set", "labels"],
               ["verdict", "what_was_classified", "every_style", "result"]),
    "/style_explain": (
        ["photo", "label_set", "labels", "methods", "target", "seed", "lime_budget",
         "shap_budget"],
        ["status", "explanation_maps", "faithfulness", "download_figure_png"]),
    "/style_share": (["photo", "label_set", "labels", "nickname"], ["shared"]),
    "/style_leaderboard": (["style"], ["top_10_of_each_style", "entries_per_style"]),
    "/style_delete": (["entry_id", "token"], ["deleted"]),
    "/tags": (["photo", "extra_tags", "rule_thresholds", "threshold"],
              ["tags", "every_tag", "why_each_tag", "result", "tags_to_post"]),
    "/tags_explain": (
        ["photo", "extra_tags", "rule_thresholds", "threshold", "methods", "target", "seed",
         "lime_budget", "shap_budget"],
        ["status", "explanation_maps", "faithfulness", "download_figure_png"]),
    "/tags_post": (["photo", "tags"], ["posted"]),
    "/tags_gallery": (["search", "page"], ["photos", "found"]),
    "/tags_edit": (["photo_id", "token", "tags"], ["edited"]),
    "/tags_delete": (["photo_id", "token"], ["deleted"]),
    "/profile": (["photos"], ["verdict", "your_grid_misfits_in_red", "by_measure", "by_photo",
                              "how_the_similar_profiles_were_found", "similar_profiles",
                              "report"]),
    "/profile_explain": (
        ["photos", "photo", "methods", "target", "seed", "lime_budget", "shap_budget"],
        ["status", "explanation_maps", "faithfulness", "download_figure_png"]),
    "/models": (["artifact"], ["result", "artifacts"]),
    "/models_refresh": ([], ["artifacts", "summary"]),
}
"""Each public endpoint's parameter names and output names, as view_api names them."""


@pytest.fixture(scope="module")
def client():
    with app_client() as served:
        yield served


def valid(endpoint: str) -> dict:
    """Values every parameter of `endpoint` accepts, apart from the one a case spoils. The
    cases below never get past the check, so nothing here is rated or explained."""
    photo = handle_file(PHOTO)
    panel = {"methods": ["lime"], "seed": 0, "lime_budget": 10, "shap_budget": 10}
    return {
        "/aesthetic": {"photo": photo},
        "/aesthetic_explain": {"photo": photo, "target": "quality", **panel},
        "/pose": {"post": photo, "photo": handle_file(PHOTO), "allow_mirror": True},
        "/pose_explain": {"post": photo, "photo": handle_file(PHOTO), "allow_mirror": True,
                          "target": "background similarity", **panel},
        "/style": {"photo": photo, "label_set": "custom", "labels": "punk, preppy"},
        "/style_explain": {"photo": photo, "label_set": "custom", "labels": "punk, preppy",
                           "target": "punk", **panel},
        "/style_share": {"photo": photo, "label_set": "custom", "labels": "punk, preppy",
                         "nickname": "ada"},
        "/style_leaderboard": {"style": "all styles"},
        "/style_delete": {"entry_id": 1, "token": "a" * 43},
        "/tags": {"photo": photo, "extra_tags": "", "rule_thresholds": True, "threshold": 0.5},
        "/tags_explain": {"photo": photo, "extra_tags": "", "rule_thresholds": True,
                          "threshold": 0.5, "target": "sky", **panel},
        "/tags_post": {"photo": photo, "tags": "coffee, food"},
        "/tags_gallery": {"search": "", "page": 1},
        "/tags_edit": {"photo_id": 1, "token": "a" * 43, "tags": "food"},
        "/tags_delete": {"photo_id": 1, "token": "a" * 43},
        "/profile": {"photos": [photo, handle_file(PHOTO), handle_file(PHOTO)]},
        "/profile_explain": {"photos": [photo, handle_file(PHOTO), handle_file(PHOTO)],
                             "photo": 1, "target": "quality", **panel},
        "/models": {"artifact": "clip"},
    }[endpoint]


NOT_AN_UPLOAD = [123, "abc", {"path": "/etc/hostname"}, [PHOTO]]
SPOILED = {
    "/aesthetic": {"photo": NOT_AN_UPLOAD},
    "/aesthetic_explain": {
        "photo": [123, {"path": PHOTO}],
        "methods": [123, "lime", ["lime", "lime"], ["lime", "nope"], [], None, [["lime"]]],
        "target": ["nope", 1, ["quality"], "Quality"],
        "seed": ["abc", -1, 1.5, SEED_MAX + 1, True, [0]],  # JSON cannot carry NaN or inf
        "lime_budget": ["lots", 10.5, 9, MAX_BUDGET + 1, 10**9, False, "200"],
        "shap_budget": [-5, MAX_BUDGET + 1, {"evals": 100}],
    },
    "/pose": {"post": [123], "photo": ["abc"], "allow_mirror": ["yes", 1, None, "true"]},
    "/pose_explain": {
        "post": [123], "photo": [{"path": "/etc/hostname"}],
        "allow_mirror": ["yes", 0], "methods": [["shap", "shap"], "gradcam"],
        "target": ["pose", 0], "seed": [-1, 2.5], "lime_budget": [MAX_BUDGET + 1, 9.5],
        "shap_budget": ["lots", 10**9],
    },
    "/style": {"photo": [123, {"path": PHOTO}], "label_set": ["goth", 3, ["everyday"]],
               "labels": [123, "", "only one", "punk, PUNK", ["punk", "goth"]]},
    "/style_explain": {
        "photo": ["abc"], "label_set": [0, "Everyday"], "labels": [" ,  , ", 5],
        "methods": [["cam", "cam"], "gradcam", ["nope"]], "target": [123, "", ["punk"]],
        "seed": [-1, 0.5], "lime_budget": [9, "lots"], "shap_budget": [10**9],
    },
    "/style_share": {"photo": [123], "label_set": ["goth"], "labels": ["x" * 41 + ", b"],
                     "nickname": ["", "x" * 33, "a\u0007b", "'; DROP TABLE style_shares; --",
                                  123, None]},
    "/style_leaderboard": {"style": ["goth", 5, ["street"]]},
    "/style_delete": {"entry_id": ["abc", -1, 1.5, 0, None], "token": [123, "", None]},
    "/tags": {"photo": NOT_AN_UPLOAD[:2], "extra_tags": [5, "a<b>", "x" * 33,
                                                      ",".join(["t"] * 21)],
              "rule_thresholds": ["yes", 1, None], "threshold": [0, 1.5, "0.5", True, -1]},
    "/tags_explain": {
        "photo": ["abc"], "extra_tags": ["<script>"], "rule_thresholds": ["no"],
        "threshold": [2], "methods": [["cam"], ["lime", "lime"]], "target": [123, "", ["sky"]],
        "seed": [-1], "lime_budget": [10**9], "shap_budget": ["lots"],
    },
    "/tags_post": {"photo": [123], "tags": ["", 5, "<b>bold</b>", "x" * 10_000,
                                            ",".join(f"t{i}" for i in range(200)),
                                            "x'); DROP TABLE gallery_tags;--"]},
    "/tags_gallery": {"search": [5, "<i>"], "page": [0, -1, 1.5, "2", 10**7]},
    "/tags_edit": {"photo_id": ["abc", 0, None], "token": [123, ""], "tags": ["", "<b>"]},
    "/tags_delete": {"photo_id": [-1, 2.5], "token": [None, 5]},
    "/profile": {"photos": [123, "abc", {"path": "/etc/hostname"}, [123], [{"path": PHOTO}],
                            [PHOTO]]},
    "/profile_explain": {
        "photos": [5, [{"path": "/etc/hostname"}]], "photo": ["a", 0, 4, 2.5, True, [1]],
        "methods": [["lime", "lime"], "shap"], "target": ["nope", 1], "seed": [-1],
        "lime_budget": [10**9], "shap_budget": ["lots"],
    },
    "/models": {"artifact": [5, "nope", None, "mediapipe", ["clip"]]},
}
CASES = [pytest.param(endpoint, field, value, id=f"{endpoint[1:]}-{field}={value!r}"[:60])
         for endpoint, fields in SPOILED.items()
         for field, values in fields.items() for value in values]


def refusal(client, endpoint: str, **spoiled) -> str:
    """The message the client gets for a call that must be refused."""
    with pytest.raises(Exception) as caught:  # gradio_client raises AppError with the message
        client.predict(**{**valid(endpoint), **spoiled}, api_name=endpoint)
    return str(caught.value)


def test_only_the_tabs_actions_are_endpoints_and_all_is_named(client):
    info = client.view_api(print_info=False, return_format="dict")
    assert info["unnamed_endpoints"] == {}
    endpoints = info["named_endpoints"]
    assert set(endpoints) == set(PUBLIC)
    for name, (parameters, returns) in PUBLIC.items():
        assert [p["parameter_name"] for p in endpoints[name]["parameters"]] == parameters, name
        labels = [r["label"] for r in endpoints[name]["returns"]]
        assert [re.sub(r"[^a-z0-9_]", "", label.lower().replace(" ", "_"))
                for label in labels] == returns, name
        assert not any(re.fullmatch(r"value_\d+", label) for label in labels), name
        # Every parameter of every endpoint gets refused values below.
        assert set(SPOILED.get(name, {})) == set(parameters), name


API_DOCS = Path(__file__).resolve().parents[1] / "docs" / "api.md"


def documented_api_table() -> dict[str, list[str]]:
    """docs/api.md's table of endpoints: endpoint -> its parameters' names, as written
    (`name` or `name = default`)."""
    text = API_DOCS.read_text()
    section = text[text.index("| endpoint |"):]
    section = section[:section.index("\n\n")]
    rows = {}
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) == 3 and cells[0].startswith("`/"):
            rows[cells[0].strip("`")] = re.findall(r"`([a-z_0-9]+)(?: = [^`]*)?`", cells[1])
    return rows


def test_the_docs_list_every_endpoint_with_its_parameters():
    # PUBLIC is what view_api says (test_only_the_tabs_actions_are_endpoints_and_all_is_named).
    table = documented_api_table()
    assert set(table) == set(PUBLIC)
    for name, (parameters, _) in PUBLIC.items():
        assert table[name] == parameters, name


def test_the_docs_give_each_tabs_default_budgets(client):
    text = API_DOCS.read_text()
    [claimed] = re.findall(r"\| the tab's default: ([^|]+) \|", text)
    written = {tab.lower(): int(number)
               for tab, number in re.findall(r"([A-Z][a-z]+) (\d+)", claimed)}
    info = client.view_api(print_info=False, return_format="dict")["named_endpoints"]
    defaults = {}
    for name, endpoint in info.items():
        for parameter in endpoint["parameters"]:
            if parameter["parameter_name"] in ("lime_budget", "shap_budget"):
                defaults.setdefault(name[1:].removesuffix("_explain"), set()).add(
                    parameter["parameter_default"])
    assert {tab: {number} for tab, number in written.items()} == defaults


def test_no_helper_is_callable_by_the_client_libraries_at_all():
    # view_api hides "undocumented" events, which clients can still call (gr.Examples makes
    # its example loaders undocumented unless told otherwise); only "private" is closed.
    import app

    demo = app.build_app(offline=True)
    callable_by_clients = {f"/{fn.api_name}" for fn in demo.fns.values()
                           if fn.api_visibility != "private"}
    assert callable_by_clients == set(PUBLIC)


def test_the_docs_say_what_each_setting_accepts(client):
    text = client.view_api(print_info=False, return_format="str")
    assert f"seed: int (not required, defaults to:   0)  (a whole number from 0 to {SEED_MAX})" \
        in text
    assert (f"lime_budget: int (not required, defaults to:   100)  (a whole number of model "
            f"evaluations from 10 to {MAX_BUDGET})") in text  # the Pose tab's lower default
    assert "each at most once" in text and "handle_file(path)" in text


@pytest.fixture(scope="module")
def refusals(client) -> dict:
    """The message of every case of CASES, keyed by (endpoint, field, repr(value)). The calls
    go out in waves rather than one by one: a client waits most of a call's time between its
    polls of the queue, and the waits of a wave overlap. A wave stays well inside the queue's
    bound (app.QUEUE_MAX_SIZE)."""
    keys = [tuple(case.values[:2]) + (repr(case.values[2]),) for case in CASES]
    messages = {}
    for start in range(0, len(CASES), 16):
        wave = [(key, client.submit(**{**valid(case.values[0]), case.values[1]: case.values[2]},
                                    api_name=case.values[0]))
                for key, case in zip(keys[start:start + 16], CASES[start:start + 16],
                                     strict=True)]
        for key, job in wave:
            with pytest.raises(Exception) as caught:  # AppError, with the message
                job.result(timeout=120)
            messages[key] = str(caught.value)
    return messages


@pytest.mark.parametrize("endpoint, field, value", CASES)
def test_a_refused_value_gets_one_line_naming_the_field(refusals, endpoint, field, value):
    message = refusals[endpoint, field, repr(value)]
    assert "\n" not in message and "Traceback" not in message
    # A list's item is named with its index: "tags[3]: got '<b>'; ...".
    assert re.match(rf"{re.escape(field)}(\[\d+\])?: got ", message), message
    assert "; expected " in message, message


@pytest.mark.parametrize("endpoint, field, value, expected", [
    ("/aesthetic_explain", "seed", -1,
     f"seed: got -1; expected a whole number from 0 to {SEED_MAX}."),
    ("/aesthetic_explain", "lime_budget", "lots",
     f"lime_budget: got 'lots'; expected a whole number of model evaluations from 10 to "
     f"{MAX_BUDGET}."),
    ("/aesthetic_explain", "methods", ["lime", "lime"],
     "methods: got ['lime', 'lime']; expected a list of one or more of 'gradcam', 'lime', "
     "'shap', each at most once."),
    ("/pose", "allow_mirror", "yes", "allow_mirror: got 'yes'; expected true or false."),
    ("/aesthetic", "photo", 123,
     "photo: got 123; expected an uploaded image file (gradio_client: handle_file(path))."),
    ("/models", "artifact", "nope",
     "artifact: got 'nope'; expected one of 'clip', 'resnet50', 'vgg16', 'efficientnet_b0'."),
])
def test_the_message_says_what_was_got_and_what_is_accepted(client, endpoint, field, value,
                                                             expected):
    assert refusal(client, endpoint, **{field: value}) == expected


def test_a_long_value_is_cut_in_the_message(client):
    message = refusal(client, "/aesthetic_explain", seed="9" * 100_000)
    assert len(message) < 200 and message.startswith("seed: got '999")


def test_a_file_on_the_server_is_not_an_upload(client):
    # gr.Image would open any path a client names; PhotoInput takes only Gradio's uploads.
    message = refusal(client, "/aesthetic", photo={"path": PHOTO})
    assert message.startswith("photo: got {'path': ") and "uploaded image file" in message


@pytest.mark.parametrize("endpoint, data, expected", [
    ("aesthetic", [{"path": "../../../../etc/passwd", "meta": {"_type": "gradio.FileData"}}],
     "photo: got a file on the server, not an upload; expected an uploaded image file"),
    ("profile", [[{"path": "/etc/hostname", "meta": {"_type": "gradio.FileData"}}]],
     "photos: got a file on the server, not an upload; expected a list of uploaded image"),
])
def test_a_server_path_posing_as_an_upload_gets_one_line(client, capfd, endpoint, data,
                                                         expected):
    """Gradio refuses a file nobody uploaded before any handler runs; the client still gets one
    line naming the field, and the log no traceback."""
    import json

    import httpx

    capfd.readouterr()
    base = client.src.rstrip("/")
    posted = httpx.post(f"{base}/gradio_api/call/{endpoint}", json={"data": data}, timeout=30)
    event_id = posted.json()["event_id"]
    stream = httpx.get(f"{base}/gradio_api/call/{endpoint}/{event_id}", timeout=60).text
    [payload] = [line[len("data: "):] for line in stream.splitlines()
                 if line.startswith("data: ")]
    message = json.loads(payload)["error"]
    assert message.startswith(expected) and "\n" not in message, message
    _, stderr = capfd.readouterr()
    assert "Traceback" not in stderr, stderr[-2000:]


def test_a_refusal_logs_one_line_and_no_traceback(client, caplog, capfd):
    capfd.readouterr()  # start from a clean slate
    with caplog.at_level(logging.INFO):
        refusal(client, "/aesthetic_explain", seed=-1)
        refusal(client, "/pose", allow_mirror="yes")
    ours = [r for r in caplog.records if r.name == "instavis"]
    assert [r.getMessage() for r in ours] == [
        f"aesthetic_explain refused: seed: got -1; expected a whole number from 0 to "
        f"{SEED_MAX}.",
        "compare refused: allow_mirror: got 'yes'; expected true or false.",
    ]
    assert all(r.levelno == logging.INFO and r.exc_info is None for r in ours)
    assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.WARNING]
    _, stderr = capfd.readouterr()
    assert "Traceback" not in stderr, stderr[-2000:]


# === The fields themselves, without a server ===


def test_whole_numbers_accept_what_clients_send_for_them():
    import numpy as np

    from demos.fields import InvalidField, WholeNumber

    seed = WholeNumber("seed", 0, SEED_MAX, default=0)
    assert seed.check(None) == 0  # a cleared field or a left-out setting: the default
    assert seed.check(7) == 7 and seed.check(7.0) == 7 and seed.check(np.int64(7)) == 7
    assert type(seed.check(7.0)) is int
    assert seed.check(SEED_MAX) == SEED_MAX
    for bad in (float("nan"), float("inf"), 7.5, np.float32(0.5), True, "7", b"7"):
        with pytest.raises(InvalidField, match=r"^seed: got "):
            seed.check(bad)


def test_choices_are_compared_by_type_and_lists_must_be_distinct():
    from demos.fields import DistinctChoices, Flag, InvalidField, OneOf

    methods = DistinctChoices("methods", ("gradcam", "lime"))
    assert methods.check(("lime", "gradcam")) == ["lime", "gradcam"]  # the order given
    target = OneOf("target", (0, 1), default=0)
    assert target.check(None) == 0 and target.check(1) == 1
    for bad in (True, 1.0, "1"):  # equal to 1 in Python, but not the choice
        with pytest.raises(InvalidField, match=r"^target: got "):
            target.check(bad)
    with pytest.raises(InvalidField, match=r"^artifact: got None; expected one of 'clip'\.$"):
        OneOf("artifact", ("clip",), required=True).check(None)
    assert Flag("allow_mirror").check(False) is False


def test_pose_says_why_grad_cam_cannot_run_whether_asked_alone_or_with_others(client):
    """Offline there is no CLIP, so no Grad-CAM on Pose: asked for alone, the request is
    refused with the reason; asked for with LIME, the LIME map comes and the status gives the
    same reason for Grad-CAM."""
    from models.pose.explanations import GRADCAM_NEEDS_CLIP

    pair = {"post": handle_file(PHOTO), "photo": handle_file(PHOTO), "allow_mirror": True,
            "target": "background similarity", "seed": 0, "lime_budget": 10,
            "shap_budget": 10}
    alone = refusal(client, "/pose_explain", **pair, methods=["gradcam"])
    assert alone == GRADCAM_NEEDS_CLIP
    status, maps, table, _ = client.predict(**pair, methods=["gradcam", "lime"],
                                            api_name="/pose_explain")
    assert maps and f"**Grad-CAM failed:** {GRADCAM_NEEDS_CLIP}" in status
    assert [row[0] for row in table["data"]] == ["Grad-CAM", "LIME"]
