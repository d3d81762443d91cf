"""Running torch reproducibly on a CPU, and scoring in a way that makes a row's output its own.

Determinism (documented in the README): a fixed seed for the initial weights, the shuffling and the
dropout masks (``torch.manual_seed`` inside ``torch.random.fork_rng``, so the caller's random state is
left as it was), ``torch.use_deterministic_algorithms(True)``, and a fixed thread count. With those,
the same data, params and seed give bit-identical weights and predictions on the same machine.

Scoring pads every batch to :data:`CHUNK` rows: a BLAS kernel's rounding can depend on how many rows it
is given, so without padding a row's output could differ in the last bit depending on which rows share
its batch. Padded, each row's prediction depends on its own window only, which is what lets the
causality checks demand equality.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch

#: rows per scoring batch (the last one is zero-padded to this size)
CHUNK = 512


@contextlib.contextmanager
def torch_runtime(threads: int, seed: int | None = None) -> Iterator[None]:
    """Fixed threads and deterministic algorithms (and a seeded, isolated RNG when ``seed`` is given)."""
    prev_threads = torch.get_num_threads()
    prev_det = torch.are_deterministic_algorithms_enabled()
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(True)
    try:
        if seed is None:
            yield
        else:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(seed)
                yield
    finally:
        torch.set_num_threads(prev_threads)
        torch.use_deterministic_algorithms(prev_det)


def batch_inputs(X: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """Rows (``index`` 1-D) or windows (``index`` ``[B, lookback]``) of the feature tensor ``X``."""
    return X[index]


@torch.no_grad()
def score(net: torch.nn.Module, X: torch.Tensor, index: torch.Tensor, output: str = "value") -> np.ndarray:
    """The network's output for each row/window of ``index``, in padded batches of :data:`CHUNK`.

    ``output``: ``value`` (``forward``), ``standardised`` (``forward_std``) or ``probability`` (the
    sigmoid of ``forward``, taken on the padded batch too: a vectorised kernel rounds its tail elements
    differently, so it must see the same length every time).
    """
    net.eval()
    n = index.shape[0]
    out = np.empty(n, dtype=np.float32)
    forward = net.forward_std if output == "standardised" else net.forward
    for start in range(0, n, CHUNK):
        part = index[start : start + CHUNK]
        m = part.shape[0]
        if m < CHUNK:
            part = torch.cat([part, part[:1].expand(CHUNK - m, *part.shape[1:])])
        result = forward(batch_inputs(X, part))
        if output == "probability":
            result = torch.sigmoid(result)
        out[start : start + m] = result[:m].numpy()
    return out


class Stopwatch:
    """Wall and CPU seconds spent inside torch's own work (``with watch:`` around it). CPU time is the
    steadier figure on a shared machine, where wall time swings with other processes' load."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.cpu_seconds = 0.0
        self._t0 = self._c0 = 0.0

    def __enter__(self) -> "Stopwatch":
        self._t0, self._c0 = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.seconds += time.perf_counter() - self._t0
        self.cpu_seconds += time.process_time() - self._c0
