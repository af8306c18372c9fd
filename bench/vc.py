"""Voice conversion speed and memory with the released model sizes (random weights, so nothing to download).

    .venv/bin/python bench/vc.py [--seconds 10] [--steps 4 10 25] [--device cpu cuda] [--precision fp16 bf16]
                                 [--memory 10 60] [--reference] [--threads N]

* RTF (processing time / audio time) of the whole conversion (Whisper-small encoder, 98M-parameter DiT with
  CFG 0.7, BigVGAN v2 22 kHz) for each step count, and each count's time relative to the fewest steps.
* StableVC beside it (``--stablevc``, on by default): the documented recommended size (122M-parameter dual-attention
  DiT with timbre and style guidance, WavLM-large layer 6, CAM++, the same BigVGAN), random weights, the same
  source, timbre and step counts; its RTF and its time relative to Seed-VC's at the same step count.
* ``--memory``: the peak resident memory a conversion adds over the loaded models, per source length, in a
  fresh process each (flat in the source length means the chunking works), relative to the shortest.
* ``--reference``: Seed-VC 0.4.3's own DiT/CFM (``seed_vc.modules``, installed by the user; never a
  dependency of Vocalis) on the same weights, inputs and noise in the same run: its time, ours, the speed
  ratio and the largest mel difference.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.audio.clip import Clip  # noqa: E402
from engine.models.bigvgan import BigVGAN, BigVGANConfig  # noqa: E402
from engine.models.campplus import CAMPPlus  # noqa: E402
from engine.models.seedvc import OFFLINE, SeedVC, checkpoint_layout  # noqa: E402
from engine.models.whisper_encoder import WhisperContentEncoder  # noqa: E402
from engine.tasks.vc import VCSettings, VoiceModels, convert_voice  # noqa: E402

BIGVGAN_22K = {"resblock": "1", "upsample_rates": [4, 4, 2, 2, 2, 2], "upsample_kernel_sizes": [8, 8, 4, 4, 4, 4],
               "upsample_initial_channel": 1536, "resblock_kernel_sizes": [3, 7, 11],
               "resblock_dilation_sizes": [[1, 3, 5], [1, 3, 5], [1, 3, 5]], "activation": "snakebeta",
               "snake_logscale": True, "use_tanh_at_final": False, "use_bias_at_final": False, "num_mels": 80,
               "sampling_rate": 22050, "hop_size": 256}
WHISPER_SMALL = dict(d_model=768, encoder_layers=12, encoder_attention_heads=12, encoder_ffn_dim=3072,
                     decoder_layers=1, decoder_attention_heads=12, decoder_ffn_dim=3072, num_mel_bins=80)
TIMBRE_SECONDS = 6.0
WAVLM_LARGE = dict(hidden_size=1024, num_hidden_layers=24, num_attention_heads=16, intermediate_size=4096,
                   do_stable_layer_norm=True, feat_extract_norm="layer", conv_bias=True)


def random_models(device: torch.device, dtype: torch.dtype) -> VoiceModels:
    from transformers import WhisperConfig, WhisperFeatureExtractor
    from transformers.models.whisper.modeling_whisper import WhisperEncoder

    torch.manual_seed(0)
    config = WhisperConfig(**WHISPER_SMALL)
    config._attn_implementation = "sdpa"
    content = WhisperContentEncoder(WhisperEncoder(config), WhisperFeatureExtractor(feature_size=80))
    return VoiceModels(dit=SeedVC(OFFLINE).eval().to(device, dtype),
                       content=content.eval().to(device, dtype),
                       speaker=CAMPPlus().eval().fold_batchnorms().to(device),
                       vocoder=BigVGAN(BigVGANConfig.from_dict(BIGVGAN_22K)).eval().to(device))


def stablevc_models(device: torch.device, dtype: torch.dtype, speaker: CAMPPlus, vocoder: BigVGAN):
    """The recommended StableVC with random weights and a random WavLM-large (cut after the used layer)."""
    from transformers import WavLMConfig, WavLMModel

    from engine.models.stablevc import RECOMMENDED, StableVC
    from engine.models.stablevc.convert import RunModels
    from engine.models.wavlm import WavLMContent

    torch.manual_seed(0)
    content = WavLMContent(WavLMModel(WavLMConfig(**WAVLM_LARGE)), RECOMMENDED.content_layer, normalize=True)
    model = StableVC(RECOMMENDED, WAVLM_LARGE["hidden_size"])
    model.centroids.normal_()
    return RunModels(model=model.eval().to(device, dtype), content=content.to(device, dtype), speaker=speaker,
                     vocoder=vocoder)


def voice(seconds: float, seed: int) -> Clip:
    """A harmonic, syllable-modulated signal: speech-like enough for timing (the content does not matter)."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * 22050)) / 22050
    pitch = 120 + 30 * np.sin(2 * np.pi * 0.7 * t)
    phase = 2 * np.pi * np.cumsum(pitch) / 22050
    wave = sum(np.sin(k * phase) / k for k in range(1, 12)) * (0.5 + 0.5 * np.sin(2 * np.pi * 4 * t)) ** 2
    wave = 0.2 * wave + 0.01 * rng.standard_normal(t.size)
    return Clip(wave.astype(np.float32)[None], 22050)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def rtf_table(args: argparse.Namespace) -> None:
    for device_name in args.device:
        device = torch.device(device_name)
        precisions = ["fp32"] if device.type == "cpu" else args.precision
        for precision in precisions:
            dtype = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}[precision]
            models = random_models(device, dtype)
            source, timbre = voice(args.seconds, 1), voice(TIMBRE_SECONDS, 2)
            convert_voice(source, timbre, VCSettings(steps=1, device=device_name), models=models)  # warm-up
            stable = None
            if args.stablevc:
                from engine.models.stablevc.convert import convert

                stable = stablevc_models(device, dtype, models.speaker, models.vocoder)
                style = voice(TIMBRE_SECONDS, 3)
                convert(source, timbre, style, stable, steps=1, rhythm="source")  # warm-up
            first = None
            for steps in args.steps:
                sync(device)
                start = time.perf_counter()
                convert_voice(source, timbre, VCSettings(steps=steps, device=device_name), models=models)
                sync(device)
                elapsed = time.perf_counter() - start
                first = first or elapsed
                print(f"{device_name:5s} {precision:4s} {steps:3d} steps  {args.seconds:5.1f} s source  "
                      f"RTF {elapsed / args.seconds:7.3f}  ({elapsed / first:5.2f}x the {args.steps[0]}-step time)",
                      flush=True)
                if stable is not None:
                    sync(device)
                    start = time.perf_counter()
                    out = convert(source, timbre, style, stable, steps=steps, rhythm="source")
                    sync(device)
                    stable_elapsed = time.perf_counter() - start
                    seconds = out.duration  # the source's rhythm: as long as the source, like Seed-VC's output
                    print(f"{device_name:5s} {precision:4s} {steps:3d} steps  {args.seconds:5.1f} s source  "
                          f"StableVC RTF {stable_elapsed / args.seconds:7.3f} ({seconds:.1f} s out)  "
                          f"{stable_elapsed / elapsed:5.2f}x the Seed-VC time", flush=True)


