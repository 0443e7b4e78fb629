"""``modules.agentwise``: one set of weights per agent must equal one torch layer per agent."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from modules.agentwise import AgentwiseGRUCell, AgentwiseLayerNorm, AgentwiseLinear

N_AGENTS, BATCH, IN, HIDDEN = 3, 5, 4, 6


def test_agentwise_linear_shapes_and_init_range():
    layer = AgentwiseLinear(N_AGENTS, IN, HIDDEN)
    assert layer.weight.shape == (N_AGENTS, IN, HIDDEN)
    assert layer.bias.shape == (N_AGENTS, 1, HIDDEN)
    assert layer.weight.abs().max() <= 1 / IN**0.5 and layer.bias.abs().max() <= 1 / IN**0.5
    assert layer(torch.randn(BATCH, N_AGENTS, IN)).shape == (BATCH, N_AGENTS, HIDDEN)


def test_agentwise_linear_equals_one_linear_per_agent():
    torch.manual_seed(0)
    linears = [nn.Linear(IN, HIDDEN) for _ in range(N_AGENTS)]
    layer = AgentwiseLinear(N_AGENTS, IN, HIDDEN)
    with torch.no_grad():
        for i, linear in enumerate(linears):
            layer.weights[i].copy_(linear.weight.T)  # nn.Linear stores [out, in]
            layer.biases[i][0] = linear.bias
    x = torch.randn(BATCH, N_AGENTS, IN)
    expected = torch.stack([linears[i](x[:, i]) for i in range(N_AGENTS)], dim=1)
    torch.testing.assert_close(layer(x), expected)


def test_agent_parameters_are_that_agents_own_tensors():
    layer = AgentwiseGRUCell(N_AGENTS, IN, HIDDEN)
    owned = [{id(p) for p in layer.agent_parameters(i)} for i in range(N_AGENTS)]
    assert all(len(o) == 4 for o in owned) and not owned[0] & owned[1]
    assert set().union(*owned) == {id(p) for p in layer.parameters()}


def test_agentwise_linear_agents_are_independent():
    torch.manual_seed(1)
    layer = AgentwiseLinear(N_AGENTS, IN, HIDDEN)
    x = torch.randn(BATCH, N_AGENTS, IN, requires_grad=True)
    layer(x)[:, 1].sum().backward()
    assert torch.all(x.grad[:, [0, 2]] == 0) and torch.any(x.grad[:, 1] != 0)
    assert all(torch.all(layer.weights[i].grad == 0) for i in (0, 2)) and torch.any(layer.weights[1].grad != 0)


def copy_gru_cells(cells: list[nn.GRUCell], layer: AgentwiseGRUCell) -> None:
    """nn.GRUCell keeps weight_ih [3h, in] / weight_hh [3h, h] with gates stacked (r, z, n)."""
    with torch.no_grad():
        for i, cell in enumerate(cells):
            layer.input_gates.weights[i].copy_(cell.weight_ih.T)
            layer.input_gates.biases[i][0] = cell.bias_ih
            layer.hidden_gates.weights[i].copy_(cell.weight_hh.T)
            layer.hidden_gates.biases[i][0] = cell.bias_hh


@pytest.mark.parametrize("steps", [1, 4])
def test_agentwise_gru_cell_equals_one_gru_cell_per_agent(steps):
    torch.manual_seed(2)
    cells = [nn.GRUCell(IN, HIDDEN) for _ in range(N_AGENTS)]
    layer = AgentwiseGRUCell(N_AGENTS, IN, HIDDEN)
    copy_gru_cells(cells, layer)
    h = torch.randn(BATCH, N_AGENTS, HIDDEN)
    h_ref = [h[:, i] for i in range(N_AGENTS)]
    for _ in range(steps):
        x = torch.randn(BATCH, N_AGENTS, IN)
        h = layer(x, h)
        h_ref = [cells[i](x[:, i], h_ref[i]) for i in range(N_AGENTS)]
    assert h.shape == (BATCH, N_AGENTS, HIDDEN)
    torch.testing.assert_close(h, torch.stack(h_ref, dim=1))


def test_agentwise_gru_cell_gate_order_matters():
    # swapping the reset and update blocks of one agent must change the result: the layout is checked
    torch.manual_seed(3)
    cells = [nn.GRUCell(IN, HIDDEN) for _ in range(N_AGENTS)]
    layer = AgentwiseGRUCell(N_AGENTS, IN, HIDDEN)
    copy_gru_cells(cells, layer)
    x, h = torch.randn(BATCH, N_AGENTS, IN), torch.randn(BATCH, N_AGENTS, HIDDEN)
    with torch.no_grad():
        w = layer.input_gates.weights[0].clone()
        layer.input_gates.weights[0].copy_(torch.cat([w[:, HIDDEN : 2 * HIDDEN], w[:, :HIDDEN], w[:, 2 * HIDDEN :]], dim=1))
    assert not torch.allclose(layer(x, h)[:, 0], cells[0](x[:, 0], h[:, 0]))
    torch.testing.assert_close(layer(x, h)[:, 1:], torch.stack([cells[i](x[:, i], h[:, i]) for i in (1, 2)], 1))


def test_agentwise_gru_cell_init_range():
    layer = AgentwiseGRUCell(N_AGENTS, IN, HIDDEN)
    bound = 1 / HIDDEN**0.5  # nn.GRUCell's: 1/sqrt(hidden) for every parameter
    for p in layer.parameters():
        assert p.abs().max() <= bound


def test_agentwise_layer_norm_equals_one_layer_norm_per_agent():
    torch.manual_seed(4)
    norms = [nn.LayerNorm(HIDDEN) for _ in range(N_AGENTS)]
    layer = AgentwiseLayerNorm(N_AGENTS, HIDDEN)
    with torch.no_grad():
        for i, norm in enumerate(norms):  # distinct gains and shifts per agent
            norm.weight.normal_()
            norm.bias.normal_()
            layer.weights[i].copy_(norm.weight)
            layer.biases[i].copy_(norm.bias)
    x = 4.0 * torch.randn(BATCH, N_AGENTS, HIDDEN) + 2.0
    expected = torch.stack([norms[i](x[:, i]) for i in range(N_AGENTS)], dim=1)
    torch.testing.assert_close(layer(x), expected)
    owned = [{id(p) for p in layer.agent_parameters(i)} for i in range(N_AGENTS)]
    assert all(len(o) == 2 for o in owned) and not owned[0] & owned[1]
    assert set().union(*owned) == {id(p) for p in layer.parameters()}


def test_agentwise_layer_norm_on_one_agent_is_layer_norms_own_affine(monkeypatch):
    """One agent (HAPPO's per-agent steps) takes ``F.layer_norm`` with that agent's gain and shift
    (the fused kernel, faster on CPU): the same output and gradients as that agent's ``nn.LayerNorm``."""
    torch.manual_seed(7)
    layer = AgentwiseLayerNorm(N_AGENTS, HIDDEN)
    with torch.no_grad():
        for p in layer.parameters():
            p.normal_()
    norm = nn.LayerNorm(HIDDEN)
    with torch.no_grad():
        norm.weight.copy_(layer.weights[2])
        norm.bias.copy_(layer.biases[2])
    affine_calls = []
    layer_norm = torch.nn.functional.layer_norm
    monkeypatch.setattr(torch.nn.functional, "layer_norm",
                        lambda *a, **k: affine_calls.append(len(a) > 2 or "weight" in k) or layer_norm(*a, **k))
    x = (3.0 * torch.randn(BATCH, 1, HIDDEN) + 1.0).requires_grad_()
    x_ref = x.detach().clone().requires_grad_()
    upstream = torch.randn(BATCH, 1, HIDDEN)
    out = layer(x, [2])
    assert affine_calls == [True]
    expected = norm(x_ref)
    torch.testing.assert_close(out, expected, rtol=0, atol=0)
    (out * upstream).sum().backward()
    (expected * upstream).sum().backward()
    torch.testing.assert_close(x.grad, x_ref.grad)
    torch.testing.assert_close(layer.weights[2].grad, norm.weight.grad)
    torch.testing.assert_close(layer.biases[2].grad, norm.bias.grad)


def agentwise_layers() -> dict[str, tuple[nn.Module, int]]:
    """One of each agentwise layer (distinct LayerNorm gains/shifts per agent) and its input width."""
    norm = AgentwiseLayerNorm(N_AGENTS, HIDDEN)
    with torch.no_grad():
        for p in norm.parameters():
            p.normal_()
    return {"linear": (AgentwiseLinear(N_AGENTS, IN, HIDDEN), IN), "norm": (norm, HIDDEN),
            "gru": (AgentwiseGRUCell(N_AGENTS, IN, HIDDEN), IN)}


def run_layer(layer: nn.Module, x: torch.Tensor, h: torch.Tensor, agents=None) -> torch.Tensor:
    return layer(x, h, agents) if isinstance(layer, AgentwiseGRUCell) else layer(x, agents)


@pytest.mark.parametrize("name", ["linear", "norm", "gru"])
@pytest.mark.parametrize("agents", [[1], [2, 0], [0, 1, 2]])
def test_agentwise_layer_on_a_subset_equals_those_agents_columns(name, agents):
    torch.manual_seed(5)
    layer, width = agentwise_layers()[name]
    x, h = torch.randn(BATCH, N_AGENTS, width), torch.randn(BATCH, N_AGENTS, HIDDEN)
    subset = run_layer(layer, x[:, agents], h[:, agents], agents)
    assert subset.shape == (BATCH, len(agents), HIDDEN)
    torch.testing.assert_close(subset, run_layer(layer, x, h)[:, agents], rtol=0, atol=1e-6)


@pytest.mark.parametrize("name", ["linear", "norm", "gru"])
def test_agentwise_layer_on_a_subset_leaves_the_others_out_of_the_graph(name):
    """Only the selected agent's tensors get gradients; the others get none (not even zeros)."""
    torch.manual_seed(6)
    layer, width = agentwise_layers()[name]
    x, h = torch.randn(BATCH, 1, width), torch.randn(BATCH, 1, HIDDEN)
    (run_layer(layer, x, h, [1]) * torch.randn(BATCH, 1, HIDDEN)).sum().backward()
    assert all(p.grad is not None and torch.any(p.grad != 0) for p in layer.agent_parameters(1))
    assert all(p.grad is None for i in (0, 2) for p in layer.agent_parameters(i))
