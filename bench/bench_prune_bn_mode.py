"""Measurement: the BatchNorm mode while scoring, and layer collapse of ResNet32 at 98%.

SNIP and GraSP score a batch through the network, whose BatchNorm layers use either
their running statistics (``bn_mode="eval"``, the default of :func:`eoc.nn.prune_at_init`:
Lee et al.'s SNIP code, Tanaka et al.'s benchmark) or the batch statistics
(``bn_mode="train"``: Wang et al.'s GraSP code; a fresh model's own mode).  This script
counts, for each mode, the convolutions that global pruning empties (layer collapse)
on a fresh standard and Stable ResNet32 (CIFAR shape 3x32x32, 10 classes, He
initialization :func:`eoc.nn.init_` ``("relu", sqrt 2)``), for several seeds.

There is no CIFAR-10 here: the scoring batch is Gaussian inputs (unit variance per
entry) with balanced random labels, ``--batch`` of them (default 128, one batch per
network as in E6/E7's quick profile).  Magnitude (no forward pass) is the control:
its masks do not depend on the mode.  For every run the collapsed layers are listed
by name, with the residual block they belong to.

Run: ``python bench/bench_prune_bn_mode.py [--seeds 3] [--methods snip grasp magnitude]
[--sparsity 0.98] [--threads 1]``.  Prints a table and writes
``bench/results/prune_bn_mode.json``.
"""

from __future__ import annotations

import argparse
import math
import time
import warnings
from pathlib import Path

import torch
from bench_prune_common import finish  # bench/ is on sys.path when run as a script

from eoc.nn import check_layer_collapse, init_, resnet32

HERE = Path(__file__).resolve().parent


def _block(name: str) -> str:
    """'layer3.2.conv1' -> 'layer3.2' (the residual block), else the name itself."""
    parts = name.split(".")
    return ".".join(parts[:2]) if parts[0].startswith("layer") and len(parts) > 2 else name


def run(ns: argparse.Namespace) -> dict:
    torch.set_num_threads(ns.threads)
    rows = []
    for stable in (False, True):
        for seed in range(ns.seeds):
            gen = torch.Generator().manual_seed(seed)
            model = init_(resnet32(stable=stable), "relu", math.sqrt(2.0), generator=gen)
            x = torch.randn(ns.batch, 3, 32, 32, generator=gen)
            y = torch.randperm(ns.batch, generator=gen) % 10
            for method in ns.methods:
                for bn_mode in ("eval", "train"):
                    t0 = time.process_time()
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        collapsed = check_layer_collapse(model, method, ns.sparsity, x, y, bn_mode=bn_mode)
                    rows.append(
                        {
                            "model": "resnet32-stable" if stable else "resnet32",
                            "seed": seed,
                            "method": method,
                            "bn_mode": bn_mode,
                            "n_collapsed": len(collapsed),
                            "collapsed": collapsed,
                            "blocks": sorted({_block(c) for c in collapsed}),
                            "cpu_s": time.process_time() - t0,
                        }
                    )
                    print(f"  {rows[-1]['model']:16s} seed {seed} {method:9s} {bn_mode:5s}: "
                          f"{len(collapsed)} collapsed {collapsed}", flush=True)  # fmt: skip
    summary = {}
    for r in rows:
        key = f"{r['model']}/{r['method']}/{r['bn_mode']}"
        summary.setdefault(key, []).append(r["n_collapsed"])
    return {
        "config": {
            "models": ["resnet32", "resnet32-stable"],
            "init": "init_(model, 'relu', sqrt(2)) (He), torch.Generator seeded by seed",
            "data": f"Gaussian inputs 3x32x32, balanced random labels, batch {ns.batch}",
            "sparsity": ns.sparsity,
            "scope": "global",
            "methods": ns.methods,
            "seeds": ns.seeds,
            "threads": ns.threads,
            "dtype": "float32",
        },
        "rows": rows,
        "collapsed_per_seed": summary,
    }


def table(report: dict) -> str:
    lines = ["| model | method | bn_mode | layers collapsed per seed | mean |", "|---|---|---|---|---|"]
    for key, counts in report["collapsed_per_seed"].items():
        model, method, mode = key.split("/")
        lines.append(f"| {model} | {method} | {mode} | {counts} | {sum(counts) / len(counts):.1f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--methods", nargs="+", default=["snip", "grasp", "magnitude"])
    ap.add_argument("--sparsity", type=float, default=0.98)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", type=Path, default=HERE / "results" / "prune_bn_mode.json")
    ns = ap.parse_args(argv)
    return finish(ns, run(ns), table)


if __name__ == "__main__":
    main()
