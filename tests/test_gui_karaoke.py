"""Word-by-word karaoke in the Lyrics panel (pytest-qt, offscreen): inside the line being sung, the words
that have started are marked, the word being sung too, from Whisper's word times, and the table draws it."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtGui import QColor

from engine.tasks.lyrics import LyricLine, Lyrics, Word
from gui.lyrics_panel import KARAOKE_ROLE, SUNG_COLOUR, TEXT, karaoke_html, word_spans, words_at
from tests.gui_helpers import lyrics_panel

WORDS = [Word(1.0, 1.6, " Hello"), Word(1.6, 2.4, " darkness"), Word(2.4, 2.8, " my"), Word(2.9, 3.0, " old"),
         Word(3.0, 3.5, " friend")]
SONG = Lyrics([LyricLine(1.0, 3.5, "Hello darkness my old friend", WORDS),
               LyricLine(4.0, 6.0, "J'en ai <assez> & plus", [Word(4.0, 4.5, "J'en"), Word(4.5, 5.0, " ai"),
                                                            Word(5.0, 5.5, " <assez>"), Word(5.5, 6.0, " &")]),
               LyricLine(7.0, 8.0, "edited by hand")])


@pytest.fixture
def panel(qtbot):
    return lyrics_panel(qtbot, SONG)


@pytest.mark.parametrize("seconds, expected", [(0.5, (0, None)), (1.0, (1, 0)), (2.5, (3, 2)),
                                               (2.85, (3, None)), (3.49, (5, 4)), (3.5, (5, None))])
def test_words_started_and_the_word_being_sung(seconds, expected):
    assert words_at(WORDS, seconds) == expected


def test_words_are_found_in_the_line_text_whatever_their_spacing():
    line = SONG.lines[0]
    assert [line.text[a:b] for a, b in word_spans(line)] == ["Hello", "darkness", "my", "old", "friend"]
    disagreeing = LyricLine(0, 1, "Hello there", [Word(0, 0.5, "Hello"), Word(0.5, 1, "world")])
    assert word_spans(disagreeing) == [(0, 5)]


def test_the_current_line_marks_its_sung_words_as_playback_moves(panel):
    cell = panel.model.index(0, TEXT)
    panel.set_position(2.5)
    marked = cell.data(KARAOKE_ROLE)
    assert marked == (f'<span style="color:{SUNG_COLOUR}">Hello</span> <span style="color:{SUNG_COLOUR}">darkness'
                      f'</span> <span style="color:{SUNG_COLOUR}"><b><u>my</u></b></span> old friend')
    panel.set_position(2.85)  # between "my" and "old": nothing is being sung, three words are done
    assert "<u>" not in cell.data(KARAOKE_ROLE) and cell.data(KARAOKE_ROLE).endswith("</span> old friend")
    assert panel.model.index(1, TEXT).data(KARAOKE_ROLE) is None  # only the current line is marked

    panel.set_position(5.2)
    marked = panel.model.index(1, TEXT).data(KARAOKE_ROLE)
    assert "<b><u>&lt;assez&gt;</u></b>" in marked and marked.endswith(" &amp; plus")  # text is escaped
    assert cell.data(KARAOKE_ROLE) is None

    panel.set_position(7.5)  # a line without word times is highlighted as a whole, as before
    assert panel.model.current_row == 2 and panel.model.index(2, TEXT).data(KARAOKE_ROLE) is None


def test_each_new_word_repaints_the_line(panel, qtbot):
    panel.set_position(1.2)
    with qtbot.waitSignal(panel.model.dataChanged) as changed:
        panel.set_position(1.7)
    assert changed.args[0].row() == 0 and changed.args[2] == [KARAOKE_ROLE]


def _sung_pixels(panel) -> int:
    image = panel.table.viewport().grab().toImage()
    target = QColor(SUNG_COLOUR)
    pixels = np.array([[QColor(image.pixel(x, y)).getRgb()[:3] for x in range(0, image.width(), 2)]
                       for y in range(0, image.height(), 2)])
    return int((np.abs(pixels - np.array(target.getRgb()[:3])).sum(axis=2) < 60).sum())


def test_the_table_draws_the_sung_words_in_their_colour(panel, qtbot):
    panel.set_position(1.2)
    few = _sung_pixels(panel)
    panel.set_position(3.2)
    assert _sung_pixels(panel) > few > 0
    html = karaoke_html(SONG.lines[0], 0, None)
    assert html == "Hello darkness my old friend"
