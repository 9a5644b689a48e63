"""otio-dub's OTIO hook scripts and editor scripts (installed as ``otio_dub_hooks``)."""
