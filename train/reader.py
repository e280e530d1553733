"""Train the neural reader (`qa.neural.reader`) on XQuAD, offline, on CPU.

    python -m train.reader cache            # bottom-layer states of every question and chunk
    python -m train.reader train [--resume] # LoRA + head on the cached states, checkpoints
    python -m train.reader export           # best checkpoint -> qa/data/reader/ (+ held-out eval)
    python -m train.reader eval             # held-out F1/EM of the shipped weights
    python -m train.reader --smoke          # a few steps on a tiny sample (make test)

Data (all under benchmarks/data/xquad/, CC BY-SA 4.0, read from the repository only): XQuAD in
12 languages, the same question ids. Training uses articles 0-19 of the repository's dev split
(0-23); 20-23 choose the checkpoint; articles 24-47 are held out, read once by `export`. Each question, in all 12 languages and in Vietnamese without
diacritics, is asked of Vietnamese passages: the chunk holding the gold Vietnamese span (a
sentence, or consecutive sentences up to ~128 tokens), and as a negative ("no answer") another
chunk of the same article. With `--own` (version 3) each language's questions are also asked
over that language's own paragraph (12 times as many distinct passages and spans: with the
Vietnamese paragraphs alone, 536 spans asked 13 times an epoch were learned by heart), and
`--variants K` asks each question over the Vietnamese chunks in vi, en, unaccented vi and K
other languages drawn per epoch; `--init` starts from exported weights. The held-out evaluation gives the reader the gold paragraph's chunks
(the product's case: a few candidate passages) and scores the best span by token F1 / exact match
(accents folded), for Vietnamese, English (against the Vietnamese gold span) and unaccented
Vietnamese questions.

With `--split` > 0 the bottom layers are frozen and read question and passage apart, so their
states are computed once (`cache`) and every step runs only the top layers (several times
cheaper, and worse: version 1). With `--split 0` (version 2) the cache holds word embeddings and
every layer reads question and passage together.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import types
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if "qa" not in sys.modules:
    # The trainer needs qa.neural and qa.text only; `import qa` would load the whole answering
    # pipeline (memory, start-up time) for nothing.
    _pkg = types.ModuleType("qa")
    _pkg.__path__ = [str(ROOT / "qa")]
    sys.modules["qa"] = _pkg

import numpy as np  # noqa: E402
import torch  # noqa: E402
from safetensors.torch import load_file  # noqa: E402

# after the trick above: these import `qa.`
from bench.scores import token_f1  # noqa: E402
from qa.neural import reader as R  # noqa: E402
from qa.neural.encoder import build_encoder  # noqa: E402
from qa.neural.tokenizer import get_tokenizer  # noqa: E402
from train.checkpoints import load_checkpoint, save_checkpoint  # noqa: E402
from train.reader_data import (  # noqa: E402
    LANGS,
    Chunk,
    Example,
    Item,
    bucketed,
    chunk_paragraph,
    data_files,
    evaluation_chunks,
    group_chunks,
    load_items,
    load_own,
    make_examples,
)
from train.reader_export import export, init_weights_sha256, load_avg  # noqa: E402
from train.reader_steps import TEST_VARIANTS, batch_loss, build_cache, evaluate  # noqa: E402
from train.schedule import deadline_passed, lr_factor, schedule_clock  # noqa: E402

RUNS = ROOT / "train" / "runs"
OUT = ROOT / "qa" / "data" / "reader"
TRAIN_VARIANTS = (*LANGS, "vi_unaccented")
DEV_ARTICLES = range(0, 24)  # the repository's dev split: trained on, except ...
TRAIN_ARTICLES = range(0, 20)
VALID_ARTICLES = range(20, 24)  # ... these, which choose the checkpoint (never the test split)
TEST_ARTICLES = range(24, 48)


def rss_gb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6


class Run:
    """Everything a run needs: data, cache, model; checkpoints under RUNS/<name>/."""

    def __init__(self, args: argparse.Namespace):
        self.args = args
        self.dir = Path(args.runs) / args.name
        self.dir.mkdir(parents=True, exist_ok=True)
        self.log_path = self.dir / "log.txt"
        torch.manual_seed(args.seed)
        torch.set_num_threads(args.threads)
        langs = tuple(args.langs.split(","))
        self.train_variants = tuple(v for v in TRAIN_VARIANTS if v in langs or v == "vi_unaccented")
        self.paragraphs, items = load_items(langs)
        self.train_items = [it for it in items if it.article in TRAIN_ARTICLES]
        self.valid_items = [it for it in items if it.article in VALID_ARTICLES]
        self.test_items = [it for it in items if it.article in TEST_ARTICLES]
        if args.smoke:
            self.train_items = [
                it for it in self.train_items if (it.article, it.paragraph) == (0, 0)
            ][:4]
            self.test_items = [
                it for it in self.test_items if (it.article, it.paragraph) == (24, 0)
            ][:2]
            self.valid_items = self.test_items  # a smoke run only checks that the steps run
        read = self.train_items + self.valid_items + self.test_items
        articles = {it.article for it in read}
        paragraphs = {(it.article, it.paragraph) for it in read}
        self.chunks = []
        for a, paras in enumerate(self.paragraphs):
            if a not in articles:
                continue
            for p, text in enumerate(paras):
                if args.smoke and (a, p) not in paragraphs and (a, p + 1) not in paragraphs:
                    continue
                chunks = chunk_paragraph(a, p, text)
                # held-out paragraphs are only read as the evaluation reads them
                self.chunks += chunks if a in TRAIN_ARTICLES else group_chunks(chunks)
        self.own = [load_own(lang, TRAIN_ARTICLES) for lang in langs if lang != "vi" and args.own]
        if args.smoke:
            self.own = [
                ([c for c in cs if (c.article, c.paragraph) == (0, 0)], its[:4])
                for cs, its in self.own
            ]
        self.config = R.ReaderConfig(split=args.split, rank=args.rank, alpha=2.0 * args.rank)
        self.model = R.ReaderModel(build_encoder(), self.config)
        self.log(
            f"data: {len(self.train_items)} train questions (articles 0-19), "
            f"{len(self.valid_items)} valid (20-23), {len(self.test_items)} held-out (24-47), "
            f"{len(self.chunks)} chunks, "
            f"own-language: {sum(len(its) for _, its in self.own)} questions over "
            f"{sum(len(cs) for cs, _ in self.own)} chunks, "
            f"variants {','.join(self.train_variants)}; files {[p.name for p in data_files(langs)]}"
        )
        self.cache_path = self.dir / "cache.safetensors"
        self.langs = langs

    def log(self, msg: str) -> None:
        line = f"{time.strftime('%H:%M:%S')} {msg}"
        print(line, flush=True)
        with self.log_path.open("a", encoding="utf-8") as f:
            f.write(line + "\n")

    def cache(self) -> dict[str, torch.Tensor]:
        tv, sv = self.train_variants, TEST_VARIANTS
        test_ids = {it.qid for it in self.valid_items + self.test_items}
        return build_cache(
            self.model,
            self.train_items
            + [it for it in self.valid_items if it not in self.test_items]
            + self.test_items
            + [it for _, its in self.own for it in its],
            self.chunks + [c for cs, _ in self.own for c in cs],
            lambda it: sv if it.qid in test_ids else tv,
            self.cache_path,
            log=self.log,
        )


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m train.reader", description=__doc__.split("\n")[0])
    ap.add_argument(
        "command", nargs="?", default="train", choices=["cache", "train", "export", "eval"]
    )
    ap.add_argument("--smoke", action="store_true", help="a few steps on a tiny sample (< 60 s)")
    ap.add_argument("--resume", action="store_true", help="continue from the last checkpoint")
    ap.add_argument("--name", default="main", help="run folder under --runs")
    ap.add_argument("--runs", default=str(RUNS))
    ap.add_argument("--out", default=str(OUT), help="where export writes the shipped weights")
    ap.add_argument("--seed", type=int, default=13)
    ap.add_argument("--threads", type=int, default=1, help="one beat two on the loaded machine")
    ap.add_argument("--langs", default="vi,en", help=f"question languages (all: {','.join(LANGS)})")
    ap.add_argument("--split", type=int, default=0, help="0: every layer reads both (v2)")
    ap.add_argument("--rank", type=int, default=16)
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--lr", type=float, default=1e-3, help="adapters and norms")
    ap.add_argument("--head-lr", type=float, default=3e-3)
    ap.add_argument("--negatives", type=float, default=0.5, help="negative chunks per question")
    ap.add_argument(
        "--listwise",
        type=int,
        default=0,
        help="K: each question's gold chunk with K negatives of its article, read as a group "
        "(instead of --negatives)",
    )
    ap.add_argument(
        "--shared",
        type=float,
        default=0.0,
        help="weight of the shared-normalisation loss over a --listwise group",
    )
    ap.add_argument(
        "--variants",
        type=int,
        default=None,
        help="ask each question over Vietnamese chunks in vi, en, unaccented and this many other "
        "languages drawn per epoch (default: all)",
    )
    ap.add_argument(
        "--own", action="store_true", help="also each language's questions over its own paragraph"
    )
    ap.add_argument("--init", default="", help="start from exported weights in this folder")
    ap.add_argument("--eval-every", type=int, default=100)
    ap.add_argument("--eval-sample", type=int, default=120, help="valid questions per check")
    ap.add_argument("--note", default="", help="export: how this run went, for the manifest")
    ap.add_argument("--bf16", action="store_true", help="bfloat16 autocast in training steps")
    ap.add_argument("--deadline", default="", help="HH:MM UTC: stop (and keep the best) by then")
    args = ap.parse_args(argv)
    if args.smoke:
        args.name = "smoke"
        args.steps, args.batch, args.eval_every, args.eval_sample = 4, 4, 2, 2
    return args


def trainable_groups(model: R.ReaderModel) -> tuple[list, list]:
    head, rest = [], []
    for name, p in model.trainable().items():
        (head if name.startswith("head.") else rest).append(p)
    return rest, head


def eval_sample(run: Run) -> list[Item]:
    """Validation questions (articles 20-23) that choose the checkpoint."""
    rng = np.random.default_rng(0)
    order = rng.permutation(len(run.valid_items))[: run.args.eval_sample]
    return [run.valid_items[i] for i in sorted(order)]


def epoch_examples(
    run: Run, cache: dict[str, torch.Tensor], train_chunks: list[Chunk], epoch: int
) -> tuple[list[Example], list[int]]:
    """One epoch's examples (a fresh draw of chunks and negatives) and their batch order, both
    seeded by the epoch, so a resumed run sees what the interrupted one would have."""
    seed = run.args.seed * 1000 + epoch
    rng = np.random.default_rng(seed)
    examples = make_examples(
        run.train_items,
        train_chunks,
        run.train_variants,
        rng,
        run.args.negatives,
        run.args.variants,
        run.args.listwise,
    )
    for chunks, items in (own for own in run.own if own[0]):
        examples += make_examples(
            items, chunks, (chunks[0].lang,), rng, run.args.negatives, listwise=run.args.listwise
        )
    return examples, bucketed(examples, cache, run.args.batch, seed + 1)


def train(run: Run) -> dict:
    args = run.args
    cache = run.cache()
    model = run.model
    model.train()
    rest, head = trainable_groups(model)
    opt = torch.optim.AdamW(
        [
            {"params": rest, "lr": args.lr, "weight_decay": 0.01},
            {"params": head, "lr": args.head_lr, "weight_decay": 0.0},
        ]
    )
    base_lrs = [g["lr"] for g in opt.param_groups]
    state = {
        "step": 0,
        "epoch": 0,
        "offset": 0,
        "best": None,
        "best_step": None,
        "history": [],
    }
    hyper = {
        k: getattr(args, k)
        for k in (
            *("steps", "batch", "lr", "head_lr", "seed", "negatives", "variants", "own", "init"),
            *("listwise", "shared"),
        )
    }
    if args.resume and (run.dir / "last.json").exists():
        state = load_checkpoint(run.model, run.dir, opt, "last")
        # the starting weights as they were when the run began (the folder may be rewritten)
        hyper["init_sha256"] = state.get("args", {}).get("init_sha256")
        state["args"] = hyper
        run.log(f"resumed at step {state['step']} (epoch {state['epoch']}, best {state['best']})")
    elif args.init:
        model.load_trained(load_file(str(Path(args.init) / R.WEIGHTS)))
        hyper["init_sha256"] = init_weights_sha256(args.init)
        run.log(f"started from the weights in {args.init}")
    prefix_len = len(R.passage_prefix(get_tokenizer()))
    train_chunks = [c for c in run.chunks if c.article in TRAIN_ARTICLES]
    sample = eval_sample(run)
    warmup = max(1, min(100, args.steps // 10))
    examples, order = epoch_examples(run, cache, train_chunks, state["epoch"])
    state["args"] = hyper
    run.log(f"epoch {state['epoch']}: {len(examples)} examples; {args.steps} steps of {args.batch}")
    t0, seen, losses = time.time(), 0, []
    started = time.time()
    clock = schedule_clock(args, state["step"], warmup)
    while state["step"] < args.steps:
        if state["offset"] >= len(examples):
            state["epoch"] += 1
            state["offset"] = 0
            examples, order = epoch_examples(run, cache, train_chunks, state["epoch"])
            run.log(f"epoch {state['epoch']}: {len(examples)} examples")
        batch = [examples[i] for i in order[state["offset"] : state["offset"] + args.batch]]
        state["offset"] += args.batch
        f = lr_factor(state["step"], args.steps, warmup, clock())
        for g, lr in zip(opt.param_groups, base_lrs, strict=True):
            g["lr"] = lr * f
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=args.bf16):
            loss = batch_loss(model, cache, batch, prefix_len, args.shared)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(rest + head, 1.0)
        opt.step()
        state["step"] += 1
        seen += len(batch)
        losses.append(float(loss.detach()))
        if state["step"] % 20 == 0 or args.smoke:
            dt = time.time() - t0
            run.log(
                f"step {state['step']} loss {np.mean(losses):.3f} lr×{f:.2f} "
                f"{seen / dt:.1f} ex/s load {load_avg()} rss {rss_gb():.2f} GB"
            )
            t0, seen, losses = time.time(), 0, []
        stop = deadline_passed(args.deadline)
        if state["step"] % args.eval_every == 0 or state["step"] >= args.steps or stop:
            te = time.time()
            res = evaluate(model, cache, sample, run.chunks)
            score = (res["vi"]["F1"] + res["en"]["F1"] + res["vi_unaccented"]["F1"]) / 3
            state["history"].append(
                {"step": state["step"], "score": score, **{k: v["F1"] for k, v in res.items()}}
            )
            run.log(
                f"eval step {state['step']}: "
                + " ".join(f"{k} F1 {v['F1']:.3f} EM {v['EM']:.3f}" for k, v in res.items())
                + f" ({time.time() - te:.0f}s)"
            )
            if state["best"] is None or score > state["best"]:
                state["best"], state["best_step"] = score, state["step"]
                save_checkpoint(run.model, run.dir, opt, state, "best")
                run.log(f"best so far (mean F1 {score:.3f}) saved")
            state["train_seconds"] = state.get("train_seconds", 0) + (time.time() - started)
            started = time.time()
            save_checkpoint(run.model, run.dir, opt, state, "last")
            t0, seen, losses = time.time(), 0, []
            if stop:
                run.log(f"deadline {args.deadline} reached at step {state['step']}")
                break
    return state


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    if args.smoke:
        args.langs = "vi,en"
        args.out = str(Path(args.runs) / "smoke" / "export")
        args.threads = 1
        for p in (Path(args.runs) / "smoke").glob("*"):
            if p.is_file():
                p.unlink()
    run = Run(args)
    if args.command == "cache":
        run.cache()
    elif args.command == "train":
        train(run)
        if args.smoke:
            export(run)
    elif args.command == "export":
        export(run)
    elif args.command == "eval":
        cache = run.cache()
        out = Path(args.out)
        run.model.load_trained(load_file(str(out / R.WEIGHTS)))
        res = evaluate(run.model, cache, run.test_items, run.chunks)
        # the product's path (NeuralReader.read: text in, merged adapters) on a sample
        reader = R.NeuralReader(out)
        same, n = 0, min(args.eval_sample, len(run.test_items))
        for it in run.test_items[:n]:
            own = evaluation_chunks(run.chunks, it.article, it.paragraph)
            got = reader.read(it.text["vi"], [c.text for c in own], top=1)
            api = own[got[0].passage].text[got[0].start : got[0].end] if got else ""
            one = evaluate(run.model, cache, [it], run.chunks, variants=("vi",))
            same += token_f1(api, it.answer) == one["vi"]["F1"]
        res["api_agreement"] = {"n": n, "same_F1": same / max(n, 1)}
        print(json.dumps({"weights": str(out), "held_out": res}, indent=1))
    run.log(f"done; peak rss {rss_gb():.2f} GB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
