"""The networks: an LSTM over a window of feature rows and an MLP over one row.

Each network holds its scaler (feature means and scales from the training rows; for regression also
the target's) as non-persistent buffers: the weights file holds only learned weights, the scaler is
written to the JSON architecture file, and both the native model and its ONNX export standardise the
raw features inside the graph, so a bundle scores raw feature rows.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn


class ScaledNet(nn.Module):
    """Standardises inputs; ``forward_std`` is the output in training units (a logit, or the
    standardised target), ``forward`` in the label's units (a logit, or the predicted value)."""

    def __init__(self, scaler: dict[str, Any]) -> None:
        super().__init__()
        self.register_buffer("x_mean", torch.tensor(scaler["mean"], dtype=torch.float32), persistent=False)
        self.register_buffer("x_scale", torch.tensor(scaler["scale"], dtype=torch.float32), persistent=False)
        self.register_buffer(
            "y_mean", torch.tensor(float(scaler.get("target_mean", 0.0)), dtype=torch.float32), persistent=False
        )
        self.register_buffer(
            "y_scale", torch.tensor(float(scaler.get("target_scale", 1.0)), dtype=torch.float32), persistent=False
        )

    def standardise(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.x_mean) / self.x_scale

    def forward_std(self, x: torch.Tensor) -> torch.Tensor:  # pragma: no cover - overridden
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_std(x) * self.y_scale + self.y_mean


class LSTMNet(ScaledNet):
    """LSTM over ``[N, lookback, n_features]``; the last step's state feeds one linear output."""

    def __init__(
        self, n_features: int, hidden_size: int, num_layers: int, dropout: float, scaler: dict[str, Any]
    ) -> None:
        super().__init__(scaler)
        self.lstm = nn.LSTM(
            n_features, hidden_size, num_layers=num_layers, batch_first=True, dropout=dropout if num_layers > 1 else 0.0
        )
        self.drop = nn.Dropout(dropout)
        self.head = nn.Linear(hidden_size, 1)

    def forward_std(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.lstm(self.standardise(x))
        return self.head(self.drop(out[:, -1, :])).squeeze(-1)


class MLPNet(ScaledNet):
    """ReLU layers over ``[N, n_features]``; a missing feature reads as its training mean."""

    def __init__(
        self, n_features: int, hidden_size: int, num_layers: int, dropout: float, scaler: dict[str, Any]
    ) -> None:
        super().__init__(scaler)
        layers: list[nn.Module] = []
        width = n_features
        for _ in range(num_layers):
            layers += [nn.Linear(width, hidden_size), nn.ReLU(), nn.Dropout(dropout)]
            width = hidden_size
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(width, 1)

    def forward_std(self, x: torch.Tensor) -> torch.Tensor:
        z = self.standardise(x)
        z = torch.where(torch.isnan(z), torch.zeros_like(z), z)
        return self.head(self.body(z)).squeeze(-1)


NETS: dict[str, type[ScaledNet]] = {"lstm": LSTMNet, "mlp": MLPNet}


def build_net(arch: dict[str, Any]) -> ScaledNet:
    """The network described by an architecture document (see :mod:`qlop_torch.persistence`)."""
    return NETS[arch["kind"]](
        int(arch["n_features"]),
        int(arch["hidden_size"]),
        int(arch["num_layers"]),
        float(arch["dropout"]),
        arch["scaler"],
    )


class OnnxOutput(nn.Module):
    """What the exported graph returns: ``probabilities`` ``[N, 2]`` (classification; column 1 is the
    probability of label 1, as QLOP's bundles read it) or ``prediction`` ``[N, 1]`` (regression)."""

    def __init__(self, net: ScaledNet, task: str) -> None:
        super().__init__()
        self.net, self.task = net, task

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        value = self.net(x)
        if self.task == "classification":
            p = torch.sigmoid(value)
            return torch.stack([1.0 - p, p], dim=1)
        return value.unsqueeze(1)
