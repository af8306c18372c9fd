"""Voice conversion end to end through the real catalog loaders: the golden reduced Seed-VC DiT, a Whisper
encoder and a CAM++ with random weights in their official formats, the reduced BigVGAN from its golden
folder, on espeak-ng speech; the CLI and batch run for real."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from engine.audio.clip import Clip
from engine.errors import BadInputError, Cancelled, MissingModelError
from engine.jobs import CancelToken, Progress, null_progress
from engine.models import loading
from engine.models.cache import model_cache
from engine.models.campplus import CAMPPlus
from engine.models.catalog import read_catalog
from engine.models.store import ModelStore
from engine.tasks import vc
from tests.conftest import GOLDEN, require_tools
from tests.synth import speak
from tests.test_whisper_encoder import save_tiny_whisper

def imported_model(model_id: str, name: str, task: str, family: str, sample_rate: int, files: dict[str, int | None],
                   *, requires: str = "", config: str = "") -> str:
    """A test catalog entry (TOML) for files the test imports; ``files`` maps each name to its exact size, or
    to None for weights written by the test (their size is not fixed)."""
    listed = "".join(f'[[model.files]]\nname = "{file}"\n'
                     + (f"size = {size}\n" if size is not None else "size = 1\nsize_exact = false\n")
                     for file, size in files.items())
    return f"""
[[model]]
id = "{model_id}"
name = "{name}"
task = "{task}"
family = "{family}"
licence = "test"
sample_rate = {sample_rate}
memory_mb = 10
{requires}
[model.source]
kind = "import"
hint = "test"
{listed}{config}"""


CATALOG = "".join([
    imported_model("seed-vc-v1", "reduced Seed-VC (golden tiny_0)", "vc", "seedvc", 22050,
                   {"tiny_0.pth": 4347721, "config.json": 2513},
                   requires='requires = ["whisper-test-encoder", "campplus-test", "bigvgan-test"]',
                   config='[model.config]\nconfig_file = "config.json"\ncontent_encoder = "whisper-test-encoder"\n'
                          'style_encoder = "campplus-test"\nvocoder = "bigvgan-test"\n'),
    imported_model("whisper-test-encoder", "random Whisper, 768 wide", "content-encoder", "whisper-encoder", 16000,
                   dict.fromkeys(("model.safetensors", "config.json", "preprocessor_config.json"))),
    imported_model("campplus-test", "random CAM++", "speaker-embedding", "campplus", 16000, {"campplus.pt": None}),
    imported_model("bigvgan-test", "reduced BigVGAN (golden tiny_0)", "vocoder", "bigvgan", 22050,
                   {"bigvgan_generator.pt": 735418, "config.json": 602}),
])


def catalog_store(tmp_path) -> ModelStore:
    """An empty models folder in ``tmp_path`` with the test catalog."""
    catalog_path = tmp_path / "catalog.toml"
    catalog_path.write_text(CATALOG)
    return ModelStore(tmp_path / "models", read_catalog(catalog_path))


def require_espeak() -> None:
    require_tools("espeak-ng")


@pytest.fixture(scope="module")
def model_files(tmp_path_factory) -> dict[str, dict[str, Path]]:
    """Every model's files in its official layout."""
    root = tmp_path_factory.mktemp("vc-models")
    whisper = save_tiny_whisper(root / "whisper", d_model=768)
    torch.manual_seed(0)
    campplus = root / "campplus.pt"
    torch.save(CAMPPlus().state_dict(), campplus)
    return {
        "seed-vc-v1": {"tiny_0.pth": GOLDEN / "seedvc" / "tiny_0.pth", "config.json": GOLDEN / "seedvc" / "config_0.json"},
        "whisper-test-encoder": {name: whisper / name for name in
                                 ("model.safetensors", "config.json", "preprocessor_config.json")},
        "campplus-test": {"campplus.pt": campplus},
        "bigvgan-test": {"bigvgan_generator.pt": GOLDEN / "bigvgan" / "tiny_0_generator.pt",
                         "config.json": GOLDEN / "bigvgan" / "config_0.json"},
    }


