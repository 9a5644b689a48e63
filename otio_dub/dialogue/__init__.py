"""The dialogue to dub: scripts, dialogue lists, emotions, limits, and Lines on the timeline's frame grid."""
