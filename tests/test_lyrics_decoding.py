"""Whisper decoding with the embedded base model on short espeak-ng phrases: the same input gives the same
lyrics every run, whatever ran before on the cached model and whatever the thread count; progress names
each decoded window; a cancel ends the job while a window is still decoding, and no further window is
decoded."""

import threading

import numpy as np
import pytest

from engine.audio.clip import Clip
from engine.errors import Cancelled
from engine.jobs import CancelToken, Progress
from engine.models import whisper_ct2 as whisper
from engine.models.loading import load_catalog_model, require_installed
from engine.tasks.lyrics import LyricsSettings, Segmentation, transcribe_lyrics
from engine.tasks.lyrics.transcribe import to_whisper_audio
from tests.conftest import require_tools
from tests.synth import speak

pytestmark = pytest.mark.slow
PHRASES = ["the river runs along the valley", "we sing until the morning light", "hold my hand"]


@pytest.fixture(scope="module")
def phrases() -> Clip:
    """Three phrases, each followed by 2 s of silence."""
    require_tools("espeak-ng")
    parts = []
    for text in PHRASES:
        parts += [speak(text, voice="en-us"), np.zeros(32000, np.float32)]
    return Clip(np.concatenate(parts)[None, :], 16000, name="phrases")


def test_sampling_gives_the_same_text_every_run(phrases):
    """Temperature 1.0 always samples. CTranslate2 seeds a worker thread's generator only once, so on the
    cached model a second run used to continue the first one's random stream and write other words."""
    model = load_catalog_model("whisper-base", device="cpu")
    audio = to_whisper_audio(phrases)
    options = whisper.DecodeOptions(language="en", temperatures=(1.0,), best_of=2, word_timestamps=False)
    runs = [" ".join(s.text for s in whisper.transcribe_native(model, audio, options, Progress(), CancelToken())
                     .segments) for _ in range(3)]
    assert runs[0].strip() and runs[0] == runs[1] == runs[2]


def test_thread_count_and_parallel_replicas_do_not_change_the_tokens(phrases):
    """One replica on 1 or 2 threads, or two single-threaded replicas decoding windows side by side (the
    CPU default for window methods), give the same tokens and log-probabilities."""
    audio = to_whisper_audio(phrases)
    half = len(audio) / 16000 / 2
    windows = [(0.0, half), (half, 2 * half)]
    options = whisper.DecodeOptions(language="en", temperatures=(0.0,))
    folder = require_installed("whisper-base")["whisper-base"].folder
    decodes = []
    for threads, workers in ((1, 1), (2, 1), (1, 2)):
        model = whisper.load_model(folder, device="cpu", compute_type="int8", cpu_threads=threads, workers=workers)
        segments = whisper.transcribe_windows(model, audio, windows, options, 1, Progress(), CancelToken()).segments
        decodes.append([(segment.tokens, segment.avg_logprob) for segment in segments])
    assert len(decodes[0]) == 2 and decodes[0] == decodes[1] == decodes[2]


def test_progress_names_each_window_and_cancel_stops_before_the_next(phrases, monkeypatch):
    settings = LyricsSettings(model="whisper-base", device="cpu", language="en", word_timestamps=False,
                              segmentation=Segmentation.SILERO_VAD, window_s=3.5)
    messages = []
    transcribe_lyrics(phrases, settings, Progress(lambda update: messages.append(update.message)))
    windows = [m for m in messages if m.startswith("window ")]
    assert windows == ["window 1 of 3 decoded", "window 2 of 3 decoded", "window 3 of 3 decoded"]
    assert messages.index("loading the Whisper model whisper-base") < messages.index(windows[0])

    cancel = CancelToken()
    started_after_cancel = []  # one entry per window decode started: was the job already cancelled?
    forward = whisper.BatchedInferencePipeline.forward
    monkeypatch.setattr(whisper.BatchedInferencePipeline, "forward", lambda self, features, *args: (
        started_after_cancel.append(cancel.cancelled) or forward(self, features, *args)))

    def cancel_after_the_first_window(update):
        if update.message.startswith("window 1 "):
            cancel.cancel()

    with pytest.raises(Cancelled):
        transcribe_lyrics(phrases, settings, Progress(cancel_after_the_first_window), cancel)
    # the windows already decoding side by side may finish; none starts after the cancel
    assert started_after_cancel and not any(started_after_cancel) and len(started_after_cancel) < 3


def test_cancel_does_not_wait_for_the_window_being_decoded(phrases, monkeypatch):
    """The window's decode is held until the test lets it go: the job must end (cancelled) before that."""
    started, release = threading.Event(), threading.Event()
    forward = whisper.BatchedInferencePipeline.forward

    def held_forward(self, *args):
        started.set()
        release.wait(60)
        return forward(self, *args)

    monkeypatch.setattr(whisper.BatchedInferencePipeline, "forward", held_forward)
    cancel = CancelToken()
    threading.Thread(target=lambda: started.wait(60) and cancel.cancel(), daemon=True).start()
    settings = LyricsSettings(model="whisper-base", device="cpu", language="en", word_timestamps=False,
                              segmentation=Segmentation.SILERO_VAD, window_s=3.5)
    try:
        with pytest.raises(Cancelled):
            transcribe_lyrics(phrases, settings, Progress(), cancel)
        assert started.is_set() and not release.is_set()  # cancelled while the window was still decoding
    finally:
        release.set()
