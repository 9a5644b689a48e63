"""What the dub hands over beside the timeline: stems and their loudness, and the output folder written whole."""
