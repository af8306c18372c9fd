"""The model-family convention: every catalog family has a loader, family packages stay free of the store,
tasks get their models through engine.models.loading, and separators run on the task's device."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch

from engine.audio.clip import Clip
from engine.jobs import CancelToken, null_progress
from engine.models import loading
from engine.models.cache import model_cache
from engine.models.catalog import default_catalog, read_catalog
from engine.models.install.importer import import_path
from engine.models.mossformer2 import MossFormer2
from engine.models.store import ModelStore
from engine.tasks.lyrics import LyricsSettings, Segmentation, transcribe_lyrics
from tests.conftest import GOLDEN, REPO

FAMILY_PACKAGES = ("mossformer2", "hdemucs", "whisper_ct2", "lina", "wavtokenizer", "campplus", "bigvgan", "wavlm")


def test_every_catalog_family_has_a_loader():
    for family in sorted({entry.family for entry in default_catalog()}):
        assert callable(loading.family_loader(family).load_installed), family


def test_family_packages_never_import_the_store():
    code = ("import sys\n"
            f"for name in {FAMILY_PACKAGES!r}:\n"
            "    __import__('engine.models.' + name)\n"
            "    __import__('engine.models.' + name + '.loader')\n"
            "print(sorted(m for m in sys.modules if m.startswith('engine.models.store') or m.startswith('engine.models.install')))\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_a_catalog_mossformer2_loads_through_its_family_loader(tmp_path):
    catalog = tmp_path / "catalog.toml"
    catalog.write_text("""
[[model]]
id = "tiny-ss"
name = "Tiny MossFormer2"
task = "separate"
family = "mossformer2"
licence = "MIT"
sample_rate = 8000
memory_mb = 1
[model.source]
kind = "import"
hint = "the golden tiny checkpoint"
[[model.files]]
name = "tiny.safetensors"
size = 1
size_exact = false
[model.config]
num_spks = 2
encoder_kernel_size = 16
encoder_embedding_dim = 512
mossformer_sequence_dim = 512
num_mossformer_layer = 2
""")
    store = ModelStore(tmp_path / "models", read_catalog(catalog))
    import_path(store, "tiny-ss", GOLDEN / "mossformer2" / "tiny_0.safetensors", link=True)
    try:
        model = loading.load_catalog_model("tiny-ss", device="cpu", store=store)
        assert isinstance(model, MossFormer2) and model.num_speakers == 2
        assert loading.load_catalog_model("tiny-ss", device="cpu", store=store) is model
        local = loading.load_local_model("mossformer2", GOLDEN / "mossformer2" / "tiny_0.safetensors", device="cpu")
        assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), local.state_dict().values()))
    finally:
        model_cache.clear()


class Doubler(torch.nn.Module):
    """Stands in for Hybrid Demucs: every source is twice the mix."""

    sources = ["drums", "bass", "other", "vocals"]

    def __init__(self):
        super().__init__()
        self.scale = torch.nn.Parameter(torch.tensor(2.0))

    def forward(self, mix):
        return (mix * self.scale)[:, None].expand(-1, 4, -1, -1)


class StopAfterSeparation(Exception):
    pass


@pytest.mark.parametrize("device", ["cpu", "auto"])
def test_the_lyrics_separator_runs_on_the_settings_device(monkeypatch, device):
    from engine.tasks.lyrics import transcribe
    from engine.tasks.separators import hdemucs as hdemucs_separator

    asked = []
    monkeypatch.setattr(hdemucs_separator, "load_catalog_model",
                        lambda model_id, device: asked.append((model_id, device)) or Doubler())

    def stop(*args, **kwargs):
        raise StopAfterSeparation

    monkeypatch.setattr(transcribe, "load_catalog_or_local", stop)
    clip = Clip(np.full((1, 8000), 0.1, dtype=np.float32), 16000)
    settings = LyricsSettings(device=device, separator="hdemucs", segmentation=Segmentation.RMS_VAD)
    with pytest.raises(StopAfterSeparation):
        transcribe_lyrics(clip, settings, null_progress(), CancelToken())
    assert asked == [("hdemucs-high", device)]
