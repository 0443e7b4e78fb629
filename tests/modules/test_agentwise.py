"""``modules.agentwise``: one set of weights per agent must equal one torch layer per agent."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from modules.agentwise import AgentwiseGRUCell, AgentwiseLinear

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
