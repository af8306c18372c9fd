"""Synthesis of codec codes with the tiny golden model: the stop token ends a variant, the same seed gives the
same codes, the step budget includes the prompt, variants decode as one batch, cancel and progress are
called between tokens, and the fast weight formats stay close to fp32."""

from __future__ import annotations

import pytest
import torch

from engine.errors import Cancelled
from engine.models.lina import STOP_TOKEN, SamplingSettings, TextTokenizer, generate, load_model, load_voice, sample_top_k
from tests.conftest import GOLDEN

LINA = GOLDEN / "lina"


@pytest.fixture(scope="module")
def model():
    return load_model(LINA / "tiny_0.safetensors", config=LINA / "config_0.json")


@pytest.fixture(scope="module")
def text_ids():
    return torch.tensor(TextTokenizer(LINA / "bpe256.json").encode("Hello there, general."))


def test_stop_token_ends_each_variant_and_finished_rows_leave_the_batch(model, text_ids, monkeypatch):
    import engine.models.lina.synthesis as generation

    step_count = {"n": 0}
    batch_sizes = []
    real_sample = generation.sample_top_k

    def sample(logits, top_k, temperature, generator=None):
        step_count["n"] += 1
        batch_sizes.append(logits.shape[0])
        tokens = real_sample(logits, top_k, temperature, generator).clamp_min(3)
        if step_count["n"] == 4:
            tokens[1] = STOP_TOKEN  # variant 1 stops at its 4th token
        if step_count["n"] == 7:
            tokens[:] = STOP_TOKEN  # the others at their 7th
        return tokens

    monkeypatch.setattr(generation, "sample_top_k", sample)
    result = generate(model, text_ids, variants=3, seed=0)
    assert [c.shape for c in result.codes] == [(1, 6), (1, 3), (1, 6)]
    assert result.stopped == [True, True, True] and result.steps == 7
    assert batch_sizes == [3, 3, 3, 3, 2, 2, 2]


def test_same_seed_same_codes_and_variants_differ(model, text_ids):
    settings = SamplingSettings(max_tokens=40)
    first = generate(model, text_ids, variants=3, seed=7, sampling=settings)
    again = generate(model, text_ids, variants=3, seed=7, sampling=settings)
    other = generate(model, text_ids, variants=3, seed=8, sampling=settings)
    assert all(torch.equal(a, b) for a, b in zip(first.codes, again.codes))
    assert not all(torch.equal(a, b) for a, b in zip(first.codes, other.codes))
    assert not torch.equal(first.codes[0], first.codes[1])
    assert all(c.min() >= 0 and c.max() < 4096 for c in first.codes)


def test_the_budget_counts_the_prompt_and_the_prompt_is_not_in_the_output(model, text_ids):
    prompt = torch.randint(0, 4096, (1, 12), generator=torch.Generator().manual_seed(0))
    result = generate(model, text_ids, prompt_codes=prompt, variants=2, seed=1, sampling=SamplingSettings(max_tokens=30))
    assert result.steps <= 18 and all(c.shape[1] <= 18 for c in result.codes)
    assert not result.stopped[0] or result.codes[0].shape[1] < 18
    with pytest.raises(ValueError, match="the prompt has 12 frames"):
        generate(model, text_ids, prompt_codes=prompt, sampling=SamplingSettings(max_tokens=12))


def test_a_variant_equals_stepping_the_model_by_hand(model, text_ids):
    """Prompt prefill in one pass + sampled steps == the step-by-step timeline with the same draws."""
    prompt = torch.randint(0, 4096, (1, 5), generator=torch.Generator().manual_seed(3))
    result = generate(model, text_ids, prompt_codes=prompt, seed=5, sampling=SamplingSettings(max_tokens=20))
    generator = torch.Generator().manual_seed(5)
    context = model.text_context(text_ids[None])
    state = model.initial_state()
    with torch.no_grad():
        for token in [1, *(prompt[0] + 3).tolist()]:
            logits, _ = model.step(torch.tensor([[token]]), context, state)
        codes = []
        for _ in range(result.steps):
            token = sample_top_k(logits[:, 0], 100, 1.0, generator)
            if token.item() == STOP_TOKEN:
                break
            codes.append(token.item() - 3)
            logits, _ = model.step(token[:, None], context, state)
    assert result.codes[0].tolist() == [codes]


def test_cancel_and_progress_are_called_between_tokens(model, text_ids):
    progress = []

    def cancel():
        if len(progress) == 5:
            raise Cancelled()

    with pytest.raises(Cancelled):
        generate(model, text_ids, seed=0, cancel=cancel, on_token=lambda done, total: progress.append((done, total)))
    assert progress == [(i, 2000) for i in range(1, 6)]


def test_a_learned_voice_changes_the_output_without_a_prompt(model, text_ids):
    voice = model.initial_state(load_voice(LINA / "ist_0.safetensors"))
    settings = SamplingSettings(max_tokens=30)
    plain = generate(model, text_ids, seed=2, sampling=settings)
    learned = generate(model, text_ids, init_state=voice, variants=2, seed=2, sampling=settings)
    assert not torch.equal(plain.codes[0], learned.codes[0])
    assert voice.layers[0].recurrent.abs().max() > 0 and voice.layers[0].pending is None  # not modified


@pytest.mark.parametrize("weight_format", ["int8", "bf16"])
def test_fast_weight_formats_stay_close_to_fp32(weight_format, text_ids):
    model = load_model(LINA / "tiny_0.safetensors", config=LINA / "config_0.json")
    context = model.text_context(text_ids[None])
    tokens = torch.randint(3, 4099, (20, 1, 1), generator=torch.Generator().manual_seed(0))
    logits = {}
    for fmt in ("fp32", weight_format):
        model.set_weight_format(fmt)
        state = model.initial_state()
        with torch.no_grad():
            logits[fmt] = torch.stack([model.step(token, context, state)[0] for token in tokens])
    deviation = (logits[weight_format] - logits["fp32"]).abs().max()
    assert 0 < deviation < 0.05 * logits["fp32"].abs().max()
    with pytest.raises(ValueError, match="unknown weight format"):
        model.set_weight_format("int4")
