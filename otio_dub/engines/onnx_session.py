"""The onnxruntime CPU session every neural voice runs on: one thread, the memory arena, no bytes kept."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..core.memory import return_freed_memory

if TYPE_CHECKING:
    from onnxruntime import InferenceSession


def cpu_session(model: str | bytes, shrink: bool = False) -> InferenceSession | ShrinkingSession:
    """A CPU session for ``model`` (a path or serialised bytes) on one thread, without spinning.

    One thread: renders run one per process (executors), and a sum's last bit, which can decide a
    duration's rounding, must not depend on the thread count. The memory arena stays on: without it
    every operator's output is a fresh allocation, paged in again on every run (piper spent a fifth
    of a synthesis in the kernel, and took 20-25% longer); it keeps the longest line's activations.
    The weights are allocated outside it: onnxruntime re-lays a 2-D convolution's weights out when it
    loads them (its blocked NCHWc kernels), and the originals it then frees stayed in the arena, some
    60 MB of a piper worker for good; outside it they are handed back to the system.

    ``shrink``: every run hands the arena's activations back to the system when it ends
    (:class:`ShrinkingSession`): a piper worker otherwise held its longest line's, some 110 MB, for
    the rest of the dub, and two of them took a feature's process tree over 1 GB; each run then pages
    its activations in once (about 8% of a synthesis, against 25% without the arena).
    """
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.add_session_config_entry("session.use_device_allocator_for_initializers", "1")
    session = onnxruntime.InferenceSession(model, sess_options=options, providers=["CPUExecutionProvider"])
    if isinstance(model, bytes) and getattr(session, "_model_bytes", None) is model:
        # onnxruntime's Python session keeps the bytes it was made from for the process's life (its own
        # comment: "holding the memory indefinitely"), only to remake itself when its providers change,
        # which never happens here: a cut or rewritten model would hold its size again per worker
        session._model_bytes = None
    return_freed_memory()  # the weights as loaded, before their re-layout
    return ShrinkingSession(session) if shrink else session


#: The run option that shrinks onnxruntime's arena when a run ends (``cpu:0``: the CPU arena).
SHRINK = "memory.enable_memory_arena_shrinkage"


class ShrinkingSession:
    """An onnxruntime session whose every run shrinks its memory arena at the end (the run option
    ``memory.enable_memory_arena_shrinkage``). A wrapper, because piper's voice calls ``run(None,
    inputs)`` itself and takes no run options; everything else is the session's own."""

    def __init__(self, session: InferenceSession) -> None:
        import onnxruntime

        self.session = session
        self.options = onnxruntime.RunOptions()
        self.options.add_run_config_entry(SHRINK, "cpu:0")

    def run(self, output_names: Any, input_feed: Any, run_options: Any = None) -> Any:
        """The session's ``run``, its arena shrunk when it ends and the freed heap handed back to the
        system (glibc keeps freed blocks under its adaptive mmap threshold mapped otherwise).
        A caller's own ``run_options`` get the shrink entry added."""
        if run_options is None:
            run_options = self.options
        else:  # onnxruntime raises on reading an entry a RunOptions does not hold; setting it again is harmless
            run_options.add_run_config_entry(SHRINK, "cpu:0")
        try:
            return self.session.run(output_names, input_feed, run_options)
        finally:
            return_freed_memory()

    def __getattr__(self, name: str) -> Any:
        if name == "session":  # not set yet (a copy being made): no recursion through __getattr__
            raise AttributeError(name)
        return getattr(self.session, name)
