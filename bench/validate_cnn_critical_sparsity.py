"""Measured against predicted SNIP critical sparsity of plain CNNs: the evidence for counting positions.

Run from the repository root (CPU, about 10 min on a quiet 2-core machine; ``--quick`` takes one)::

    .venv/bin/python bench/validate_cnn_critical_sparsity.py        # writes bench/data/validate_cnn_critical_sparsity.{json,md}
    .venv/bin/python bench/validate_cnn_critical_sparsity.py --quick --out /tmp/v.json

The networks are E2's CNN (``proofs_check.claims.critical.measure_module_critical_sparsity``,
``arch="cnn"``: :class:`eoc.nn.VGG` with 3x3 convolutions, no pooling nor BatchNorm, global
average pooling, a dense read-out to 10 classes; tanh, sigma_b = 0.2; Gaussian images of
unit entry variance, random labels, batch 128, one SNIP round on the mean cross-entropy).
For every point it compares the mean (+- standard error) of R networks' s_cr with
``eoc.critical_sparsity("snip", ..., arch="cnn")`` under

* ``positions``: the finite model that knows the image size (``image_size=...``): every
  convolution's gradient sums over batch x positions samples sharing their example's output
  gradient, and the read-out reads the global average pool (docs/theory.md §8.6);
* ``one_position``: the same model with one position per example (``image_size=None``, the
  model before positions were counted);
* ``iid``: the paper's model.

Target points: 32 channels, 8x8 images, L in {5, 10, 20}, sigma_w in {0.8, 1.0, 1.5} x EOC
(E2's ordered, EOC and chaotic points).  Out of sample: 4x4 and 16x16 images, batch 32 and
16 channels, at L = 10 and 20.

Mechanisms (``mechanisms``):

* ``scales``: per layer, the mean square SNIP score relative to the first convolution,
  measured (16 networks 3-32-32-32-10, 8x8, batch 64) and predicted (mean :math:`a_l^2`
  ratio) with and without positions;
* ``padding``: the ordered-phase s_cr of the out-of-sample image sizes with the convolutions'
  zero padding against circular padding (``padding_mode="circular"``, which has no border),
  the model being the same for both;
* ``large_images``: the model's gap on 16x16 images with 32 and 64 channels (and 64 at 8x8),
  ordered, L = 10;
* ``pooling``: a VGG with max-pool stages (``vgg11``, width x 0.25, 32x32, ReLU on its EOC and
  ordered tanh), measured against the model with one position per example (what eoc
  predicts there) and with the stages' positions counted as even splits.

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
from proofs_check.claims.critical import measure_module_critical_sparsity  # noqa: E402

OUT = ROOT / "bench" / "data" / "validate_cnn_critical_sparsity.json"
SB = 0.2
K = 10
PHASE_FACTORS = {"ordered": 0.8, "edge_of_chaos": 1.0, "chaotic": 1.5}


def settings(quick: bool) -> list[tuple]:
    """(group, depth, phase, channels, image_size, batch, replicas)."""
    if quick:
        return [("target", 5, p, 16, 4, 32, 4) for p in PHASE_FACTORS]
    jobs = [("target", d, p, 32, 8, 128, 16) for d in (5, 10, 20) for p in PHASE_FACTORS]
    for d in (10, 20):
        for p in ("ordered", "edge_of_chaos"):
            jobs += [("image 4", d, p, 32, 4, 128, 16), ("image 16", d, p, 32, 16, 128, 8),
                     ("batch 32", d, p, 32, 8, 32, 16), ("channels 16", d, p, 16, 8, 128, 16)]
    return jobs


def _scored_cnns(widths, sw, image, batch, replicas, seed, padding="zeros"):
    """Per network: the SNIP scores of E2's CNN at (sw, SB), with the convolutions' padding mode set."""
    from eoc.nn import compute_scores
    from proofs_check.claims.critical import cnn_batch_and_models

    gen, x, y, models = cnn_batch_and_models(widths=widths, act="tanh", sigma_w=sw, sigma_b=SB, replicas=replicas,
                                             batch=batch, image_size=image, seed=seed, padding=padding)  # fmt: skip
    for model in models:
        yield compute_scores(model, "snip", x, y, generator=gen)


def scale_records(eoc_sw: float) -> list[dict]:
    from eoc._arch import as_architecture
    from eoc._finite import simulate_virtual_networks

    out = []
    widths, image, batch, replicas, seed = [3, 32, 32, 32, 10], 8, 64, 16, 11
    for phase in ("ordered", "edge_of_chaos"):
        sw = PHASE_FACTORS[phase] * eoc_sw
        t0 = time.time()
        ms = np.array([[float((s * s).mean()) for s in sc.values()]
                       for sc in _scored_cnns(widths, sw, image, batch, replicas, seed)])  # fmt: skip
        rec = {"phase": phase, "widths": widths, "image_size": image, "batch": batch, "replicas": replicas, "seed": seed,
               "measured": (ms.mean(0) / ms[:, 0].mean()).tolist(), "seconds": time.time() - t0}  # fmt: skip
        for name, img in (("positions", image), ("one_position", None)):
            vn = simulate_virtual_networks(as_architecture(widths, "cnn", image_size=img), "tanh", sw, SB,
                                           batch_size=batch, n_networks=256)  # fmt: skip
            a2 = (vn.scales**2).mean(0)
            rec[name] = (a2 / a2[0]).tolist()
        out.append(rec)
    return out


def padding_records(eoc_sw: float, quick: bool) -> list[dict]:
    from eoc.nn import measured_critical_sparsity

    out = []
    points = [(5, 4, 4)] if quick else [(20, 4, 16), (10, 16, 8), (20, 16, 8)]
    for depth, image, replicas in points:
        widths = [3] + [32] * (depth - 1) + [K]
        sw = PHASE_FACTORS["ordered"] * eoc_sw
        rec = {"depth": depth, "image_size": image, "phase": "ordered", "batch": 128, "replicas": replicas, "seed": 7,
               "predicted": float(eoc.predict_critical_sparsity("snip", widths, "tanh", sw, SB, arch="cnn",
                                                                 image_size=image))}  # fmt: skip
        for padding in ("zeros", "circular"):
            t0 = time.time()
            v = [measured_critical_sparsity(sc) for sc in _scored_cnns(widths, sw, image, 128, replicas, 7, padding)]
            rec[padding], rec[f"{padding}_se"] = _mean_se(v)
            rec[f"seconds_{padding}"] = time.time() - t0
        out.append(rec)
    return out


def large_image_records(eoc_sw: float, quick: bool) -> list[dict]:
    """The model's gap at 16x16 against the channel count (ordered, L = 10): a finite-width mechanism
    shrinks with the channels; at 8x8 the gap stays small."""
    out = []
    points = [(16, 4, 4)] if quick else [(32, 16, 8), (64, 16, 8), (64, 8, 8)]
    sw = PHASE_FACTORS["ordered"] * eoc_sw
    for channels, image, replicas in points:
        widths = [3] + [channels] * 9 + [K]
        t0 = time.time()
        v = measure_module_critical_sparsity(method="snip", widths=widths, act="tanh", sigma_w=sw, sigma_b=SB,
                                             replicas=replicas, batch=128, arch="cnn", image_size=image, seed=2024)
        m, se = _mean_se(v)
        pred = eoc.critical_sparsity("snip", widths, "tanh", sw, SB, arch="cnn", image_size=image, batch_size=128)
        out.append({"depth": 10, "phase": "ordered", "channels": channels, "image_size": image, "batch": 128,
                    "replicas": replicas, "seed": 2024, "measured": m, "measured_se": se, "positions": float(pred.s_cr),
                    "gap": float(pred.s_cr) - m, "seconds": time.time() - t0})  # fmt: skip
    return out


def pooling_records(quick: bool) -> list[dict]:
    """A VGG with max-pool stages (vgg11, width x 0.25, 32x32): measured s_cr against the model with one
    position per example (what eoc predicts for pooling stages) and with the stages' positions counted as
    even splits (the rule of the stride-1 chain, ``samples=``)."""
    import eoc.nn as enn
    from eoc._finite import finite_critical_sparsity, simulate_virtual_networks
    from eoc.nn import compute_scores, init_, measured_critical_sparsity
    from eoc.sim import gaussian_inputs, random_labels

    out = []
    image, batch, replicas, seed = (16, 32, 2, 3) if quick else (32, 128, 8, 3)
    for act, sw, sb in (("relu", math.sqrt(2.0), 0.0), ("tanh", PHASE_FACTORS["ordered"] * float(eoc.edge_of_chaos("tanh", SB)), SB)):
        t0 = time.time()
        gen = torch.Generator().manual_seed(seed)
        x = gaussian_inputs(batch, 3 * image**2, generator=gen, dtype=torch.float64).view(batch, 3, image, image)
        y = random_labels(batch, K, generator=gen)
        v = []
        for r in range(replicas):
            model = enn.VGG("vgg11", 3, K, batch_norm=False, width_multiplier=0.25, activation=act).double()
            init_(model, act, sw, sb, generator=torch.Generator().manual_seed(seed + 7919 * (r + 1)))
            v.append(measured_critical_sparsity(compute_scores(model, "snip", x, y, generator=gen)))
        arch = enn.describe(model, (3, image, image))
        m, se = _mean_se(v)
        gap = np.ones(arch.depth)
        gap[-1] = arch.positions[-2]
        split = finite_critical_sparsity(simulate_virtual_networks(arch, act, sw, sb, batch_size=batch,
                                                                   samples=(arch.positions, gap))).s_cr  # fmt: skip
        out.append({"model": "vgg11 x0.25", "activation": act, "sigma_w": sw, "sigma_b": sb, "image_size": image,
                    "batch": batch, "replicas": replicas, "seed": seed, "positions": arch.positions.tolist(),
                    "measured": m, "measured_se": se,
                    "one_position": float(eoc.critical_sparsity("snip", arch, act, sw, sb, batch_size=batch).s_cr),
                    "even_split": float(split), "seconds": time.time() - t0})  # fmt: skip
    return out


def _mean_se(v) -> tuple[float, float]:
    v = np.asarray(v, dtype=np.float64)
    return float(v.mean()), float(v.std(ddof=1) / math.sqrt(v.size))


def markdown(result: dict) -> str:
    rows = result["table"]
    lines = ["# SNIP critical sparsity of plain tanh CNNs: measured vs the finite model with and without positions", "",
             "| group | L | phase | channels | image | batch | R | measured | positions | one position | iid |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['group']} | {r['depth']} | {r['phase']} | {r['channels']} | {r['image_size']} | {r['batch']} | "
                     f"{r['replicas']} | {r['measured']:.4f} +- {r['measured_se']:.4f} | {r['positions']:.4f} | "
                     f"{r['one_position']:.4f} | {r['iid']:.4f} |")
    lines += ["", "| model | group | points | mean error | RMS error | max abs error | mean |z| |", "|---|---|---|---|---|---|---|"]
    for name, s in result["summary"].items():
        lines.append(f"| {s['model']} | {s['group']} | {s['points']} | {s['mean_error']:+.4f} | {s['rms_error']:.4f} | "
                     f"{s['max_abs_error']:.4f} | {s['mean_abs_z']:.2f} |")
    lines += ["", "Mean square SNIP score per layer relative to the first convolution (3-32-32-32-10, 8x8, batch 64):", "",
              "| phase | measured | positions | one position |", "|---|---|---|---|"]
    fmt = lambda v: ", ".join(f"{x:.3g}" for x in v)  # noqa: E731
    for r in result["mechanisms"]["scales"]:
        lines.append(f"| {r['phase']} | {fmt(r['measured'])} | {fmt(r['positions'])} | {fmt(r['one_position'])} |")
    lines += ["", "Zero against circular padding (ordered phase, batch 128; the model has no border):", "",
              "| L | image | R | predicted | zeros | circular |", "|---|---|---|---|---|---|"]
    for r in result["mechanisms"]["padding"]:
        lines.append(f"| {r['depth']} | {r['image_size']} | {r['replicas']} | {r['predicted']:.4f} | "
                     f"{r['zeros']:.4f} +- {r['zeros_se']:.4f} | {r['circular']:.4f} +- {r['circular_se']:.4f} |")
    lines += ["", "Large images against the channel count (ordered, L = 10, batch 128):", "",
              "| channels | image | R | measured | positions | gap |", "|---|---|---|---|---|---|"]
    for r in result["mechanisms"]["large_images"]:
        lines.append(f"| {r['channels']} | {r['image_size']} | {r['replicas']} | {r['measured']:.4f} +- "
                     f"{r['measured_se']:.4f} | {r['positions']:.4f} | {r['gap']:+.4f} |")
    lines += ["", "A VGG with max-pool stages (eoc predicts it with one position per example):", "",
              "| model | activation | image | R | measured | one position | stages as even splits |", "|---|---|---|---|---|---|---|"]
    for r in result["mechanisms"]["pooling"]:
        lines.append(f"| {r['model']} | {r['activation']} | {r['image_size']} | {r['replicas']} | "
                     f"{r['measured']:.4f} +- {r['measured_se']:.4f} | {r['one_position']:.4f} | {r['even_split']:.4f} |")
    m = result["machine"]
    lines += ["", f"Machine: {m['platform']}, torch {m['torch']}, {m['threads']} thread(s), {m['device']}, {m['dtype']}; "
              f"{result['seconds_total']:.0f} s in all."]
    return "\n".join(lines) + "\n"


def summarize(rows: list[dict]) -> dict:
    """Per model and group (target / out of sample): mean, RMS and max error, mean |z| (z with the measured SE)."""
    out = {}
    for model in ("positions", "one_position", "iid"):
        for group in ("target", "out of sample"):
            sel = [r for r in rows if (r["group"] == "target") == (group == "target")]
            if not sel:
                continue
            err = np.array([r[model] - r["measured"] for r in sel])
            z = np.abs(err) / np.maximum([r["measured_se"] for r in sel], 1e-12)
            out[f"{model}/{group}"] = {"model": model, "group": group, "points": len(sel), "mean_error": float(err.mean()),
                                       "rms_error": float(np.sqrt((err**2).mean())),
                                       "max_abs_error": float(np.abs(err).max()), "mean_abs_z": float(z.mean())}
    return out


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="three tiny points (a smoke run)")
    ap.add_argument("--out", type=Path, default=OUT, help="JSON output (a .md table is written next to it)")
    ap.add_argument("--no-progress", action="store_true")
    args = ap.parse_args(argv)
    from tqdm import tqdm

    torch.set_num_threads(1)
    t_start = time.time()
    eoc_sw = float(eoc.edge_of_chaos("tanh", SB))
    result = {"machine": {"python": platform.python_version(), "torch": torch.__version__, "numpy": np.__version__,
                          "platform": platform.platform(), "threads": torch.get_num_threads(), "device": "cpu",
                          "dtype": "float64"},
              "quick": args.quick, "sigma_b": SB, "sigma_w_eoc": eoc_sw, "table": []}
    for j, (group, depth, phase, channels, image, batch, replicas) in enumerate(
        tqdm(settings(args.quick), disable=args.no_progress, desc="CNN points")
    ):
        seed = 1000 + j
        sw = PHASE_FACTORS[phase] * eoc_sw
        widths = [3] + [channels] * (depth - 1) + [K]
        t0 = time.time()
        meas = measure_module_critical_sparsity(method="snip", widths=widths, act="tanh", sigma_w=sw, sigma_b=SB,
                                                replicas=replicas, batch=batch, arch="cnn", image_size=image, seed=seed)
        t_meas = time.time() - t0
        common = {"arch": "cnn", "batch_size": batch}
        pos = eoc.critical_sparsity("snip", widths, "tanh", sw, SB, image_size=image, **common)
        one = eoc.critical_sparsity("snip", widths, "tanh", sw, SB, **common)
        iid = eoc.critical_sparsity("snip", widths, "tanh", sw, SB, model="iid", **common)
        m, se = _mean_se(meas)
        result["table"].append({
            "group": group, "depth": depth, "phase": phase, "sigma_w": sw, "channels": channels, "image_size": image,
            "batch": batch, "replicas": replicas, "seed": seed, "measured": m, "measured_se": se,
            "per_network": meas.tolist(), "positions": float(pos.s_cr), "positions_se": float(pos.s_cr_se),
            "one_position": float(one.s_cr), "iid": float(iid.s_cr), "seconds_measurement": t_meas,
        })  # fmt: skip
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=1) + "\n")  # resumable view of the progress
    result["mechanisms"] = {"scales": scale_records(eoc_sw), "padding": padding_records(eoc_sw, args.quick),
                            "pooling": pooling_records(args.quick), "large_images": large_image_records(eoc_sw, args.quick)}
    result["summary"] = summarize(result["table"])
    result["seconds_total"] = time.time() - t_start
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    args.out.with_suffix(".md").write_text(markdown(result))
    print(markdown(result))


if __name__ == "__main__":
    main()
