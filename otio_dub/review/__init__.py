"""The review page of a dub and the reviewer's notes back into the edit.

``write_review(dub_dir)`` builds ``review.html`` from the dub folder's own files;
``extract_originals(...)`` cuts the original dialogue under each line for A/B listening;
``apply_notes(dub_dir, notes)`` puts the reviewer's verdicts on the dub clips as markers.
"""

from __future__ import annotations

from .notes import NotesResult, apply_notes, load_notes
from .originals import extract_originals
from .page import write_review

__all__ = ["NotesResult", "apply_notes", "extract_originals", "load_notes", "write_review"]
