"""CAM++ speaker embedding network (Wang et al., Interspeech 2023; 3D-Speaker / FunASR), written for Vocalis.

Attribute names and nesting follow the released 3D-Speaker checkpoints (``campplus_cn_common.bin``):
``head.*`` is the 2-D convolutional front end (FCM), ``xvector.*`` the densely connected TDNN with
context-aware masking, statistics pooling and the embedding layer. Two departures from the reference code,
both for inference speed and neither visible in the checkpoint layout:

* a dense block writes every layer's 32 new channels into one preallocated tensor instead of concatenating
  a growing copy after each layer (52 copies of up to 1000 channels);
* :meth:`CAMPPlus.fold_batchnorms` merges every eval-mode BatchNorm that directly follows a convolution
  into that convolution. BatchNorms that precede a ReLU and a convolution (the pre-activation ones) cannot
  be merged and stay.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from engine.audio.resample import resample
from engine.errors import BadInputError
from engine.models.campplus.features import MIN_FRAMES, MIN_SAMPLES, NUM_BINS, SAMPLE_RATE, fbank

# (layers, dilation) of the three dense blocks; every CAM layer has kernel size 3.
DENSE_BLOCKS = ((12, 1), (24, 2), (16, 2))
# Context-aware masking pools the input over segments of this many frames (and over the whole utterance).
SEGMENT_FRAMES = 100


def _fold_into(conv: nn.Module, norm: nn.Module) -> nn.Module:
    """The convolution that computes ``norm(conv(x))`` for an eval-mode ``norm``."""
    return fuse_conv_bn_eval(conv.eval(), norm.eval())


class BatchNormReLU(nn.Module):
    """The reference's ``batchnorm-relu`` nonlinearity; the attribute name gives the ``….batchnorm.*`` keys."""

    def __init__(self, channels: int, relu: bool = True, affine: bool = True):
        super().__init__()
        self.batchnorm: nn.Module = nn.BatchNorm1d(channels, affine=affine)
        self.relu = relu

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.batchnorm(x)
        return F.relu(x) if self.relu else x


class ResidualBlock(nn.Module):
    """Two 3×3 convolutions with a residual path; ``stride`` halves the frequency axis only."""

    def __init__(self, in_planes: int, planes: int, stride: int):
        super().__init__()
        self.conv1: nn.Module = nn.Conv2d(in_planes, planes, 3, stride=(stride, 1), padding=1, bias=False)
        self.bn1: nn.Module = nn.BatchNorm2d(planes)
        self.conv2: nn.Module = nn.Conv2d(planes, planes, 3, stride=1, padding=1, bias=False)
        self.bn2: nn.Module = nn.BatchNorm2d(planes)
        self.shortcut = nn.Sequential()
        if stride != 1 or in_planes != planes:
            self.shortcut = nn.Sequential(nn.Conv2d(in_planes, planes, 1, stride=(stride, 1), bias=False),
                                          nn.BatchNorm2d(planes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))

    def fold_batchnorms(self) -> None:
        self.conv1, self.bn1 = _fold_into(self.conv1, self.bn1), nn.Identity()
        self.conv2, self.bn2 = _fold_into(self.conv2, self.bn2), nn.Identity()
        if len(self.shortcut):
            self.shortcut = nn.Sequential(_fold_into(self.shortcut[0], self.shortcut[1]))


