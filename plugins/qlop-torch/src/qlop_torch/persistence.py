"""Saving and loading a network without pickle: safetensors weights plus a JSON architecture document.

``model.safetensors`` holds the learned weights only (safetensors is a flat tensor table: loading it
runs no code). ``architecture.json`` holds everything else needed to rebuild the network: kind, task,
sizes, ``lookback``, feature names, the scaler fitted on the training rows, how the fit went, and the
sha256 of the weights file, so the two files cannot be mixed up. QLOP's ``meta.json`` records the sha256
of both and refuses a modified file before this code runs.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import torch

from qlop.api import ArtifactError, write_bytes, write_json
from qlop_torch.nets import NETS, ScaledNet, build_net

FORMAT = "qlop.torch.v1"
WEIGHTS_FILE = "model.safetensors"
ARCH_FILE = "architecture.json"


def save(net: ScaledNet, arch: dict[str, Any], path: str | Path) -> list[str]:
    """Write the two files into directory ``path``; returns their names (weights first)."""
    from safetensors.torch import save as to_bytes

    state = {name: tensor.detach().contiguous() for name, tensor in net.state_dict().items()}
    blob = to_bytes(state, metadata={"format": FORMAT})
    write_bytes(Path(path) / WEIGHTS_FILE, blob)
    doc = {
        **arch,
        "format": FORMAT,
        "weights_file": WEIGHTS_FILE,
        "weights_sha256": hashlib.sha256(blob).hexdigest(),
        "torch_version": torch.__version__,
    }
    write_json(Path(path) / ARCH_FILE, doc)
    return [WEIGHTS_FILE, ARCH_FILE]


def read_arch(path: str | Path) -> dict[str, Any]:
    file = Path(path) / ARCH_FILE
    if not file.is_file():
        raise ArtifactError(f"{file}: architecture file of the torch model not found")
    try:
        doc = json.loads(file.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise ArtifactError(f"{file}: not valid JSON ({exc})") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise ArtifactError(
            f"{file}: not a qlop-torch model (format "
            f"{doc.get('format') if isinstance(doc, dict) else None!r}, expected {FORMAT!r})"
        )
    if doc.get("kind") not in NETS:
        raise ArtifactError(f"{file}: unknown network kind {doc.get('kind')!r}")
    return doc


def load(path: str | Path) -> tuple[ScaledNet, dict[str, Any]]:
    """The network and its architecture document, every check failing with one ArtifactError line."""
    from safetensors import SafetensorError
    from safetensors.torch import load as from_bytes

    doc = read_arch(path)
    weights = Path(path) / str(doc.get("weights_file", WEIGHTS_FILE))
    if not weights.is_file():
        raise ArtifactError(f"{weights}: weights file of the torch model not found")
    blob = weights.read_bytes()
    if hashlib.sha256(blob).hexdigest() != doc.get("weights_sha256"):
        raise ArtifactError(
            f"{weights}: sha256 does not match {ARCH_FILE}; the weights were modified or belong to another model"
        )
    try:
        state = from_bytes(blob)
    except SafetensorError as exc:
        raise ArtifactError(f"{weights}: not a readable safetensors file ({exc})") from None
    try:
        net = build_net(doc)
        net.load_state_dict(state, strict=True)
    except (RuntimeError, KeyError, TypeError, ValueError) as exc:
        raise ArtifactError(
            f"{weights}: weights do not fit the network in {ARCH_FILE} ({str(exc).splitlines()[0]})"
        ) from None
    net.eval()
    return net, doc
