"""The dub added to the editor's FCPXML bundle (``X.fcpxmld/``, Final Cut Pro 10.6+), as a bundle.

The bundle's ``Info.fcpxml`` is patched as a plain FCPXML (``patch_fcpxml``); every other file of
the bundle is copied as it was (symbolic links as links, never followed).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import opentimelineio as otio

from ..core.errors import InputError
from ..core.timebase import TimeBase
from . import patch_fcpxml

INFO = "Info.fcpxml"


def bundle_document(bundle: Path) -> Path:
    """The ``Info.fcpxml`` of an ``.fcpxmld`` bundle; InputError when the folder has none."""
    info = Path(bundle) / INFO
    if not info.is_file():
        raise InputError(str(bundle), f"not an FCPXML bundle (no {INFO} inside)")
    return info


def patch(source: Path, dubbed: otio.schema.Timeline, target: Path, tb: TimeBase, media_dir: Path, link_dir: Path,
          *, embed: bool = False) -> None:
    """Write the bundle ``source`` at ``target`` (a new folder) with the dub added to its ``Info.fcpxml``."""
    info = bundle_document(Path(source))
    shutil.copytree(source, target, symlinks=True, ignore=lambda folder, names: [INFO] if Path(folder) == Path(source) else [])
    patch_fcpxml.patch(info, dubbed, Path(target) / INFO, tb, media_dir, link_dir, embed=embed)
