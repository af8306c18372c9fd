"""WavTokenizer codec: released key layout, parity with the reference on the golden case, lengths, batching,
the inverse STFT, configs (json / release yaml / defaults) and strict loading of safetensors and Lightning
checkpoints."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from engine.errors import ModelLoadError
from engine.models.wavtokenizer import RELEASED_CONFIG, WavTokenizerCodec, load_model, read_config
from engine.models.wavtokenizer.vocos import istft_same
from tests.conftest import GOLDEN

GOLDEN_DIR = GOLDEN / "wavtokenizer"
WEIGHTS = GOLDEN_DIR / "tiny_0.safetensors"
CONFIG = GOLDEN_DIR / "config_0.json"


@pytest.fixture(scope="module")
def codec() -> WavTokenizerCodec:
    return load_model(WEIGHTS, CONFIG)


@pytest.fixture(scope="module")
def case() -> dict[str, np.ndarray]:
    return dict(np.load(GOLDEN_DIR / "case_0.npz"))


def test_released_definition_has_the_released_keys_and_shapes():
    with torch.device("meta"):
        codec = WavTokenizerCodec(read_config(None))
    own = {name: list(t.shape) for name, t in codec.state_dict().items()}
    expected = json.loads((GOLDEN_DIR / "keys_release.json").read_text())
    assert own == expected
    assert sum(math.prod(shape) for shape in own.values()) == 84_752_101


def test_golden_case_matches_the_reference(codec, case):
    wav = torch.from_numpy(case["wav_24k"])[None]
    with torch.no_grad():
        encoder_out = codec.encoder(wav[:, None])
    codes = codec.encode(wav)
    features = codec.codes_to_features(codes)
    with torch.no_grad():
        backbone_out = codec.backbone(features, 0)
    audio = codec.decode(codes)

    assert codes.dtype == torch.int64 and codes.shape == (1, 1, 113)
    assert torch.equal(codes, torch.from_numpy(case["codes"]))
    np.testing.assert_allclose(encoder_out.numpy(), case["encoder_out"], atol=1e-4, rtol=1e-4)
    np.testing.assert_allclose(features.numpy(), case["features"], atol=1e-6, rtol=0)
    np.testing.assert_allclose(backbone_out.numpy(), case["backbone_out"], atol=1e-4, rtol=1e-4)
    assert audio.shape == (1, 36160)
    np.testing.assert_allclose(audio.numpy(), case["audio_out"], atol=1e-5, rtol=0)


@pytest.mark.parametrize("samples", [1, 319, 321, 4801])
def test_any_length_gives_ceil_frames_and_whole_hops_back(codec, case, samples):
    codes = codec.encode(torch.from_numpy(case["wav_24k"][3000:3000 + samples])[None])
    frames = math.ceil(samples / 320)
    assert codes.shape == (1, 1, frames)
    audio = codec.decode(codes)
    assert audio.shape == (1, frames * 320)
    assert torch.isfinite(audio).all()


def test_a_batch_equals_its_items_alone(codec, case):
    wav = torch.from_numpy(case["wav_24k"])
    batch = torch.stack((wav[:12000], wav[20000:32000]))
    codes = codec.encode(batch)
    alone = [codec.encode(item[None]) for item in batch]
    assert not torch.equal(alone[0], alone[1])
    assert torch.equal(codes, torch.cat(alone))
    audio = codec.decode(codes)
    for row, item in zip(audio, alone):
        torch.testing.assert_close(row, codec.decode(item)[0], atol=1e-6, rtol=1e-5)


def test_same_padding_istft_inverts_a_same_padded_stft():
    """Analysis with "same" padding followed by istft_same gives the signal back, every sample of it."""
    n_fft, hop, frames = 1280, 320, 9
    signal = torch.randn(2, frames * hop, dtype=torch.float64)
    window = torch.hann_window(n_fft, dtype=torch.float64)
    pad = (n_fft - hop) // 2
    spec = torch.stft(torch.nn.functional.pad(signal, (pad, pad)), n_fft, hop, window=window, center=False,
                      return_complex=True)
    assert spec.shape[-1] == frames
    torch.testing.assert_close(istft_same(spec, window, hop), signal, atol=1e-10, rtol=0)


def test_decode_refuses_bad_codes(codec):
    with pytest.raises(ValueError, match="0..4095"):
        codec.decode(torch.full((1, 1, 5), 4096))
    with pytest.raises(ValueError, match="integer"):
        codec.decode(torch.zeros(1, 1, 5))
    with pytest.raises(ValueError, match="1..1 codebooks"):
        codec.decode(torch.zeros(1, 2, 5, dtype=torch.long))
    with pytest.raises(ValueError, match="samples"):
        codec.encode(torch.zeros(100))


def _saved(tmp_path, tensors, name="codec.safetensors"):
    path = tmp_path / name
    save_file({k: v.contiguous() for k, v in tensors.items()}, str(path))
    return path


def test_missing_unexpected_and_wrong_shape_keys_are_named(tmp_path):
    tensors = load_file(str(WEIGHTS))
    del tensors["head.out.bias"]
    tensors["backbone.convnext.7.gamma"] = torch.ones(96)
    embed = "feature_extractor.encodec.quantizer.vq.layers.0._codebook.embed"
    tensors[embed] = tensors[embed][:100]
    path = _saved(tmp_path, tensors)
    with pytest.raises(ModelLoadError) as error:
        load_model(path, CONFIG)
    message = str(error.value)
    assert str(path) in message
    assert "missing in checkpoint (1): head.out.bias" in message
    assert "unexpected in checkpoint (1): backbone.convnext.7.gamma" in message
    assert f"{embed}: checkpoint (100, 64) vs model (4096, 64)" in message


def test_a_file_without_codec_weights_is_refused(tmp_path):
    path = _saved(tmp_path, {"generator.weight": torch.ones(3)})
    with pytest.raises(ModelLoadError, match="no WavTokenizer weights.*generator"):
        load_model(path, CONFIG)


def test_an_uninitialised_codebook_is_refused(tmp_path):
    tensors = load_file(str(WEIGHTS))
    tensors["feature_extractor.encodec.quantizer.vq.layers.0._codebook.inited"] = torch.zeros(1)
    with pytest.raises(ModelLoadError, match="never initialised"):
        load_model(_saved(tmp_path, tensors), CONFIG)


def test_lightning_checkpoint_loads_the_codec_and_drops_training_state(tmp_path, case, caplog):
    tensors = load_file(str(WEIGHTS))
    training_only = {
        "multiperioddisc.discriminators.0.convs.0.weight_v": torch.randn(32, 1, 5, 1),
        "multiresddisc.discriminators.0.emb.weight": torch.randn(4, 32),
        "dac.discriminators.0.convs.0.bias": torch.randn(16),
        "melspec_loss.mel_spec.mel_scale.fb": torch.randn(513, 100),
    }
    checkpoint = {
        "epoch": 3, "global_step": 12000, "pytorch-lightning_version": "1.8.6",
        "state_dict": {**tensors, **training_only},
        "optimizer_states": [{"state": {0: {"exp_avg": torch.zeros(8)}}, "param_groups": [{"lr": 2e-4}]}],
        "hyper_parameters": {"sample_rate": 24000, "initial_learning_rate": 2e-4, "mel_loss_coeff": 45,
                             "resume_config": "configs/x.yaml", "evaluate_utmos": True},
    }
    path = tmp_path / "wavtokenizer_medium_speech_320_24k.ckpt"
    torch.save(checkpoint, path)
    with caplog.at_level("INFO", logger="engine.models.wavtokenizer"):
        codec = load_model(path, CONFIG)
    assert "dac, melspec_loss, multiperioddisc, multiresddisc" in caplog.text
    codes = codec.encode(torch.from_numpy(case["wav_24k"])[None])
    assert torch.equal(codes, torch.from_numpy(case["codes"]))


RELEASE_YAML = """\
seed_everything: 3407
data:
  class_path: decoder.dataset.VocosDataModule
  init_args:
    train_params: {filelist_path: ./data/train, sampling_rate: 24000, num_samples: 72000, batch_size: 40}
