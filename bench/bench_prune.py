"""Benchmark: a full prune at initialization with :func:`eoc.nn.prune_at_init`, against a
plain torch implementation of the same algorithms, side by side in one process.

Configuration (the issue-11 setting): VGG19 with BatchNorm on CIFAR-shaped inputs
(3x32x32, 10 classes, 20.0 M prunable weights), He initialization
(:func:`eoc.nn.init_` ``("relu", sqrt 2)``, seeded), one batch of 100 Gaussian
inputs with random labels, sparsity 0.98, float32, one thread (``--threads``).

* ``ours``: ``eoc.nn.prune_at_init(model, method, 0.98, x, y, rounds=100)`` with its
  defaults (BatchNorm in eval mode while scoring, GraSP temperature 200), masks
  applied with ``torch.nn.utils.prune``.
* ``plain``: what a user writes from the papers / Tanaka et al.'s benchmark code,
  in float32: scores by autograd on the model in eval mode (GraSP: logits / 200,
  Hessian-gradient product by double backward), one global ``torch.kthvalue``
  threshold over the concatenated scores (no exact count, no tie rule), masks
  applied with ``torch.nn.utils.prune.custom_from_mask``.  Plain SynFlow: every
  parameter and buffer made positive in place, masks held by the pruning pre-hook,
  per round one forward/backward on an all-ones input, scores
  ``|theta * dR/dtheta|`` with the dead ones set to ``-inf``, ``kthvalue`` over
  all 20 M scores, signs restored at the end.
* ``old`` (with ``--baseline REF``): ``prune_at_init`` of the package at git
  revision ``REF`` (extracted with ``git archive`` and imported as
  ``eoc_baseline``), for the before/after table; one repetition.

Timing: each repetition runs every implementation in turn on a fresh deep copy of
the same initialized model (wall and process CPU time; the minimum over
repetitions is reported, and the median; the table shows CPU time, which on a
shared machine is not inflated by waiting for a core).  The paired speed-up is the
plain time over ours within each repetition (the two run back to back, in
alternating order), whose median resists the load swings of a shared machine
better than the ratio of minima.  Memory in the table: the
largest peak of ``ours`` over repetitions against the smallest of ``plain``.  Memory: the peak resident-set increment
during the prune, measured in the same process (``/proc/self/clear_refs`` resets
the high-water mark after ``malloc_trim``; glibc's mmap threshold is fixed at 1 MiB
so that freed blocks leave the resident set), so it counts what the prune
allocates beyond the model.  The masks of ``ours`` and ``plain`` are compared (fraction of
entries on which they agree, and the kept counts).

Run: ``python bench/bench_prune.py [--repeat 3] [--threads 1] [--methods ...]
[--rounds 100] [--baseline main]``.  Prints a table and writes
``bench/results/prune.json``.  Not a test: speed is never asserted.
"""

from __future__ import annotations

import argparse
import copy
import ctypes
import gc
import importlib.util
import math
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
import warnings
from io import BytesIO
from pathlib import Path
from typing import Callable

import torch
from bench_prune_common import finish  # bench/ is on sys.path when run as a script
from torch import nn
from torch.nn import functional as F
from torch.nn.utils import prune

from eoc.nn import VGG, init_, prunable_tensors, prune_at_init
from eoc.nn._scores import SynFlowNetwork

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
METHODS = ("random", "magnitude", "snip", "grasp", "synflow")
TEMPERATURE = 200.0


# ----------------------------------------------------------------------------- memory


def _rss_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def _fixed_mmap_threshold(nbytes: int = 1 << 20) -> bool:
    """Make glibc serve every allocation of ``nbytes`` or more by ``mmap`` (returned to the
    system when freed), instead of its dynamic threshold (which, after freeing a large
    block, keeps later blocks of that size in the heap, where freed memory still counts
    in the resident set).  Without it the peak increments depend on the allocation
    history of the process, not only on the prune."""
    try:
        return bool(ctypes.CDLL("libc.so.6").mallopt(-3, nbytes))  # M_MMAP_THRESHOLD
    except (OSError, AttributeError):
        return False


