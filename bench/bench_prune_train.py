"""Benchmark: the cost of training with pruning masks, against the dense training step.

One SGD step (momentum 0.9, weight decay 5e-4, cross-entropy, forward + backward +
step) of ResNet32 on CIFAR-shaped inputs (3x32x32, 10 classes, ``--batch`` examples),
for the same initial weights, in four forms:

* ``dense``: no masks;
* ``prune_hook``: pruned at 90% by :func:`eoc.nn.prune_at_init` (magnitude), masks
  held by ``torch.nn.utils.prune``'s forward pre-hook (``weight = weight_orig *
  weight_mask`` recomputed, and differentiated, on every step);
* ``prune_hook+enforce``: the same, plus zeroing the pruned entries of ``weight_orig``
  and of the momentum buffers after every step (what ``paper_repro/train.py`` does
  today);
* ``inplace``: :func:`eoc.nn.inplace_masks_` and :func:`eoc.nn.register_mask_hook`
  (the pruned entries zeroed in place after every step, no per-forward product).

Within each of ``--repeat`` repetitions the forms take ``--steps`` steps each,
interleaved step by step (so that a slow spell of a shared machine hits every form
alike), timed in process CPU time (one thread: waiting for a core is not counted).
The overhead of a form is the median over repetitions of its time divided by the
dense time of the same repetition (with the quartiles); the minimum time per step is
reported too.  The mask bookkeeping is also timed on its own (:func:`mask_work`),
as a fraction of the median dense step: on a loaded machine the end-to-end ratios
scatter by several percent, more than the effect.

Run: ``python bench/bench_prune_train.py [--batch 128] [--repeat 15] [--steps 2]
[--threads 1]``.  Prints a table and writes ``bench/results/prune_train.json``.
"""

from __future__ import annotations

import argparse
import copy
import math
import statistics
import time
import warnings
from pathlib import Path
from typing import Callable

import torch
from bench_prune_common import finish  # bench/ is on sys.path when run as a script
from torch.nn import functional as F

from eoc.nn import apply_masks_, init_, inplace_masks_, prune_at_init, register_mask_hook, resnet32

HERE = Path(__file__).resolve().parent


def _optimizer(model):
    return torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)


def forms(base, seed: int) -> dict[str, Callable[[torch.Tensor, torch.Tensor], None]]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pruned = copy.deepcopy(base)
        prune_at_init(pruned, "magnitude", 0.9)
    models = {
        "dense": copy.deepcopy(base),
        "prune_hook": copy.deepcopy(pruned),
        "prune_hook+enforce": copy.deepcopy(pruned),
        "inplace": inplace_masks_(copy.deepcopy(pruned)),
    }
    opts = {k: _optimizer(m) for k, m in models.items()}
    register_mask_hook(opts["inplace"], models["inplace"])

    def step(name):
        model, opt = models[name], opts[name]

        def run(x, y):
            opt.zero_grad(set_to_none=True)
            F.cross_entropy(model(x), y).backward()
            opt.step()
            if name == "prune_hook+enforce":
                apply_masks_(model, opt)

        return run

    return {name: step(name) for name in models}, models, opts


def mask_work(models: dict, opts: dict, repeat: int) -> dict[str, float]:
    """CPU seconds of the mask bookkeeping alone, per step (min over ``repeat`` timings of 10 calls).

    ``prune_hook``: the pre-hook's product ``weight_orig * weight_mask`` of every layer
    and its backward (the gradient times the mask); ``enforce`` / ``inplace``:
    :func:`eoc.nn.apply_masks_` with the optimizer (zeroing pruned entries of
    ``weight_orig`` and of the momentum buffers).  Small next to a step, so measured
    on its own: the end-to-end ratios cannot resolve it on a loaded machine.
    """
    from eoc.nn import prunable_layers

    hooked = [m for _, m in prunable_layers(models["prune_hook"])]

    def hook_product():
        for m in hooked:
            orig = m.weight_orig.detach().requires_grad_()
            w = orig * m.weight_mask
            w.backward(torch.ones_like(w))

    work = {"prune_hook": hook_product, "apply_masks_": lambda: apply_masks_(models["inplace"], opts["inplace"])}
    out = {}
    for name, fn in work.items():
        fn()
        best = math.inf
        for _ in range(repeat):
            t0 = time.process_time()
            for _ in range(10):
                fn()
            best = min(best, (time.process_time() - t0) / 10)
        out[name] = best
    return out


