"""The experience store at scale, side by side with a brute-force scan and with Chroma.

Anchors `--size` synthetic CraftWorld-like tuples (`synthetic_tuples.py`: ~30 facts from ~240,
cells from a random walk, tags from verbs, targets, causes and task families, 384-dim vectors
with the structure of sentence embeddings) in batches, then runs the same queries against the
store's indices, against a numpy scan over the same data held in memory, and (for vector
queries) against Chroma — the store Voyager uses for its skill library — holding the first
`--chroma-size` tuples. It prints latencies (p50/p99), recall@10 against exact search, the
ratios, memory and disk per million tuples, and the command that reproduces them.

    .venv/bin/python benchmarks/store_bench.py --size 100000
    .venv/bin/python benchmarks/store_bench.py --size 1000000 --chroma-size 100000

Chroma is not a project dependency: `.venv/bin/pip install chromadb` for its columns
(`--chroma-size 0` skips it).
"""

from __future__ import annotations

import argparse
import gc
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from synthetic_tuples import FACTS, Generator, LookupEmbedder

from knowledge import ExperienceStore
from knowledge.anchoring import text_hash
from knowledge.codec import tuple_text
from knowledge.conditions import Where
from knowledge.signature import cell_of, neighbourhood, pack_cell, signature, signature_int

K = 10