def _trim() -> None:
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except OSError:  # not glibc
        pass


def measure(fn: Callable[[], object]) -> dict:
    """Wall time, CPU time and peak RSS increment (MiB) of one call of ``fn``."""
    _trim()
    Path("/proc/self/clear_refs").write_text("5")  # reset VmHWM to the current RSS
    rss0 = _rss_kib("VmRSS")
    w0, c0 = time.perf_counter(), time.process_time()
    out = fn()
    wall, cpu = time.perf_counter() - w0, time.process_time() - c0
    peak = _rss_kib("VmHWM")
    return {"wall_s": wall, "cpu_s": cpu, "peak_mib": (peak - rss0) / 1024, "out": out}


# ----------------------------------------------------------------------------- plain implementation


def _layers(model: nn.Module) -> list[nn.Module]:
    return [m for m in model.modules() if isinstance(m, (nn.Linear, nn.Conv2d))]


def _threshold_masks(scores: list[torch.Tensor], keep: float) -> list[torch.Tensor]:
    """Tanaka et al.'s global mask: the kthvalue of all scores, keep those above it."""
    flat = torch.cat([s.flatten() for s in scores])
    k_pruned = flat.numel() - round(keep * flat.numel())
    threshold = torch.kthvalue(flat, k_pruned).values
    return [(s > threshold).float() for s in scores]


def plain_scores(model: nn.Module, method: str, x: torch.Tensor, y: torch.Tensor, gen: torch.Generator) -> list:
    params = [m.weight for m in _layers(model)]
    if method == "random":
        return [torch.rand(p.shape, generator=gen) for p in params]
    if method == "magnitude":
        return [p.detach().abs() for p in params]
    model.eval()
    if method == "snip":
        grads = torch.autograd.grad(F.cross_entropy(model(x), y), params)
        return [(p * g).detach().abs() for p, g in zip(params, grads)]
    grads = torch.autograd.grad(F.cross_entropy(model(x) / TEMPERATURE, y), params, create_graph=True)
    hg = torch.autograd.grad(sum((g * g.detach()).sum() for g in grads), params)
    return [(p * h).detach() for p, h in zip(params, hg)]  # keep the largest +W Hg (remove the largest -W Hg)


def plain_synflow(model: nn.Module, keep: float, rounds: int, input_shape: tuple[int, ...]) -> list[torch.Tensor]:
    model.eval()
    layers = _layers(model)
    for m in layers:
        prune.identity(m, "weight")  # masks held by the pruning pre-hook while scoring
    with torch.no_grad():
        signs = {k: v.sign() for k, v in model.state_dict().items() if v.is_floating_point()}
        for k, v in model.state_dict().items():
            if k in signs:
                v.abs_()
    params = [m.weight_orig for m in layers]
    ones = torch.ones((1, *input_shape))
    for r in range(1, rounds + 1):
        grads = torch.autograd.grad(model(ones).sum(), params)
        scores = [(g * p).detach().abs() for g, p in zip(grads, params)]
        for s, m in zip(scores, layers):
            s[m.weight_mask == 0] = -math.inf
        masks = _threshold_masks(scores, keep ** (r / rounds))
        with torch.no_grad():
            for m, mask in zip(layers, masks):
                m.weight_mask.copy_(mask)
    with torch.no_grad():
        for k, v in model.state_dict().items():
            if k in signs and not k.endswith("_mask"):
                v.mul_(signs[k])
    for m in layers:
        prune.remove(m, "weight")
    return masks


