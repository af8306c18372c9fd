"""StableVC's training recipe: a folder of speech files (any layout) → a run folder (:mod:`.run`).

1. **Features** (resumable): every clip's WavLM layer, log-mel, style frames and CAM++ embedding, cached as
   one safetensors file per clip under ``features/``; clips already cached are skipped, unreadable ones are
   reported and left out.
2. **K-means** over (a sample of) the cached WavLM frames → ``kmeans.safetensors``; the data's log-mel mean and
   deviation go into the run's config.
3. **Training**: each example is a segment of one clip (the target, at most ``segment_frames``), the timbre
   reference is the rest of the same clip on the other side of a random split (so the timbre branch cannot
   copy the target's frames), the style frames and speaking rate are the target's own. Loss: the CFM loss on
   the optimal-transport path with timbre and style dropped independently (classifier-free guidance), plus
   ``duration_weight`` × the duration loss. AdamW, linear warm-up, gradient clipping at 1, EMA of the
   weights (what ``model.safetensors`` holds), bf16 autocast on CUDA. Checkpoints every
   ``checkpoint_every`` steps and at the end; ``resume`` continues bit-for-bit from ``state.pt``. Losses go to
   ``log.csv`` (and to TensorBoard when it is installed).
"""

from __future__ import annotations

import copy
import csv
import hashlib
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch

from engine.audio import dsp
from engine.audio import io as audio_io
from engine.audio.clip import Clip
from engine.errors import BadInputError, VocalisError
from engine.fileio import atomic_path
from engine.models.seedvc.mel import log_mel
from engine.models.stablevc import features as front
from engine.models.stablevc.config import CONFIG_NAME, StableVCConfig, read_config
from engine.models.stablevc.model import Conditions, StableVC
from engine.models.stablevc.run import STATE_NAME, WEIGHTS_NAME, build, save_weights
from engine.models.stablevc.units import assign_units, deduplicate, expand, fit_kmeans, rescale_durations

KMEANS_NAME = "kmeans.safetensors"
LOG_NAME = "log.csv"
FEATURES_DIR = "features"
MIN_CLIP_FRAMES = 24  # a target and a reference of at least 8 frames each
Report = Callable[[str], None]


@dataclass
class CachedClip:
    wavlm: torch.Tensor  # (Tw, C)
    mel: torch.Tensor  # (n_mels, T)
    style: torch.Tensor  # (T, 3)
    speaker: torch.Tensor  # (192,)
    register: torch.Tensor  # () median voiced log-f0


def audio_files(data_dir: Path, extensions: Sequence[str] | None) -> list[Path]:
    """The files under ``data_dir`` with one of ``extensions`` (None: every file; unreadable ones are then
    reported and skipped while caching)."""
    if not data_dir.is_dir():
        raise BadInputError(data_dir, "the training data folder does not exist")
    files = sorted(p for p in data_dir.rglob("*") if p.is_file() and not p.name.startswith(".")
                   and (extensions is None or p.suffix.lower() in extensions))
    if not files:
        raise BadInputError(data_dir, "no audio files found for training")
    return files


def clip_features(wave: np.ndarray, config: StableVCConfig, content: front.WavLMContent, speaker) -> CachedClip:
    """The cached features of one mono clip at the mel's sample rate."""
    rate = config.mel.sample_rate
    mel = log_mel(wave, config.mel)[0]
    wave_16k = dsp.resample(Clip(wave[None], rate), front.WAVLM_RATE).samples[0]
    style, register = front.style_features(wave, config.mel, mel.shape[-1])
    return CachedClip(wavlm=content.features(wave_16k), mel=mel, style=style,
                      speaker=speaker.embed_waveform(wave, rate).float().reshape(-1).cpu(),
                      register=torch.tensor(register, dtype=torch.float32))


def cache_features(files: list[Path], data_dir: Path, cache: Path, config: StableVCConfig,
                   content: front.WavLMContent, speaker, report: Report) -> list[Path]:
    """Cache every clip's features (skipping those done); the cached files of the usable clips."""
    cached = []
    for index, path in enumerate(files):
        key = hashlib.sha1(str(path.relative_to(data_dir)).encode()).hexdigest()[:16]
        target = cache / f"{key}.safetensors"
        if not target.is_file():
            try:
                clip = audio_io.load(path)
            except VocalisError as exc:
                report(f"skipped {path}: {exc}")
                continue
            wave = dsp.resample(dsp.to_mono(clip), config.mel.sample_rate).samples[0]
            if len(wave) // config.mel.hop_length < MIN_CLIP_FRAMES:
                report(f"skipped {path}: shorter than {MIN_CLIP_FRAMES} mel frames")
                continue
            from safetensors.torch import save_file

            item = clip_features(wave, config, content, speaker)
            with atomic_path(target) as temp:
                save_file({name: value.contiguous() for name, value in vars(item).items()}, str(temp))
            report(f"features {index + 1}/{len(files)}: {path.name}")
        cached.append(target)
    if not cached:
        raise BadInputError(data_dir, "no usable audio files for training")
    return cached


