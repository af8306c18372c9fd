"""WavLM through the model store: a small random WavLM saved the way microsoft/wavlm-base-plus is published
(``config.json``, ``preprocessor_config.json``, a ``pytorch_model.bin`` state dict whose positional
convolution keeps its weight-norm pair ``weight_g``/``weight_v``) installs under a catalog id of the
``wavlm`` family and loads through :func:`engine.models.loading.load_catalog_model`, giving the features of
the model it was saved from; StableVC's config names it by that id."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from engine.errors import ModelLoadError
from engine.models import loading
from engine.models.cache import model_cache
from engine.models.catalog import default_catalog, read_catalog
from engine.models.install.importer import import_path
from engine.models.store import ModelStore
from engine.models.wavlm import WavLMContent

CATALOG = """
[[model]]
id = "tiny-wavlm"
name = "Tiny WavLM"
task = "content-encoder"
family = "wavlm"
licence = "MIT"
sample_rate = 16000
memory_mb = 1
[model.source]
kind = "import"
hint = "a random WavLM in the official file layout"
[[model.files]]
name = "pytorch_model.bin"
size = 1
size_exact = false
[[model.files]]
name = "config.json"
size = 1
size_exact = false
[[model.files]]
name = "preprocessor_config.json"
size = 1
size_exact = false
"""


def save_official_layout(folder: Path) -> torch.nn.Module:
    """A random WavLM written as the Hub's microsoft/wavlm-* folders hold it; the model itself."""
    from transformers import WavLMConfig, WavLMModel

    torch.manual_seed(0)
    config = WavLMConfig(hidden_size=32, num_hidden_layers=3, num_attention_heads=2, intermediate_size=64,
                         conv_dim=(16,) * 7, num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=2,
                         num_buckets=16, max_bucket_distance=100, do_stable_layer_norm=True,
                         feat_extract_norm="layer")
    model = WavLMModel(config).eval()
    folder.mkdir(parents=True)
    config.to_json_file(str(folder / "config.json"))
    (folder / "preprocessor_config.json").write_text(json.dumps(
        {"do_normalize": True, "feature_extractor_type": "Wav2Vec2FeatureExtractor", "feature_size": 1,
         "padding_side": "right", "padding_value": 0.0, "return_attention_mask": True, "sampling_rate": 16000}))
    renames = {"parametrizations.weight.original0": "weight_g", "parametrizations.weight.original1": "weight_v"}
    state = {}
    for name, tensor in model.state_dict().items():
        for new, old in renames.items():
            name = name.replace(new, old)
        state[name] = tensor.clone()
    assert any(name.endswith("weight_g") for name in state)
    torch.save(state, folder / "pytorch_model.bin")
    return model


@pytest.fixture
def store(tmp_path) -> ModelStore:
    catalog = tmp_path / "catalog.toml"
    catalog.write_text(CATALOG)
    return ModelStore(tmp_path / "models", read_catalog(catalog))


def test_official_layout_loads_through_the_store_and_reads_the_chosen_layer(store, tmp_path):
    reference = save_official_layout(tmp_path / "download")
    import_path(store, "tiny-wavlm", tmp_path / "download")
    wave = np.random.default_rng(0).standard_normal(16000).astype(np.float32) * 0.1
    normalised = torch.from_numpy((wave - wave.mean()) / np.sqrt(wave.var() + 1e-7))
    with torch.no_grad():
        expected = reference(normalised[None], output_hidden_states=True).hidden_states
    try:
        for layer in (1, 2):
            content = loading.load_catalog_model("tiny-wavlm", device="cpu", store=store, layer=layer)
            assert isinstance(content, WavLMContent) and content.layer == layer and content.normalize
            assert loading.load_catalog_model("tiny-wavlm", device="cpu", store=store, layer=layer) is content
            features = content.features(wave)
            assert features.shape == (50, 32)
            torch.testing.assert_close(features[:49], expected[layer][0], atol=1e-5, rtol=1e-5)
        last = loading.load_catalog_model("tiny-wavlm", device="cpu", store=store)
        assert last.layer == 3
    finally:
        model_cache.clear()


def test_stablevc_names_its_content_encoder_by_catalog_id_or_folder(store, tmp_path, monkeypatch):
    from engine.models.stablevc import RECOMMENDED
    from engine.models.stablevc.features import content_encoder

    save_official_layout(tmp_path / "download")
    import_path(store, "tiny-wavlm", tmp_path / "download")
    monkeypatch.setattr("engine.models.loading.default_store", lambda: store)
    try:
        by_id = content_encoder("tiny-wavlm", 2)
        by_folder = content_encoder(str(store.resolve("tiny-wavlm").folder), 2)
        wave = np.random.default_rng(1).standard_normal(8000).astype(np.float32) * 0.1
        torch.testing.assert_close(by_id.features(wave), by_folder.features(wave))
    finally:
        model_cache.clear()
    # The recommended recipe's encoder is a catalog entry fetched from the official Hub repository.
    entry = default_catalog()[RECOMMENDED.content_encoder]
    assert entry.family == "wavlm" and entry.source.kind == "huggingface"
    assert entry.source.repo == "microsoft/wavlm-large"
    assert {"config.json", "pytorch_model.bin"} <= {spec.name for spec in entry.files}
    assert default_catalog()["wavlm-base-plus"].source.repo == "microsoft/wavlm-base-plus"


def test_a_folder_without_weights_is_refused_clearly(tmp_path):
    from engine.models.wavlm import load_model

    save_official_layout(tmp_path / "w")
    (tmp_path / "w" / "pytorch_model.bin").unlink()
    with pytest.raises(ModelLoadError, match="no WavLM weights"):
        load_model(tmp_path / "w")
    with pytest.raises(ModelLoadError, match="config.json missing"):
        load_model(tmp_path)
