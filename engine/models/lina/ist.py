"""Initial-state tuning (IST): a voice learned as the starting recurrent state of every GLA block.

Each GLA block i before and after the cross-attention gets rank-r factors ``k_i`` [1, r, H, d_k, 1] and
``v_i`` [1, r, H, 1, d_v]; its initial state is ``0.02 · Σ_r k_r v_rᵀ``. Only these are trained — Adam,
lr 0.1, micro-batches of 2 whose gradients are summed over 4 before each update, the frozen model in
training mode (its dropout active), teacher-forced cross-entropy — as the reference's
``train_initial_state``. A voice file is a safetensors file with the keys ``layer{i}_k`` / ``layer{i}_v``,
a few hundred KB for the released model.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping, Sequence

import torch
from torch.nn.utils.rnn import pad_sequence

from engine.errors import BadInputError
from engine.fileio import atomic_path
from engine.models.lina.model import PAD_TOKEN, START_TOKEN, STOP_TOKEN, LinaModel

_VOICE_KEY = re.compile(r"layer(\d+)_(k|v)")


@dataclass(frozen=True)
class IstExample:
    """One utterance of the speaker: its text ids (with [BOS]/[EOS]) and its codec codes [n_quant, frames]."""

    text_ids: torch.Tensor
    codes: torch.Tensor


def collate(examples: Sequence[IstExample], n_special: int = 3) -> tuple[torch.Tensor, torch.Tensor]:
    """Padded text ids [B, N] and audio tokens [B, frames + 2, n_quant] = [start, codes + 3, stop], 0-padded
    (the reference's ``simple_collate`` for one codebook)."""
    texts = [example.text_ids.reshape(-1).long() for example in examples]
    audio = []
    for example in examples:
        codes = example.codes.reshape(example.codes.shape[0] if example.codes.dim() == 2 else 1, -1).long()
        tokens = torch.cat([torch.full((codes.shape[0], 1), START_TOKEN), codes + n_special,
                            torch.full((codes.shape[0], 1), STOP_TOKEN)], dim=1)
        audio.append(tokens.T)
    return (pad_sequence(texts, batch_first=True, padding_value=PAD_TOKEN),
            pad_sequence(audio, batch_first=True, padding_value=PAD_TOKEN))


def new_voice(model: LinaModel, rank: int = 1, seed: int = 0) -> dict[str, torch.Tensor]:
    """Fresh parameters drawn as the reference does (k ~ N(0, 1), v ~ N(0, 0.02²))."""
    generator = torch.Generator().manual_seed(seed)
    device = model.txt_embed.weight.device
    params = {}
    for name, shape in model.ist_shapes(rank).items():
        value = torch.randn(shape, generator=generator)
        params[name] = (value if name.endswith("_k") else value * 0.02).to(device)
    return params


def save_voice(path: str | Path, params: Mapping[str, torch.Tensor], metadata: Mapping[str, str] | None = None
               ) -> Path:
    """Write the parameters as a safetensors voice file, atomically."""
    from safetensors.torch import save_file

    path = Path(path)
    tensors = {name: value.detach().float().cpu().contiguous() for name, value in params.items()}
    with atomic_path(path) as temp:
        save_file(tensors, str(temp), metadata=dict(metadata or {}))
    return path


def load_voice(path: str | Path) -> dict[str, torch.Tensor]:
    """The parameters of a voice file; a file that is not one is named with the problem. Whether it fits a
    given model is checked by :meth:`LinaModel.initial_state`."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    path = Path(path)
    if not path.is_file():
        raise BadInputError(path, "voice file not found")
    try:
        params = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as exc:
        raise BadInputError(path, f"not a voice file ({exc})") from exc
    strays = sorted(name for name in params if not _VOICE_KEY.fullmatch(name))
    layers = {int(match.group(1)) for name in params if (match := _VOICE_KEY.fullmatch(name))}
    complete = layers == set(range(len(layers))) and all(
        f"layer{i}_{part}" in params for i in layers for part in "kv")
    if strays or not layers or not complete:
        raise BadInputError(path, "not a voice file (expected layer0_k, layer0_v, layer1_k, ... only)")
    return params


class IstTrainer:
    """Learns a voice: only the IST parameters change (the model is frozen: ``requires_grad_(False)``).
    ``step`` takes one optimizer update's worth of examples (``batch_size × grad_accumulation``);
    ``state_dict`` / ``load_state_dict`` resume training."""

    def __init__(self, model: LinaModel, params: Mapping[str, torch.Tensor] | None = None, *, rank: int = 1,
                 lr: float = 0.1, batch_size: int = 2, grad_accumulation: int = 4, seed: int = 0):
        if model.txt_embed.weight.dtype != torch.float32:
            raise ValueError("initial-state tuning needs the model's weights in float32")
        self.model = model.requires_grad_(False)
        start = new_voice(model, rank, seed) if params is None else params
        self.params = {name: value.detach().float().clone().requires_grad_(True) for name, value in start.items()}
        model.initial_state(self.params)  # fits this model, or says why not
        self.optimizer = torch.optim.Adam(list(self.params.values()), lr=lr)
        self.batch_size = batch_size
        self.grad_accumulation = grad_accumulation
        self.seed = seed
        self.updates = 0

    def loss(self, examples: Sequence[IstExample]) -> torch.Tensor:
        """The teacher-forced loss of ``examples`` from the current voice (differentiable in it)."""
        text_ids, audio_tokens = collate(examples, self.model.config.n_special_token_in)
        device = self.model.txt_embed.weight.device
        state = self.model.initial_state(self.params, batch_size=len(examples))
        return self.model.loss(text_ids.to(device), audio_tokens.to(device), state)

    @torch.no_grad()
    def evaluate(self, examples: Sequence[IstExample]) -> float:
        """The loss without dropout, for a loss curve that is comparable between updates."""
        was_training = self.model.training
        self.model.eval()
        try:
            return sum(self.loss(examples[i:i + self.batch_size]).item() * len(examples[i:i + self.batch_size])
                       for i in range(0, len(examples), self.batch_size)) / max(len(examples), 1)
        finally:
            self.model.train(was_training)

    def step(self, examples: Sequence[IstExample]) -> float:
        """One Adam update from the summed gradients of the micro-batches of ``examples``; returns their mean
        training loss."""
        was_training = self.model.training
        self.model.train()  # dropout as in the reference's training; the weights stay frozen
        losses = []
        try:
            device = self.model.txt_embed.weight.device
            with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
                torch.manual_seed(self.seed * 1_000_003 + self.updates)
                for i in range(0, len(examples), self.batch_size):
                    loss = self.loss(examples[i:i + self.batch_size])
                    loss.backward()
                    losses.append(loss.item())
            self.optimizer.step()
            self.optimizer.zero_grad(set_to_none=True)
        finally:
            self.model.train(was_training)
        self.updates += 1
        return sum(losses) / max(len(losses), 1)

    def voice(self) -> dict[str, torch.Tensor]:
        """The current parameters, detached (for :func:`save_voice` or :meth:`LinaModel.initial_state`)."""
        return {name: value.detach().clone() for name, value in self.params.items()}

    def state_dict(self) -> dict[str, torch.Tensor]:
        """Parameters, Adam moments and the update count as tensors (safetensors-friendly)."""
        state = {f"param.{name}": value.detach() for name, value in self.params.items()}
        for name, value in self.params.items():
            moments = self.optimizer.state.get(value, {})
            for key in ("exp_avg", "exp_avg_sq"):
                if key in moments:
                    state[f"adam.{key}.{name}"] = moments[key]
        state["updates"] = torch.tensor(self.updates)
        return state

    def load_state_dict(self, state: Mapping[str, torch.Tensor]) -> None:
        with torch.no_grad():
            for name, value in self.params.items():
                value.copy_(state[f"param.{name}"])
                if f"adam.exp_avg.{name}" in state:
                    self.optimizer.state[value] = {
                        "step": torch.tensor(float(state["updates"])),
                        "exp_avg": state[f"adam.exp_avg.{name}"].clone().to(value.device),
                        "exp_avg_sq": state[f"adam.exp_avg_sq.{name}"].clone().to(value.device)}
        self.updates = int(state["updates"])


def _drawn(count: int, first: int, total: int, seed: int) -> list[int]:
    """Example indices ``first .. first + count − 1`` of an endless draw without replacement: pass p is a
    permutation seeded by (seed, p), so a resumed run continues the same sequence."""
    indices = []
    for k in range(first, first + count):
        permutation = list(range(total))
        random.Random(seed * 1_000_003 + k // total).shuffle(permutation)
        indices.append(permutation[k % total])
    return indices


def train_voice(model: LinaModel, examples: Sequence[IstExample], updates: int, *,
                trainer: IstTrainer | None = None, seed: int = 0,
                on_update: Callable[[int, float], None] | None = None,
                cancel: Callable[[], None] | None = None) -> IstTrainer:
    """``updates`` optimizer updates over ``examples`` drawn without replacement (reshuffled each pass, as
    the reference's sampler); ``trainer`` continues an earlier run. on_update(update, training loss) after
    each; cancel() between updates. Returns the trainer (its ``voice()`` is the result)."""
    if not examples:
        raise BadInputError(None, "no examples to learn the voice from")
    trainer = trainer or IstTrainer(model, seed=seed)
    per_update = trainer.batch_size * trainer.grad_accumulation
    for _ in range(updates):
        if cancel is not None:
            cancel()
        chosen = _drawn(per_update, trainer.updates * per_update, len(examples), trainer.seed)
        loss = trainer.step([examples[i] for i in chosen])
        if on_update is not None:
            on_update(trainer.updates, loss)
    return trainer
