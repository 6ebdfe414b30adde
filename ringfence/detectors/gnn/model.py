"""The heterogeneous GraphSAGE network that scores accounts.

Two rounds of message passing over the account–identifier graph:

1. every identifier summarises its holders and every account summarises its
   identifiers (``SAGEConv`` with mean aggregation, one per edge type);
2. every account summarises its identifiers again, which now carry what the
   other holders look like.

So an account's score sees its own features, its identifiers' features and
the features of the accounts it shares identifiers with. Aggregation is a
sparse (CSR) matrix product per edge type, never a dense adjacency, so time
and memory grow with the number of links. Plain PyTorch and PyTorch
Geometric suffice: the compiled extras (pyg-lib, torch-scatter,
torch-sparse) are not needed.
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
    """Two-layer heterogeneous GraphSAGE with a logistic head on accounts.

    Args:
        in_dims: Feature count per node type.
        edge_types: ``(source, relation, target)`` triples to pass messages
            along; other edge types given to :meth:`forward` are ignored.
            Training passes the types that had edges, so a kind never seen
            shared cannot feed untrained weights at scoring time.
        hidden: Width of both hidden layers (default 64).
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
        An account's own state enters each layer once, through ``root1`` and
        ``root2``, rather than once per identifier kind as separate
        ``SAGEConv`` root weights would: the sum is the same model with a
        fraction of the dense work.
    """

    def __init__(
        self,
        in_dims: dict[str, int],
        edge_types: list[EdgeType],
        *,
        hidden: int = 64,
        dropout: float = 0.2,
    ) -> None:
        super().__init__()
        self.edge_types: list[EdgeType] = [(s, r, d) for s, r, d in edge_types]
        self.dropout = dropout
        to_account = [et for et in self.edge_types if et[2] == ACCOUNT]
        with warnings.catch_warnings():
            # identifiers are only read in the first round, on purpose
            warnings.filterwarnings("ignore", message="There exist node types")
            self.first = HeteroConv(
                {
                    et: SAGEConv(
                        (in_dims[et[0]], in_dims[et[2]]),
                        hidden,
                        root_weight=et[2] != ACCOUNT,
                    )
                    for et in self.edge_types
                },
                aggr="sum",
            )
            self.second = HeteroConv(
                {
                    et: SAGEConv((hidden, hidden), hidden, root_weight=False)
                    for et in to_account
                },
                aggr="sum",
            )
        self.root1 = nn.Linear(in_dims[ACCOUNT], hidden)
        self.root2 = nn.Linear(hidden, hidden)
        self.head = nn.Linear(hidden, 1)

    def forward(
        self, x_dict: dict[str, Tensor], adj_dict: dict[EdgeType, Tensor]
    ) -> Tensor:
        adj = {et: adj_dict[et] for et in self.edge_types}
        x = x_dict[ACCOUNT]

        h = self.first(x_dict, adj) if adj else {}
        account = self.root1(x)
        if ACCOUNT in h:
            account = account + h[ACCOUNT]
        h = {k: torch.relu(v) for k, v in h.items()}
        h[ACCOUNT] = self._drop(torch.relu(account))

        to_account = {et: a for et, a in adj.items() if et[2] == ACCOUNT}
        out = self.root2(h[ACCOUNT])
        if to_account:
            out = out + self.second(h, to_account)[ACCOUNT]
        return self.head(self._drop(torch.relu(out))).squeeze(-1)

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
