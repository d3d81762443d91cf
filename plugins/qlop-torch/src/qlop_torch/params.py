"""Parameters of the ``lstm`` and ``mlp`` models (pydantic; no torch import, so listing and validating a
config stays cheap)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from qlop.api import number, seed_field


class NetParams(BaseModel):
    """What the LSTM and the MLP share: network size, optimiser, early stopping, reproducibility."""

    model_config = ConfigDict(extra="forbid")

    hidden_size: int = number(32, ge=1, le=4096, unit="units", description="Units per hidden layer (LSTM state size)")
    num_layers: int = number(1, ge=1, le=8, unit="layers", description="Stacked LSTM layers / hidden layers of the MLP")
    dropout: float = number(
        0.0,
        ge=0.0,
        lt=1.0,
        unit="(probability)",
        description="Dropout between layers and before the output layer while training",
    )
    epochs: int = number(
        20,
        ge=1,
        le=10_000,
        unit="epochs",
        description="Passes over the training windows (upper bound with early stopping)",
    )
    batch_size: int = number(256, ge=1, le=1_000_000, unit="windows", description="Windows per optimiser step")
    learning_rate: float = number(1e-3, gt=0.0, le=1.0, description="AdamW step size")
    weight_decay: float = number(0.0, ge=0.0, le=1.0, description="AdamW decoupled weight decay")
    early_stopping_patience: int = number(
        5,
        ge=0,
        le=10_000,
        unit="epochs",
        description="Stop after this many epochs without a lower loss on the validation slice the train "
        "stage provides, keeping the best epoch's weights (0: off, train every epoch)",
    )
    seed: int | None = seed_field(
        None, description="Seed of the initial weights, shuffling and dropout (default: the config's seed)"
    )
    threads: int = number(
        1,
        ge=1,
        le=256,
        unit="threads",
        description="CPU threads for torch while this model runs; results "
        "are bit-identical for the same seed and thread count",
    )


class LSTMParams(NetParams):
    lookback: int = number(
        20,
        ge=2,
        le=2_000,
        unit="bars",
        description="Bars per sequence: row t reads its ticker's feature rows t-lookback+1 .. t",
    )


class MLPParams(NetParams):
    """The MLP reads one row: no ``lookback``."""