def memory_child(seconds: float) -> None:
    """Runs in a fresh process: convert once, print the peak RSS added over the loaded models (MB)."""
    torch.set_num_threads(max(1, torch.get_num_threads()))
    models = random_models(torch.device("cpu"), torch.float32)
    source, timbre = voice(seconds, 1), voice(TIMBRE_SECONDS, 2)
    convert_voice(voice(2.0, 3), timbre, VCSettings(steps=1, device="cpu"), models=models)  # warm-up caches
    Path("/proc/self/clear_refs").write_text("5")  # reset the peak (VmHWM) to the current RSS
    before = _status_kb("VmRSS")
    convert_voice(source, timbre, VCSettings(steps=1, cfg=0.7, device="cpu"), models=models)
    print(json.dumps({"seconds": seconds, "added_mb": (_status_kb("VmHWM") - before) / 1024}))


def _status_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def memory_table(args: argparse.Namespace) -> None:
    results = []
    for seconds in args.memory:
        done = subprocess.run([sys.executable, __file__, "--memory-child", str(seconds), "--threads", str(args.threads)],
                              capture_output=True, text=True, check=True)
        results.append(json.loads(done.stdout.strip().splitlines()[-1]))
    base = results[0]["added_mb"]
    for result in results:
        print(f"memory  {result['seconds']:5.1f} s source  +{result['added_mb']:8.1f} MB peak over the loaded models "
              f"({result['added_mb'] / base:5.2f}x the {results[0]['seconds']:.0f} s source)", flush=True)


