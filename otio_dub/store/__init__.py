"""The render cache: fitted takes stored under content keys, so a re-run or a re-cut redoes nothing."""
