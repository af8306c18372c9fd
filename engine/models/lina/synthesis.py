"""Autoregressive synthesis of codec codes, as the reference's ``generate_batch`` but batched over variants
and with the prompt teacher-forced in one parallel pass.

The timeline is the reference's: the first input is the start token; with a prompt of P frames the next
P inputs are the prompt's tokens (code + 3, whatever the batch size: the reference skips the offset at
batch size 1, a bug not reproduced) and their predictions are discarded; from then on each sampled token
is fed back until it is the stop token. At most ``max_tokens`` steps in all, prompt included (the model
was trained on ≤ 2000 tokens, ~27 s). Codes are tokens − 3, clamped at 0; the prompt is not in the output.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

from engine.models.lina.blocks import LinaState
from engine.models.lina.model import START_TOKEN, STOP_TOKEN, LinaModel


@dataclass(frozen=True)
class SamplingSettings:
    top_k: int = 100
    temperature: float = 1.0
    max_tokens: int = 2000  # decoding steps including the prompt's

    def __post_init__(self):
        if self.top_k < 1 or self.temperature <= 0 or self.max_tokens < 1:
            raise ValueError(f"invalid sampling settings {self}: top_k ≥ 1, temperature > 0, max_tokens ≥ 1")


@dataclass
class Generation:
    codes: list[torch.Tensor]  # per variant: codec codes [n_quant, frames] (prompt trimmed, stop excluded)
    stopped: list[bool]  # per variant: ended with the stop token (False: ran out of max_tokens)
    steps: int  # decoding steps run after the prompt


def sample_top_k(logits: torch.Tensor, top_k: int, temperature: float,
                 generator: torch.Generator | None = None) -> torch.Tensor:
    """One token per row of ``logits`` [B, V] among the ``top_k`` most likely, at ``temperature``.
    (The reference compares temperature-scaled logits with an unscaled threshold; identical at 1.0.)"""
    values, indices = logits.float().topk(min(top_k, logits.shape[-1]), dim=-1)
    choice = torch.multinomial((values / temperature).softmax(dim=-1), 1, generator=generator)
    return indices.gather(-1, choice).squeeze(-1)


def _repeated(state: LinaState, batch_size: int) -> LinaState:
    return state.select(torch.zeros(batch_size, dtype=torch.long, device=state.pos_net.recurrent.device))


@torch.inference_mode()
def generate(model: LinaModel, text_ids: torch.Tensor, *, prompt_codes: torch.Tensor | None = None,
             init_state: LinaState | None = None, variants: int = 1,
             sampling: SamplingSettings = SamplingSettings(), seed: int | None = None,
             generator: torch.Generator | None = None, cancel: Callable[[], None] | None = None,
             on_token: Callable[[int, int], None] | None = None) -> Generation:
    """Codes for ``variants`` takes of one text.

    text_ids: [N] from :class:`TextTokenizer` (with the prompt's transcript before the text when
    ``prompt_codes`` [n_quant, P] is given). init_state: from :meth:`LinaModel.initial_state` (a learned
    voice), batch 1 or ``variants``; not modified. seed (or generator) makes the result reproducible.
    cancel() is called between tokens (it raises to stop); on_token(done, budget) after each token.
    """
    if model.config.n_quant != 1:
        raise ValueError("generation is implemented for single-codebook models (the released one)")
    device = model.txt_embed.weight.device
    if generator is None and seed is not None:
        generator = torch.Generator(device=device).manual_seed(seed)
    context = model.text_context(text_ids.reshape(1, -1).to(device))
    prompt_length = 0 if prompt_codes is None else prompt_codes.shape[-1]
    budget = sampling.max_tokens - prompt_length
    if budget < 1:
        raise ValueError(f"the prompt has {prompt_length} frames; at most {sampling.max_tokens - 1} fit")
    inputs = torch.full((1, 1, 1), START_TOKEN, dtype=torch.long, device=device)
    if prompt_codes is not None:
        prompt = prompt_codes.reshape(1, -1).T.unsqueeze(0).to(device) + model.config.n_special_token_in
        inputs = torch.cat([inputs, prompt], dim=1)
    if cancel is not None:
        cancel()
    if init_state is None or init_state.batch_size == 1:  # one prefill shared by every variant
        start = model.initial_state(batch_size=1) if init_state is None else init_state
        out = model.run(context, inputs, start)
        state = _repeated(out.state, variants)
        logits = out.logits[:, -1, 0].expand(variants, -1)
    elif init_state.batch_size == variants:  # a distinct initial state per variant
        out = model.run(context, inputs.expand(variants, -1, -1), init_state)
        state, logits = out.state, out.logits[:, -1, 0]
    else:
        raise ValueError(f"an initial state for {init_state.batch_size} sequences cannot start {variants} variants")

    codes: list[list[int]] = [[] for _ in range(variants)]
    stopped = [False] * variants
    active = list(range(variants))  # variant of each row of the running batch
    steps = 0
    while active and steps < budget:
        tokens = sample_top_k(logits, sampling.top_k, sampling.temperature, generator)
        steps += 1
        keep = []
        for row, token in enumerate(tokens.tolist()):
            variant = active[row]
            if token == STOP_TOKEN:
                stopped[variant] = True
            else:
                codes[variant].append(max(token - model.config.n_special_token_in, 0))
                keep.append(row)
        if on_token is not None:
            on_token(steps, budget)
        if not keep or steps == budget:
            break
        if cancel is not None:
            cancel()
        if len(keep) < len(active):
            rows = torch.tensor(keep, device=device)
            state, tokens = state.select(rows), tokens.index_select(0, rows)
            active = [active[row] for row in keep]
        logits = model.step(tokens.unsqueeze(-1), context, state)[0][:, 0]
    return Generation([torch.tensor(c, dtype=torch.long).reshape(1, -1) for c in codes], stopped, steps)
