"""`otio-dub studio` over HTTP: speak an edited line, keep it, undo it; and every request it must refuse.

One real dub of samples/scene.otio + scene.ass (espeak) per module into a render cache under
tmp; each test works on its own copy of the folder (the cache is shared: takes are keyed).
"""

from __future__ import annotations

import hashlib
import http.client
import io
import json
import shutil
import threading
from pathlib import Path

import pytest
import soundfile as sf

import otio_dub
from otio_dub.delivery.outdir import lock_folder
from otio_dub.stages.options import DubOptions
from otio_dub.stages.studio import MAX_BODY, start

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def dubbed(tmp_path_factory) -> tuple[Path, Path]:
    base = tmp_path_factory.mktemp("studio")
    otio_dub.dub(ROOT / "samples" / "scene.otio", ROOT / "samples" / "scene.ass", base / "dub",
                 DubOptions(cache=base / "cache", to="xml"))
    return base / "dub", base / "cache"


@pytest.fixture
def studio(dubbed, tmp_path):
    out = tmp_path / "dub"
    shutil.copytree(dubbed[0], out)
    server = start(out, dubbed[1])
    yield server
    server.shutdown()
    server.server_close()


def snapshot(folder: Path) -> dict[str, str]:
    """Every file of a folder by relative path, as its SHA-256."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file() and not p.is_symlink()}


def request(server, method: str, path: str, body: object = None, headers: dict | None = None,
            secret: str | None = None, raw: bytes | None = None) -> tuple[int, bytes]:
    """One request to the studio (the session prefix added unless ``path`` starts with '/')."""
    port = server.server_address[1]
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    url = path if path.startswith("/") else f"/s/{secret or server.secret}/{path}"
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    sent = {"Host": f"127.0.0.1:{port}"}
    if data is not None:
        sent["Content-Type"] = "application/json"
    sent.update(headers or {})
    conn.request(method, url, body=data, headers=sent)
    resp = conn.getresponse()
    out = resp.status, resp.read()
    conn.close()
    return out


def post(server, path: str, body: object) -> tuple[int, dict]:
    status, data = request(server, "POST", path, body)
    return status, json.loads(data)


def test_speak_plays_a_take_of_the_windows_length_and_keep_writes_it(studio):
    out = studio.session.out
    status, take = post(studio, "api/speak", {"id": "002-MARCUS", "text": "Who else would climb up here tonight?", "pace": 1.1})
    assert status == 200, take
    status, wav = request(studio, "GET", take["url"])
    audio, rate = sf.read(io.BytesIO(wav))
    assert status == 200 and rate == 48000 and audio.size == take["samples"] == take["window"] + 0 * take["samples"]
    assert post(studio, "api/choose", {"id": "002-MARCUS", "take": 1})[0] == 200
    before = snapshot(out)
    status, kept = post(studio, "api/keep", {})
    assert status == 200 and kept["kept"] == ["002-MARCUS"], kept
    report = json.loads((out / "report.json").read_text())
    row = next(r for r in report["lines"] if r["id"] == "002-MARCUS")
    assert row["text"] == "Who else would climb up here tonight?" and row["key"] == take["key"]
    media, _ = sf.read(out / "media" / "002-MARCUS.wav")
    assert media.size == take["samples"]
    after = snapshot(out)
    assert after["stems/MARCUS.wav"] != before["stems/MARCUS.wav"] and after["stems/DIALOGUE.wav"] != before["stems/DIALOGUE.wav"]
    assert "Who else would climb up here tonight?" in (out / "scene.dub.otio").read_text()
    assert after["scene.dub.otio"] != before["scene.dub.otio"] and after["scene.dub.xml"] != before["scene.dub.xml"]
    notes = json.loads((out / "review-notes.json").read_text())
    assert notes["approved"] == ["002-MARCUS"] and notes["notes"][0]["take"] == take["key"]

    # `otio-dub notes` with the studio's notes changes nothing on the dub timeline: they agree
    timeline = (out / "scene.dub.otio").read_bytes()
    otio_dub.review.apply_notes(out, out / "review-notes.json")
    assert (out / "scene.dub.otio").read_bytes() == timeline
    # `otio-dub review` rebuilds the same page
    page = (out / "review.html").read_bytes()
    otio_dub.review.write_review(out)
    assert (out / "review.html").read_bytes() == page

    status, state = post(studio, "api/undo", {})
    assert status == 200 and snapshot(out) == before
    assert post(studio, "api/undo", {})[0] == 400  # one undo: the keep's


def test_an_edited_window_gives_a_take_of_that_length(studio):
    line = next(r for r in studio.session.dub.plan.lines if r.id == "003-ANNA")
    status, take = post(studio, "api/speak", {"id": "003-ANNA", "in": line.record_in + 6, "out": line.record_out - 6})
    tb = studio.session.dub.tb
    assert status == 200 and take["window"] == tb.samples_between(line.record_in + 6, line.record_out - 6)
    assert take["samples"] >= take["window"]
    status, body = post(studio, "api/speak", {"id": "003-ANNA", "in": line.record_in - 1})
    assert status == 400 and "within the line's own" in body["error"]


@pytest.mark.parametrize("body, message", [
    ({"id": "003-ANNA", "text": "x" * 1001}, "at most 1000"),
    ({"id": "003-ANNA", "pace": 7}, "pace"),
    ({"id": "003-ANNA", "voice": "../../etc/passwd"}, "not a voice id"),
    ({"id": "003-ANNA", "emotion": "sarcastic-ish"}, "not one of"),
    ({"id": "NOPE"}, "no line 'NOPE'"),
])
def test_bad_edits_are_refused_with_the_field_named(studio, body, message):
    status, answer = post(studio, "api/speak", body)
    assert status == 400 and message in answer["error"], answer


def test_wrong_secret_foreign_host_and_origin_are_refused(studio):
    out = studio.session.out
    before = snapshot(out)
    assert request(studio, "GET", "review.html", secret="nope")[0] == 403
    assert request(studio, "GET", "/review.html")[0] == 403
    assert request(studio, "POST", "api/keep", {}, secret="x" * len(studio.secret))[0] == 403
    assert request(studio, "GET", "review.html", headers={"Host": "evil.example:80"})[0] == 403
    port = studio.server_address[1]
    assert request(studio, "GET", "review.html", headers={"Host": f"evil.example:{port}"})[0] == 403
    status, body = request(studio, "POST", "api/speak", {"id": "001-ANNA"}, headers={"Origin": "http://evil.example"})
    assert status == 403 and b"foreign Origin" in body
    assert request(studio, "POST", "api/speak", {"id": "001-ANNA"}, headers={"Origin": "null"})[0] == 403
    assert request(studio, "GET", "review.html", headers={"Origin": f"http://localhost:{port}"})[0] == 200
    assert snapshot(out) == before and studio.session.tries == {}


def test_only_files_inside_the_dub_folder_are_served(studio, tmp_path):
    out = studio.session.out
    secret_file = tmp_path / "secret.txt"
    secret_file.write_text("private")
    (out / "media" / "escape.wav").symlink_to(secret_file)
    assert request(studio, "GET", "media/001-ANNA.wav")[0] == 200
    for path in ("../secret.txt", "media/../../secret.txt", "%2e%2e/secret.txt", "media/%2e%2e/%2e%2e/secret.txt",
                 "media/escape.wav", ".otio-dub-state.json", "%2Fetc%2Fpasswd", "media//001-ANNA.wav", "media\\..\\x"):
        status, body = request(studio, "GET", path)
        assert status == 404 and b"private" not in body, path
    status, body = request(studio, "GET", f"/s/{studio.secret}/../../{secret_file.name}")
    assert status in (403, 404) and b"private" not in body


def test_huge_and_malformed_bodies_are_refused(studio):
    status, body = request(studio, "POST", "api/speak", raw=b"{" + b" " * (MAX_BODY + 10) + b"}")
    assert status == 413
    assert request(studio, "POST", "api/speak", raw=b"[1, 2]")[0] == 400
    assert request(studio, "POST", "api/speak", raw=b"not json")[0] == 400
    assert request(studio, "POST", "api/speak", raw=b"{}", headers={"Content-Type": "text/plain"})[0] == 415
    assert request(studio, "POST", "api/nothing", {})[0] == 404
    assert request(studio, "GET", "take/001-ANNA/1.wav")[0] == 404


def test_two_keeps_at_once_one_is_refused(studio):
    out = studio.session.out
    assert post(studio, "api/speak", {"id": "004-MARCUS", "text": "I know. I know."})[0] == 200
    assert post(studio, "api/choose", {"id": "004-MARCUS", "take": 1})[0] == 200
    before = snapshot(out)
    studio.session.keeping.acquire()  # a keep in progress
    try:
        status, body = post(studio, "api/keep", {})
    finally:
        studio.session.keeping.release()
    assert status == 409 and "already running" in body["error"] and snapshot(out) == before
    results = []
    threads = [threading.Thread(target=lambda: results.append(post(studio, "api/keep", {})[0])) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) in ([200, 400], [200, 409])  # the second finds a keep running, or nothing left to keep


def test_the_studio_holds_the_folder_and_a_keep_while_dub_holds_it_is_refused(dubbed, tmp_path):
    out = tmp_path / "dub"
    shutil.copytree(dubbed[0], out)
    server = start(out, dubbed[1])
    try:
        with pytest.raises(otio_dub.OtioDubError, match="another otio-dub run is writing this folder"):
            otio_dub.dub(ROOT / "samples" / "scene.otio", ROOT / "samples" / "scene.ass", out, DubOptions(cache=dubbed[1]))
    finally:
        server.shutdown()
        server.server_close()

    held = lock_folder(out)  # a dub writing the folder
    server = start(out, dubbed[1])
    try:
        before = snapshot(out)
        assert post(server, "api/speak", {"id": "001-ANNA", "text": "Marcus? Is it you?"})[0] == 200
        assert post(server, "api/choose", {"id": "001-ANNA", "take": 1})[0] == 200
        status, body = post(server, "api/keep", {})
        assert status == 409 and "another otio-dub run is writing this folder" in body["error"]
        status, state = request(server, "GET", "api/state")
        assert json.loads(state)["writable"] is False and snapshot(out) == before
        held.release()
        assert post(server, "api/keep", {})[0] == 200  # once the dub is done, the studio takes the folder
    finally:
        server.shutdown()
        server.server_close()


def test_cli_refuses_a_folder_that_is_not_a_dub(tmp_path):
    from click.testing import CliRunner

    from otio_dub.cli import main

    run = CliRunner().invoke(main, ["studio", str(tmp_path)])
    assert run.exit_code == 1 and run.output.strip() == f"Error: {tmp_path}: not a dub folder (no report.json)"
