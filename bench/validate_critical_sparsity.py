"""Measured against predicted critical sparsity: the evidence for the finite-width SNIP model.

Run from the repository root (CPU, about 30 min on a quiet 2-core machine; ``--quick`` takes a few)::

    .venv/bin/python bench/validate_critical_sparsity.py            # writes bench/data/validate_critical_sparsity.{json,md}
    .venv/bin/python bench/validate_critical_sparsity.py --quick --out /tmp/v.json

For every target setting of issue 10 it measures the empirical s_cr of R independent
random networks (the batched stacks of the simulator, ``eoc.sim`` or, before it lands,
``proofs_check.engine``; scores ``|W * grad|`` of the mean cross-entropy on an
independent batch per network, critical sparsity by ``eoc.nn.functional.critical_sparsity``)
and compares the mean (+- standard error) with ``eoc.predict_critical_sparsity`` under the
finite model (default) and the paper's iid model, for SNIP and for magnitude pruning:

* tanh FFNN 784-100x(L-1)-10, sigma_b = 0.2, sigma_w in {0.8, EOC, 2.0}, L in {10, 30, 50, 100},
  Gaussian inputs (|x|^2/d = 1), random labels, batch 128; out of sample: width 200 and
  batch 32 at L = 50;
* one-layer-branch ReLU ResNet (sigma_w = sqrt 2, sigma_b = 0, input 100, width 100, 10
  outputs), standard (alpha = 1) and Stable (alpha = 1/sqrt L), L in {10, 30, 60, 100};
  out of sample: width 200 and batch 32 at L = 30.

It also stores the measurements behind the mechanisms of docs/theory.md §8:

* ``ranks``: the effective rank (participation ratio of the singular values) of layer
  gradients, measured and predicted (model median);
* ``walk``: the spread across networks of log(layer score scale / input-layer scale),
  measured and predicted (the random walk in depth);
* ``oracle``: the s_cr of the model's layer laws fed with each measured network's own
  scales and ranks, against the iid law with the same scales (isolates the score law);
* ``row_model``: the median maximum of simulated low-rank layers against the row model;
* ``gradient_independence``: in the standard ResNet, the growth per layer of the
  off-diagonal (cross-example) gradient mass, measured, predicted by gradient
  independence from the realized activation patterns, and with independent weights.

Every record carries its seed, sizes, replicate count, device and time.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import eoc  # noqa: E402
from eoc._arch import as_architecture  # noqa: E402
from eoc._finite import VirtualNetworks, finite_critical_sparsity, simulate_virtual_networks  # noqa: E402
from eoc._finite_laws import sample_row_maxima  # noqa: E402
from eoc.nn.functional import critical_sparsity  # noqa: E402

try:  # the simulator's new home (issue 9a); same names
    from eoc.sim import MLPStack, ResNetStack
except ImportError:  # pragma: no cover - until eoc.sim lands
    from proofs_check.engine import MLPStack, ResNetStack

OUT = ROOT / "bench" / "data" / "validate_critical_sparsity.json"
SB = 0.2
SW_RES = math.sqrt(2.0)
K = 10


def _phases() -> dict:
    w = float(eoc.edge_of_chaos("tanh", SB))
    # "ordered-0.8eoc" is E2's ordered point, where a batch of one was measured before (closing note)
    return {"ordered": 0.8, "eoc": w, "chaotic": 2.0, "ordered-0.8eoc": 0.8 * w}


def _batch(replicas, batch, dim, gen):
    x = torch.randn(replicas, batch, dim, generator=gen, dtype=torch.float64)
    x = x / x.norm(dim=-1, keepdim=True) * math.sqrt(dim)
    return x, torch.randint(0, K, (replicas, batch), generator=gen)


def _participation(g: torch.Tensor) -> torch.Tensor:
    s = torch.linalg.svdvals(g) ** 2
    return s.sum(-1) ** 2 / (s**2).sum(-1)


def _widths(kind, depth, width):
    if kind == "ffnn":
        return [784] + [width] * (depth - 1) + [K]
    return [width] * (depth + 2) + [K]


def measure(kind, var, depth, width, batch, replicas, seed, chunk=16):
    """Per-network s_cr (SNIP, magnitude), first emptied layer, layer mean-square scores and ranks."""
    rec = {k: [] for k in ("snip", "magnitude", "first", "ms", "ranks")}
    for c0 in range(0, replicas, chunk):
        r = min(chunk, replicas - c0)
        gen = torch.Generator().manual_seed(seed * 100_003 + c0)
        if kind == "ffnn":
            net = MLPStack.init(_widths(kind, depth, width), "tanh", _phases()[var], SB, r, generator=gen)
            x, y = _batch(r, batch, 784, gen)
        else:
            alpha = 1.0 if var == "standard" else 1.0 / math.sqrt(depth)
            net = ResNetStack.init(width, width, depth, K, "relu", SW_RES, 0.0, alpha, r, generator=gen)
            x, y = _batch(r, batch, width, gen)
        grads = net.weight_gradients(x, y)
        weights = net.effective_weights()
        scores = [(w * g).abs() for w, g in zip(weights, grads)]
        res = critical_sparsity(scores, batch_dims=1)
        rec["snip"].append(res.s_cr.numpy())
        rec["first"].append(res.layer.numpy())
        rec["magnitude"].append(critical_sparsity([w.abs() for w in weights], batch_dims=1).s_cr.numpy())
        rec["ms"].append(torch.stack([(s * s).flatten(1).mean(1) for s in scores], 1).numpy())
        rec["ranks"].append(torch.stack([_participation(g) for g in grads], 1).numpy())
    return {k: np.concatenate(v) for k, v in rec.items()}


def _mean_se(v):
    v = np.asarray(v, dtype=np.float64)
    return float(v.mean()), float(v.std(ddof=1) / math.sqrt(v.size))


def _predict(kind, var, depth, width, batch, model, method="snip"):
    widths = _widths(kind, depth, width)
    if kind == "ffnn":
        return eoc.critical_sparsity(method, widths, "tanh", _phases()[var], SB, model=model, batch_size=batch)
    alpha = 1.0 if var == "standard" else "stable"
    return eoc.critical_sparsity(method, widths, "relu", SW_RES, 0.0, arch="resnet", alpha=alpha, model=model,
                                 batch_size=batch)


def _virtual(kind, var, depth, width, batch):
    arch = as_architecture(_widths(kind, depth, width), "ffnn" if kind == "ffnn" else "resnet",
                           alpha=None if kind == "ffnn" else (1.0 if var == "standard" else "stable"))
    if kind == "ffnn":
        return arch, simulate_virtual_networks(arch, "tanh", _phases()[var], SB, batch_size=batch)
    return arch, simulate_virtual_networks(arch, "relu", SW_RES, 0.0, batch_size=batch)


def settings(quick: bool):
    ffnn_depths = (10, 30) if quick else (10, 30, 50, 100)
    res_depths = (10, 30) if quick else (10, 30, 60, 100)
    rf, rr, ro = (12, 16, 12) if quick else (64, 128, 48)
    out = []
    for var in ("ordered", "eoc", "chaotic"):
        for depth in ffnn_depths:
            out.append(("ffnn", var, depth, 100, 128, rf, "target"))
        oos_depth = 30 if quick else 50
        out.append(("ffnn", var, oos_depth, 200, 128, ro, "width 200"))
        out.append(("ffnn", var, oos_depth, 100, 32, ro, "batch 32"))
    out.append(("ffnn", "ordered-0.8eoc", 30 if quick else 50, 100, 1, ro, "batch 1"))
    out.append(("ffnn", "ordered-0.8eoc", 30 if quick else 50, 100, 128, ro, "batch 128, E2 point"))
    for var in ("standard", "stable"):
        for depth in res_depths:
            out.append(("resnet", var, depth, 100, 128, rr, "target"))
        out.append(("resnet", var, 30, 200, 128, max(ro, rr * 3 // 4), "width 200"))
        out.append(("resnet", var, 30, 100, 32, max(ro, rr * 3 // 4), "batch 32"))
    return out


def mechanism_records(kind, var, depth, width, batch, meas) -> dict:
    """Ranks, log-scale walk and the oracle check for one setting (docs/theory.md §8)."""
    arch, vn = _virtual(kind, var, depth, width, batch)
    L = arch.depth
    layers = sorted({0, 1, L // 2, L - 2, L - 1})
    lm, pm = np.log(meas["ms"]), 2.0 * np.log(vn.scales)
    walk = {int(l): {"measured": float(np.std(lm[:, l] - lm[:, 0])), "predicted": float(np.std(pm[:, l] - pm[:, 0]))}
            for l in layers[1:]}
    ranks = {int(l): {"measured": float(meas["ranks"][:, l].mean()), "predicted": float(np.median(vn.ranks[:, l]))}
             for l in layers}
    own = VirtualNetworks(np.sqrt(meas["ms"]), np.maximum(meas["ranks"], 1.0), vn.rows, vn.cols, vn.n_weights, batch, 1)
    structured = finite_critical_sparsity(own).s_cr
    iid = float(np.mean([eoc.critical_sparsity_from_scales("snip", np.sqrt(m), arch.n_weights).s_cr for m in meas["ms"]]))
    return {"ranks": ranks, "walk": walk,
            "oracle": {"measured": _mean_se(meas["snip"])[0], "model_laws_with_measured_scales_and_ranks": structured,
                       "iid_law_with_measured_scales": iid}}


def row_model_records(seed=0) -> list:
    rng = np.random.default_rng(seed)
    out = []
    for rank, (nr, nc) in ((1, (100, 100)), (3, (100, 100)), (9, (100, 100)), (3, (100, 784)), (3, (10, 100))):
        reps = 600
        mx = np.empty(reps)
        for i in range(0, reps, 100):
            w = rng.standard_normal((100, nr, nc))
            g = rng.standard_normal((100, nr, rank)) @ rng.standard_normal((100, rank, nc)) / math.sqrt(rank)
            mx[i : i + 100] = np.abs(w * g).reshape(100, -1).max(axis=1)
        model = float(sample_row_maxima(float(rank), min(nr, nc), max(nr, nc), 0.5))
        out.append({"rank": rank, "shape": [nr, nc], "layers": reps, "median_simulated": float(np.median(mx)),
                    "median_row_model": model, "ratio": model / float(np.median(mx))})
    return out


def gradient_independence_records(width, depth=30, replicas=16, seed=5) -> dict:
    """Standard ResNet: off-diagonal gradient mass growth per branch, measured / GI given the realized
    activation patterns / recomputed with independent weights."""
    gen = torch.Generator().manual_seed(seed)
    net = ResNetStack.init(width, width, depth, K, "relu", SW_RES, 0.0, 1.0, replicas, generator=gen)
    x, y = _batch(replicas, 128, width, gen)
    ws = [w.detach() for w in net.effective_weights()]
    out, pre = net._forward(x, ws, record=True, track=True)
    loss = -torch.log_softmax(out, -1).gather(-1, y[..., None]).mean(dim=(1, 2)).sum()
    g = torch.autograd.grad(loss, pre)
    B = x.shape[1]
    mask = 1 - torch.eye(B, dtype=torch.float64)
    off = lambda m: (m * mask).sum((1, 2))  # noqa: E731
    gen2 = torch.Generator().manual_seed(seed + 1)
    rows = []
    for l in range(depth, 0, -1):
        d = (pre[l - 1].detach() > 0).double()
        gl, gm = g[l] @ g[l].transpose(1, 2), g[l - 1] @ g[l - 1].transpose(1, 2)
        co = SW_RES**2 * (d @ d.transpose(1, 2)) / width  # sigma_w^2 x fraction of co-active units
        w_ind = torch.randn(replicas, width, width, generator=gen2, dtype=torch.float64) * SW_RES / math.sqrt(width)
        t_ind = g[l] + d * (g[l] @ w_ind)
        gi = t_ind @ t_ind.transpose(1, 2)
        rows.append({"layer": l, "measured": float((off(gm) / off(gl)).mean()),
                     "gradient_independence": float((1 + off(co * gl) / off(gl)).mean()),
                     "independent_weights": float(np.median((off(gi) / off(gl)).numpy()))})
    return {"width": width, "depth": depth, "replicas": replicas, "seed": seed, "per_layer": rows,
            "mean_excess_measured_over_gi": float(np.mean([r["measured"] - r["gradient_independence"] for r in rows]))}


def markdown(result) -> str:
    lines = ["| setting | L | N | B | R | measured s_cr (+- SE) | finite model (+- MC SE) | iid model | "
             "finite - measured | magnitude: measured / predicted |", "|---|---|---|---|---|---|---|---|---|---|"]
    for r in result["table"]:
        lines.append(
            f"| {r['kind']} {r['variant']} ({r['group']}) | {r['depth']} | {r['width']} | {r['batch']} | {r['replicas']} | "
            f"{r['measured']:.4f} +- {r['measured_se']:.4f} | {r['finite']:.4f} +- {r['finite_se']:.4f} | {r['iid']:.4f} | "
            f"{r['finite'] - r['measured']:+.4f} | {r['magnitude_measured']:.4f} / {r['magnitude_predicted']:.4f} |"
        )
    return "\n".join(lines) + "\n"


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="fewer depths and replicates (minutes)")
    ap.add_argument("--out", type=Path, default=OUT, help="JSON output (a .md table is written next to it)")
    ap.add_argument("--no-progress", action="store_true")
    args = ap.parse_args(argv)
    from tqdm import tqdm

    torch.set_num_threads(1)
    t_start = time.time()
    result = {"machine": {"python": platform.python_version(), "torch": torch.__version__, "numpy": np.__version__,
                          "platform": platform.platform(), "threads": torch.get_num_threads(), "device": "cpu",
                          "dtype": "float64"},
              "quick": args.quick, "table": [], "mechanisms": {}}
    jobs = settings(args.quick)
    for j, (kind, var, depth, width, batch, replicas, group) in enumerate(tqdm(jobs, disable=args.no_progress)):
        t0 = time.time()
        seed = 17 + j
        meas = measure(kind, var, depth, width, batch, replicas, seed)
        t_meas = time.time() - t0
        fin = _predict(kind, var, depth, width, batch, "finite")
        iid = _predict(kind, var, depth, width, batch, "iid")
        mag = _predict(kind, var, depth, width, batch, "iid", method="magnitude")
        m, se = _mean_se(meas["snip"])
        mm, _ = _mean_se(meas["magnitude"])
        row = {"kind": kind, "variant": var, "group": group, "depth": depth, "width": width, "batch": batch,
               "replicas": replicas, "seed": seed, "measured": m, "measured_se": se, "finite": float(fin.s_cr),
               "finite_se": float(fin.s_cr_se), "iid": float(iid.s_cr), "magnitude_measured": mm,
               "magnitude_predicted": float(mag.s_cr),
               "first_layer_measured_mode": int(np.bincount(meas["first"]).argmax()),
               "first_layer_finite": int(fin.first_layer), "first_layer_iid": int(iid.first_layer),
               "seconds_measurement": t_meas}
        result["table"].append(row)
        if group == "target" and ((kind == "ffnn" and depth in (30, 50, 100)) or (kind == "resnet" and depth in (30, 100))):
            result["mechanisms"][f"{kind}-{var}-L{depth}"] = mechanism_records(kind, var, depth, width, batch, meas)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=1) + "\n")  # resumable view of the progress
    result["mechanisms"]["row_model"] = row_model_records()
    result["mechanisms"]["gradient_independence"] = [
        gradient_independence_records(w, depth=10 if args.quick else 30) for w in (100, 200)
    ]
    result["seconds_total"] = time.time() - t_start
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    args.out.with_suffix(".md").write_text(markdown(result))
    print(markdown(result))


if __name__ == "__main__":
    main()
