"""What `pip install .` ships: every folder of Python code under otio_dub is a listed package, so the
installed CLI finds its commands and stages (the repository checkout would hide a missing one)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.skipif(sys.version_info < (3, 11), reason="tomllib is Python 3.11+")
def test_every_code_folder_is_a_listed_package():
    import tomllib

    setup = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]
    listed = set(setup["packages"])
    folders = {".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "otio_dub").rglob("*.py")
               if "__pycache__" not in p.parts}
    assert folders - listed == set()
    for package in listed:
        where = ROOT / setup["package-dir"].get(package, package.replace(".", "/"))
        assert (where / "__init__.py").is_file(), package  # a regular package, found the same way everywhere