def plain_prune(model, method, sparsity, x, y, rounds, gen) -> list[torch.Tensor]:
    keep = 1.0 - sparsity
    if method == "synflow":
        masks = plain_synflow(model, keep, rounds, tuple(x.shape[1:]))
    else:
        masks = _threshold_masks(plain_scores(model, method, x, y, gen), keep)
    for m, mask in zip(_layers(model), masks):
        prune.custom_from_mask(m, "weight", mask)
    return masks


def ours_prune(model, method, sparsity, x, y, rounds, gen, nn_module=None) -> list[torch.Tensor]:
    fn = prune_at_init if nn_module is None else nn_module.prune_at_init
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # layer collapse is a result here, not an error
        masks = fn(model, method, sparsity, x, y, rounds=rounds, generator=gen)
    return list(masks.values())


# ----------------------------------------------------------------------------- baseline


def load_baseline(ref: str):
    """The ``eoc`` package at git revision ``ref``, imported as ``eoc_baseline``; its eoc.nn."""
    blob = subprocess.run(["git", "archive", ref, "eoc"], cwd=ROOT, check=True, capture_output=True).stdout
    where = Path(tempfile.mkdtemp(prefix="eoc_baseline_"))
    with tarfile.open(fileobj=BytesIO(blob)) as tar:
        tar.extractall(where, filter="data")
    pkg = where / "eoc"
    spec = importlib.util.spec_from_file_location("eoc_baseline", pkg / "__init__.py", submodule_search_locations=[str(pkg)])
    module = importlib.util.module_from_spec(spec)
    sys.modules["eoc_baseline"] = module
    spec.loader.exec_module(module)
    import eoc_baseline.nn  # noqa: F401

    return sys.modules["eoc_baseline.nn"]


# ----------------------------------------------------------------------------- driver


def _agreement(a: list[torch.Tensor], b: list[torch.Tensor]) -> dict:
    fa = torch.cat([m.flatten().bool() for m in a])
    fb = torch.cat([m.flatten().bool() for m in b])
    return {"agree": float((fa == fb).double().mean()), "kept": [int(fa.sum()), int(fb.sum())]}


