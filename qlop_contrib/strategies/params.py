"""Params models of the bundled strategies (pydantic only, so the GUI can build forms cheaply)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from qlop.api import number


class ProbabilityThresholdParams(BaseModel):
    """Trade the model's probability of a leverage opportunity against fixed thresholds."""

    model_config = ConfigDict(extra="forbid")

    entry: float = number(
        0.6, gt=0, lt=1, unit="(probability)", description="Go long when the predicted probability is at least this"
    )
    short_entry: float | None = number(
        None,
        gt=0,
        lt=1,
        unit="(probability)",
        description="Go short when the probability is at most this (None: long only)",
    )
    exit: float | None = number(
        None,
        gt=0,
        lt=1,
        unit="(probability)",
        description="Hold a long until the probability falls below this (None: "
        "with barriers on, positions leave by their barriers only; with "
        "barriers='none', `entry`)",
    )
    short_exit: float | None = number(
        None,
        gt=0,
        lt=1,
        unit="(probability)",
        description="Hold a short until the probability rises above this "
        "(None: `short_entry` when signal exits are on)",
    )
    barriers: Literal["label", "custom", "none"] = Field(
        "label",
        description="Exit barriers: 'label' uses the label's take-profit, stop-loss and horizon, so each "
        "trade is exactly the labelled one; 'custom' uses the values below; 'none' holds "
        "positions while the signal lasts",
    )
    take_profit: float | None = number(
        None,
        gt=0,
        le=100,
        unit="(price fraction)",
        description="Take-profit as a price fraction (overrides the label's)",
    )
    stop_loss: float | None = number(
        None, gt=0, le=100, unit="(price fraction)", description="Stop-loss as a price fraction (overrides the label's)"
    )
    horizon: int | None = number(
        None,
        ge=1,
        le=5000,
        unit="bars",
        description="Bars a trade is held at most, entry bar included (overrides the label's)",
    )
    sizing: Literal["fixed", "probability"] = Field(
        "fixed",
        description="'fixed': every position gets position_size of equity; 'probability': scaled by the "
        "edge, (p - 0.5) / 0.5 for longs and (0.5 - p) / 0.5 for shorts",
    )

    @model_validator(mode="after")
    def _ordered(self) -> "ProbabilityThresholdParams":
        if self.short_entry is not None and self.short_entry >= self.entry:
            raise ValueError(f"short_entry ({self.short_entry}) must be below entry ({self.entry})")
        if self.exit is not None and self.exit > self.entry:
            raise ValueError(f"exit ({self.exit}) must not be above entry ({self.entry})")
        if self.exit is not None and self.short_entry is not None and self.exit <= self.short_entry:
            raise ValueError(f"exit ({self.exit}) must be above short_entry ({self.short_entry})")
        if self.short_exit is not None:
            if self.short_entry is None:
                raise ValueError("short_exit needs short_entry")
            if self.short_exit < self.short_entry:
                raise ValueError(f"short_exit ({self.short_exit}) must not be below short_entry ({self.short_entry})")
            if self.short_exit >= self.entry:
                raise ValueError(f"short_exit ({self.short_exit}) must be below entry ({self.entry})")
        if self.barriers == "custom" and self.horizon is None and self.take_profit is None and self.stop_loss is None:
            raise ValueError("barriers='custom' needs at least one of take_profit, stop_loss, horizon")
        return self


class TopKParams(BaseModel):
    """Cross-sectional selection: the k tickers with the highest predicted probability."""

    model_config = ConfigDict(extra="forbid")

    k: int = number(5, ge=1, le=10_000, unit="tickers", description="Tickers held after each rebalance")
    rebalance_every: int = number(
        5, ge=1, le=10_000, unit="trading days", description="Trading days between rebalances"
    )
    min_prob: float = number(
        0.0,
        ge=0,
        lt=1,
        unit="(probability)",
        description="Only tickers whose probability is at least this are eligible",
    )
    short_k: int = number(
        0, ge=0, le=10_000, unit="tickers", description="Also short the k lowest-probability tickers (0: long only)"
    )
    weighting: Literal["signal", "equal", "score", "inverse_vol"] = Field(
        "signal",
        description='"signal": held positions are not resized (position_size sizes each); "equal", "score" '
        '(the probability of the side) or "inverse_vol" (1 / realised volatility): target weights that sum to '
        "gross, re-set on every rebalance date (positions resized)",
    )
    gross: float = number(
        1.0, gt=0, le=100, unit="x equity", description="Sum of the absolute target weights (weighting != signal)"
    )
    vol_lookback: int = number(
        20, ge=2, le=5000, unit="bars", description="Returns in the realised volatility of inverse_vol (causal)"
    )


class SmaCrossoverParams(BaseModel):
    """Trend following on the close: the classic moving-average crossover."""

    model_config = ConfigDict(extra="forbid")

    fast: int = number(20, ge=1, le=5000, unit="bars", description="Bars in the fast simple moving average")
    slow: int = number(50, ge=2, le=5000, unit="bars", description="Bars in the slow simple moving average")
    allow_short: bool = Field(False, description="Short while the fast average is below the slow one")

    @model_validator(mode="after")
    def _fast_below_slow(self) -> "SmaCrossoverParams":
        if self.fast >= self.slow:
            raise ValueError(f"fast ({self.fast}) must be shorter than slow ({self.slow})")
        return self


class BuyAndHoldParams(BaseModel):
    """Buy at the first open and hold to the end."""

    model_config = ConfigDict(extra="forbid")

    tickers: list[str] = Field(default_factory=list, description="Tickers to hold (empty: every ticker in the data)")
