"""The package's rooms stay layered: the import-linter contract in pyproject.toml holds, every room is in
it, and no room imports the package's own face (``otio_dub/__init__.py`` sits above every room)."""

from __future__ import annotations

import ast
import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "otio_dub"


def _contract_layers() -> list[str]:
    tomllib = pytest.importorskip("tomllib") if sys.version_info >= (3, 11) else pytest.importorskip("tomli")
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    (contract,) = [c for c in config["tool"]["importlinter"]["contracts"] if c["type"] == "layers"]
    return contract["layers"]


def test_every_room_is_a_layer():
    rooms = {f"otio_dub.{p.name}" for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").is_file()}
    assert rooms == set(_contract_layers())
    loose = {p.name for p in PACKAGE.glob("*.py")} - {"__init__.py", "__main__.py"}
    assert loose == set(), "every module lives in a room"


def test_no_room_imports_a_room_above_it(tmp_path):
    cli = pytest.importorskip("importlinter.cli")
    cwd = Path.cwd()
    os.chdir(ROOT)  # import-linter reads pyproject.toml from the working folder
    try:
        code = cli.lint_imports(config_filename=str(ROOT / "pyproject.toml"), cache_dir=str(tmp_path), no_logo=True)
    finally:
        os.chdir(cwd)
    assert code == 0, "lint-imports found a room importing one above it (run lint-imports to see which)"


def _imports_the_face(path: Path, package: Path = PACKAGE) -> list[int]:
    """Lines of ``path`` that import ``otio_dub`` itself (absolutely or relatively), not one of its rooms."""
    depth = len(path.relative_to(package).parts)  # otio_dub/room/module.py: 2
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and not node.module and node.level == depth:
            found.append(node.lineno)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module == "otio_dub":
            found.append(node.lineno)
        elif isinstance(node, ast.Import) and any(a.name == "otio_dub" for a in node.names):
            found.append(node.lineno)
    return found


def test_no_room_imports_the_package_face():
    offenders = {str(p.relative_to(ROOT)): lines for p in PACKAGE.glob("*/**/*.py") if (lines := _imports_the_face(p))}
    assert offenders == {}


def test_the_face_check_sees_each_form(tmp_path):
    room = tmp_path / "otio_dub" / "core"
    room.mkdir(parents=True)
    for text in ("from .. import __version__\n", "from otio_dub import dub\n", "import otio_dub\n"):
        (room / "m.py").write_text(text, encoding="utf-8")
        assert _imports_the_face(room / "m.py", tmp_path / "otio_dub") == [1], text
    (room / "m.py").write_text("from ..core import errors\nfrom . import hashing\n", encoding="utf-8")
    assert _imports_the_face(room / "m.py", tmp_path / "otio_dub") == []
