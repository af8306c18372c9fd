"""Track views: the shared time axis and selection, the ruler, waveform and spectrogram views, and the
track widget that stacks them for one clip."""

from gui.views.ruler import TimeRuler
from gui.views.timeline import SelectionModel, TimeAxis
from gui.views.track import TrackView

__all__ = ["SelectionModel", "TimeAxis", "TimeRuler", "TrackView"]
