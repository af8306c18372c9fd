"""The WavTokenizer codec: 24 kHz mono waveform ⇄ one stream of codebook indices (75 frames/s released).

Tensor names are the reference's ``WavTokenizer`` module's (``feature_extractor.encodec.*``, ``backbone.*``,
``head.*``), so the released checkpoint's state dict loads strictly into :class:`WavTokenizerCodec`.
"""

from __future__ import annotations

import torch
from torch import nn

from engine.models.wavtokenizer.config import RELEASED_CONFIG, WavTokenizerConfig
from engine.models.wavtokenizer.seanet import Quantizer, SeanetEncoder, StoredTensors, seanet_decoder_shapes
from engine.models.wavtokenizer.vocos import ISTFTHead, VocosBackbone


class WavTokenizerCodec(nn.Module):
    """``encode(wav (B, samples)) → codes (B, 1, frames)``; ``decode(codes (B, n_q, frames)) → wav (B,
    frames · hop_length)``, with frames = ceil(samples / hop_length). Inputs are moved to the codec's device
    and outputs stay there. The SEANet decoder is held (it is in the checkpoint) but never run."""

    def __init__(self, config: WavTokenizerConfig = RELEASED_CONFIG):
        super().__init__()
        self.config = config
        seanet = config.seanet
        # Reference nesting: feature_extractor (EncodecFeatures) → encodec (EncodecModel) → parts.
        self.feature_extractor = nn.Module()
        self.feature_extractor.encodec = nn.ModuleDict({
            "encoder": SeanetEncoder(seanet),
            "quantizer": Quantizer(config.num_quantizers, config.codebook_size, seanet.dimension),
            "decoder": StoredTensors(seanet_decoder_shapes(seanet)),
        })
        self.backbone = VocosBackbone(seanet.dimension, config.backbone_dim, config.intermediate_dim,
                                      config.num_layers, config.adanorm_num_embeddings)
        self.head = ISTFTHead(config.backbone_dim, config.n_fft, config.hop_length)

    @property
    def sample_rate(self) -> int:
        return self.config.sample_rate

    @property
    def hop_length(self) -> int:
        return self.config.hop_length

    @property
    def codebook_size(self) -> int:
        return self.config.codebook_size

    @property
    def encoder(self) -> SeanetEncoder:
        return self.feature_extractor.encodec["encoder"]

    @property
    def quantizer(self) -> Quantizer:
        return self.feature_extractor.encodec["quantizer"]

    @property
    def device(self) -> torch.device:
        return self.head.out.weight.device

    @torch.no_grad()
    def encode(self, wav: torch.Tensor) -> torch.Tensor:
        """Waveform (B, samples) at ``sample_rate`` → int64 codes (B, 1, ceil(samples / hop_length))."""
        if wav.dim() != 2 or wav.shape[-1] == 0:
            raise ValueError(f"encode expects a waveform batch (B, samples) with samples > 0, got shape "
                             f"{tuple(wav.shape)}")
        wav = wav.to(device=self.device, dtype=torch.float32)
        return self.quantizer.encode(self.encoder(wav[:, None]))

    @torch.no_grad()
    def codes_to_features(self, codes: torch.Tensor) -> torch.Tensor:
        """Codes (B, n_q, frames) → quantized features (B, dimension, frames): the codebook rows, summed."""
        if codes.dim() != 3 or codes.is_floating_point() or codes.is_complex():
            raise ValueError(f"codes must be an integer tensor (B, n_q, frames), got {codes.dtype} "
                             f"{tuple(codes.shape)}")
        if not 1 <= codes.shape[1] <= self.config.num_quantizers or codes.shape[-1] == 0:
            raise ValueError(f"codes must have 1..{self.config.num_quantizers} codebooks and at least one frame, "
                             f"got shape {tuple(codes.shape)}")
        codes = codes.to(device=self.device, dtype=torch.long)
        low, high = int(codes.min()), int(codes.max())
        if low < 0 or high >= self.codebook_size:
            raise ValueError(f"codes must lie in 0..{self.codebook_size - 1}, got {low}..{high}")
        return self.quantizer.decode(codes)

    @torch.no_grad()
    def decode_features(self, features: torch.Tensor) -> torch.Tensor:
        """Quantized features (B, dimension, frames) → waveform (B, frames · hop_length)."""
        return self.head(self.backbone(features, self.config.bandwidth_id))

    def decode(self, codes: torch.Tensor) -> torch.Tensor:
        """Codes (B, n_q, frames) → waveform (B, frames · hop_length) at ``sample_rate``."""
        return self.decode_features(self.codes_to_features(codes))
