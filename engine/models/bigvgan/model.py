"""BigVGAN v2 generator (Lee et al., ICLR 2023; NVIDIA's v2 release), inference only, written for Vocalis.

Mel spectrogram → waveform through transposed-convolution upsamplers, each followed by anti-aliased
multi-periodicity (AMP) residual blocks whose Snake activations run at twice the sample rate between a
kaiser-sinc upsampler and low-pass downsampler. Attribute names follow the official ``bigvgan_generator.pt``
(``conv_pre``, ``ups.N.0``, ``resblocks.N.{convs1,convs2,activations}``, ``activation_post``, ``conv_post``),
so its tensors load by name. The official file stores every convolution weight-normed
(``weight_g``/``weight_v``); this module holds plain ``weight`` tensors and the loader folds each pair once
(:func:`fold_weight_norm`), which is what the reference does with ``remove_weight_norm`` before inference.

Inference-speed choices: on the CPU in float32 each anti-aliased activation is one compiled kernel that works
in cache-sized blocks (equal to the PyTorch form within float32 rounding); the PyTorch form (GPU, half
precision) folds the upsampler's ×2 gain into its filter (a power of two, so bit-identical) and writes the
Snake in place into a buffer that already has the downsampler's replicate margins; ``forward`` runs under
``torch.inference_mode``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from engine.audio.stitch import crossfade_windows
from engine.errors import ModelLoadError
from engine.jobs import CancelToken, Progress

try:
    from engine.models.bigvgan.fused_activation import anti_aliased_snake
except ImportError:  # numba missing (a GPU-only install): every device takes the PyTorch steps
    anti_aliased_snake = None

# The anti-aliasing resamplers of every BigVGAN v2 config: ratio 2, 12 taps.
RESAMPLE_RATIO = 2
FILTER_TAPS = 12
UPSAMPLE_PAD = FILTER_TAPS // RESAMPLE_RATIO - 1  # replicate padding of the input, 5
UPSAMPLE_CROP = UPSAMPLE_PAD * RESAMPLE_RATIO + (FILTER_TAPS - RESAMPLE_RATIO) // 2  # 15 on each side
DOWNSAMPLE_PAD = (FILTER_TAPS // 2 - 1, FILTER_TAPS // 2)  # replicate padding (left, right) for an even kernel
SNAKE_EPS = 1e-9
# vocode_long defaults: windows of ~11.9 s at 22.05 kHz (shorter mels take one pass), 186 ms crossfades.
LONG_WINDOW_FRAMES = 1024
LONG_FADE_FRAMES = 16


@dataclass(frozen=True)
class BigVGANConfig:
    """The generator hyper-parameters of the official ``config.json`` (training-only keys are ignored).

    ``use_tanh_at_final`` and ``use_bias_at_final`` default to True as in the reference (v1 configs lack them);
    the v2 releases set both False."""

    num_mels: int
    upsample_rates: tuple[int, ...]
    upsample_kernel_sizes: tuple[int, ...]
    upsample_initial_channel: int
    resblock_kernel_sizes: tuple[int, ...]
    resblock_dilation_sizes: tuple[tuple[int, ...], ...]
    sampling_rate: int
    hop_size: int
    activation: str = "snakebeta"
    snake_logscale: bool = True
    use_tanh_at_final: bool = True
    use_bias_at_final: bool = True

    @classmethod
    def from_dict(cls, values: Mapping[str, Any], source: object = "config") -> "BigVGANConfig":
        required = ("num_mels", "upsample_rates", "upsample_kernel_sizes", "upsample_initial_channel",
                    "resblock_kernel_sizes", "resblock_dilation_sizes", "sampling_rate", "hop_size")
        missing = [key for key in required if key not in values]
        if missing:
            raise ModelLoadError(f"{source}: BigVGAN config lacks {', '.join(missing)}")
        if str(values.get("resblock", "1")) != "1":
            raise ModelLoadError(f"{source}: only BigVGAN's AMPBlock1 (resblock \"1\", every released v2 model) "
                                 f"is supported, not resblock {values['resblock']!r}")
        activation = values.get("activation", "snakebeta")
        if activation not in ("snake", "snakebeta"):
            raise ModelLoadError(f"{source}: unknown BigVGAN activation {activation!r} (snake or snakebeta)")
        config = cls(num_mels=int(values["num_mels"]),
                     upsample_rates=tuple(int(v) for v in values["upsample_rates"]),
                     upsample_kernel_sizes=tuple(int(v) for v in values["upsample_kernel_sizes"]),
                     upsample_initial_channel=int(values["upsample_initial_channel"]),
                     resblock_kernel_sizes=tuple(int(v) for v in values["resblock_kernel_sizes"]),
                     resblock_dilation_sizes=tuple(tuple(int(d) for d in ds) for ds in values["resblock_dilation_sizes"]),
                     sampling_rate=int(values["sampling_rate"]), hop_size=int(values["hop_size"]),
                     activation=activation, snake_logscale=bool(values.get("snake_logscale", True)),
                     use_tanh_at_final=bool(values.get("use_tanh_at_final", True)),
                     use_bias_at_final=bool(values.get("use_bias_at_final", True)))
        if math.prod(config.upsample_rates) != config.hop_size:
            raise ModelLoadError(f"{source}: upsample_rates multiply to {math.prod(config.upsample_rates)}, "
                                 f"not the hop_size {config.hop_size}")
        if len(config.upsample_rates) != len(config.upsample_kernel_sizes) or \
                len(config.resblock_kernel_sizes) != len(config.resblock_dilation_sizes):
            raise ModelLoadError(f"{source}: upsample_rates/upsample_kernel_sizes or resblock_kernel_sizes/"
                                 f"resblock_dilation_sizes differ in length")
        return config


def kaiser_sinc_filter(cutoff: float, half_width: float, taps: int) -> torch.Tensor:
    """Kaiser-windowed sinc low-pass (the reference's ``kaiser_sinc_filter1d``), shape ``(1, 1, taps)``.

    The Kaiser beta comes from the transition width by Kaiser's formula; the window is symmetric; even
    kernels put the taps at half-integer times. Normalised to unit DC gain."""
    half = taps // 2
    attenuation = 2.285 * (half - 1) * math.pi * (4 * half_width) + 7.95
    if attenuation > 50.0:
        beta = 0.1102 * (attenuation - 8.7)
    elif attenuation >= 21.0:
        beta = 0.5842 * (attenuation - 21) ** 0.4 + 0.07886 * (attenuation - 21.0)
    else:
        beta = 0.0
    window = torch.kaiser_window(taps, beta=beta, periodic=False)
    times = torch.arange(-half, half) + 0.5 if taps % 2 == 0 else torch.arange(taps) - half
    response = 2 * cutoff * window * torch.sinc(2 * cutoff * times)
    return (response / response.sum()).view(1, 1, taps)


def _replicate_margins(padded: torch.Tensor, left: int, right: int) -> None:
    """Fill the first ``left`` and last ``right`` samples of ``padded`` with its inner edge values."""
    padded[..., :left] = padded[..., left:left + 1]
    padded[..., padded.shape[-1] - right:] = padded[..., -right - 1:-right]


class Snake(nn.Module):
    """``x + sin²(a·x) / b`` per channel: SnakeBeta (own magnitude ``b``) or plain Snake (``b = a``).

    With ``logscale`` the parameters hold log values (``a = exp(alpha)``), as in every v2 release."""

    def __init__(self, channels: int, with_beta: bool, logscale: bool):
        super().__init__()
        self.logscale = logscale
        initial = torch.zeros(channels) if logscale else torch.ones(channels)
        self.alpha = nn.Parameter(initial.clone())
        self.beta = nn.Parameter(initial.clone()) if with_beta else None

    def coefficients(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Per channel: the frequency ``a`` and the inverse magnitude ``1 / (b + ε)``."""
        alpha = self.alpha.exp() if self.logscale else self.alpha
        if self.beta is None:
            magnitude = alpha
        else:
            magnitude = self.beta.exp() if self.logscale else self.beta
        return alpha, 1.0 / (magnitude + SNAKE_EPS)

    def forward(self, x: torch.Tensor, out: torch.Tensor | None = None) -> torch.Tensor:
        """``out`` (same shape as ``x``) receives the result when given, saving an allocation."""
        alpha, inverse = self.coefficients()
        out = torch.mul(x, alpha[:, None], out=out)
        return out.sin_().square_().mul_(inverse[:, None]).add_(x)


class UpSample1d(nn.Module):
    """×2 upsampling: replicate padding, transposed convolution with the kaiser-sinc filter, crop."""

    def __init__(self):
        super().__init__()
        self.register_buffer("filter", kaiser_sinc_filter(0.5 / RESAMPLE_RATIO, 0.6 / RESAMPLE_RATIO, FILTER_TAPS))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        channels = x.shape[1]
        gain_filter = (RESAMPLE_RATIO * self.filter).expand(channels, -1, -1)  # the ratio gain, exact (×2)
        padded = F.pad(x, (UPSAMPLE_PAD, UPSAMPLE_PAD), mode="replicate")
        up = F.conv_transpose1d(padded, gain_filter, stride=RESAMPLE_RATIO, groups=channels)
        return up[..., UPSAMPLE_CROP:up.shape[-1] - UPSAMPLE_CROP]


class LowPassFilter1d(nn.Module):
    """Kaiser-sinc low-pass with stride 2 (the downsampler's filter; the buffer is ``….lowpass.filter``)."""

    def __init__(self):
        super().__init__()
        self.register_buffer("filter", kaiser_sinc_filter(0.5 / RESAMPLE_RATIO, 0.6 / RESAMPLE_RATIO, FILTER_TAPS))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.filter_padded(F.pad(x, DOWNSAMPLE_PAD, mode="replicate"))

    def filter_padded(self, padded: torch.Tensor) -> torch.Tensor:
        """Filter and decimate input that already carries the ``DOWNSAMPLE_PAD`` replicate margins."""
        channels = padded.shape[1]
        return F.conv1d(padded, self.filter.expand(channels, -1, -1), stride=RESAMPLE_RATIO, groups=channels)


class DownSample1d(nn.Module):
    """×2 downsampling; a holder that gives the low-pass its checkpoint name (``….downsample.lowpass``)."""

    def __init__(self):
        super().__init__()
        self.lowpass = LowPassFilter1d()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.lowpass(x)


class Activation1d(nn.Module):
    """Anti-aliased activation: upsample ×2, Snake, low-pass and downsample ×2. On the CPU in float32 the
    steps run fused in one compiled kernel (:mod:`engine.models.bigvgan.fused_activation`); elsewhere as
    PyTorch operations."""

    def __init__(self, channels: int, with_beta: bool, logscale: bool):
        super().__init__()
        self.act = Snake(channels, with_beta, logscale)
        self.upsample = UpSample1d()
        self.downsample = DownSample1d()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if anti_aliased_snake is not None and x.device.type == "cpu" and x.dtype == torch.float32:
            alpha, inverse = self.act.coefficients()
            return anti_aliased_snake(x, alpha, inverse, self.upsample.filter, self.downsample.lowpass.filter)
        up = self.upsample(x)
        left, right = DOWNSAMPLE_PAD
        padded = up.new_empty(*up.shape[:-1], left + up.shape[-1] + right)
        self.act(up, out=padded[..., left:left + up.shape[-1]])
        _replicate_margins(padded, left, right)
        return self.downsample.lowpass.filter_padded(padded)


class AMPBlock1(nn.Module):
    """Three residual units, each: activation, dilated convolution, activation, convolution."""

    def __init__(self, channels: int, kernel_size: int, dilations: tuple[int, ...], with_beta: bool, logscale: bool):
        super().__init__()
        self.convs1 = nn.ModuleList(nn.Conv1d(channels, channels, kernel_size, dilation=d,
                                              padding=(kernel_size * d - d) // 2) for d in dilations)
        self.convs2 = nn.ModuleList(nn.Conv1d(channels, channels, kernel_size, padding=(kernel_size - 1) // 2)
                                    for _ in dilations)
        self.activations = nn.ModuleList(Activation1d(channels, with_beta, logscale)
                                         for _ in range(2 * len(dilations)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for index, (conv1, conv2) in enumerate(zip(self.convs1, self.convs2)):
            residual = conv1(self.activations[2 * index](x))
            # In place on the fresh convolution output; the block's input itself is left alone (the other
            # kernel sizes' blocks read it too).
            x = conv2(self.activations[2 * index + 1](residual)).add_(x)
        return x


class BigVGAN(nn.Module):
    """Log-mel ``(batch, num_mels, frames)`` → waveform ``(batch, 1, frames·hop_length)`` in [-1, 1]."""

    def __init__(self, config: BigVGANConfig):
        super().__init__()
        self.config = config
        self.sample_rate = config.sampling_rate
        self.hop_length = config.hop_size
        self.num_mels = config.num_mels
        with_beta = config.activation == "snakebeta"
        channels = config.upsample_initial_channel
        self.conv_pre = nn.Conv1d(config.num_mels, channels, 7, padding=3)
        self.ups = nn.ModuleList()
        self.resblocks = nn.ModuleList()
        for rate, kernel in zip(config.upsample_rates, config.upsample_kernel_sizes):
            self.ups.append(nn.ModuleList([nn.ConvTranspose1d(channels, channels // 2, kernel, rate,
                                                              padding=(kernel - rate) // 2)]))
            channels //= 2
            for kernel_size, dilations in zip(config.resblock_kernel_sizes, config.resblock_dilation_sizes):
                self.resblocks.append(AMPBlock1(channels, kernel_size, dilations, with_beta, config.snake_logscale))
        self.activation_post = Activation1d(channels, with_beta, config.snake_logscale)
        self.conv_post = nn.Conv1d(channels, 1, 7, padding=3, bias=config.use_bias_at_final)

    @torch.inference_mode()
    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        """One pass over the whole mel (moved to the model's device and dtype); memory grows with its length,
        see :meth:`vocode_long` for long inputs."""
        kernels = len(self.config.resblock_kernel_sizes)
        x = self.conv_pre(mel.to(self.conv_pre.weight))
        for stage, (upsample,) in enumerate(self.ups):
            x = upsample(x)
            blocks = self.resblocks[stage * kernels:(stage + 1) * kernels]
            total = blocks[0](x)
            for block in blocks[1:]:
                total += block(x)
            x = total / kernels
        x = self.conv_post(self.activation_post(x))
        return torch.tanh(x) if self.config.use_tanh_at_final else x.clamp_(-1.0, 1.0)

    def receptive_field_frames(self) -> int:
        """An upper bound on how many mel frames on either side of a frame reach its output samples (42 for
        the released 22 kHz model, whose measured reach is 33): chunks that keep this much context on each
        side give the single-pass result."""
        # Reach of one anti-aliased activation, in samples at its input rate: ±3 through each resampler.
        activation = 2 * (FILTER_TAPS // 2) // RESAMPLE_RATIO
        frames = 3.0  # conv_pre
        rate = 1
        for upsample_rate, upsample_kernel in zip(self.config.upsample_rates, self.config.upsample_kernel_sizes):
            frames += math.ceil(upsample_kernel / upsample_rate) / rate
            rate *= upsample_rate
            block = max(sum(2 * activation + (kernel - 1) // 2 * (dilation + 1) for dilation in dilations)
                        for kernel, dilations in zip(self.config.resblock_kernel_sizes,
                                                     self.config.resblock_dilation_sizes))
            frames += block / rate
        frames += (activation + 3) / rate  # activation_post and conv_post
        return math.ceil(frames)

    def vocode_long(self, mel: torch.Tensor, *, window: int = LONG_WINDOW_FRAMES, fade: int = LONG_FADE_FRAMES,
                    margin: int | None = None, progress: Progress | None = None,
                    cancel: CancelToken | None = None) -> torch.Tensor:
        """Vocode a mel of any length in overlapping windows of ``window`` frames, joined by ``fade``-frame
        crossfades with ``margin`` frames (default :meth:`receptive_field_frames`) of discarded context on
        either side, so that the result equals :meth:`forward` up to rounding while the model's working
        memory stays bounded by the window (cancel is checked between windows). Returns
        ``(batch, 1, frames·hop_length)`` float32 on the CPU."""
        margin = self.receptive_field_frames() if margin is None else margin
        frames = mel.shape[-1]

        def render(start: int, stop: int) -> np.ndarray:
            return self(mel[..., start:stop]).float().cpu().numpy()

        blocks = crossfade_windows(render, frames, window, 2 * margin + fade, fade, scale=self.hop_length,
                                   progress=progress, cancel=cancel)
        return torch.from_numpy(np.concatenate(list(blocks), axis=-1))


def fold_weight_norm(tensors: Mapping[str, torch.Tensor], source: object = "checkpoint") -> dict[str, torch.Tensor]:
    """Replace every ``X.weight_g``/``X.weight_v`` pair by ``X.weight = g · v / ‖v‖`` (norm over all axes but
    the first, as ``torch.nn.utils.weight_norm(dim=0)`` stores it); other tensors pass through."""
    out: dict[str, torch.Tensor] = {}
    unpaired = []
    for name, tensor in tensors.items():
        if name.endswith(".weight_g"):
            continue
        if not name.endswith(".weight_v"):
            out[name] = tensor
            continue
        stem = name[:-len(".weight_v")]
        magnitude = tensors.get(stem + ".weight_g")
        if magnitude is None:
            unpaired.append(name)
            continue
        direction = tensor.float()
        norm = torch.linalg.vector_norm(direction, dim=tuple(range(1, direction.ndim)), keepdim=True)
        out[stem + ".weight"] = (direction * (magnitude.float() / norm)).to(tensor.dtype)
    unpaired += [name for name in tensors if name.endswith(".weight_g") and name[:-1] + "v" not in tensors]
    if unpaired:
        raise ModelLoadError(f"{source}: weight-norm tensors without their partner: {', '.join(sorted(unpaired))}")
    return out