def load_cached(paths: list[Path]) -> list[CachedClip]:
    from safetensors.torch import load_file

    return [CachedClip(**load_file(str(path))) for path in paths]


def fit_units(clips: list[CachedClip], config: StableVCConfig) -> torch.Tensor:
    frames = torch.cat([clip.wavlm for clip in clips])
    if frames.shape[0] > config.kmeans_max_frames:
        pick = torch.randperm(frames.shape[0], generator=torch.Generator().manual_seed(config.seed))
        frames = frames[pick[:config.kmeans_max_frames]]
    return fit_kmeans(frames, config.units, config.kmeans_iterations, seed=config.seed)


def frame_units(clip: CachedClip, centroids: torch.Tensor, config: StableVCConfig) -> torch.Tensor:
    """Units on the clip's mel frames: WavLM units deduplicated, their runs rescaled to mel frames."""
    unique, counts = deduplicate(assign_units(clip.wavlm, centroids))
    units = expand(unique, rescale_durations(counts, config.frames_per_second / 50.0))
    frames = clip.mel.shape[-1]
    return torch.nn.functional.pad(units, (0, max(0, frames - units.numel())), value=int(units[-1]))[:frames]


@dataclass
class Example:
    mel: torch.Tensor
    units: torch.Tensor
    reference: torch.Tensor
    style: torch.Tensor
    speaker: torch.Tensor
    rate: float
    register: torch.Tensor


