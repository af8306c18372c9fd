"""The shipped catalog is complete and consistent; broken catalogs are refused with the file named."""

from __future__ import annotations

import re

import pytest

from engine.errors import BadInputError
from engine.models.catalog import CATALOG_PATH, SOURCE_KINDS, default_catalog, read_catalog

EXPECTED_IDS = {"whisper-base", "faster-whisper-tiny", "faster-whisper-small", "faster-whisper-medium",
                "faster-whisper-large-v2", "faster-whisper-large-v3", "mossformer2-ss-16k", "mossformer2-ss-8k",
                "mossformer2-ss-8k-3spk", "hdemucs-high", "lina-speech-gigaspeech", "wavtokenizer-medium-speech",
                "lina-speech-tokenizer", "seed-vc-v1", "whisper-small-encoder", "campplus-cn-common",
                "bigvgan-v2-22khz-80band", "wavlm-large", "wavlm-base-plus"}


def test_every_entry_has_what_the_store_and_the_user_need():
    catalog = default_catalog()
    assert {entry.id for entry in catalog} == EXPECTED_IDS
    for entry in catalog:
        assert re.fullmatch(r"[a-z0-9][a-z0-9.-]+", entry.id), entry.id
        assert entry.name and entry.task and entry.family and entry.licence.strip()
        assert entry.source.kind in SOURCE_KINDS
        assert entry.sample_rate in (8000, 16000, 22050, 24000, 44100)
        assert entry.memory_mb > 0 and entry.size > 0
        names = [f.name for f in entry.files]
        assert len(names) == len(set(names)), entry.id
        for spec in entry.files:
            assert spec.size > 0
            assert spec.sha256 is None or re.fullmatch(r"[0-9a-f]{64}", spec.sha256)
        if entry.source.kind == "huggingface":
            assert re.fullmatch(r"[\w.-]+/[\w.-]+", entry.source.repo) and entry.source.revision


def test_family_loaders_find_their_architecture_values():
    catalog = default_catalog()
    assert dict(catalog["mossformer2-ss-16k"].config) == {
        "num_spks": 2, "encoder_kernel_size": 16, "encoder_embedding_dim": 512, "mossformer_sequence_dim": 512,
        "num_mossformer_layer": 24, "decode_window_s": 2.0}
    assert catalog["mossformer2-ss-8k-3spk"].config["num_spks"] == 3
    assert catalog["mossformer2-ss-8k"].sample_rate == 8000
    assert catalog["hdemucs-high"].source.url.startswith("https://download.pytorch.org/torchaudio/")
    assert "non-commercial" in catalog["lina-speech-gigaspeech"].licence
    embedded = catalog["whisper-base"]
    assert embedded.source.kind == "pypi" and all(spec.sha256 and spec.parts for spec in embedded.files)
    assert embedded.size == 145217532 + 2309 + 2203239 + 459861


def test_catalog_is_found_at_the_packaged_path():
    assert CATALOG_PATH.name == "catalog.toml" and CATALOG_PATH.parent.name == "resources"
    assert len(read_catalog(CATALOG_PATH)) == len(EXPECTED_IDS)


@pytest.mark.parametrize("body, problem", [
    ('[[model]]\nid = "x"\n', "lacks name, task, family, licence"),
    ('[[model]]\nid="x"\nname="x"\ntask="t"\nfamily="f"\nlicence="MIT"\nsample_rate=1\nmemory_mb=1\n'
     'source={kind="ftp"}\nfiles=[{name="a", size=1}]\n', "source kind must be one of"),
    ('[[model]]\nid="x"\nname="x"\ntask="t"\nfamily="f"\nlicence="MIT"\nsample_rate=1\nmemory_mb=1\n'
     'source={kind="import"}\nfiles=[{name="a", size=0}]\n', "positive size"),
    ('[[model]]\nid="x"\nname="x"\ntask="t"\nfamily="f"\nlicence="MIT"\nsample_rate=1\nmemory_mb=1\n'
     'source={kind="import"}\nfiles=[{name="a", size=1}]\n' * 2, "appears twice"),
    ("[[model]\n", "cannot read the model catalog"),
])
def test_broken_catalogs_are_refused_naming_the_file(tmp_path, body, problem):
    path = tmp_path / "bad.toml"
    path.write_text(body)
    with pytest.raises(BadInputError, match=re.escape(problem)) as caught:
        read_catalog(path)
    assert str(path) in str(caught.value)
