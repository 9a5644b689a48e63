"""otio-dub: AI dubbing inside the edit, as an OpenTimelineIO plugin and CLI.

The public API is ``dub()`` (speak: a timeline in, a dubbed timeline out), ``transcribe()`` (listen: a
timeline's original dialogue in, a script, dialogue list and subtitles out) and ``translate()`` (a script
or timeline's lines into another language, fitted to each window); the CLI and every hook call them.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

# onnxruntime (piper, kokoro, faster-whisper's VAD) writes under ~/.cache/Microsoft and looks up a
# telemetry host when it is imported: off before anything here can import it
os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")

from .core.errors import (  # noqa: E402
    EngineError,
    FitError,
    HookError,
    InputError,
    OtioDubError,
    OutputError,
    TimelineError,
)
from .core.version import __version__  # noqa: E402
from .dialogue.lines import Line  # noqa: E402
from .engines import Take, VoiceSpec  # noqa: E402
from .speech.fit import FitPolicy  # noqa: E402
from .stages.pipeline import DubOptions, DubResult, dub  # noqa: E402
from .stages.translating import TranslateResult, translate  # noqa: E402

if TYPE_CHECKING:  # checked as the function it stands for; imported only when called (the listen extra)
    from .listen import transcribe
else:
    def transcribe(*args: object, **kwargs: object) -> object:
        """Spot a timeline's original dialogue: see :func:`otio_dub.listen.transcribe` (the listen extra)."""
        from .listen import transcribe as run

        return run(*args, **kwargs)


__all__ = [
    "DubOptions", "DubResult", "EngineError", "FitError", "FitPolicy", "HookError", "InputError", "Line",
    "OtioDubError", "OutputError", "Take", "TimelineError", "TranslateResult", "VoiceSpec", "__version__", "dub",
    "transcribe", "translate",
]
