"""Tasks ▸ Separate music stems…: Hybrid Demucs on the current track (or its selection) as a job, one new
track per stem (vocals, drums, bass, other; or vocals and accompaniment)."""

from __future__ import annotations

from engine.tasks.stems import StemsSettings, separate_stems
from gui.tasks._clip_to_tracks import ClipToTracksTask


class StemsTask(ClipToTracksTask):
    title = "Separate music stems"
    tooltip = ("One new track per stem (vocals, drums, bass, other) of the current track or its selection "
               "(Hybrid Demucs)")
    running = "Separating the stems of {name}"
    added = "{count} stem tracks added"
    settings_type = StemsSettings
    hidden = ("format",)  # the stems become tracks here; the format is for files (CLI, batch)
    run = staticmethod(separate_stems)


def install(window) -> StemsTask:
    return StemsTask(window)
