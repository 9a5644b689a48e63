"""otio-dub's OpenTimelineIO plugins (installed as ``otio_dub_adapters``; found through the
``opentimelineio.plugins`` entry point, no environment variable needed).

``plugin_manifest()`` reads ``plugin_manifest.json`` and points the hook scripts at the
``otio_dub_hooks`` package, which is installed beside this one (the product's ``hooks/`` folder).
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import opentimelineio as otio


def plugin_manifest() -> otio.plugins.Manifest:
    """The manifest OTIO loads: adapters beside this file, hook scripts from ``otio_dub_hooks``."""
    manifest = otio.core.deserialize_json_from_string(resources.files(__name__).joinpath("plugin_manifest.json").read_text())
    import otio_dub_hooks

    hooks_dir = Path(otio_dub_hooks.__file__).resolve().parent
    for script in manifest.hook_scripts:
        script.filepath = str(hooks_dir / script.filepath)
    return manifest
