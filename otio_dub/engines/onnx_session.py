"""The onnxruntime CPU session every neural voice runs on: one thread, the memory arena, no bytes kept."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from onnxruntime import InferenceSession


def cpu_session(model: str | bytes) -> InferenceSession:
    """A CPU session for ``model`` (a path or serialised bytes) on one thread, without spinning.

    One thread: renders run one per process (executors), and a sum's last bit, which can decide a
    duration's rounding, must not depend on the thread count. The memory arena stays on: without it
    every operator's output is a fresh allocation, paged in again on every run (piper spent a fifth
    of a synthesis in the kernel, and took 20-25% longer); it keeps the longest line's activations.
    """
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    session = onnxruntime.InferenceSession(model, sess_options=options, providers=["CPUExecutionProvider"])
    if isinstance(model, bytes) and getattr(session, "_model_bytes", None) is model:
        # onnxruntime's Python session keeps the bytes it was made from for the process's life (its own
        # comment: "holding the memory indefinitely"), only to remake itself when its providers change,
        # which never happens here: a cut or rewritten model would hold its size again per worker
        session._model_bytes = None
    return session
