"""Atomic writes and training checkpoints (trainable weights + AdamW moments + the run's state).

Apart from `train.reader` so that the trainer and the export share them without either needing
the other; they take the model and the run folder, not the `Run`."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from safetensors.torch import load_file, save_file

if TYPE_CHECKING:
    from qa.neural.reader import ReaderModel


def write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def save_atomic(tensors: dict[str, torch.Tensor], path: Path, metadata: dict | None = None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    os.close(fd)
    try:
        save_file({k: v.contiguous() for k, v in tensors.items()}, tmp, metadata=metadata)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def save_checkpoint(
    model: ReaderModel, folder: Path, opt: torch.optim.Optimizer, state: dict, name: str
) -> None:
    tensors = {f"w.{k}": v.detach().clone() for k, v in model.trainable().items()}
    names = {id(p): k for k, p in model.trainable().items()}
    for group in opt.param_groups:
        for p in group["params"]:
            st = opt.state.get(p)
            if st:
                tensors[f"m.{names[id(p)]}"] = st["exp_avg"]
                tensors[f"v.{names[id(p)]}"] = st["exp_avg_sq"]
    save_atomic(tensors, folder / f"{name}.safetensors")
    write_atomic(folder / f"{name}.json", json.dumps(state, indent=1).encode())


def load_checkpoint(
    model: ReaderModel, folder: Path, opt: torch.optim.Optimizer | None, name: str
) -> dict:
    tensors = load_file(str(folder / f"{name}.safetensors"))
    model.load_trained({k[2:]: v for k, v in tensors.items() if k.startswith("w.")})
    state = json.loads((folder / f"{name}.json").read_text())
    if opt is not None:
        params = model.trainable()
        for k, p in params.items():
            if f"m.{k}" in tensors:
                opt.state[p] = {
                    "step": torch.tensor(float(state["step"])),
                    "exp_avg": tensors[f"m.{k}"],
                    "exp_avg_sq": tensors[f"v.{k}"],
                }
    return state
