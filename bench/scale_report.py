"""Tables, recommendation and plot of the scale benchmark (`bench.scale`)."""

from __future__ import annotations

from pathlib import Path

from bench import pyplot, save
from bench.vectors import gib

HNSW_NOTE = "HNSW32: efConstruction 40, efSearch 64; IVF: nlist = 4·√n, nprobe 16"


def _faiss_table(result: dict) -> list[str]:
    lines = [
        "| vectors | index | build (s) | memory | bytes/vector | p50 (ms) | p95 (ms) | recall@10 |",
        "|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    for size, kinds in result["results"].items():
        for r in kinds.values():
            if "skipped" in r:
                lines.append(f"| {int(size):,} | `{r['factory']}` | {r['skipped']} | | | | | |")
                continue
            lines.append(
                f"| {int(size):,} | `{r['factory']}` | {r['build_s']:.1f} "
                f"| {gib(r['memory_bytes'])} | {r['bytes_per_vector']:,.0f} "
                f"| {r['p50_ms']:.2f} | {r['p95_ms']:.2f} | {r['recall@10']:.3f} |"
            )
    return lines


def _params(r: dict) -> str:
    parts = [f"{k} {v}" for k, v in {**r["params"]["build"], **r["params"]["search"]}.items()]
    return ", ".join(parts) or "exact"


def _empty(result: dict) -> str:
    rows = [r for rows in result["milvus"].values() for r in rows.values()]
    rss = min(r["rss_empty_bytes"] for r in rows)
    disk = min(r["disk_empty_bytes"] for r in rows)
    return f"{gib(rss)} RSS and {gib(disk)} on disk"


def _milvus_table(result: dict) -> list[str]:
    if not result.get("milvus"):
        return []
    versions = ", ".join(f"{p} {v}" for p, v in result["milvus_versions"].items())
    lines = [
        "",
        f"Milvus server ({versions}: the standalone binary, embedded etcd + rocksmq + local "
        "storage, on loopback in its own network namespace), everything through "
        '`qa.index.vectorstore.open_store("milvus://127.0.0.1:<port>?index=…")`: insert = '
        "`store.add` (upserts of 1,000 rows, batches of 20,000); build = `store.flush()` "
        "(seal, persist, index every segment); queries one at a time through `store.search` "
        "(Session consistency); RSS of the server process with the collection loaded; disk = its "
        "data directory; restart: seconds to stop (by pid: SIGTERM, 10 s grace, SIGKILL), to start "
        "on the same data until healthy, then until the collection answers (count checked). A "
        "fresh server per row; an empty one holds "
        f"{_empty(result)}.",
        "",
        "| vectors | Milvus index | parameters | insert (vectors/s) | build (s) | p50 (ms) "
        "| p95 (ms) | recall@10 | RSS | disk | restart: stop / start / answers (s) | load |",
        "|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for size, rows in result["milvus"].items():
        for r in rows.values():
            t = r.get("restart")
            restart = f"{t['stop_s']:.1f} / {t['start_s']:.1f} / {t['answer_s']:.1f}" if t else "—"
            build = f"{r['build_s']:.1f}" + ("" if r["index_in_use"] else " (index not in use)")
            lines.append(
                f"| {int(size):,} | `{r['index']}` | {_params(r)} | {r['insert_per_s']:,} "
                f"| {build} | {r['p50_ms']:.2f} | {r['p95_ms']:.2f} "
                f"| {r['recall@10']:.3f} | {gib(r['rss_bytes'])} | {gib(r['disk_bytes'])} "
                f"| {restart} | {r['load_avg'][0]:.1f} |"
            )
    largest = max(result["milvus"], key=int)
    parts = max(result["milvus"][largest].values(), key=lambda r: r["disk_bytes"])["disk_parts"]
    listed = ", ".join(f"`{k}` {gib(v)}" for k, v in sorted(parts.items(), key=lambda x: -x[1]))
    lines += [
        "",
        f"Its data directory at {int(largest):,}: {listed}. `rocksmq` is the write-ahead log, "
        "kept by the server's default retention (3 days or 8 GiB), and compacted-away segment "
        "files wait for garbage collection (every hour, after 3 h); the durable data is the binlogs and "
        "index files. Load = 1-minute load average when the row ended (2 cores).",
    ]
    return lines


def _memory_table(result: dict) -> list[str]:
    lines = [
        "",
        "Memory arithmetic: the per-vector cost measured at the largest size, times n (IVF adds "
        "4·√n centroids; Milvus: above an empty server). The running pipeline also keeps a float32 copy of the chunk vectors "
        "(1,536 B/chunk) and the sentence vectors beside the index (docs/scale.md).",
        "",
        "| index | measured at | bytes/vector | 1M | 10M | 100M |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for kind, e in result["extrapolated_memory"].items():
        lines.append(
            f"| {kind} | {e['measured_at']:,} | {e['bytes_per_vector']:,.0f} "
            f"| {gib(e['1_000_000'])} | {gib(e['10_000_000'])} | {gib(e['100_000_000'])} |"
        )
    return lines


def markdown(result: dict) -> str:
    lines = [
        f"### Vector search at scale: FAISS and a Milvus server (synthetic clustered vectors, "
        f"d={result['dim']})",
        "",
        f"{result['queries']} queries (half near-duplicates of stored vectors, half fresh), "
        f"recall@{result['k']} against exact `Flat`. FAISS latency: one query at a time on one "
        f"thread; builds use {result['threads_build']} threads. {HNSW_NOTE}, trained on ≤100,000 "
        f"vectors. Memory: Flat analytic (n·d·4), other FAISS indexes serialized size. Load "
        f"average at the end of the run: {result['load_avg']}.",
        "",
        *_faiss_table(result),
        *_milvus_table(result),
        *_memory_table(result),
    ]
    return "\n".join([*lines, "", *_recommendation(result)]) + "\n"


def _ann_sentence(result: dict) -> list[str]:
    """The approximate FAISS indexes ranked where all were measured (the largest such size)."""
    complete = [
        int(s) for s, r in result["results"].items() if all("skipped" not in x for x in r.values())
    ]
    m = max(complete, default=max(result["sizes"]))
    rows = result["results"][str(m)]
    ann = {k: r for k, r in rows.items() if k != "Flat" and "skipped" not in r}
    flat = rows["Flat"]
    out = []
    for i, kind in enumerate(sorted(ann, key=lambda k: (-ann[k]["recall@10"], ann[k]["p50_ms"]))):
        r = ann[kind]
        name = "IVF{4·√n},Flat" if kind == "IVF" else kind
        facts = (
            f"at {m:,}: recall@10 {r['recall@10']:.3f}, p50/p95 {r['p50_ms']:.2f}/{r['p95_ms']:.2f} "
            f"ms vs Flat's {flat['p50_ms']:.1f}/{flat['p95_ms']:.1f}, build {r['build_s']:.0f} s, "
            f"{r['bytes_per_vector']:,.0f} bytes/vector"
        )
        if i == 0:
            out.append(f"Above it, set `Settings.faiss_factory` to `{name}` ({facts}).")
        else:
            out.append(f"`{name}` ranks below it ({facts}).")
    return out


def _milvus_sentence(result: dict) -> list[str]:
    """The Milvus row to use at each measured size: the fastest with recall@10 >= 0.98."""
    out = []
    for size, rows in result.get("milvus", {}).items():
        good = [r for r in rows.values() if r["recall@10"] >= 0.98]
        if not good:
            continue
        r = min(good, key=lambda r: r["p95_ms"])
        out.append(
            f"On the Milvus server at {int(size):,}: `?index={r['index']}` ({_params(r)}): p95 "
            f"{r['p95_ms']:.1f} ms, recall@10 {r['recall@10']:.3f}, {r['insert_per_s']:,} "
            f"vectors/s in, RSS {gib(r['rss_bytes'])}."
        )
    return out


def _recommendation(result: dict) -> list[str]:
    n = max(result["sizes"])
    flat, switch = result["results"][str(n)]["Flat"], result["flat_switch_at"]
    first = (
        f"**Recommendation.** Exact `Flat` answers in {flat['p95_ms']:.1f} ms (p95) at {n:,} "
        f"vectors and grows linearly with n; it reaches {result['flat_p95_limit_ms']:.0f} ms at "
        f"about {switch:,} chunks on this machine (interpolated between measured sizes). Keep "
        "`Flat` below that: exact, nothing to train, cheapest to build and update."
    )
    rest = [
        *_ann_sentence(result),
        *_milvus_sentence(result),
        "Note: `qa.index.store.build_faiss` trains IVF on all vectors; this benchmark trained on "
        "the first 100,000, which a production build at millions of chunks would also need.",
    ]
    return [first, "", " ".join(rest)]


def plot(result: dict, out_dir: Path) -> list[Path]:
    plt = pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    series = {
        kind: [
            (int(s), r[kind])
            for s, r in result["results"].items()
            if "skipped" not in r.get(kind, {"skipped": 1})
        ]
        for kind in ("Flat", "IVF", "HNSW32")
    }
    for index in sorted({i for rows in result.get("milvus", {}).values() for i in rows}):
        series[f"Milvus {index}"] = [
            (int(s), rows[index]) for s, rows in result["milvus"].items() if index in rows
        ]
    labels = {"IVF": "FAISS IVF(4√n),Flat", "Flat": "FAISS Flat", "HNSW32": "FAISS HNSW32"}
    for kind, points in series.items():
        if not points:
            continue
        xs = [n for n, _ in points]
        style = {"marker": "s", "mfc": "none"} if kind.startswith("Milvus") else {"marker": "o"}
        label = labels.get(kind, kind)
        left.plot(xs, [r["p95_ms"] for _, r in points], "-", label=f"{label} p95", **style)
        left.plot(xs, [r["p50_ms"] for _, r in points], "x:", color=left.lines[-1].get_color())
        right.plot(xs, [r["recall@10"] for _, r in points], "-", label=label, **style)
    limit = result["flat_p95_limit_ms"]
    left.axhline(limit, color="grey", lw=0.8, ls="--", label=f"{limit:.0f} ms switch threshold")
    left.set(xscale="log", yscale="log", xlabel="vectors in the index (log)")
    left.set(ylabel="single-query latency (ms, log; p95 solid, p50 dotted)")
    left.set_title("Search latency vs index size (one query at a time)")
    right.set(xscale="log", xlabel="vectors in the index (log)", ylabel="recall@10 vs exact")
    right.set_title("Recall@10 vs index size")
    right.set_ylim(min(0.8, right.get_ylim()[0]), 1.01)
    for ax in (left, right):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    return save(fig, out_dir / "scale.png")
