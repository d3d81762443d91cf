"""qlop-torch: the ``lstm`` and ``mlp`` models for QLOP, on PyTorch.

This module is what QLOP's entry point imports at plugin discovery, for every ``qlop`` command, so it
imports neither torch nor numpy: it checks from the file system that a supported PyTorch is installed
(a missing or broken one makes the plugin ``failed`` with a one-line reason that says how to fix it,
shown by ``qlop plugins list --all`` and ``qlop plugins doctor``) and registers the two models by name.
"""

from __future__ import annotations

from qlop.api import ComponentSpec, hookimpl
from qlop_torch._deps import torch_problem

__version__ = "0.1.0"

_problem = torch_problem()
if _problem is not None:
    raise ImportError(_problem)


@hookimpl
def qlop_register_model() -> list[ComponentSpec]:
    return [
        ComponentSpec(
            name="lstm",
            factory="qlop_torch.models:LSTMModel",
            params_model="qlop_torch.params:LSTMParams",
            summary="LSTM over each ticker's last `lookback` feature rows (PyTorch, CPU); ONNX export",
        ),
        ComponentSpec(
            name="mlp",
            factory="qlop_torch.models:MLPModel",
            params_model="qlop_torch.params:MLPParams",
            summary="Multi-layer perceptron over one feature row (PyTorch, CPU); ONNX export",
        ),
    ]