@pytest.fixture
def store(tmp_path, monkeypatch, model_files) -> ModelStore:
    """A models folder with the test catalog, installed, standing in for the default store."""
    store = catalog_store(tmp_path)
    for model_id, files in model_files.items():
        store.install(model_id, files, origin="test", mode="copy")
    monkeypatch.setattr(loading, "default_store", lambda *args, **kwargs: store)
    yield store
    model_cache.clear()


@pytest.fixture(scope="module")
def voices() -> dict[str, Clip]:
    require_espeak()
    source = speak("The birch canoe slid on the smooth planks.", "en-us", sample_rate=24000)
    timbre = speak("Glue the sheet to the dark blue background.", "en-us+f3", sample_rate=22050)
    return {"source": Clip(source[None], 24000, name="source"), "timbre": Clip(timbre[None], 22050, name="timbre")}


def fast(**changes) -> vc.VCSettings:
    return vc.VCSettings(**{"steps": 2, "device": "cpu", **changes})


def test_conversion_keeps_the_source_rate_and_length(store, voices):
    source, timbre = voices["source"], voices["timbre"]
    fractions = []
    out = vc.convert_voice(source, timbre, fast(), Progress(lambda update: fractions.append(update.fraction)),
                           CancelToken())
    assert out.sample_rate == source.sample_rate and out.channels == 1
    assert out.frames == source.frames
    assert np.isfinite(out.samples).all() and np.abs(out.samples).max() > 0
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    slower = vc.convert_voice(source, timbre, fast(length=1.25))
    assert abs(slower.frames - 1.25 * source.frames) <= 1
    # The converted audio is generated audio, not silence padding: its last full hop is not all zero.
    generated = int(source.frames * 22050 / 24000) // 256 * 256 * 24000 // 22050
    assert np.abs(out.samples[0, generated - 256:generated]).max() > 0


def test_same_seed_same_result_and_similarity_figures(store, voices):
    source, timbre = voices["source"], voices["timbre"]
    models = vc.load_voice_models(fast())
    first = vc.convert_voice(source, timbre, fast(), models=models)
    again = vc.convert_voice(source, timbre, fast(), models=models, style=timbre)  # style = timbre is accepted
    np.testing.assert_array_equal(first.samples, again.samples)
    similarity = vc.score_conversion(source, timbre, first, models.speaker)
    assert -1.0 <= similarity.output <= 1.0 and -1.0 <= similarity.source <= 1.0
    assert vc.score_conversion(timbre, timbre, timbre, models.speaker).output == pytest.approx(1.0)


def test_long_sources_run_in_chunks_with_the_prompt_on_each(store, voices, monkeypatch):
    """With a 3 s context the 2.5 s source needs several chunks; the joins are crossfaded, the length exact."""
    monkeypatch.setattr(vc, "CONTEXT_SECONDS", 3)
    source, timbre = voices["source"], voices["timbre"]
    timbre = Clip(timbre.samples[:, :22050], 22050, name="short timbre")  # 86 prompt frames, windows of 172
    sampled = []
    models = vc.load_voice_models(fast())
    original = models.dit.sample

    def counting(mu, prompt_mel, *args, **kwargs):
        sampled.append((mu.shape[1], prompt_mel.shape[-1]))
        return original(mu, prompt_mel, *args, **kwargs)

    monkeypatch.setattr(models.dit, "sample", counting)
    out = vc.convert_voice(source, timbre, fast(), models=models)
    assert len(sampled) >= 2 and all(prompt == 86 for _, prompt in sampled)
    assert max(total for total, _ in sampled) == 258
    assert out.frames == source.frames and np.isfinite(out.samples).all()


def test_cancel_between_steps_leaves_no_file(store, voices, tmp_path):
    source_path, timbre_path = tmp_path / "source.wav", tmp_path / "timbre.wav"
    sf.write(source_path, voices["source"].samples[0], 24000)
    sf.write(timbre_path, voices["timbre"].samples[0], 22050)
    token = CancelToken()

    messages = []

    def listen(update):
        messages.append(update.message)
        if "step 1/" in update.message:
            token.cancel()

    out = tmp_path / "out"
    with pytest.raises(Cancelled):
        vc.process_file(source_path, out / "source", fast(timbre=str(timbre_path)), Progress(listen), token)
    assert any("step 1/" in message for message in messages)
    assert not out.exists() or not any(out.iterdir())


