"""Lina-Speech against the reference implementation's golden outputs (every ``config_*.json`` case in the
golden folder, within the tolerances its README gives), the tokenizer against the reference's ids, and the
released-size architecture against the released checkpoint's key layout."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from engine.models.lina import RELEASED, LinaModel, TextTokenizer, load_model
from tests.conftest import GOLDEN

LINA = GOLDEN / "lina"
CASES = sorted(path.stem.removeprefix("config_") for path in LINA.glob("config_*.json"))
ATOL = RTOL = 1e-4


@pytest.fixture(scope="module", params=CASES)
def case(request):
    name = request.param
    model = load_model(LINA / f"tiny_{name}.safetensors", config=LINA / f"config_{name}.json")
    data = np.load(LINA / f"case_{name}.npz")
    return model, data


def _tensor(data, key):
    return torch.from_numpy(np.asarray(data[key]))


def _ist(data):
    return {key.removeprefix("ist_"): _tensor(data, key) for key in data.files
            if key.startswith("ist_layer") and key[-2:] in ("_k", "_v")}


def _stepped(model, text_ids, audio_tokens, state):
    """The decoding path, every step teacher-forced: step t reads token t (the reference's timeline)."""
    context = model.text_context(text_ids)
    logits, attention = zip(*(model.step(audio_tokens[:, t], context, state)
                              for t in range(audio_tokens.shape[1] - 1)))
    return torch.stack(logits, dim=1), torch.stack(attention, dim=2)


def test_text_ids_are_the_reference_tokenizers():
    tokenizer = TextTokenizer(LINA / "bpe256.json")
    for name in CASES:
        data = np.load(LINA / f"case_{name}.npz")
        assert tokenizer.encode(str(data["text"])) == data["text_ids"].tolist()


def test_tokenizer_spells_typography_and_names_what_it_cannot_read():
    from engine.errors import BadInputError

    tokenizer = TextTokenizer(LINA / "bpe256.json")
    assert tokenizer.encode("It’s “fine” – really…") == tokenizer.encode('It\'s "fine" - really...')
    assert tokenizer.encode("Crème  brûlée") == tokenizer.encode("crème brulée")  # è and é are in the vocabulary, û is not
    with pytest.raises(BadInputError, match=r"cannot read: '1' '2' \(spell numbers out as words\)"):
        tokenizer.encode("Chapter 12")
    assert tokenizer.unsupported("snow ☃") == ["☃"]


@torch.no_grad()
def test_teacher_forced_logits_attention_encoder_and_loss(case):
    model, data = case
    text, audio = _tensor(data, "text_ids")[None], _tensor(data, "audio_tokens")[None]
    out = model(text, audio)
    torch.testing.assert_close(out.logits[0], _tensor(data, "logits"), atol=ATOL, rtol=RTOL)
    torch.testing.assert_close(out.attention[0], _tensor(data, "att"), atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(model.txt_encoder(model.txt_embed(text))[0], _tensor(data, "x_enc"), atol=ATOL,
                               rtol=RTOL)
    torch.testing.assert_close(model.loss(text, audio), _tensor(data, "loss"), atol=1e-5, rtol=1e-5)
    for path in ("recurrent", "parallel"):
        torch.testing.assert_close(model.logits(text, audio, path=path)[0], _tensor(data, "logits"), atol=ATOL,
                                   rtol=RTOL, msg=path)


@torch.no_grad()
def test_step_by_step_decoding_logits_and_attention(case):
    model, data = case
    text, audio = _tensor(data, "text_ids")[None], _tensor(data, "audio_tokens")[None]
    logits, attention = _stepped(model, text, audio, model.initial_state())
    torch.testing.assert_close(logits[0], _tensor(data, "step_logits"), atol=ATOL, rtol=RTOL)
    torch.testing.assert_close(attention[0], _tensor(data, "step_att"), atol=1e-5, rtol=1e-4)


@torch.no_grad()
def test_initial_state_tuning_cases(case):
    model, data = case
    text, audio = _tensor(data, "text_ids")[None], _tensor(data, "audio_tokens")[None]
    params = _ist(data)
    state = model.initial_state(params)
    for i, layer in enumerate(state.layers):
        torch.testing.assert_close(layer.recurrent[0], _tensor(data, f"ist_S0_layer{i}"), atol=1e-6, rtol=1e-5)
    assert state.pos_net.recurrent.abs().max() == 0 and all(layer.conv.abs().max() == 0 for layer in state.layers)
    torch.testing.assert_close(model.logits(text, audio, state)[0], _tensor(data, "ist_logits"), atol=ATOL, rtol=RTOL)
    torch.testing.assert_close(model.loss(text, audio, state), _tensor(data, "ist_loss"), atol=1e-5, rtol=1e-5)
    logits, _ = _stepped(model, text, audio, model.initial_state(params))
    torch.testing.assert_close(logits[0], _tensor(data, "ist_step_logits"), atol=ATOL, rtol=RTOL)


@torch.no_grad()
def test_padded_batch_of_two(case):
    model, data = case
    text, audio = _tensor(data, "b2_text_ids"), _tensor(data, "b2_audio_tokens")
    valid = _tensor(data, "b2_y_mask")[:, 1:]
    logits = model.logits(text, audio)
    torch.testing.assert_close(logits[valid], _tensor(data, "b2_logits")[valid], atol=ATOL, rtol=RTOL)
    torch.testing.assert_close(model.loss(text, audio), _tensor(data, "b2_loss"), atol=1e-5, rtol=1e-5)


def test_the_voice_file_of_the_golden_case_matches_its_parameters():
    from engine.models.lina import load_voice

    for name in CASES:
        data = np.load(LINA / f"case_{name}.npz")
        voice = load_voice(LINA / f"ist_{name}.safetensors")
        assert voice.keys() == _ist(data).keys()
        assert all(torch.equal(voice[key], value) for key, value in _ist(data).items())


def test_released_size_definition_has_the_released_keys_and_shapes():
    with torch.device("meta"):
        model = LinaModel(RELEASED)
    released = json.loads((LINA / "keys_release.json").read_text())
    ours = {f"model.{name}": list(tensor.shape) for name, tensor in model.state_dict().items()}
    assert ours == released
