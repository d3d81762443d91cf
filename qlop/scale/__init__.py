"""Scale-out on ``dask.distributed``: the cluster (``cluster``), sweeps over config axes (``sweep``)."""