def run(ns: argparse.Namespace) -> dict:
    torch.set_num_threads(ns.threads)
    gen = torch.Generator().manual_seed(ns.seed)
    base = init_(resnet32(), "relu", math.sqrt(2.0), generator=gen)
    base.train()
    x = torch.randn(ns.batch, 3, 32, 32, generator=gen)
    y = torch.randint(0, 10, (ns.batch,), generator=gen)
    steps, models, opts = forms(base, ns.seed)
    for fn in steps.values():  # warm-up
        fn(x, y)
    per_rep: dict[str, list[float]] = {k: [] for k in steps}
    for rep in range(ns.repeat):
        total = dict.fromkeys(steps, 0.0)
        for i in range(ns.steps):  # interleaved step by step: a slow spell hits every form alike
            for name in list(steps) if (rep + i) % 2 == 0 else list(steps)[::-1]:
                t0 = time.process_time()
                steps[name](x, y)
                total[name] += time.process_time() - t0
        for name in steps:
            per_rep[name].append(total[name] / ns.steps)
        print(f"  rep {rep}: " + ", ".join(f"{k} {per_rep[k][-1]:.3f}" for k in steps), flush=True)
    ratios = {k: sorted(a / d for a, d in zip(per_rep[k], per_rep["dense"])) for k in steps}
    dense = statistics.median(per_rep["dense"])
    work = mask_work(models, opts, ns.repeat)
    return {
        "config": {
            "model": "resnet32, 3x32x32, 10 classes, train mode",
            "batch": ns.batch,
            "sparsity": 0.9,
            "optimizer": "SGD lr 0.01 momentum 0.9 weight_decay 5e-4",
            "threads": ns.threads,
            "dtype": "float32",
            "repeat": ns.repeat,
            "steps_per_repeat": ns.steps,
            "clock": "process CPU time, forms interleaved step by step",
        },
        "seconds_per_step_min": {k: min(v) for k, v in per_rep.items()},
        "seconds_per_step_all": per_rep,
        "overhead_vs_dense_median": {k: statistics.median(r) - 1.0 for k, r in ratios.items()},
        "overhead_vs_dense_quartiles": {
            k: [r[len(r) // 4] - 1.0, r[(3 * len(r)) // 4] - 1.0] for k, r in ratios.items()
        },
        "mask_work_seconds_per_step": work,
        "mask_work_fraction_of_dense_step": {k: v / dense for k, v in work.items()},
    }


def table(report: dict) -> str:
    lines = ["| form | CPU s / step (min) | overhead vs dense (median of paired ratios) | quartiles |", "|---|---|---|---|"]
    for k, t in report["seconds_per_step_min"].items():
        q = report["overhead_vs_dense_quartiles"][k]
        lines.append(
            f"| {k} | {t:.3f} | {100 * report['overhead_vs_dense_median'][k]:+.1f}% | "
            f"{100 * q[0]:+.1f}% .. {100 * q[1]:+.1f}% |"
        )
    lines += ["", "| mask bookkeeping alone | CPU ms / step | fraction of a dense step |", "|---|---|---|"]
    for k, t in report["mask_work_seconds_per_step"].items():
        lines.append(f"| {k} | {1e3 * t:.2f} | {100 * report['mask_work_fraction_of_dense_step'][k]:.2f}% |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--repeat", type=int, default=15)
    ap.add_argument("--steps", type=int, default=2)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=HERE / "results" / "prune_train.json")
    ns = ap.parse_args(argv)
    return finish(ns, run(ns), table)


if __name__ == "__main__":
    main()
