"""Parameters of the ``lstm`` and ``mlp`` models (pydantic; no torch import, so listing and validating a
config stays cheap)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class NetParams(BaseModel):
    """What the LSTM and the MLP share: network size, optimiser, early stopping, reproducibility."""

    model_config = ConfigDict(extra="forbid")

    hidden_size: int = Field(32, ge=1, le=4096, description="Units per hidden layer (LSTM state size)")
    num_layers: int = Field(1, ge=1, le=8, description="Stacked LSTM layers / hidden layers of the MLP")
    dropout: float = Field(0.0, ge=0.0, lt=1.0, description="Dropout between layers and before the output "
                                                            "layer while training")
    epochs: int = Field(20, ge=1, le=10_000, description="Passes over the training windows (upper bound with "
                                                        "early stopping)")
    batch_size: int = Field(256, ge=1, le=1_000_000, description="Windows per optimiser step")
    learning_rate: float = Field(1e-3, gt=0.0, le=1.0, description="AdamW step size")
    weight_decay: float = Field(0.0, ge=0.0, le=1.0, description="AdamW decoupled weight decay")
    early_stopping_patience: int = Field(
        5, ge=0, le=10_000,
        description="Stop after this many epochs without a lower loss on the validation slice the train "
                    "stage provides, keeping the best epoch's weights (0: off, train every epoch)")
    seed: int | None = Field(None, ge=0, description="Seed of the initial weights, shuffling and dropout "
                                                    "(default: the config's seed)")
    threads: int = Field(1, ge=1, le=256, description="CPU threads for torch while this model runs; results "
                                                     "are bit-identical for the same seed and thread count")


class LSTMParams(NetParams):
    lookback: int = Field(20, ge=2, le=2_000, description="Bars per sequence: row t reads its ticker's feature "
                                                          "rows t-lookback+1 .. t")


class MLPParams(NetParams):
    """The MLP reads one row: no ``lookback``."""
