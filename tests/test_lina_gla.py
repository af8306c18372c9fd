"""Lina's GLA: the parallel, chunked, recurrent and deferred decoding paths compute the same thing, also from
a carried-in state and with extreme gates; the layer's sequence path equals its packed single-token path;
gradients of the initial-state tuning reach its parameters and nothing else."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from engine.models.lina.config import LinaConfig
from engine.models.lina.gla import (PENDING_CAPACITY, GatedLinearAttention, GLAState, gla_chunked, gla_decode_step_,
                                    gla_parallel, gla_recurrent, gla_sequence)
from engine.models.lina.ist import IstExample, IstTrainer
from engine.models.lina.model import LinaModel

TINY = LinaConfig(d_model=32, n_layer=1, heads=2, text_layers=1, text_heads=2, n_codebook=40, n_txt_vocab=20,
                  pos_max_len=64, pos_kernel=5, dropout_att=0.1)


def _inputs(batch=2, heads=3, length=37, key_dim=8, value_dim=16, gate_scale=1.0, seed=0):
    generator = torch.Generator().manual_seed(seed)
    q, k = (torch.randn(batch, heads, length, key_dim, generator=generator) for _ in range(2))
    v = torch.randn(batch, heads, length, value_dim, generator=generator)
    g = F.logsigmoid(gate_scale * torch.randn(batch, heads, length, key_dim, generator=generator)) / 16
    state = torch.randn(batch, heads, key_dim, value_dim, generator=generator)
    return q, k, v, g, state


def _decoded(q, k, v, g, initial):
    """Token by token through the decoding step (deferred updates, folded every PENDING_CAPACITY tokens)."""
    state = GLAState(torch.zeros(q.shape[0], 1, 3), initial.clone())
    outputs = [gla_decode_step_(q[:, :, t], k[:, :, t], v[:, :, t], g[:, :, t], state) for t in range(q.shape[2])]
    return torch.stack(outputs, dim=2), state.settled().recurrent


@pytest.mark.parametrize("carried", [False, True])
@pytest.mark.parametrize("gate_scale", [1.0, 40.0])  # 40: decays down to exp(−2.5) a step, cumulated over chunks
def test_the_four_paths_agree(carried, gate_scale):
    q, k, v, g, state = _inputs(gate_scale=gate_scale)
    initial = state if carried else torch.zeros_like(state)
    reference_o, reference_state = gla_recurrent(q, k, v, g, initial)
    results = {"parallel": gla_parallel(q, k, v, g, initial), "chunk 16": gla_chunked(q, k, v, g, initial),
               "chunk 5": gla_chunked(q, k, v, g, initial, chunk_size=5), "decode": _decoded(q, k, v, g, initial),
               "sequence": gla_sequence(q, k, v, g, initial)}
    assert q.shape[2] > 2 * PENDING_CAPACITY  # the decoding path folds twice and ends with pending tokens
    for name, (o, final) in results.items():
        torch.testing.assert_close(o, reference_o, atol=2e-5, rtol=1e-4, msg=name)
        torch.testing.assert_close(final, reference_state, atol=2e-5, rtol=1e-4, msg=name)


def test_a_carried_state_changes_the_output():
    q, k, v, g, state = _inputs()
    assert (gla_chunked(q, k, v, g, state)[0] - gla_chunked(q, k, v, g)[0]).abs().max() > 0.1


def test_splitting_a_sequence_and_carrying_the_state_is_the_whole_sequence():
    q, k, v, g, _ = _inputs(length=30)
    whole, final = gla_chunked(q, k, v, g)
    first, middle = gla_chunked(q[:, :, :11], k[:, :, :11], v[:, :, :11], g[:, :, :11])
    second, end = gla_chunked(q[:, :, 11:], k[:, :, 11:], v[:, :, 11:], g[:, :, 11:], middle)
    torch.testing.assert_close(torch.cat([first, second], dim=2), whole, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(end, final, atol=1e-5, rtol=1e-4)


def test_the_layer_sequence_paths_equal_its_packed_step_including_convolution_caches():
    torch.manual_seed(0)
    layer = GatedLinearAttention(32, 2, 1.0, 2.0, 4, 16, 16, 1e-5).eval()
    x = torch.randn(2, 25, 32)
    with torch.no_grad():
        prefix, carried = layer(x[:, :9])
        expected = {path: layer(x, path=path)[0] for path in ("chunk", "recurrent", "parallel")}
        packed = layer.pack("fp32")
        state = carried.clone()
        steps = [packed.step(x[:, t], state) for t in range(9, 25)]
        rest, after = layer(x[:, 9:], carried)
    stepped = torch.cat([prefix, torch.stack(steps, dim=1)], dim=1)
    for path, y in expected.items():
        torch.testing.assert_close(stepped, y, atol=1e-5, rtol=1e-4, msg=path)
    torch.testing.assert_close(torch.cat([prefix, rest], dim=1), expected["chunk"], atol=1e-5, rtol=1e-4)
    settled = state.settled()
    torch.testing.assert_close(settled.recurrent, after.recurrent, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(settled.conv, after.conv)


def test_ist_gradients_reach_the_initial_state_parameters_only():
    model = LinaModel(TINY)
    trainer = IstTrainer(model, batch_size=2, grad_accumulation=1)
    examples = [IstExample(torch.tensor([1, 5, 6, 7, 2]), torch.randint(0, 40, (1, 9))),
                IstExample(torch.tensor([1, 8, 9, 2]), torch.randint(0, 40, (1, 6)))]
    model.train()
    trainer.loss(examples).backward()
    assert all(not p.requires_grad and p.grad is None for p in model.parameters())
    assert set(trainer.params) == {f"layer{i}_{part}" for i in range(2) for part in "kv"}
    for name, value in trainer.params.items():
        assert value.grad is not None and value.grad.abs().sum() > 0, name


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_flash_linear_attention_kernels_match_the_torch_path_on_cuda():
    pytest.importorskip("fla.ops.gla")
    q, k, v, g, state = (t.cuda() for t in _inputs(key_dim=64, value_dim=64))
    expected_o, expected_state = gla_chunked(q, k, v, g, state)
    o, final = gla_sequence(q, k, v, g, state)
    torch.testing.assert_close(o, expected_o, atol=1e-3, rtol=1e-3)
    torch.testing.assert_close(final, expected_state, atol=1e-3, rtol=1e-3)