def run(ns: argparse.Namespace) -> dict:
    torch.set_num_threads(ns.threads)
    mmap_fixed = _fixed_mmap_threshold()
    base = VGG("vgg19", in_channels=3, num_classes=10)
    init_(base, "relu", math.sqrt(2.0), generator=torch.Generator().manual_seed(ns.seed))
    data = torch.Generator().manual_seed(ns.seed + 1)
    x = torch.randn(ns.batch, 3, 32, 32, generator=data)
    y = torch.randint(0, 10, (ns.batch,), generator=data)
    n_weights = sum(m.weight.numel() for m in _layers(base))
    tensors = prunable_tensors(base)
    net = SynFlowNetwork(base, tensors, [None] * len(tensors), (3, 32, 32))
    R, _ = net.gradients()
    synflow = {"path_norm_R": float(R), "dtype": str(net.dtype).replace("torch.", ""), "float32_max": 3.4028e38}
    del net, R
    impls: dict[str, Callable] = {"ours": ours_prune, "plain": plain_prune}
    old = load_baseline(ns.baseline) if ns.baseline else None
    rows = []
    for method in ns.methods:
        rounds = ns.rounds if method == "synflow" else 1
        results: dict[str, list] = {k: [] for k in impls}
        masks = {}
        order = list(impls)
        for rep in range(ns.repeat):
            for name in order if rep % 2 == 0 else order[::-1]:
                model = copy.deepcopy(base)
                gen = torch.Generator().manual_seed(ns.seed + 2)
                r = measure(lambda: impls[name](model, method, ns.sparsity, x, y, rounds, gen))
                masks[name] = r.pop("out")
                results[name].append(r)
                del model
                print(f"  {method:9s} {name:5s} rep {rep}: {r['wall_s']:.2f} s wall, {r['cpu_s']:.2f} s cpu, "
                      f"+{r['peak_mib']:.0f} MiB", flush=True)  # fmt: skip
        if old is not None:
            model = copy.deepcopy(base)
            gen = torch.Generator().manual_seed(ns.seed + 2)
            r = measure(lambda: ours_prune(model, method, ns.sparsity, x, y, rounds, gen, nn_module=old))
            masks["old"] = r.pop("out")
            results["old"] = [r]
            print(f"  {method:9s} old   rep 0: {r['wall_s']:.2f} s wall, +{r['peak_mib']:.0f} MiB", flush=True)
        row = {"method": method, "rounds": rounds}
        for name, rs in results.items():
            row[name] = {
                "wall_s_min": min(r["wall_s"] for r in rs),
                "wall_s_median": statistics.median(r["wall_s"] for r in rs),
                "cpu_s_min": min(r["cpu_s"] for r in rs),
                "peak_mib_min": min(r["peak_mib"] for r in rs),
                "peak_mib_max": max(r["peak_mib"] for r in rs),
                "repeats": len(rs),
            }
        row["speedup_vs_plain_cpu"] = row["plain"]["cpu_s_min"] / row["ours"]["cpu_s_min"]
        paired = sorted(p["cpu_s"] / o["cpu_s"] for p, o in zip(results["plain"], results["ours"]))
        row["speedup_vs_plain_paired"] = {"median": statistics.median(paired), "min": paired[0], "max": paired[-1]}
        row["memory_ratio_vs_plain"] = row["ours"]["peak_mib_max"] / max(row["plain"]["peak_mib_min"], 1e-9)
        row["masks_ours_vs_plain"] = _agreement(masks["ours"], masks["plain"])
        if "old" in masks:
            row["masks_ours_vs_old"] = _agreement(masks["ours"], masks["old"])
        rows.append(row)
    return {
        "config": {
            "model": "VGG19 + BatchNorm, 3x32x32, 10 classes",
            "prunable_weights": n_weights,
            "batch": ns.batch,
            "sparsity": ns.sparsity,
            "synflow_rounds": ns.rounds,
            "dtype": "float32",
            "threads": ns.threads,
            "repeat": ns.repeat,
            "seed": ns.seed,
            "baseline": ns.baseline,
            "synflow_first_round": synflow,
            "malloc_mmap_threshold_fixed_1MiB": mmap_fixed,
        },
        "rows": rows,
    }


def table(report: dict) -> str:
    has_old = any("old" in r for r in report["rows"])
    head = (
        "| method | ours (s) | plain (s) | speed-up (min/min) | speed-up (paired, median [range]) |"
        " ours peak (MiB, max) | plain peak (MiB, min) |"
    )
    head += " old (s) | old peak (MiB) |" if has_old else ""
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for r in report["rows"]:
        name = r["method"] + (f"-{r['rounds']}" if r["rounds"] > 1 else "")
        line = (
            f"| {name} | {r['ours']['cpu_s_min']:.2f} | {r['plain']['cpu_s_min']:.2f} | "
            f"{r['speedup_vs_plain_cpu']:.2f}x | {r['speedup_vs_plain_paired']['median']:.2f}x "
            f"[{r['speedup_vs_plain_paired']['min']:.2f}, {r['speedup_vs_plain_paired']['max']:.2f}] | "
            f"{r['ours']['peak_mib_max']:.0f} | {r['plain']['peak_mib_min']:.0f} |"
        )
        if has_old:
            line += f" {r['old']['cpu_s_min']:.2f} | {r['old']['peak_mib_max']:.0f} |" if "old" in r else " | |"
        lines.append(line)
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--rounds", type=int, default=100)
    ap.add_argument("--batch", type=int, default=100)
    ap.add_argument("--sparsity", type=float, default=0.98)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--baseline", default=None, help="git revision of the old implementation to time once (e.g. main)")
    ap.add_argument("--out", type=Path, default=HERE / "results" / "prune.json")
    ns = ap.parse_args(argv)
    return finish(ns, run(ns), table)


if __name__ == "__main__":
    main()