def test_bad_references_are_refused_clearly(store, voices, tmp_path):
    source, timbre = voices["source"], voices["timbre"]
    with pytest.raises(BadInputError, match="needs at least 0.5 s"):
        vc.convert_voice(source, Clip(timbre.samples[:, :2000], 22050), fast())
    with pytest.raises(BadInputError, match="single speaker condition"):
        vc.convert_voice(source, timbre, fast(), style=source)
    with pytest.raises(BadInputError, match="needs a timbre reference"):
        vc.process_file(tmp_path / "x.wav", tmp_path / "x", fast(), null_progress(), CancelToken())


def test_missing_models_are_named_together(tmp_path, monkeypatch):
    empty = catalog_store(tmp_path)
    monkeypatch.setattr(loading, "default_store", lambda *args, **kwargs: empty)
    with pytest.raises(MissingModelError,
                       match=r"(?s)not installed: whisper-test-encoder.*campplus-test.*bigvgan-test.*seed-vc-v1"):
        vc.load_voice_models(fast())


def test_cli_and_batch_convert_for_real(store, voices, tmp_path, capsys):
    from engine.cli import main

    inputs = tmp_path / "in"
    (inputs / "sub").mkdir(parents=True)
    sf.write(tmp_path / "a.wav", voices["source"].samples[0], 24000)
    sf.write(inputs / "sub" / "b.flac", voices["source"].samples[0][:30000], 24000)
    timbre = tmp_path / "timbre.wav"
    sf.write(timbre, voices["timbre"].samples[0], 22050)

    code = main(["vc", str(tmp_path / "a.wav"), "--timbre", str(timbre), "--out", str(tmp_path / "cli"), "--steps", "2",
                 "--device", "cpu", "--json"])
    document = json.loads(capsys.readouterr().out)
    assert code == 0 and document["counts"] == {"ok": 1, "failed": 0}
    wav, report = (Path(p) for p in document["files"][0]["outputs"])
    assert wav.name == "a_vc.wav" and report.name == "a_vc.json"
    audio, rate = sf.read(wav)
    assert rate == 24000 and audio.shape[0] == voices["source"].frames
    similarity = json.loads(report.read_text())["similarity"]
    assert set(similarity) == {"output_to_timbre", "source_to_timbre"}
    assert document["files"][0]["summary"] == similarity  # the figures inline in the CLI's JSON too

    assert main(["vc", str(tmp_path / "a.wav"), "--timbre", str(timbre), "--out", str(tmp_path / "text"),
                 "--steps", "1", "--device", "cpu"]) == 0
    [ok_line] = [line for line in capsys.readouterr().out.splitlines() if line.startswith("ok ")]
    assert "output_to_timbre" in ok_line and "source_to_timbre" in ok_line

    out = tmp_path / "batch"
    code = main(["batch", "vc", str(inputs), str(out), "--timbre", str(timbre), "--steps", "1", "--device", "cpu"])
    capsys.readouterr()
    assert code == 0
    assert sorted(p.name for p in (out / "sub").iterdir()) == ["b_vc.json", "b_vc.wav"]
    assert sf.info(out / "sub" / "b_vc.wav").frames == 30000
    lines = [json.loads(line) for line in (out / "vocalis-batch.jsonl").read_text().splitlines()]
    assert [line["status"] for line in lines if "status" in line] == ["ok"]
    # A rerun skips what is done (same settings, outputs present).
    assert main(["batch", "vc", str(inputs), str(out), "--timbre", str(timbre), "--steps", "1",
                 "--device", "cpu"]) == 0
    capsys.readouterr()
    lines = [json.loads(line) for line in (out / "vocalis-batch.jsonl").read_text().splitlines()]
    assert [line["status"] for line in lines if "status" in line][-1:] == ["skipped"]
