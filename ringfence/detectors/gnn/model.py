"""The heterogeneous GraphSAGE network that scores accounts.

Rounds of message passing over the account–identifier graph; in each one
every identifier summarises its holders and every account summarises its
identifiers (``SAGEConv`` with mean aggregation, one per edge type, so each
identifier kind keeps its own weights), and the last round only updates
accounts. Two rounds let an account see the accounts it shares identifiers
with (one account hop), the default; four reach the accounts those share
identifiers with (two account hops). A ring that hides behind honest
neighbours or spreads over weak links, one stranger per identifier, shows
itself only that far out.

Aggregation is a sparse (CSR) matrix product per edge type, never a dense
adjacency, so time and memory grow with the number of links times the
number of rounds. Plain PyTorch and PyTorch Geometric suffice: the compiled
extras (pyg-lib, torch-scatter, torch-sparse) are not needed.
"""

from __future__ import annotations

import warnings

import torch
from torch import Tensor, nn
from torch_geometric.data import HeteroData
from torch_geometric.nn import HeteroConv, SAGEConv
from torch_geometric.utils import to_torch_csr_tensor

__all__ = ["RingSage", "network_inputs"]

ACCOUNT = "account"

EdgeType = tuple[str, str, str]


class RingSage(nn.Module):
    """Heterogeneous GraphSAGE with a logistic head on accounts.

    Args:
        in_dims: Feature count per node type.
        edge_types: ``(source, relation, target)`` triples to pass messages
            along; other edge types given to :meth:`forward` are ignored.
            Training passes the types that had edges, so a kind never seen
            shared cannot feed untrained weights at scoring time.
        hidden: Width of every hidden layer (default 64).
        layers: Rounds of message passing, at least 2 (default 2: one
            account hop; 4 reach two).
        dropout: Dropout on the account states while training (default
            0.2). Identifier states are not dropped: there are many more of
            them and each is rebuilt from its holders anyway.

    Shapes:
        ``forward`` takes ``x_dict`` (``[n_type, in_dims[type]]`` per node
        type) and ``adj_dict`` (per edge type, an ``edge_index`` of shape
        ``[2, n_edges]`` or the transposed sparse adjacency from
        :func:`network_inputs`) and returns account logits of shape
        ``[n_accounts]``.

    Notes:
        An account's own state enters each layer once, through ``roots``,
        rather than once per identifier kind as separate ``SAGEConv`` root
        weights would: the sum is the same model with a fraction of the
        dense work. The head reads the account states of every layer
        (concatenated), so what the near neighbourhood says is not washed
        out by the far one.
    """

    def __init__(
        self,
        in_dims: dict[str, int],
        edge_types: list[EdgeType],
        *,
        hidden: int = 64,
        layers: int = 2,
        dropout: float = 0.2,
    ) -> None:
        super().__init__()
        if layers < 2:
            raise ValueError(f"layers must be at least 2, got {layers}")
        self.edge_types: list[EdgeType] = [(s, r, d) for s, r, d in edge_types]
        self.layers = layers
        self.dropout = dropout
        self.convs = nn.ModuleList()
        self.roots = nn.ModuleList()
        dims = dict(in_dims)
        for depth in range(layers):
            last = depth == layers - 1
            types = [et for et in self.edge_types if et[2] == ACCOUNT or not last]
            with warnings.catch_warnings():
                # the last round updates accounts only, on purpose
                warnings.filterwarnings("ignore", message="There exist node types")
                self.convs.append(
                    HeteroConv(
                        {
                            et: SAGEConv(
                                (dims[et[0]], dims[et[2]]),
                                hidden,
                                root_weight=et[2] != ACCOUNT,
                            )
                            for et in types
                        },
                        aggr="sum",
                    )
                )
            self.roots.append(nn.Linear(dims[ACCOUNT], hidden))
            dims = {node_type: hidden for node_type in dims}
        self.head = nn.Linear(hidden * layers, 1)

    def forward(
        self, x_dict: dict[str, Tensor], adj_dict: dict[EdgeType, Tensor]
    ) -> Tensor:
        adj = {et: adj_dict[et] for et in self.edge_types}
        h = dict(x_dict)
        states = []
        for depth in range(self.layers):
            h = self._round(depth, h, adj)
            states.append(h[ACCOUNT])
        return self.head(torch.cat(states, dim=-1)).squeeze(-1)

    def _round(
        self, depth: int, h: dict[str, Tensor], adj: dict[EdgeType, Tensor]
    ) -> dict[str, Tensor]:
        """One round of message passing; returns the new states."""
        last = depth == self.layers - 1
        edges = {et: a for et, a in adj.items() if et[2] == ACCOUNT or not last}
        out = self.convs[depth](h, edges) if edges else {}
        account = self.roots[depth](h[ACCOUNT])
        if ACCOUNT in out:
            account = account + out[ACCOUNT]
        new = {} if last else {
            k: torch.relu(v) for k, v in out.items() if k != ACCOUNT
        }
        new[ACCOUNT] = self._drop(torch.relu(account))
        return new

    def _drop(self, h: Tensor) -> Tensor:
        return nn.functional.dropout(h, p=self.dropout, training=self.training)


def network_inputs(
    data: HeteroData, device: torch.device
) -> tuple[dict[str, Tensor], dict[EdgeType, Tensor]]:
    """Features and transposed CSR adjacencies of ``data`` on ``device``.

    A CSR product aggregates each node's neighbours without materialising
    one feature row per edge, which is several times faster on CPU than
    gathering and scattering along ``edge_index``; results are identical.
    """
    x_dict = {k: v.to(device) for k, v in data.x_dict.items()}
    adj_dict = {}
    with warnings.catch_warnings():
        # torch flags CSR tensors as beta; the product used here is stable
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support")
        warnings.filterwarnings("ignore", message="Sparse invariant checks")
        for et, edge_index in data.edge_index_dict.items():
            size = (data[et[2]].num_nodes, data[et[0]].num_nodes)
            adj = to_torch_csr_tensor(edge_index.flip(0), size=size)
            adj_dict[et] = adj.to(device)
    return x_dict, adj_dict
