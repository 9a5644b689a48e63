"""Speak and fit one line: the pure fit plan, voices' duration responses, and the render unit of work."""
