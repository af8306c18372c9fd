"""Audio data and DSP: the clip type, file I/O, edits, spectrogram tiles and the waveform peak pyramid."""