class FrontEnd(nn.Module):
    """FCM: a small 2-D ResNet over (frequency, time) that reduces the bins eightfold, keeps the frames, and
    flattens channels × remaining bins into the TDNN's input channels."""

    def __init__(self, feat_dim: int = 80, channels: int = 32, blocks_per_layer: int = 2):
        super().__init__()
        self.conv1: nn.Module = nn.Conv2d(1, channels, 3, stride=1, padding=1, bias=False)
        self.bn1: nn.Module = nn.BatchNorm2d(channels)
        self.layer1 = nn.Sequential(*(ResidualBlock(channels, channels, 2 if i == 0 else 1)
                                      for i in range(blocks_per_layer)))
        self.layer2 = nn.Sequential(*(ResidualBlock(channels, channels, 2 if i == 0 else 1)
                                      for i in range(blocks_per_layer)))
        self.conv2: nn.Module = nn.Conv2d(channels, channels, 3, stride=(2, 1), padding=1, bias=False)
        self.bn2: nn.Module = nn.BatchNorm2d(channels)
        self.out_channels = channels * (feat_dim // 8)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """``features`` (batch, bins, frames) → (batch, out_channels, frames)."""
        out = F.relu(self.bn1(self.conv1(features.unsqueeze(1))))
        out = self.layer2(self.layer1(out))
        out = F.relu(self.bn2(self.conv2(out)))
        return out.flatten(1, 2)

    def fold_batchnorms(self) -> None:
        self.conv1, self.bn1 = _fold_into(self.conv1, self.bn1), nn.Identity()
        self.conv2, self.bn2 = _fold_into(self.conv2, self.bn2), nn.Identity()
        for block in (*self.layer1, *self.layer2):
            block.fold_batchnorms()


class TDNNLayer(nn.Module):
    """Strided convolution over time followed by BatchNorm and ReLU."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int):
        super().__init__()
        self.linear: nn.Module = nn.Conv1d(in_channels, out_channels, kernel_size, stride=stride,
                                           padding=(kernel_size - 1) // 2, bias=False)
        self.nonlinear = BatchNormReLU(out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.nonlinear(self.linear(x))

    def fold_batchnorms(self) -> None:
        self.linear = _fold_into(self.linear, self.nonlinear.batchnorm)
        self.nonlinear.batchnorm = nn.Identity()


class ContextAwareMasking(nn.Module):
    """A local convolution gated per channel by an attention mask computed from the utterance mean plus the
    mean of the surrounding 100-frame segment (the 'CAM' of CAM++)."""

    def __init__(self, bn_channels: int, out_channels: int, kernel_size: int, dilation: int):
        super().__init__()
        self.linear_local = nn.Conv1d(bn_channels, out_channels, kernel_size, padding=(kernel_size - 1) // 2 * dilation,
                                      dilation=dilation, bias=False)
        self.linear1 = nn.Conv1d(bn_channels, bn_channels // 2, 1)
        self.linear2 = nn.Conv1d(bn_channels // 2, out_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        frames = x.shape[-1]
        # ceil_mode averages a short last segment over the frames it has (no zero padding enters the mean).
        segments = F.avg_pool1d(x, SEGMENT_FRAMES, SEGMENT_FRAMES, ceil_mode=True)
        segment_mean = segments.repeat_interleave(SEGMENT_FRAMES, dim=-1)[..., :frames]
        context = x.mean(-1, keepdim=True) + segment_mean
        mask = torch.sigmoid(self.linear2(F.relu(self.linear1(context))))
        return self.linear_local(x) * mask


class DenseTDNNLayer(nn.Module):
    """BN-ReLU, 1×1 bottleneck to ``bn_channels``, BN-ReLU, then the masked dilated convolution that adds
    ``growth`` channels to the dense block."""

    def __init__(self, in_channels: int, growth: int, bn_channels: int, dilation: int):
        super().__init__()
        self.nonlinear1 = BatchNormReLU(in_channels)
        self.linear1: nn.Module = nn.Conv1d(in_channels, bn_channels, 1, bias=False)
        self.nonlinear2 = BatchNormReLU(bn_channels)
        self.cam_layer = ContextAwareMasking(bn_channels, growth, 3, dilation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.cam_layer(self.nonlinear2(self.linear1(self.nonlinear1(x))))

    def fold_batchnorms(self) -> None:
        self.linear1 = _fold_into(self.linear1, self.nonlinear2.batchnorm)
        self.nonlinear2.batchnorm = nn.Identity()


class DenseBlock(nn.Module):
    """Densely connected layers: each sees the block input and every earlier layer's output."""

    def __init__(self, layers: int, in_channels: int, growth: int, bn_channels: int, dilation: int):
        super().__init__()
        self.in_channels = in_channels
        self.growth = growth
        for i in range(layers):
            self.add_module(f"tdnnd{i + 1}", DenseTDNNLayer(in_channels + i * growth, growth, bn_channels, dilation))
        self.out_channels = in_channels + layers * growth

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = x.new_empty(x.shape[0], self.out_channels, x.shape[-1])
        out[:, :self.in_channels] = x
        filled = self.in_channels
        for layer in self.children():
            out[:, filled:filled + self.growth] = layer(out[:, :filled])
            filled += self.growth
        return out


class TransitLayer(nn.Module):
    """BN-ReLU then a 1×1 convolution that halves the channels between dense blocks."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.nonlinear = BatchNormReLU(in_channels)
        self.linear = nn.Conv1d(in_channels, out_channels, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(self.nonlinear(x))


class EmbeddingLayer(nn.Module):
    """1×1 projection of the pooled statistics followed by an affine-less BatchNorm (no ReLU)."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.linear: nn.Module = nn.Conv1d(in_channels, out_channels, 1, bias=False)
        self.nonlinear = BatchNormReLU(out_channels, relu=False, affine=False)

    def forward(self, stats: torch.Tensor) -> torch.Tensor:
        return self.nonlinear(self.linear(stats.unsqueeze(-1))).squeeze(-1)

    def fold_batchnorms(self) -> None:
        self.linear = _fold_into(self.linear, self.nonlinear.batchnorm)
        self.nonlinear.batchnorm = nn.Identity()


class XVector(nn.Module):
    """The TDNN trunk, pooling and embedding layer (the ``xvector.*`` part of the checkpoint)."""

    def __init__(self, in_channels: int, embedding_size: int, growth: int, bn_channels: int, init_channels: int):
        super().__init__()
        self.tdnn = TDNNLayer(in_channels, init_channels, 5, stride=2)
        channels = init_channels
        for index, (layers, dilation) in enumerate(DENSE_BLOCKS, start=1):
            block = DenseBlock(layers, channels, growth, bn_channels, dilation)
            self.add_module(f"block{index}", block)
            self.add_module(f"transit{index}", TransitLayer(block.out_channels, block.out_channels // 2))
            channels = block.out_channels // 2
        self.out_nonlinear = BatchNormReLU(channels)
        self.dense = EmbeddingLayer(2 * channels, embedding_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.tdnn(x)
        for index in range(1, len(DENSE_BLOCKS) + 1):
            x = getattr(self, f"transit{index}")(getattr(self, f"block{index}")(x))
        x = self.out_nonlinear(x)
        stats = torch.cat([x.mean(-1), x.std(-1)], dim=-1)  # std is the unbiased one, as in training
        return self.dense(stats)

    def fold_batchnorms(self) -> None:
        self.tdnn.fold_batchnorms()
        for index in range(1, len(DENSE_BLOCKS) + 1):
            for layer in getattr(self, f"block{index}").children():
                layer.fold_batchnorms()
        last = getattr(self, f"transit{len(DENSE_BLOCKS)}")
        last.linear = _fold_into(last.linear, self.out_nonlinear.batchnorm)
        self.out_nonlinear.batchnorm = nn.Identity()
        self.dense.fold_batchnorms()


class CAMPPlus(nn.Module):
    """CAM++: mean-normalised fbank features ``(batch, frames, bins)`` → speaker embedding ``(batch, size)``."""

    def __init__(self, feat_dim: int = NUM_BINS, embedding_size: int = 192, growth: int = 32, bn_size: int = 4,
                 init_channels: int = 128):
        super().__init__()
        self.feat_dim = feat_dim
        self.embedding_size = embedding_size
        self.head = FrontEnd(feat_dim)
        self.xvector = XVector(self.head.out_channels, embedding_size, growth, bn_size * growth, init_channels)
        self.folded = False

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.xvector(self.head(features.transpose(1, 2)))

    @torch.inference_mode()
    def embed(self, features: torch.Tensor) -> torch.Tensor:
        """Embeddings ``(batch, size)`` (not normalised) of fbank features ``(batch, frames, 80)`` from
        :func:`~engine.models.campplus.features.fbank`; computed on the model's device, returned there."""
        if features.ndim != 3 or features.shape[-1] != self.feat_dim or features.shape[1] < MIN_FRAMES:
            raise ValueError(f"CAM++ takes features (batch, frames >= {MIN_FRAMES}, {self.feat_dim}), "
                             f"got {tuple(features.shape)}")
        weight = self.head.conv1.weight
        if weight.device.type != "cpu":
            return self(features.to(weight.device, weight.dtype))
        # One CPU thread: CAM++ is hundreds of small operations, each a parallel region whose barrier waits
        # for every thread; on a busy machine 2 threads took 0.8-13 s where 1 takes 0.24 s (6 s clip).
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            return self(features.to(weight.dtype))
        finally:
            torch.set_num_threads(threads)

    def embed_waveform(self, wave: np.ndarray | torch.Tensor, sample_rate: int, *, source=None) -> torch.Tensor:
        """Embedding ``(1, size)`` of a recording: ``(frames,)`` mono or ``(channels, frames)`` (mixed to mono)
        float samples at ``sample_rate``, resampled to 16 kHz. ``source`` names the file in errors."""
        if isinstance(wave, torch.Tensor):
            wave = wave.detach().cpu().numpy()
        samples = np.asarray(wave, dtype=np.float32)
        if samples.ndim == 2:
            samples = samples.mean(axis=0)
        if samples.ndim != 1:
            raise BadInputError(source, f"audio for a speaker embedding must be (frames,) or (channels, frames), "
                                        f"got shape {samples.shape}")
        mono_16k = resample(samples, sample_rate, SAMPLE_RATE, quality="reference")  # as the reference code
        if mono_16k.size < MIN_SAMPLES:
            raise BadInputError(source, f"is too short for a speaker embedding ({mono_16k.size / SAMPLE_RATE:.3f} s;"
                                        f" at least {MIN_SAMPLES / SAMPLE_RATE:.3f} s needed)")
        return self.embed(fbank(torch.from_numpy(mono_16k))[None])

    def fold_batchnorms(self) -> "CAMPPlus":
        """Merge eval-mode BatchNorms into the convolutions before them (inference only; the state dict no
        longer has the checkpoint's layout afterwards)."""
        if not self.folded:
            self.eval()
            self.head.fold_batchnorms()
            self.xvector.fold_batchnorms()
            self.folded = True
        return self
