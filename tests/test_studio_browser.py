"""`otio-dub studio` in a real headless Chromium (Debian's, driven by Playwright): edit a line, speak it,
hear the new take, keep it, find it in the dub folder, undo it.

With OTIO_DUB_SCREENSHOTS=1 the test saves docs/studio.png (the README's picture of the studio).
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest
import soundfile as sf

import otio_dub
from otio_dub.stages.options import DubOptions
from otio_dub.stages.studio import start

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--autoplay-policy=no-user-gesture-required", "--mute-audio"]

pytestmark = pytest.mark.slow


def snapshot(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_edit_speak_hear_keep_and_undo_in_the_browser(tmp_path):
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed (.ci/run installs it)")
    from playwright.sync_api import sync_playwright

    out = tmp_path / "dub"
    otio_dub.dub(ROOT / "samples" / "scene.otio", ROOT / "samples" / "scene.ass", out, DubOptions(cache=tmp_path / "cache"))
    offline = (out / "review.html").read_bytes()
    before = snapshot(out)
    server = start(out, tmp_path / "cache")
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS)
            page = browser.new_page(viewport={"width": 1500, "height": 950})
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(server.url)
            page.wait_for_selector("html[data-studio]")
            index = next(i for i, line in enumerate(page.evaluate("() => otioDubReview.data.lines")) if line["id"] == "006-ANNA")
            page.evaluate(f"() => otioDubReview.select({index})")
            page.wait_for_function("() => document.getElementById('studio-text').value.length > 0")
            page.fill("#studio-text", "Then why did you leave without a word?")
            page.fill("#studio-pace", "1.05")
            page.press("#studio-text", "Enter")
            page.wait_for_function("() => /take\\/006-ANNA\\/1\\.wav$/.test(document.getElementById('player').src)")
            page.wait_for_function("() => { const p = document.getElementById('player'); return !p.paused && p.currentTime > 0 "
                                   "&& isFinite(p.duration); }", timeout=15000)
            duration = page.evaluate("() => document.getElementById('player').duration")
            take = server.session.tries["006-ANNA"][0][0]
            assert abs(duration - take.job.window.samples / 48000) < 0.002 and take.fitted.media.size >= take.job.window.samples
            page.wait_for_selector("#studio-tries [data-take='1']")
            if os.environ.get("OTIO_DUB_SCREENSHOTS") == "1":
                page.locator("#studio-tries").scroll_into_view_if_needed()
                page.screenshot(path=str(ROOT / "docs" / "studio.png"))
            page.check("#studio-tries [data-take='1']")
            page.wait_for_function("() => otioDubStudio.state().chosen['006-ANNA'] === 1")
            with page.expect_navigation():
                page.click("#studio-keep")
            page.wait_for_selector("html[data-studio]")
            report = json.loads((out / "report.json").read_text())
            row = next(r for r in report["lines"] if r["id"] == "006-ANNA")
            assert row["text"] == "Then why did you leave without a word?" and row["key"] == take.job.job.key
            media, _ = sf.read(out / "media" / "006-ANNA.wav")
            assert media.size == take.fitted.media.size
            after = snapshot(out)
            assert after["stems/ANNA.wav"] != before["stems/ANNA.wav"] and after["scene.dub.otio"] != before["scene.dub.otio"]
            assert "Then why did you leave without a word?" in (out / "scene.dub.otio").read_text()
            page_bytes = (out / "review.html").read_bytes()
            otio_dub.review.write_review(out)  # `otio-dub review` rebuilds the same page
            assert (out / "review.html").read_bytes() == page_bytes != offline
            assert page.evaluate("() => otioDubReview.data.lines.find(l => l.id === '006-ANNA').text") == row["text"]
            with page.expect_navigation():
                page.click("#studio-undo")
            page.wait_for_selector("html[data-studio]")
            assert snapshot(out) == before
            assert errors == []
            browser.close()
    finally:
        server.shutdown()
        server.server_close()