def rss_mib() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def process_usage(pid: int) -> tuple[float, float]:
    """(CPU seconds, peak RSS MiB) of another process of ours (the store's writer process)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        status = Path(f"/proc/{pid}/status").read_text().splitlines()
        hwm = next((int(x.split()[1]) / 1024 for x in status if x.startswith("VmHWM:")), 0.0)
    except (OSError, IndexError, ValueError):
        return 0.0, 0.0
    return cpu, hwm


def pct(xs: list[float]) -> tuple[float, float]:
    a = np.array(xs) * 1e3
    return float(np.percentile(a, 50)), float(np.percentile(a, 99))


class Data:
    """What the brute-force scan reads: every tuple's keys, held in numpy arrays."""

    def __init__(self, n: int, dim: int) -> None:
        self.n = 0
        self.sig = np.zeros(n, np.int64)
        self.cell = np.zeros(n, np.int64)
        self.op = np.zeros(n, np.int32)
        self.text = np.zeros(n, np.int64)
        self.facts = np.zeros((n, (len(FACTS) + 63) // 64), np.uint64)
        self.tags = np.zeros((n, 4), np.uint64)
        self.vec = np.zeros((n, dim), np.float32)
        self.ops: dict[str, int] = {}
        self.tag_ids: dict[str, int] = {}
        self.examples: list[tuple[list[str], tuple[int, int], list[str], str]] = []

    def add(self, batch, vecs: np.ndarray) -> None:
        a, b = self.n, self.n + len(batch.tuples)
        self.facts[a:b] = batch.facts
        self.vec[a:b] = vecs
        for i, t in enumerate(batch.tuples, start=a):
            self.sig[i] = signature_int(t.signature)
            self.cell[i] = pack_cell(cell_of(t.pre_state.position))
            self.op[i] = self.ops.setdefault(t.action.key(), len(self.ops))
            self.text[i] = text_hash(tuple_text(t))
            for g in t.tags:
                j = self.tag_ids.setdefault(g, len(self.tag_ids))
                self.tags[i, j >> 6] |= np.uint64(1) << np.uint64(j & 63)
            if i % 97 == 0:
                cell = cell_of(t.pre_state.position)
                self.examples.append((t.facts, cell, t.tags, t.action.key()))
        self.n = b


def newest(mask: np.ndarray, k: int = K) -> list[int]:
    return [int(i) + 1 for i in np.flatnonzero(mask)[::-1][:k]]


def fact_bits(facts: list[str] | frozenset[str]) -> np.ndarray:
    q = np.zeros((len(FACTS) + 63) // 64, np.uint64)
    for f in facts:
        j = FACTS.index(f)
        q[j >> 6] |= np.uint64(1) << np.uint64(j & 63)
    return q


def tag_mask(d: Data, tags: list[str]) -> np.ndarray:
    m = np.ones(d.n, bool)
    for g in tags:
        j = d.tag_ids[g]
        m &= (d.tags[: d.n, j >> 6] >> np.uint64(j & 63)) & np.uint64(1) == 1
    return m


def exact_top(d: Data, q: np.ndarray, mask: np.ndarray | None, k: int = K) -> list[int]:
    """Exact top-k tuple ids by inner product, one per distinct text (its newest tuple)."""
    if mask is None:
        ids, scores = np.arange(d.n), d.vec[: d.n] @ q
    else:
        ids = np.flatnonzero(mask)
        scores = d.vec[ids] @ q
    top = ids[np.argsort(-scores, kind="stable")[: 4 * k]]
    out, seen = [], set()
    for i in sorted(top, key=lambda i: (-float(d.vec[i] @ q), -i)):
        if d.text[i] not in seen:
            seen.add(d.text[i])
            out.append(int(i) + 1)
    return out[:k]


def timed(fn: Callable[[], object]) -> tuple[float, object]:
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--size", type=int, default=100_000, help="tuples to anchor")
    ap.add_argument("--batch", type=int, default=5_000, help="tuples per anchor_many call")
    ap.add_argument("--queries", type=int, default=300, help="queries of each kind")
    ap.add_argument("--chroma-size", type=int, default=100_000, help="tuples in Chroma (0: skip)")
    ap.add_argument(
        "--compress",
        choices=["auto", "always", "never"],
        default="auto",
        help="deflate tuple bodies: in small batches only (the store's default), always, never",
    )
    ap.add_argument("--dir", default=None, help="where the stores go (default: a temp dir)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    work = Path(args.dir or tempfile.mkdtemp(prefix="store_bench_"))
    work.mkdir(parents=True, exist_ok=True)
    path = work / "knowledge.sqlite"
    for f in work.glob("knowledge.sqlite*"):
        f.unlink()
    rows: list[tuple[str, str, str, str, str]] = []  # what, ours, brute, chroma, note
    print(f"store_bench: {args.size:,} tuples in {work}; load average {os.getloadavg()}")

    # ---- anchoring ------------------------------------------------------------------------------
    gen, emb = Generator(seed=args.seed), LookupEmbedder()
    compress = {"auto": None, "always": True, "never": False}[args.compress]
    store = ExperienceStore(path, embedder=emb, compress=compress)
    data = Data(args.size, emb.dim)
    spent, cpu, last_tenth, done, n_last = 0.0, 0.0, 0.0, 0, 0
    t_gen = time.perf_counter()
    while done < args.size:
        batch = gen.batch(min(args.batch, args.size - done))
        vecs = gen.vectors(batch.tuples)
        emb.table.clear()
        emb.remember([tuple_text(t) for t in batch.tuples], vecs)
        # and this process's CPU time (all its threads), which other load on the machine
        # leaves alone where wall time does not
        c0 = time.process_time()
        dt, _ = timed(lambda b=batch: store.anchor_many(b.tuples))
        cpu += time.process_time() - c0
        spent += dt
        if done + len(batch.tuples) > args.size * 0.9:
            last_tenth += dt
            n_last += len(batch.tuples)
        data.add(batch, vecs)
        done += len(batch.tuples)
        if done % (args.size // 10 or 1) < args.batch:
            print(f"  anchored {done:,} ({done / spent:,.0f}/s so far)", flush=True)
    t_gen = time.perf_counter() - t_gen - spent
    rows.append(("anchor_many, tuples/s (all)", f"{args.size / spent:,.0f}", "", "", ""))
    rows.append(
        ("anchor_many, tuples/s (last 10%)", f"{n_last / max(last_tenth, 1e-9):,.0f}", "", "", "")
    )
    writer = store._anchorer._process  # the writer process bulk batches went to, if any
    writer_cpu, writer_mib = process_usage(writer._proc.pid) if writer else (0.0, 0.0)
    note = f"this process and its writer process ({writer_cpu:,.0f} s of it)" if writer else ""
    rows.append(
        (
            "anchor_many, tuples per CPU second",
            f"{args.size / (cpu + writer_cpu):,.0f}",
            "",
            "",
            note,
        )
    )

    store.close()
    db_mib = sum(f.stat().st_size for f in work.glob("knowledge.sqlite*")) / 2**20

    # ---- building the in-memory indices from SQLite ---------------------------------------------
    gc.collect()
    store = ExperienceStore(path, embedder=emb)
    look = store.lookup
    r0 = rss_mib()
    t_cond, _ = timed(look._synced_conditions)
    cond_mib = look.conditions.nbytes() / 2**20
    t_vec, _ = timed(look.vectors)
    t_save, _ = timed(look.save)
    faiss_mib = (path.with_name(path.name + ".faiss")).stat().st_size / 2**20
    kind = look.vectors().kind
    look._vectors = None
    t_load, _ = timed(look.vectors)
    t_lex, _ = timed(lambda: look.lexical.sync(store.db, store.generation()))
    r1 = rss_mib()
    print(
        f"  indices built: conditions {t_cond:.1f}s, vectors ({kind}) {t_vec:.1f}s, "
        f"saved {t_save:.1f}s, reloaded {t_load:.1f}s, BM25 {t_lex:.1f}s"
    )

    # ---- queries: ours vs the scan --------------------------------------------------------------
    rng = np.random.default_rng(args.seed + 7)
    ex = [data.examples[i] for i in rng.integers(len(data.examples), size=args.queries)]
    n = data.n

    def compare(name: str, ours: Callable, brute: Callable, note: str = "") -> None:
        t_o, t_b, agree = [], [], 0
        for e in ex:
            dt_o, got = timed(lambda e=e: ours(e))
            dt_b, want = timed(lambda e=e: brute(e))
            t_o.append(dt_o)
            t_b.append(dt_b)
            agree += got == want
        (o50, o99), (b50, b99) = pct(t_o), pct(t_b)
        rows.append(
            (
                f"{name}, ms p50/p99",
                f"{o50:.3f}/{o99:.3f}",
                f"{b50:.2f}/{b99:.2f}",
                "",
                f"x{b50 / o50:,.1f} faster at p50; {agree}/{len(ex)} identical{note}",
            )
        )

    compare(
        "signature exact",
        lambda e: look.by_signature(e[0], limit=K),
        lambda e: newest(data.sig[:n] == signature_int(signature(e[0]))),
    )
    compare(
        "signature superset (2 facts)",
        lambda e: look.by_signature(e[0][:2], mode="superset", limit=K),
        lambda e: newest(((data.facts[:n] & (q := fact_bits(e[0][:2]))) == q).all(axis=1)),
    )
    extra = [f for f in FACTS if f.startswith("has:")][:40]
    compare(
        "signature subset (~60 facts)",
        lambda e: look.by_signature(set(e[0]) | set(extra), mode="subset", limit=K),
        lambda e: newest(~(data.facts[:n] & ~fact_bits(set(e[0]) | set(extra))).any(axis=1)),
    )
    compare(
        "cell + 8 neighbours",
        lambda e: look.by_cell(e[1], radius=1, limit=K),
        lambda e: newest(np.isin(data.cell[:n], [pack_cell(c) for c in neighbourhood(e[1])])),
    )
    compare(
        "tag (1)",
        lambda e: look.by_tags(e[2][:1], limit=K),
        lambda e: newest(tag_mask(data, e[2][:1])),
    )
    compare(
        "tags (verb AND target)",
        lambda e: look.by_tags(e[2][:2], limit=K),
        lambda e: newest(tag_mask(data, e[2][:2])),
    )
    fetch = [timed(lambda e=e: store.get_tuples(look.by_tags(e[2][:1], limit=K)))[0] for e in ex]
    f50, f99 = pct(fetch)
    rows.append(("tag (1) + fetch 10 tuples, ms p50/p99", f"{f50:.2f}/{f99:.2f}", "", "", ""))
    lex = [
        timed(lambda e=e: look.lexical.search(f"{e[3].replace(':', ' ')} failed", K))[0] for e in ex
    ]
    l50, l99 = pct(lex)
    rows.append(("BM25 text top-10 (no model), ms p50/p99", f"{l50:.2f}/{l99:.2f}", "", "", ""))

    # ---- vectors: ours vs exact vs Chroma -------------------------------------------------------
    qs = []
    for i in rng.integers(n, size=args.queries):
        q = data.vec[i] + 0.05 * rng.standard_normal(emb.dim).astype(np.float32)
        qs.append((int(i), q / np.linalg.norm(q)))
    chroma = build_chroma(data, min(args.chroma_size, n), work, rows) if args.chroma_size else None
    m = chroma[1] if chroma else 0

    def vector_case(name: str, where_of: Callable, mask_of: Callable, chroma_where) -> None:
        t_o, t_b, t_c, rec_o, rec_c = [], [], [], [], []
        for i, q in qs:
            w = where_of(i)
            dt, got = timed(lambda q=q, w=w: look.search_vector(q, K, w))
            t_o.append(dt)
            # the scan's time includes building its filter mask, as ours does
            dt, (mask, want) = timed(lambda q=q, i=i: (m := mask_of(i), exact_top(data, q, m)))
            t_b.append(dt)
            rec_o.append(len({g for g, _ in got} & set(want)) / max(1, min(K, len(want))))
            if chroma is not None and chroma_where is not False:
                cw = chroma_where(i) if chroma_where else None
                dt, res = timed(
                    lambda q=q, cw=cw: chroma[0].query(
                        query_embeddings=[q], n_results=K, where=cw, include=[]
                    )
                )
                t_c.append(dt)
                small = data.n
                data.n = m  # exact answer over the tuples Chroma holds
                truth = exact_top(data, q, None if mask is None else mask[:m])
                data.n = small
                ids = [int(x) for x in res["ids"][0]]
                rec_c.append(len(set(ids) & set(truth)) / max(1, min(K, len(truth))))
        (o50, o99), (b50, b99) = pct(t_o), pct(t_b)
        c = f"{pct(t_c)[0]:.2f}/{pct(t_c)[1]:.2f} r={np.mean(rec_c):.3f}" if t_c else ""
        note = f"recall@10 {np.mean(rec_o):.3f}; x{b50 / o50:,.1f} vs scan"
        if t_c:
            note += f", x{pct(t_c)[0] / o50:,.1f} vs Chroma@{m:,} (p50)"
        rows.append(
            (f"{name}, ms p50/p99", f"{o50:.2f}/{o99:.2f}", f"{b50:.2f}/{b99:.2f}", c, note)
        )

    op_of = {v: k for k, v in data.ops.items()}
    vector_case("vector top-10, no filter", lambda i: None, lambda i: None, None)
    vector_case(
        "vector top-10, where op",
        lambda i: Where(op=op_of[int(data.op[i])]),
        lambda i: data.op[:n] == data.op[i],
        lambda i: {"op": op_of[int(data.op[i])]},
    )

    def fact_of(i: int) -> str:
        bits = np.unpackbits(data.facts[i].view(np.uint8), bitorder="little")
        return FACTS[int(np.flatnonzero(bits)[-1])]

    vector_case(
        "vector top-10, where op + fact held",
        lambda i: Where(op=op_of[int(data.op[i])], has_facts=frozenset({fact_of(i)})),
        lambda i: (
            (data.op[:n] == data.op[i])
            & (((data.facts[:n] & (q := fact_bits([fact_of(i)]))) == q).all(axis=1))
        ),
        False,
    )

    # one tuple at a time, as the closed loop anchors (each commits on its own)
    extra_batch = gen.batch(200).tuples
    emb.remember([tuple_text(t) for t in extra_batch], gen.vectors(extra_batch))
    p50, p99 = pct([timed(lambda t=t: store.anchor(t))[0] for t in extra_batch])
    rows.insert(2, ("anchor() one tuple, ms p50/p99", f"{p50:.2f}/{p99:.2f}", "", "", ""))

    # ---- report ---------------------------------------------------------------------------------
    per_m = 1e6 / n
    print()
    print(f"{'':42s} {'ours':>14s} {'scan':>14s} {'chroma':>22s}  note")
    for what, ours, brute, chr_, note in rows:
        print(f"{what:42s} {ours:>14s} {brute:>14s} {chr_:>22s}  {note}")
    print()
    print(
        f"size {n:,} in batches of {args.batch:,}, bodies deflated: {args.compress}; "
        f"vector index {kind}; generating the data took {t_gen:.0f}s (not timed)"
    )
    print(
        f"disk: SQLite {db_mib:,.0f} MiB ({db_mib * per_m:,.0f} MiB per million tuples), "
        f"faiss file {faiss_mib:,.0f} MiB ({faiss_mib * per_m:,.0f} per million)"
    )
    print(
        f"memory: condition index {cond_mib:,.0f} MiB ({cond_mib * per_m:,.0f} per million); "
        f"all in-memory indices (RSS delta, incl. faiss and BM25) {r1 - r0:,.0f} MiB "
        f"({(r1 - r0) * per_m:,.0f} per million); the writer process peaked at "
        f"{writer_mib:,.0f} MiB RSS while anchoring"
    )
    print(f"load average at the end {os.getloadavg()}")
    print("command: .venv/bin/python benchmarks/store_bench.py " + " ".join(sys.argv[1:]))
    store.close()
    if not args.dir:
        shutil.rmtree(work, ignore_errors=True)


def build_chroma(data: Data, m: int, work: Path, rows: list) -> tuple[object, int] | None:
    try:
        import chromadb
    except ImportError:
        print("  chromadb not installed: no Chroma column (pip install chromadb)")
        return None
    client = chromadb.PersistentClient(path=str(work / "chroma"))
    col = client.get_or_create_collection("bench", metadata={"hnsw:space": "ip"})
    op_of = {v: k for k, v in data.ops.items()}
    step = client.get_max_batch_size()
    t = time.perf_counter()
    for a in range(0, m, step):
        b = min(m, a + step)
        col.add(
            ids=[str(i + 1) for i in range(a, b)],
            embeddings=data.vec[a:b],
            metadatas=[
                {"op": op_of[int(data.op[i])], "cell": int(data.cell[i])} for i in range(a, b)
            ],
        )
    rate = m / (time.perf_counter() - t)
    ours = float(rows[0][1].replace(",", ""))
    rows.append(
        (
            f"Chroma inserts/s at {m:,}",
            "",
            "",
            f"{rate:,.0f}",
            f"ours x{ours / rate:,.1f} (anchor_many, all)",
        )
    )
    print(f"  chroma: {m:,} inserted at {rate:,.0f}/s")
    return col, m


if __name__ == "__main__":
    main()
