"""otio-dub's OpenTimelineIO plugins (installed as ``otio_dub_adapters``; found through the
``opentimelineio.plugins`` entry point, no environment variable needed)."""
