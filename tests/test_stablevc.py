"""StableVC's building blocks on tiny configurations: masks and shapes through every block, the adaptive
gate's closed style path at initialisation, guidance, the shared ODE solvers, content units, checkpoints."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from engine.models import flow
from engine.models.stablevc import TINY, Conditions, StableVC, load_model, read_config
from engine.models.stablevc.config import StableVCConfig
from engine.models.stablevc.model import relative_positions
from engine.models.stablevc.run import is_run, save_weights
from engine.models.stablevc.units import assign_units, deduplicate, expand, fit_kmeans, rescale_durations

CONTENT_DIM = 32


@pytest.fixture
def model() -> StableVC:
    torch.manual_seed(0)
    return StableVC(TINY, CONTENT_DIM).eval()


def conditions(batch: int = 2, reference: int = 30, style: int = 40, seed: int = 1) -> Conditions:
    generator = torch.Generator().manual_seed(seed)
    return Conditions(torch.randn(batch, 192, generator=generator), torch.randn(batch, 80, reference, generator=generator),
                      torch.ones(batch, reference, dtype=torch.bool), torch.randn(batch, style, 3, generator=generator),
                      torch.ones(batch, style, dtype=torch.bool), torch.rand(batch, generator=generator) * 10 + 5,
                      torch.log(torch.rand(batch, generator=generator) * 150 + 90))


def inputs(batch: int = 2, frames: int = 50) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(2)
    x = torch.randn(batch, 80, frames, generator=generator)
    t = torch.rand(batch, generator=generator)
    units = torch.randint(0, TINY.units, (batch, frames), generator=generator)
    mask = torch.ones(batch, frames, dtype=torch.bool)
    return x, t, units, mask


def no_drop(batch: int = 2) -> torch.Tensor:
    return torch.zeros(batch, dtype=torch.bool)


def open_gates(model: StableVC) -> None:
    with torch.no_grad():
        for block in model.flow.blocks:
            block.gate.alpha.fill_(1.0)


@torch.no_grad()
def test_shapes_and_padding_masks_through_the_flow_model(model):
    x, t, units, mask = inputs()
    mask[1, 35:] = False
    cond = conditions()
    cond.reference_mask[1, 20:] = False
    cond.style_mask[1, 25:] = False
    open_gates(model)
    out = model.flow(x, t, units, mask, cond, no_drop(), no_drop())
    assert out.shape == (2, 80, 50)
    assert torch.all(out[1, :, 35:] == 0)
    # What lies in padding (frames, units, reference and style frames) does not reach the valid outputs.
    x2, units2 = x.clone(), units.clone()
    x2[1, :, 35:] = 9.0
    units2[1, 35:] = 0
    cond.reference[1, :, 20:] = 7.0
    cond.style[1, 25:] = -3.0
    again = model.flow(x2, t, units2, mask, cond, no_drop(), no_drop())
    torch.testing.assert_close(again[1, :, :35], out[1, :, :35], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(again[0], out[0])


@torch.no_grad()
def test_duration_predictor_masks_and_shapes(model):
    units = torch.randint(0, TINY.units, (2, 12))
    mask = torch.ones(2, 12, dtype=torch.bool)
    mask[0, 8:] = False
    out = model.duration(units, mask, torch.tensor([8.0, 12.0]))
    assert out.shape == (2, 12) and torch.all(out[0, 8:] == 0)
    changed = units.clone()
    changed[0, 8:] = 3
    torch.testing.assert_close(model.duration(changed, mask, torch.tensor([8.0, 12.0]))[0, :8], out[0, :8])
    durations = model.predict_durations(units[1], 10.0)
    assert durations.shape == (12,) and durations.dtype == torch.long and durations.min() >= 1


@torch.no_grad()
def test_at_initialisation_the_gate_keeps_the_style_path_off(model):
    x, t, units, mask = inputs()
    base = model.flow(x, t, units, mask, conditions(seed=1), no_drop(), no_drop())
    other_style = conditions(seed=1)
    other_style.style = torch.randn_like(other_style.style)
    other_style.rate = other_style.rate * 2
    torch.testing.assert_close(model.flow(x, t, units, mask, other_style, no_drop(), no_drop()), base, rtol=0, atol=0)
    # The timbre path is live from the start, and the style path once the gate opens.
    other_timbre = conditions(seed=1)
    other_timbre.speaker = torch.randn_like(other_timbre.speaker)
    assert not torch.allclose(model.flow(x, t, units, mask, other_timbre, no_drop(), no_drop()), base)
    open_gates(model)
    opened = model.flow(x, t, units, mask, conditions(seed=1), no_drop(), no_drop())
    assert not torch.allclose(model.flow(x, t, units, mask, other_style, no_drop(), no_drop()), opened)


@torch.no_grad()
def test_guidance_scale_zero_is_the_conditional_prediction_and_scales_are_separate(model):
    open_gates(model)
    x, t, units, mask = inputs()
    cond = conditions()
    conditional = model.flow(x, t, units, mask, cond, no_drop(), no_drop())
    torch.testing.assert_close(model.guided_velocity(x, t, units, mask, cond, 0.0, 0.0), conditional)
    no_timbre = model.flow(x, t, units, mask, cond, ~no_drop(), no_drop())
    no_style = model.flow(x, t, units, mask, cond, no_drop(), ~no_drop())
    torch.testing.assert_close(model.guided_velocity(x, t, units, mask, cond, 0.5, 0.0),
                               conditional + 0.5 * (conditional - no_timbre), atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(model.guided_velocity(x, t, units, mask, cond, 0.5, 2.0),
                               conditional + 0.5 * (conditional - no_timbre) + 2.0 * (conditional - no_style),
                               atol=1e-5, rtol=1e-5)
    # Dropping a condition hides all of it: the dropped memory's content no longer matters.
    other = conditions(seed=5)
    torch.testing.assert_close(model.flow(x, t, units, mask, other, ~no_drop(), ~no_drop()),
                               model.flow(x, t, units, mask, cond, ~no_drop(), ~no_drop()))


def test_euler_with_many_steps_converges_to_the_midpoint_result():
    def velocity(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:  # dx/dt = −x + sin(3t), fixed field
        return -x + torch.sin(3 * t)[:, None]

    x0 = torch.tensor([[1.0, -2.0, 0.5]])
    midpoint = flow.integrate(velocity, x0, 16, method="midpoint")
    errors = [float((flow.integrate(velocity, x0, steps) - midpoint).abs().max()) for steps in (8, 64, 1024)]
    assert errors[0] > errors[1] > errors[2] and errors[2] < 1e-3
    # Midpoint is second order: its 16-step answer is closer to the exact one than Euler's 64-step answer.
    exact = x0 * math.exp(-1) + (math.exp(-1) * 3 + math.sin(3) - 3 * math.cos(3)) / 10
    assert float((midpoint - exact).abs().max()) < float((flow.integrate(velocity, x0, 64) - exact).abs().max())


def test_time_grids_and_solver_checks():
    grid = flow.time_grid(10)
    assert grid[0] == 0 and grid[-1] == 1 and torch.all(grid.diff() > 0)
    swayed = flow.time_grid(10, sway=-1.0)
    assert swayed[0] == 0 and swayed[-1] == pytest.approx(1.0) and torch.all(swayed.diff() > 0)
    assert swayed[1] < grid[1]  # sway sampling spends more steps near the noise
    calls = []
    flow.integrate(lambda x, t: torch.zeros_like(x), torch.zeros(1, 2), 3, method="midpoint", on_step=calls.append)
    assert calls == [1, 2, 3]
    with pytest.raises(ValueError, match="unknown solver"):
        flow.integrate(lambda x, t: x, torch.zeros(1, 2), 3, method="rk4")


def test_kmeans_gives_repeated_frames_the_same_unit():
    generator = torch.Generator().manual_seed(0)
    centres = torch.randn(4, 8, generator=generator) * 5
    labels = torch.randint(0, 4, (200,), generator=generator)
    frames = centres[labels] + 0.1 * torch.randn(200, 8, generator=generator)
    centroids = fit_kmeans(frames, 4, 20, seed=0)
    torch.testing.assert_close(centroids, fit_kmeans(frames, 4, 20, seed=0))  # seeded: repeatable
    units = assign_units(frames, centroids)
    # The clusters found are the blobs: frames of one blob share a unit, different blobs differ.
    mapping = {int(label): int(unit) for label, unit in zip(labels, units)}
    assert all(mapping[int(label)] == int(unit) for label, unit in zip(labels, units))
    assert len(set(mapping.values())) == 4
    repeated = frames[[3, 3, 3, 7, 7]]
    assert assign_units(repeated, centroids).tolist() == [int(units[3])] * 3 + [int(units[7])] * 2


def test_deduplication_and_duration_expansion_round_trip():
    units = torch.tensor([5, 5, 5, 2, 9, 9, 2, 2, 2, 2, 0])
    unique, durations = deduplicate(units)
    assert unique.tolist() == [5, 2, 9, 2, 0] and durations.tolist() == [3, 1, 2, 4, 1]
    assert torch.equal(expand(unique, durations), units)
    # Re-timed onto mel frames (86.13/s from WavLM's 50/s), the runs keep their order and the total rounds.
    ratio = 22050 / 256 / 50
    mel_durations = rescale_durations(durations, ratio)
    assert int(mel_durations.sum()) == round(11 * ratio)
    assert deduplicate(expand(unique, mel_durations))[0].tolist() == unique.tolist()


def test_checkpoint_save_load_gives_identical_outputs(model, tmp_path):
    open_gates(model)
    model.centroids.normal_()
    TINY.save(tmp_path / "config.json")
    save_weights(model, tmp_path / "model.safetensors")
    assert is_run(tmp_path)
    loaded = load_model(tmp_path)
    units = torch.randint(0, TINY.units, (1, 30))
    noise = torch.randn(1, 80, 30)
    first = model.sample(units, conditions(batch=1), noise, 3, method="midpoint", sway=-1.0)
    again = loaded.sample(units, conditions(batch=1), noise, 3, method="midpoint", sway=-1.0)
    torch.testing.assert_close(again, first, rtol=0, atol=0)
    torch.testing.assert_close(loaded.centroids, model.centroids)


def test_config_round_trip_and_bad_configs(tmp_path):
    assert StableVCConfig.from_dict(TINY.to_dict()) == TINY
    path = tmp_path / "mine.json"
    path.write_text('{"dim": 96, "heads": 4, "depth": 3}')
    mine = read_config(path)
    assert (mine.dim, mine.depth, mine.units) == (96, 3, 1024)
    assert read_config("tiny") is TINY
    from engine.errors import ModelLoadError

    path.write_text('{"dimension": 96}')
    with pytest.raises(ModelLoadError, match="unknown StableVC config keys: dimension"):
        read_config(path)
    with pytest.raises(ModelLoadError, match="not found"):
        read_config(tmp_path / "missing.json")


def test_wavlm_cut_after_the_layer_read_gives_the_full_models_features(tmp_path):
    from tests.test_stablevc_train import save_tiny_wavlm
    from engine.models.wavlm import load_model

    folder = save_tiny_wavlm(tmp_path / "wavlm")
    wave = torch.randn(16000).numpy() * 0.1
    for layer in (0, 1):
        from transformers import WavLMModel

        full = WavLMModel.from_pretrained(str(folder)).eval()
        with torch.no_grad():
            expected = full(torch.from_numpy(wave)[None], output_hidden_states=True).hidden_states[layer][0]
        content = load_model(folder, layer=layer)
        assert len(content.model.encoder.layers) == layer + 1
        features = content.features(wave)
        assert features.shape == (50, 32)  # one per 320 samples, the last repeated where its window runs out
        torch.testing.assert_close(features[:49], expected, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(features[49], expected[48])


def test_style_frames_stretch_over_the_output_by_relative_time():
    from engine.models.stablevc.features import aligned_style

    style = torch.zeros(2, 5, 3)
    style[:, :, 0] = torch.arange(5.0)  # a ramp 0..4 over each row's valid frames
    style_mask = torch.tensor([[True] * 5, [True] * 3 + [False] * 2])
    mask = torch.tensor([[True] * 9, [True] * 5 + [False] * 4])
    aligned = aligned_style(style, style_mask, mask)
    torch.testing.assert_close(aligned[0, :, 0], torch.linspace(0, 4, 9))
    torch.testing.assert_close(aligned[1, :5, 0], torch.linspace(0, 2, 5))
    assert torch.all(aligned[1, 5:] == 0)
    positions = relative_positions(mask, 2)
    torch.testing.assert_close(positions[0, -1], positions[1, 4])  # the last valid frame of each row is time 1


def test_harmonic_excitation_peaks_at_the_harmonics_of_register_plus_contour():
    from engine.models.seedvc.config import MelSettings
    from engine.models.seedvc.mel import _mel_basis
    from engine.models.stablevc.features import harmonic_excitation

    mel = MelSettings()
    basis = _mel_basis(mel)
    style = torch.tensor([[[0.0, 1.0, 0.0], [math.log(2.0), 1.0, 0.0], [0.0, 0.0, 0.0]]])
    excitation = harmonic_excitation(style, torch.tensor([math.log(200.0)]), mel, basis)[0]
    assert excitation.shape == (3, 80) and torch.all(excitation[2] == 0)  # unvoiced: nothing

    def strongest_band_near(hz: float) -> int:
        bins = torch.arange(basis.shape[1]) * mel.sample_rate / mel.n_fft
        return int(basis[:, (bins - hz).abs().argmin()].argmax())

    # 200 Hz: the band of 200 Hz lights up, the one of 300 Hz (between harmonics) stays darker; an octave up
    # (the contour's log 2) the 200 Hz band goes dark and 400 Hz stays lit.
    assert excitation[0, strongest_band_near(200)] > 2 * excitation[0, strongest_band_near(300)]
    assert excitation[1, strongest_band_near(400)] > 2 * excitation[1, strongest_band_near(200)]


def test_griffin_lim_vocoder_renders_a_tone_at_its_pitch():
    from engine.models.seedvc.config import MelSettings
    from engine.models.seedvc.mel import log_mel
    from engine.models.stablevc.convert import GriffinLimVocoder
    from tests.synth import dominant_frequency, tone

    settings = MelSettings()
    spectrum = log_mel(tone(440.0, 1.0, settings.sample_rate), settings)
    wave = GriffinLimVocoder(settings).vocode_long(spectrum)
    assert wave.shape == (1, 1, spectrum.shape[-1] * settings.hop_length)
    # The mel keeps a tone's frequency only to within its band: half the band spacing near 440 Hz.
    import librosa

    centres = librosa.mel_frequencies(settings.n_mels + 2, fmin=0.0, fmax=settings.sample_rate / 2)
    spacing = float(np.diff(centres)[np.searchsorted(centres, 440.0)])
    assert abs(dominant_frequency(wave[0, 0].numpy(), settings.sample_rate) - 440.0) < spacing / 2
