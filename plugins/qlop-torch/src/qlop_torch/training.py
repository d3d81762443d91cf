"""The training loop: mini-batch AdamW, early stopping on the validation slice, one progress step per epoch.

Classification minimises binary cross-entropy on the logit; regression the squared error of the
standardised target. The weights of the epoch with the lowest validation loss are kept (with no
validation rows, those of the last epoch).
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch.nn import functional as F

from qlop.api import stage_progress
from qlop_torch.runtime import Stopwatch, batch_inputs, score


@dataclass
class Batches:
    """Training inputs as torch tensors: the feature rows and, per example, its row or window index."""

    X: torch.Tensor
    index: torch.Tensor
    y: torch.Tensor

    def __len__(self) -> int:
        return int(self.index.shape[0])


@dataclass
class FitResult:
    best_epoch: int
    epochs_run: int
    early_stopped: bool
    train_loss: float
    val_loss: float | None
    history: list[dict[str, float]] = field(default_factory=list)


def _loss(task: str, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    if task == "classification":
        return F.binary_cross_entropy_with_logits(output, target)
    return F.mse_loss(output, target)


def _val_loss(net: torch.nn.Module, task: str, val: Batches) -> float:
    out = torch.from_numpy(score(net, val.X, val.index, output="standardised"))
    return float(_loss(task, out, val.y))


def fit(
    net: torch.nn.Module, task: str, params: Any, train: Batches, val: Batches | None, seed: int, watch: Stopwatch
) -> FitResult:
    """Train ``net`` in place (inside :func:`qlop_torch.runtime.torch_runtime`, which seeds the weights
    and dropout; ``seed`` also orders the mini-batches)."""
    optimiser = torch.optim.AdamW(net.parameters(), lr=params.learning_rate, weight_decay=params.weight_decay)
    generator = torch.Generator().manual_seed(seed)
    patience = params.early_stopping_patience if val is not None and len(val) else 0
    best_loss, best_epoch, best_state, bad = math.inf, 0, None, 0
    history: list[dict[str, float]] = []
    n, bs = len(train), params.batch_size
    train_loss, val_loss = math.nan, None
    with stage_progress("train.epochs", total=params.epochs, unit="epoch") as progress:
        for epoch in range(1, params.epochs + 1):
            with watch:
                net.train()
                order = torch.randperm(n, generator=generator)
                total = 0.0
                for start in range(0, n, bs):
                    pick = order[start : start + bs]
                    optimiser.zero_grad(set_to_none=True)
                    loss = _loss(task, net.forward_std(batch_inputs(train.X, train.index[pick])), train.y[pick])
                    loss.backward()
                    optimiser.step()
                    total += float(loss.detach()) * pick.shape[0]
                train_loss = total / n
                val_loss = _val_loss(net, task, val) if val is not None and len(val) else None
            record = {"epoch": epoch, "train_loss": train_loss}
            if val_loss is not None:
                record["val_loss"] = val_loss
            history.append(record)
            if not patience:  # no early stopping: the last epoch's weights are kept
                best_epoch = epoch
            elif val_loss is not None and val_loss < best_loss:
                best_loss, best_epoch, bad = val_loss, epoch, 0
                best_state = copy.deepcopy(net.state_dict())
            else:
                bad += 1
            text = f"epoch {epoch}/{params.epochs}: loss {train_loss:.4f}"
            if val_loss is not None:
                text += f", val {val_loss:.4f}"
            progress.advance(message=text, metrics=record)
            if patience and bad >= patience:
                break
    if best_state is not None:
        net.load_state_dict(best_state)
    net.eval()
    stopped = bool(patience and bad >= patience)
    kept = history[best_epoch - 1]
    return FitResult(
        best_epoch=best_epoch,
        epochs_run=len(history),
        early_stopped=stopped,
        train_loss=float(kept["train_loss"]),
        val_loss=kept.get("val_loss"),
        history=history,
    )


def as_tensor(values: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(values, dtype=np.float32))