model:
  class_path: decoder.experiment.WavTokenizer
  init_args:
    sample_rate: 24000
    initial_learning_rate: 2e-4
    mel_loss_coeff: 45
    resume: false
    feature_extractor:
      class_path: decoder.feature_extractors.EncodecFeatures
      init_args:
        encodec_model: encodec_24khz
        bandwidths: [6.6, 6.6, 6.6, 6.6]
        train_codebooks: true
        num_quantizers: 1
        dowmsamples: [8, 5, 4, 2]
        vq_bins: 4096
        vq_kmeans: 200
    backbone:
      class_path: decoder.models.VocosBackbone
      init_args:
        input_channels: 512
        dim: 768
        intermediate_dim: 2304
        num_layers: 12
        adanorm_num_embeddings: 4
    head:
      class_path: decoder.heads.ISTFTHead
      init_args:
        dim: 768
        n_fft: 1280
        hop_length: 320
        padding: same
trainer:
  callbacks:
    - class_path: pytorch_lightning.callbacks.LearningRateMonitor
  max_steps: 2000000
"""


def test_release_yaml_gives_the_released_defaults(tmp_path):
    path = tmp_path / "wavtokenizer_mediumdata_frame75_3s_nq1_code4096_dim512_kmeans200_attn.yaml"
    path.write_text(RELEASE_YAML)
    assert read_config(path) == RELEASED_CONFIG
    assert read_config(None) == RELEASED_CONFIG


def test_yaml_is_read_as_plain_data_only(tmp_path):
    path = tmp_path / "hostile.yaml"
    marker = tmp_path / "ran"
    path.write_text(f"model: !!python/object/apply:os.system ['touch {marker}']\n")
    with pytest.raises(ModelLoadError, match="hostile.yaml: not a readable WavTokenizer config"):
        read_config(path)
    assert not marker.exists()


def test_config_from_json_file_and_mapping_agree():
    from_file = read_config(CONFIG)
    assert from_file == read_config(json.loads(CONFIG.read_text()))
    assert (from_file.seanet.n_filters, from_file.seanet.dimension, from_file.backbone_dim,
            from_file.num_layers) == (8, 64, 96, 2)


@pytest.mark.parametrize("edit, problem", [
    (lambda c: c["init_args"]["head"]["init_args"].update(hop_length=256), "downsamples by 320"),
    (lambda c: c["init_args"]["backbone"]["init_args"].update(input_channels=512), "input_channels 512"),
    (lambda c: c["init_args"]["head"]["init_args"].update(padding="center"), "padding 'center'"),
    (lambda c: c["init_args"]["backbone"].update(class_path="decoder.models.VocosResNetBackbone"),
     "only VocosBackbone"),
    (lambda c: c["seanet_fixed"].update(causal=True), "causal True"),
    (lambda c: c.pop("init_args"), "init_args is missing"),
])
def test_unusable_configs_are_refused_with_the_reason(edit, problem):
    config = json.loads(CONFIG.read_text())
    edit(config)
    with pytest.raises(ModelLoadError, match=problem):
        read_config(config)


def test_loading_new_weight_norm_tensors_refolds_the_convolutions():
    codec = load_model(WEIGHTS, CONFIG)
    conv = codec.encoder.model[0].conv["conv"]
    before = conv.weight.clone()
    state = codec.state_dict()
    name = "feature_extractor.encodec.encoder.model.0.conv.conv.weight_g"
    state[name] = state[name] * 2
    codec.load_state_dict(state)
    torch.testing.assert_close(conv.weight, 2 * before)
