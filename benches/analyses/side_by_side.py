#!/usr/bin/env python3
"""Side-by-side analyses benchmark: Sluice, chDB and DuckDB on the same data, in one session.

  side_by_side.py --data DIR --parquet events_10m.parquet [--queries funnel] [--rounds 2]

Each round runs every (query, engine) pair once, engines interleaved, each in a fresh process
doing `--runs` runs (best kept, as shared/baselines/bench.py does): the peers through
shared/baselines/bench.py on the baseline Parquet file, Sluice through `analyses-bench run` on
the data directory `analyses-bench import` made from the same file. Sluice's result rows are
hashed exactly like bench.py hashes the peers', so equal hashes mean equal answers. Prints the
machine's idle check, a Markdown table (best and median over rounds, peak RSS, hash, time
relative to chDB and to the fastest peer) and writes every raw JSON line to --out.
"""
import argparse
import hashlib
import json
import os
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
PEERS = ("chdb", "duckdb")
# The peers' fastest formulations of a question, when they have several (same result hash).
PEER_VARIANTS = {"retention": ["retention_1pass", "retention_mask"]}


def run(cmd):
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    lines = [l for l in done.stdout.splitlines() if l.startswith("{")]
    if done.returncode != 0 or not lines:
        return {"error": (done.stderr or done.stdout).strip()[-400:]}
    return json.loads(lines[-1])


def result_hash(rows):
    """bench.py's hash: sha256 of json.dumps(list of row tuples), first 12 hex digits."""
    return hashlib.sha256(json.dumps(rows, default=str).encode()).hexdigest()[:12]


def idle(baselines):
    out = subprocess.run(["bash", os.path.join(baselines, "idle_check.sh")],
                         capture_output=True, text=True)
    return out.stdout.strip()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True, help="Sluice data directory (analyses-bench import)")
    ap.add_argument("--parquet", required=True, help="the baseline Parquet file")
    ap.add_argument("--queries", default="funnel")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--python", default=sys.executable, help="Python with chdb and duckdb")
    ap.add_argument("--baselines", default=os.path.join(ROOT, "..", "shared", "baselines"))
    ap.add_argument("--sluice", default=os.path.join(ROOT, "target", "release", "analyses-bench"))
    ap.add_argument("--out", default="side_by_side.jsonl")
    a = ap.parse_args()
    bench_py = os.path.join(a.baselines, "bench.py")
    queries = a.queries.split(",")
    print(f"idle check before: {idle(a.baselines)} % idle")
    results = []
    with open(a.out, "w") as out:
        for round_ in range(1, a.rounds + 1):
            for query in queries:
                for engine in ("sluice",) + PEERS:
                    if engine == "sluice":
                        line = run([a.sluice, "run", query, "--data", a.data, "--runs", str(a.runs)])
                        if "result_rows" in line:
                            line["result_sha"] = result_hash(line.pop("result_rows"))
                        record(out, results, line, engine, query, query, round_)
                        continue
                    for variant in PEER_VARIANTS.get(query, [query]):
                        sql = os.path.join(a.baselines, "queries", engine, variant + ".sql")
                        if not os.path.exists(sql):
                            continue
                        line = run([a.python, bench_py, engine, variant, "--file", a.parquet,
                                    "--runs", str(a.runs)])
                        record(out, results, line, engine, query, variant, round_)
    print(f"idle check after: {idle(a.baselines)} % idle")
    table(results, queries)


def record(out, results, line, engine, query, variant, round_):
    line.update({"engine": engine if variant == query else f"{engine} ({variant})",
                 "query": query, "round": round_})
    out.write(json.dumps(line) + "\n")
    out.flush()
    results.append(line)
    print(f"round {round_} {query:10s} {line['engine']:24s} best {line.get('best_s')} s "
          f"rss {line.get('peak_rss_mb')} MB hash {line.get('result_sha')} "
          f"{line.get('error') or ''}", flush=True)


def table(results, queries):
    print()
    print("| query | engine | best s | median s | runs | peak RSS MB | result hash | × chDB (best variant) | × fastest peer |")
    print("|---|---|---:|---:|---:|---:|---|---:|---:|")
    for query in queries:
        bests = {}
        stats = {}
        engines = sorted({r["engine"] for r in results if r["query"] == query},
                         key=lambda e: (e != "sluice", e))
        for engine in engines:
            lines = [r for r in results if r["query"] == query and r["engine"] == engine]
            times = [t for r in lines for t in r.get("times_s") or []]
            if not times:
                continue
            bests[engine] = min(times)
            hashes = sorted({r.get("result_sha") for r in lines})
            stats[engine] = (min(times), statistics.median(times), len(times),
                             max(r.get("peak_rss_mb") or 0 for r in lines), ",".join(map(str, hashes)))
        peers = [b for e, b in bests.items() if e != "sluice"]
        chdb = min((b for e, b in bests.items() if e.startswith("chdb")), default=None)
        for engine, (best, median, n, rss, hashes) in stats.items():
            vs_chdb = f"{best / chdb:.2f}" if chdb else "—"
            vs_peer = f"{best / min(peers):.2f}" if peers else "—"
            print(f"| {query} | {engine} | {best:.3f} | {median:.3f} | {n} | {rss} | {hashes} | "
                  f"{vs_chdb} | {vs_peer} |")


if __name__ == "__main__":
    main()
