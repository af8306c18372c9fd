"""Hybrid Demucs: the official checkpoint layout loads strictly, and chunked separation is exact where it
must be (overlap-add with weights summing to one) with memory bounded by the segment."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torchaudio.models import hdemucs_high

from engine.audio.clip import Clip
from engine.errors import Cancelled, ModelLoadError
from engine.jobs import CancelToken, Progress
from engine.audio.stitch import window_starts
from engine.models.hdemucs import SAMPLE_RATE, SOURCES, load_model, separate_chunked, separate_vocals

GAINS = torch.tensor([0.5, -1.0, 2.0, 3.0])
OFFSETS = torch.tensor([0.1, 0.0, -0.2, 0.25])


class PointwiseLinear(torch.nn.Module):
    """Source k = gain_k · mix + offset_k, sample by sample: any correct overlap-add must reproduce it
    exactly, whatever the segment boundaries; it also records the longest input it saw."""

    def __init__(self):
        super().__init__()
        self.longest_input = 0
        self.calls = 0

    def forward(self, mix: torch.Tensor) -> torch.Tensor:
        self.longest_input = max(self.longest_input, mix.shape[-1])
        self.calls += 1
        return mix[:, None] * GAINS[None, :, None, None] + OFFSETS[None, :, None, None]


class SegmentIndex(torch.nn.Module):
    """Outputs the number of the segment it is called on, constant over the segment: shows where and
    how two segments are blended."""

    def __init__(self):
        super().__init__()
        self.calls = 0

    def forward(self, mix: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        return torch.full((1, 1, *mix.shape[1:]), float(self.calls))


@pytest.fixture(scope="module")
def official_checkpoint(tmp_path_factory):
    """A randomly initialised torchaudio HDemucs saved the way torchaudio's pipeline file is: a plain
    ``torch.save`` of the state dict, sources drums/bass/other/vocals."""
    torch.manual_seed(0)
    reference = hdemucs_high(sources=["drums", "bass", "other", "vocals"]).eval()
    path = tmp_path_factory.mktemp("ckpt") / "hdemucs_high_trained.pt"
    torch.save(reference.state_dict(), path)
    return reference, path


def test_official_checkpoint_loads_strictly_and_matches_torchaudio(official_checkpoint):
    reference, path = official_checkpoint
    model = load_model(path)
    mix = torch.randn(1, 2, SAMPLE_RATE // 2, generator=torch.Generator().manual_seed(1))
    with torch.inference_mode():
        expected = reference(mix)
        got = model(mix)
    assert got.shape == (1, len(SOURCES), 2, SAMPLE_RATE // 2)
    torch.testing.assert_close(got, expected, rtol=0, atol=0)


@pytest.mark.parametrize("frames", [1, 250])  # 250 frames at 16 kHz: 689 at 44.1 kHz, below the floor
def test_clips_too_short_for_the_model_still_give_a_stem(official_checkpoint, frames):
    reference, _ = official_checkpoint
    samples = np.random.default_rng(3).standard_normal((2, frames)).astype(np.float32) * 0.1
    vocals = separate_vocals(Clip(samples, 16_000), reference)
    assert vocals.samples.shape == (2, frames) and np.isfinite(vocals.samples).all()


def test_checkpoint_of_another_architecture_is_refused(tmp_path, official_checkpoint):
    reference, _ = official_checkpoint
    tensors = dict(reference.state_dict())
    tensors.pop(next(iter(tensors)))
    path = tmp_path / "truncated.pt"
    torch.save(tensors, path)
    with pytest.raises(ModelLoadError, match="missing in checkpoint"):
        load_model(path)


@pytest.mark.parametrize("frames, segment, overlap", [(10_000, 1_000, 100), (10_050, 1_000, 100),
                                                     (999, 1_000, 100), (5_000, 1_000, 999)])
def test_segments_cover_the_input_with_the_requested_overlap(frames, segment, overlap):
    starts = window_starts(frames, segment, overlap)
    assert starts[0] == 0
    assert min(starts[-1] + segment, frames) == frames
    for previous, start in zip(starts, starts[1:]):
        assert segment - (start - previous) >= overlap


def test_chunked_pointwise_linear_model_is_reconstructed_exactly():
    audio = torch.randn(2, 12_345, generator=torch.Generator().manual_seed(2))
    model = PointwiseLinear()
    out = separate_chunked(model, audio, segment=2_000, overlap=300, keep=[3, 0])
    expected = torch.stack([audio * GAINS[3] + OFFSETS[3], audio * GAINS[0] + OFFSETS[0]])
    torch.testing.assert_close(out, expected, rtol=1e-6, atol=1e-6)
    assert model.calls == len(window_starts(12_345, 2_000, 300)) > 6


def test_memory_is_bounded_by_the_segment_not_the_song():
    audio = torch.zeros(2, 200_000)
    model = PointwiseLinear()
    out = separate_chunked(model, audio, segment=4_096, overlap=512, keep=[3])
    assert model.longest_input == 4_096
    assert out.shape == (1, 2, 200_000)  # only the kept source is accumulated


def test_neighbouring_segments_crossfade_linearly_across_the_overlap():
    segment, overlap = 1_000, 200
    out = separate_chunked(SegmentIndex(), torch.zeros(1, 1_800), segment=segment, overlap=overlap, keep=[0])[0, 0]
    step = segment - overlap
    assert torch.all(out[:step] == 1.0) and torch.all(out[segment:] == 2.0)
    blend = out[step:segment]
    ramp = torch.arange(1, overlap + 1) / (overlap + 1)
    torch.testing.assert_close(blend, 1.0 + ramp, rtol=1e-6, atol=1e-6)


def test_progress_and_cancel_are_per_segment():
    updates = []
    progress = Progress(lambda update: updates.append(update.fraction))
    separate_chunked(PointwiseLinear(), torch.zeros(1, 5_000), segment=1_000, overlap=0, keep=[0],
                     progress=progress)
    assert updates == pytest.approx([0.2, 0.4, 0.6, 0.8, 1.0])

    cancel = CancelToken()
    model = PointwiseLinear()

    def cancel_after_first(update):
        cancel.cancel()

    with pytest.raises(Cancelled):
        separate_chunked(model, torch.zeros(1, 5_000), segment=1_000, overlap=0, keep=[0],
                         progress=Progress(cancel_after_first), cancel=cancel)
    assert model.calls == 1


@pytest.mark.parametrize("rate, channels", [(16_000, 1), (44_100, 2), (48_000, 2)])
def test_vocal_stem_comes_back_at_the_input_rate_and_channels(rate, channels):
    """Through the 44.1 kHz stereo model format and back: the vocals of a model that outputs
    "vocals = 3 × mix + offset" (in standardised units) are 3 × the mix, plus the offset's share of the
    song's scale, at the input's rate and channel count."""
    t = np.arange(rate) / rate
    tone = 0.3 * np.sin(2 * np.pi * 220 * t).astype(np.float32)
    clip = Clip(np.tile(tone, (channels, 1)), rate, name="song")
    vocals = separate_vocals(clip, PointwiseLinear(), segment_s=0.25, overlap_s=0.05)
    assert vocals.sample_rate == rate and vocals.samples.shape == clip.samples.shape
    assert vocals.name == "song vocals"
    std = float(np.std(tone))
    inner = slice(rate // 10, -rate // 10)  # away from the resampler's edges
    np.testing.assert_allclose(vocals.samples[:, inner], 3.0 * clip.samples[:, inner] + OFFSETS[3].item() * std,
                               atol=2e-3)


@pytest.mark.slow
def test_hdemucs_is_a_lyrics_separator_loading_from_the_model_store(official_checkpoint, tmp_path, monkeypatch):
    """Imported into the store, the official file serves the registry's "hdemucs" separator, which gives
    the same stem as running the family code on torchaudio's module directly."""
    from engine.models.install.importer import import_path
    from engine.models.store import default_store
    from engine.tasks.separators import available_separators, separate_vocals as separate_by_name

    monkeypatch.setenv("VOCALIS_MODELS", str(tmp_path))
    reference, path = official_checkpoint
    import_path(default_store(), "hdemucs-high", path, link=True)
    assert "hdemucs" in available_separators()
    t = np.arange(16_000) / 16_000
    clip = Clip((0.2 * np.sin(2 * np.pi * 330 * t)).astype(np.float32), 16_000, name="song")
    vocals = separate_by_name("hdemucs", clip, Progress(), CancelToken())
    expected = separate_vocals(clip, reference, segment_s=10.0, overlap_s=1.0)
    assert vocals.sample_rate == 16_000 and vocals.samples.shape == (1, 16_000)
    np.testing.assert_allclose(vocals.samples, expected.samples, atol=1e-5)


def test_missing_hdemucs_model_says_how_to_get_it(tmp_path, monkeypatch):
    from engine.errors import MissingModelError
    from engine.tasks.separators import separate_vocals as separate_by_name

    monkeypatch.setenv("VOCALIS_MODELS", str(tmp_path))
    clip = Clip(np.zeros(1_000, dtype=np.float32), 16_000)
    with pytest.raises(MissingModelError, match="hdemucs-high.*vocalis models install hdemucs-high"):
        separate_by_name("hdemucs", clip, Progress(), CancelToken())
