"""Colours shared by the track views, in one place so waveform, spectrogram and ruler overlays match."""

from PySide6.QtGui import QColor

BACKGROUND = QColor(24, 26, 31)
LANE_SEPARATOR = QColor(60, 64, 72)
CENTRE_LINE = QColor(70, 75, 85)
WAVEFORM = QColor(86, 182, 194)
WAVEFORM_SAMPLE = QColor(150, 222, 230)
SELECTION_FILL = QColor(255, 255, 255, 48)
SELECTION_EDGE = QColor(255, 255, 255, 140)
CURSOR = QColor(255, 196, 0)
REGION_FILL = QColor(120, 160, 255, 36)
REGION_EDGE = QColor(120, 160, 255, 160)
REGION_TEXT = QColor(210, 220, 255)
RULER_BACKGROUND = QColor(36, 38, 44)
RULER_TEXT = QColor(200, 204, 212)
RULER_MINOR = QColor(110, 114, 124)
HEADER_BACKGROUND = QColor(44, 47, 54)
CURRENT_HEADER_BACKGROUND = QColor(30, 94, 160)  # the track that tasks, edits and playback act on
HEADER_TEXT = QColor(230, 232, 238)