def checkpoint_tensors(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    """``module``'s state dict in the official layout (weight-normed layers as ``weight_g``/``weight_v``)."""
    layout = checkpoint_layout(module)
    state = module.state_dict()
    out = {}
    for name, shape in layout.items():
        if name.endswith(".weight_g"):
            weight = state[name[:-len("_g")]]
            out[name] = torch.linalg.vector_norm(weight, dim=tuple(range(1, weight.ndim)), keepdim=True)
        elif name.endswith(".weight_v"):
            out[name] = state[name[:-len("_v")]].clone()
        else:
            out[name] = state[name]
    return out


def reference_comparison(args: argparse.Namespace) -> None:
    """Our DiT/CFM against Seed-VC 0.4.3's on the same random weights, inputs and noise (CPU, float32)."""
    try:
        from seed_vc.modules.commons import build_model, recursive_munch
    except ImportError as exc:
        print(f"--reference needs seed-vc 0.4.3 importable (pip install seed-vc==0.4.3 in another environment "
              f"and put it on PYTHONPATH): {exc}")
        return
    import yaml

    preset = Path(sys.modules["seed_vc"].__file__).parent / "configs" / "presets" / \
        "config_dit_mel_seed_uvit_whisper_small_wavenet.yml"
    params = recursive_munch(yaml.safe_load(preset.read_text())["model_params"])
    reference = build_model(params, stage="DiT")
    ours = SeedVC(OFFLINE).eval()
    torch.manual_seed(0)
    with torch.no_grad():
        for parameter in ours.parameters():
            parameter.add_(0.02 * torch.randn_like(parameter))
    for name in ("cfm", "length_regulator"):
        reference[name].load_state_dict(checkpoint_tensors(getattr(ours, name)), strict=False)
        reference[name].eval()
    reference.cfm.estimator.setup_caches(max_batch_size=1, max_seq_length=8192)
    rate = 22050 // 256
    prompt_frames, source_frames = int(TIMBRE_SECONDS * rate), int(args.seconds * rate)
    generator = torch.Generator().manual_seed(3)
    mu = torch.randn(1, prompt_frames + source_frames, OFFLINE.hidden_dim, generator=generator)
    prompt = torch.randn(1, 80, prompt_frames, generator=generator) - 5
    style = torch.randn(1, 192, generator=generator) * 10
    lengths = torch.tensor([prompt_frames + source_frames])

    def run_reference(steps: int) -> torch.Tensor:
        torch.manual_seed(7)
        with torch.inference_mode():
            return reference.cfm.inference(mu, lengths, prompt, style, None, steps, inference_cfg_rate=0.7)

    def run_ours(steps: int) -> torch.Tensor:
        torch.manual_seed(7)  # the reference draws its noise right after seeding, the same way
        return ours.sample(mu, prompt, style, torch.randn(1, 80, mu.shape[1]), steps, 0.7)

    run_reference(1), run_ours(1)  # warm-up
    for steps in args.steps:
        best = {"seed-vc": float("inf"), "vocalis": float("inf")}
        outputs = {}
        for _ in range(args.rounds):  # interleaved, best of each: a shared machine's load hits both alike
            for name, fn in (("seed-vc", run_reference), ("vocalis", run_ours)):
                start = time.perf_counter()
                outputs[name] = fn(steps)
                best[name] = min(best[name], time.perf_counter() - start)
        difference = (outputs["seed-vc"] - outputs["vocalis"]).abs().max().item()
        print(f"reference DiT/CFM {steps:3d} steps  {args.seconds:5.1f} s source  seed-vc {best['seed-vc']:7.2f} s  "
              f"vocalis {best['vocalis']:7.2f} s  speed-up {best['seed-vc'] / best['vocalis']:5.2f}x  "
              f"max |mel diff| {difference:.2e}  (best of {args.rounds}, interleaved)", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10.0, help="source length for the RTF table")
    parser.add_argument("--steps", type=int, nargs="+", default=[4, 10, 25])
    parser.add_argument("--device", nargs="+", default=["cpu"] + (["cuda"] if torch.cuda.is_available() else []))
    parser.add_argument("--precision", nargs="+", default=["fp16", "bf16"], help="GPU precisions")
    parser.add_argument("--memory", type=float, nargs="*", default=None, help="source lengths (s) for the memory table")
    parser.add_argument("--reference", action="store_true", help="compare the DiT/CFM with seed-vc 0.4.3's")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--rounds", type=int, default=3, help="interleaved repetitions of the reference comparison")
    parser.add_argument("--skip-rtf", action="store_true")
    parser.add_argument("--stablevc", action=argparse.BooleanOptionalAction, default=True,
                        help="time StableVC (recommended size) beside Seed-VC in the RTF table")
    parser.add_argument("--memory-child", type=float, help=argparse.SUPPRESS)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    if args.memory_child is not None:
        memory_child(args.memory_child)
        return
    if args.reference:
        reference_comparison(args)
    if not args.skip_rtf:
        rtf_table(args)
    if args.memory:
        memory_table(args)


if __name__ == "__main__":
    main()
