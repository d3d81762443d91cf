"""A model's training rows as a Dask DataFrame partitioned by ticker, spread over the cluster's workers.

For models that train across workers (``xgboost.dask``; ``BaseModelPlugin.uses_cluster``): each
partition holds whole tickers (a ticker's rows never straddle two partitions, so anything a library
does per partition sees complete histories), partitions are cut at ticker boundaries into blocks of
about equal rows, and they are placed round-robin on the workers, so every worker holds a share and
takes part in training. Part of the plugin-author API (``qlop.api.dask_frame_by_ticker``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

#: Partitions per worker (a few, so a worker that is slower or busier does not hold up the rest).
PARTITIONS_PER_WORKER = 2


def ticker_partitions(index: "pd.MultiIndex", n_parts: int) -> list[tuple[int, int]]:
    """``(start, end)`` row ranges of at most ``n_parts`` partitions, each a run of whole tickers with
    about ``len(index) / n_parts`` rows (fewer partitions when there are fewer tickers)."""
    from qlop.grouping import ticker_groups

    groups = ticker_groups(index)
    if len(groups) == 0:
        return []
    n_tickers = len(groups)
    k = max(1, min(int(n_parts), n_tickers))
    cum = np.concatenate([[0], groups.ends])  # cum[c]: rows of the first c tickers
    counts = [0]  # tickers in the first j partitions
    for j in range(1, k):
        # the cut nearest j/k of the rows, after the previous one, leaving a ticker for each later part
        lo, hi = counts[-1] + 1, n_tickers - (k - j)
        target = j * len(index) / k
        counts.append(lo + int(np.argmin(np.abs(cum[lo : hi + 1] - target))))
    counts.append(n_tickers)
    return [(int(cum[a]), int(cum[b])) for a, b in zip(counts[:-1], counts[1:])]


def dask_frame_by_ticker(
    client: Any, X: "pd.DataFrame", y: np.ndarray | None = None, n_parts: int | None = None
) -> tuple[Any, Any]:
    """``X`` (on the (ticker, date) index) and ``y`` as a Dask DataFrame and Series on the workers.

    Returns ``(X_dask, y_dask)`` (``y_dask`` None without ``y``) with the same partitions: the index
    is dropped (row order is kept within each partition), the columns and dtypes are ``X``'s.
    ``n_parts`` defaults to :data:`PARTITIONS_PER_WORKER` per connected worker.
    """
    import dask.dataframe as dd
    import pandas as pd

    workers = sorted((client.scheduler_info(n_workers=-1).get("workers") or {}).keys())
    if not workers:
        from qlop.scale.cluster import ClusterError

        raise ClusterError("the cluster has no workers")
    if n_parts is None:
        n_parts = PARTITIONS_PER_WORKER * len(workers)
    parts = ticker_partitions(X.index, n_parts)
    x_futures, y_futures = [], []
    for i, (a, b) in enumerate(parts):
        where = [workers[i % len(workers)]]
        x_futures.append(client.scatter(X.iloc[a:b].reset_index(drop=True), workers=where))
        if y is not None:
            y_futures.append(client.scatter(pd.Series(np.asarray(y[a:b]), name="label"), workers=where))
    X_dask = dd.from_delayed(x_futures, meta=X.iloc[:0].reset_index(drop=True), verify_meta=False)
    y_dask = (
        dd.from_delayed(
            y_futures, meta=pd.Series(np.zeros(0, dtype=np.asarray(y).dtype), name="label"), verify_meta=False
        )
        if y is not None
        else None
    )
    return X_dask, y_dask