def make_example(clip: CachedClip, units: torch.Tensor, config: StableVCConfig, generator: torch.Generator) -> Example:
    frames = clip.mel.shape[-1]
    split = int(torch.randint(frames // 3, 2 * frames // 3 + 1, (1,), generator=generator))
    sides = [(0, split), (split, frames)]
    if torch.rand(1, generator=generator) < 0.5:
        sides.reverse()
    (start, stop), (ref_start, ref_stop) = sides

    def crop(begin: int, end: int) -> tuple[int, int]:
        length = min(end - begin, config.segment_frames)
        offset = int(torch.randint(0, end - begin - length + 1, (1,), generator=generator))
        return begin + offset, begin + offset + length

    start, stop = crop(start, stop)
    ref_start, ref_stop = crop(ref_start, ref_stop)
    segment = units[start:stop]
    return Example(mel=clip.mel[:, start:stop], units=segment, reference=clip.mel[:, ref_start:ref_stop],
                   style=clip.style[start:stop], speaker=clip.speaker, register=clip.register,
                   rate=front.speaking_rate(segment, (stop - start) / config.frames_per_second))


def _pad(values: list[torch.Tensor], axis: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Stack along a new first axis, padding ``axis`` (of each value) with zeros; the ``(B, max)`` mask."""
    longest = max(value.shape[axis] for value in values)
    padded = []
    for value in values:
        pad = [0, 0] * value.ndim
        pad[2 * (value.ndim - 1 - axis) + 1] = longest - value.shape[axis]
        padded.append(torch.nn.functional.pad(value, pad))
    mask = torch.arange(longest)[None] < torch.tensor([value.shape[axis] for value in values])[:, None]
    return torch.stack(padded), mask


def collate(examples: list[Example], model: StableVC) -> dict[str, torch.Tensor | Conditions]:
    mel, mask = _pad([model.normalize(e.mel) for e in examples], 1)
    units, _ = _pad([e.units for e in examples], 0)
    reference, reference_mask = _pad([model.normalize(e.reference) for e in examples], 1)
    style, style_mask = _pad([e.style for e in examples], 0)
    runs = [deduplicate(e.units) for e in examples]
    dedup_units, dedup_mask = _pad([unique for unique, _ in runs], 0)
    durations, _ = _pad([counts for _, counts in runs], 0)
    conditions = Conditions(torch.stack([e.speaker for e in examples]), reference, reference_mask, style, style_mask,
                            torch.tensor([e.rate for e in examples]), torch.stack([e.register for e in examples]))
    return {"mel": mel * mask[:, None], "units": units, "mask": mask, "conditions": conditions,
            "dedup_units": dedup_units, "dedup_mask": dedup_mask, "durations": durations}


def _to(batch: dict, device: torch.device) -> dict:
    return {key: value.to(device, torch.float32) if isinstance(value, Conditions) else value.to(device)
            for key, value in batch.items()}


def save_state(path: Path, model: StableVC, ema: StableVC, optimizer: torch.optim.Optimizer, step: int,
               generator: torch.Generator) -> None:
    state = {"model": model.state_dict(), "ema": ema.state_dict(), "optimizer": optimizer.state_dict(),
             "step": torch.tensor(step), "generator": generator.get_state(), "torch_rng": torch.get_rng_state()}
    with atomic_path(path) as temp:
        torch.save(state, temp)


def tensorboard_writer(run_dir: Path):
    """A TensorBoard writer into ``RUN_DIR/tensorboard`` when the tensorboard package is installed (it is not
    a dependency: the CSV log is always written), else None."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        return None
    return SummaryWriter(str(run_dir / "tensorboard"))


def train(data_dir: str | Path, run_dir: str | Path, config: StableVCConfig | str | Path = "tiny", *,
          max_steps: int | None = None, resume: bool = False, device: str = "cpu",
          extensions: Sequence[str] | None = None, report: Report = print) -> Path:
    """Run the recipe; returns the run folder. ``resume`` continues a run (its own config wins);
    ``extensions`` picks the audio files of the data folder (None: try every file)."""
    data_dir, run_dir = Path(data_dir), Path(run_dir)
    state_path = run_dir / STATE_NAME
    if resume:
        if not state_path.is_file():
            raise BadInputError(run_dir, "nothing to resume (no state.pt)")
        config = read_config(run_dir / CONFIG_NAME)
    else:
        if state_path.is_file():
            raise BadInputError(run_dir, "already holds a training run: pass --resume to continue it, or choose "
                                         "another --out")
        config = read_config(config)
    if max_steps is not None:
        config = config.with_changes(max_steps=max_steps)
    torch_device = torch.device(device)
    run_dir.mkdir(parents=True, exist_ok=True)

    report("loading the content and speaker encoders")
    from engine.models import campplus

    content = front.content_encoder(config.content_encoder, config.content_layer)
    speaker = front.resolve_model(config.speaker_encoder, campplus.load_model)
    cached = cache_features(audio_files(data_dir, extensions), data_dir, run_dir / FEATURES_DIR, config, content, speaker, report)
    del content, speaker
    clips = load_cached(cached)

    kmeans_path = run_dir / KMEANS_NAME
    from safetensors.torch import load_file, save_file

    if kmeans_path.is_file():
        centroids = load_file(str(kmeans_path))["centroids"]
    else:
        report(f"k-means: {config.units} units")
        centroids = fit_units(clips, config)
        with atomic_path(kmeans_path) as temp:
            save_file({"centroids": centroids.contiguous()}, str(temp))
    if not resume:
        mels = torch.cat([clip.mel.reshape(-1) for clip in clips])
        config = config.with_changes(mel_mean=round(float(mels.mean()), 4), mel_std=round(float(mels.std()), 4))
    config.save(run_dir / CONFIG_NAME)
    units = [frame_units(clip, centroids, config) for clip in clips]

    torch.manual_seed(config.seed)
    model = build(config, centroids).to(torch_device).train()
    ema = copy.deepcopy(model).eval().requires_grad_(False)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.learning_rate, weight_decay=0.01)
    generator = torch.Generator().manual_seed(config.seed)
    step = 0
    if resume:
        state = torch.load(state_path, map_location="cpu", weights_only=True)
        model.load_state_dict(state["model"])
        ema.load_state_dict(state["ema"])
        optimizer.load_state_dict(state["optimizer"])
        step = int(state["step"])
        generator.set_state(state["generator"])
        torch.set_rng_state(state["torch_rng"])
        report(f"resumed at step {step}")

    log_path = run_dir / LOG_NAME
    new_log = not log_path.is_file() or not resume
    started = time.monotonic()
    board = tensorboard_writer(run_dir)
    with open(log_path, "w" if new_log else "a", newline="", encoding="utf-8") as log_file:
        log = csv.writer(log_file)
        if new_log:
            log.writerow(["step", "loss", "flow_loss", "duration_loss", "learning_rate", "seconds"])
        while step < config.max_steps:
            picks = torch.randint(len(clips), (config.batch_size,), generator=generator).tolist()
            batch = _to(collate([make_example(clips[i], units[i], config, generator) for i in picks], model),
                        torch_device)
            learning_rate = config.learning_rate * min(1.0, (step + 1) / max(1, config.warmup_steps))
            for group in optimizer.param_groups:
                group["lr"] = learning_rate
            with torch.autocast("cuda", dtype=torch.bfloat16, enabled=torch_device.type == "cuda"):
                flow_loss, duration_loss = model.losses(**batch, generator=generator)
            loss = flow_loss + config.duration_weight * duration_loss
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            step += 1
            with torch.no_grad():
                for averaged, current in zip(ema.parameters(), model.parameters()):
                    averaged.lerp_(current, 1 - config.ema_decay)
            if step % config.log_every == 0 or step == config.max_steps:
                seconds = time.monotonic() - started
                log.writerow([step, f"{loss.item():.6f}", f"{flow_loss.item():.6f}", f"{duration_loss.item():.6f}",
                              f"{learning_rate:.3g}", f"{seconds:.1f}"])
                log_file.flush()
                if board is not None:
                    for name, value in (("loss", loss), ("flow_loss", flow_loss), ("duration_loss", duration_loss)):
                        board.add_scalar(name, value.item(), step)
                report(f"step {step}/{config.max_steps}: loss {loss.item():.4f} (flow {flow_loss.item():.4f}, "
                       f"duration {duration_loss.item():.4f})")
            if step % config.checkpoint_every == 0 or step == config.max_steps:
                save_weights(ema, run_dir / WEIGHTS_NAME)
                save_state(state_path, model, ema, optimizer, step, generator)
    if board is not None:
        board.close()
    return run_dir
