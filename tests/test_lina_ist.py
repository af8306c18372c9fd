"""Initial-state tuning with the tiny golden model: updates lower the loss on a few synthetic utterances and
touch nothing but the voice; the voice file round-trips and changes the initial state; training resumes
where it stopped; bad voice files are named."""

from __future__ import annotations

import pytest
import torch

from engine.errors import BadInputError, Cancelled
from engine.models.lina import (IstExample, IstTrainer, TextTokenizer, collate, load_model, load_voice, save_voice,
                                train_voice)
from tests.conftest import GOLDEN

LINA = GOLDEN / "lina"


@pytest.fixture()
def model():
    return load_model(LINA / "tiny_0.safetensors", config=LINA / "config_0.json")


@pytest.fixture(scope="module")
def examples():
    tokenizer = TextTokenizer(LINA / "bpe256.json")
    generator = torch.Generator().manual_seed(0)
    # one "speaker": every utterance built from the same few codes, so a starting state can help
    codes = torch.randint(0, 4096, (12,), generator=generator)
    texts = ["A short line.", "Another one here.", "And the last, longer sentence."]
    return [IstExample(torch.tensor(tokenizer.encode(text)),
                       codes[torch.randint(0, 12, (1, 20 + 5 * i), generator=generator)])
            for i, text in enumerate(texts)]


def test_collate_builds_the_reference_token_layout(examples):
    text_ids, tokens = collate(examples[:2])
    assert text_ids.shape == (2, max(len(e.text_ids) for e in examples[:2])) and text_ids[1, -1] == 0
    assert tokens.shape == (2, 27, 1)
    assert tokens[0, 0, 0] == 1 and tokens[0, 21, 0] == 2 and tokens[0, 22:, 0].eq(0).all()
    assert torch.equal(tokens[0, 1:21, 0], examples[0].codes[0] + 3)


def test_updates_lower_the_loss_and_change_only_the_voice(model, examples, tmp_path):
    weights = {name: value.clone() for name, value in model.state_dict().items()}
    trainer = IstTrainer(model, batch_size=2, grad_accumulation=1, seed=3)
    before = trainer.evaluate(examples)
    losses = []
    train_voice(model, examples, 15, trainer=trainer, on_update=lambda update, loss: losses.append((update, loss)))
    assert [u for u, _ in losses] == list(range(1, 16))
    assert trainer.evaluate(examples) < before - 0.05
    assert all(torch.equal(value, weights[name]) for name, value in model.state_dict().items())

    path = save_voice(tmp_path / "voices" / "speaker.safetensors", trainer.voice(), {"name": "speaker"})
    voice = load_voice(path)
    assert set(voice) == {f"layer{i}_{part}" for i in range(4) for part in "kv"} and voice["layer0_k"].shape == (1, 1, 2, 32, 1)
    learned, fresh = model.initial_state(voice), model.initial_state()
    assert learned.layers[3].recurrent.abs().max() > 0 and fresh.layers[3].recurrent.abs().max() == 0
    assert path.stat().st_size < 20_000


def test_training_resumes_exactly(model, examples):
    straight = train_voice(model, examples, 4, trainer=IstTrainer(model, batch_size=1, grad_accumulation=2))
    first = train_voice(model, examples, 2, trainer=IstTrainer(model, batch_size=1, grad_accumulation=2))
    resumed = IstTrainer(model, batch_size=1, grad_accumulation=2)
    resumed.load_state_dict(first.state_dict())
    train_voice(model, examples, 2, trainer=resumed)
    assert resumed.updates == 4
    for name, value in straight.voice().items():
        torch.testing.assert_close(resumed.voice()[name], value)


def test_cancel_stops_between_updates(model, examples):
    done = []

    def cancel():
        if len(done) == 2:
            raise Cancelled()

    with pytest.raises(Cancelled):
        train_voice(model, examples, 10, on_update=lambda update, loss: done.append(update), cancel=cancel)
    assert done == [1, 2]


def test_bad_voice_files_are_named(model, tmp_path):
    missing = tmp_path / "absent.safetensors"
    with pytest.raises(BadInputError, match="absent.safetensors: voice file not found"):
        load_voice(missing)
    garbage = tmp_path / "garbage.safetensors"
    garbage.write_bytes(b"nonsense")
    with pytest.raises(BadInputError, match="garbage.safetensors: not a voice file"):
        load_voice(garbage)
    partial = save_voice(tmp_path / "partial.safetensors", {"layer0_k": torch.zeros(1, 1, 2, 32, 1)})
    with pytest.raises(BadInputError, match="partial.safetensors: not a voice file"):
        load_voice(partial)
    other_model = save_voice(tmp_path / "other.safetensors", {"layer0_k": torch.zeros(1, 1, 4, 8, 1),
                                                             "layer0_v": torch.zeros(1, 1, 4, 1, 8)})
    with pytest.raises(BadInputError, match="the voice does not fit this model .*layer1_k: missing"):
        model.initial_state(load_voice(other_model))
