"""The README is a front page and docs/ the user guide: links resolve, every page is reachable, the commands hold."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = ROOT / "docs"
PAGES = sorted(DOCS.glob("*.md"))

DUB_COMMAND = "python -m pip install . && otio-dub dub samples/scene.otio --script samples/scene.ass -o dub_out"
TEST_COMMAND = 'python -m pip install -e ".[test]" && python -m pytest -n auto'

FENCE = re.compile(r"^(```|~~~).*?^\1[ \t]*$", re.M | re.S)
INLINE_CODE = re.compile(r"(`+)(?:(?!\1).)+?\1", re.S)
# [text](target) and ![alt](target), with an optional "title"; the text may hold one level of brackets
LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\[\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
HEADING = re.compile(r"^ {0,3}(#{1,6})[ \t]+(.+?)[ \t]*#*[ \t]*$", re.M)


def _prose(text: str) -> str:
    """The Markdown outside fenced code blocks and inline code spans."""
    return INLINE_CODE.sub("code", FENCE.sub("", text))


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: lowercase, punctuation dropped (not hyphens), spaces to hyphens."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link in a heading anchors on its text
    text = text.replace("`", "").lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def _anchors(page: Path) -> set[str]:
    seen: dict[str, int] = {}
    anchors = set()
    for match in HEADING.finditer(FENCE.sub("", page.read_text(encoding="utf-8"))):
        slug = _slug(match.group(2))
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        anchors.add(slug if count == 0 else f"{slug}-{count}")
    return anchors


def _links(page: Path) -> list[str]:
    return LINK.findall(_prose(page.read_text(encoding="utf-8")))


def _is_external(target: str) -> bool:
    return re.match(r"(?i)(https?:|mailto:)", target) is not None


def test_slug_follows_github():
    assert _slug("Re-cuts: the render cache and conform") == "re-cuts-the-render-cache-and-conform"
    assert _slug("OpenTimelineIO plugin: adapters and hooks") == "opentimelineio-plugin-adapters-and-hooks"
    assert _slug("The `otio_dub` metadata") == "the-otio_dub-metadata"


def test_readme_is_a_front_page():
    assert len(README.read_text(encoding="utf-8").splitlines()) < 200


def test_there_is_a_guide():
    assert DOCS / "README.md" in PAGES
    assert len(PAGES) > 2


@pytest.mark.parametrize("page", [README, *PAGES], ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_resolve(page):
    broken = []
    for target in _links(page):
        if _is_external(target):
            continue
        path_part, _, anchor = target.partition("#")
        resolved = page if not path_part else (page.parent / path_part).resolve()
        if not resolved.exists():
            broken.append(f"{target}: no file {resolved}")
            continue
        if anchor and resolved.suffix == ".md" and anchor not in _anchors(resolved):
            broken.append(f"{target}: no heading #{anchor} in {resolved.name}")
    assert not broken, f"{page.relative_to(ROOT)}: " + "; ".join(broken)


@pytest.mark.parametrize("page", [README, *PAGES], ids=lambda p: str(p.relative_to(ROOT)))
def test_pages_start_with_a_title(page):
    assert page.read_text(encoding="utf-8").startswith("# ")


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_guide_pages_link_back_to_the_readme(page):
    assert "../README.md" in _links(page)


def test_every_guide_page_is_linked_from_an_index():
    linked = set()
    for index in (README, DOCS / "README.md"):
        for target in _links(index):
            path_part = target.partition("#")[0]
            if path_part and not _is_external(target):
                linked.add((index.parent / path_part).resolve())
    unlinked = [p.name for p in PAGES if p.resolve() not in linked]
    assert not unlinked, f"docs pages linked from neither README.md nor docs/README.md: {unlinked}"


@pytest.mark.parametrize("command", [DUB_COMMAND, TEST_COMMAND])
def test_readme_holds_the_two_commands(command):
    assert f"```bash\n{command}\n```" in README.read_text(encoding="utf-8")


def test_ci_runs_the_test_command():
    lines = (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    assert TEST_COMMAND in (line.strip() for line in lines), (
        f".ci/run does not run README's test command: {TEST_COMMAND}"
    )
