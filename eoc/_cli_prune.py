"""``python -m eoc prune``: prune a model at initialization, with the theory's prediction beside the measurement.

One command for any model: build (or import) it, initialize it, describe it
(:func:`eoc.nn.describe`), predict its critical sparsity and per-layer densities
(:func:`eoc.nn.predict_collapse`, docs/theory.md §4), score one batch of training
images, measure the critical sparsity of those scores, prune at the requested
sparsity (:func:`eoc.nn.prune_at_init`), optionally rescale (docs/theory.md §5),
and write the pruned ``state_dict``.  Examples::

    python -m eoc prune --model ffnn:64,100x20,10 --method snip --sparsity 0.98
    python -m eoc prune --model resnet32-stable --method snip --sparsity 0.98 --json
    python -m eoc prune --model vgg19 --data cifar10 --data-dir ~/data --out masks.pt
    python -m eoc prune --model module:my_models.py:Net --method magnitude --init none

Models: ``ffnn:W0,W1xN,...`` (an :class:`eoc.nn.FFNN`; ``100x20`` is 20 layers of
width 100; the first width must be the data's input size and the last its class
count), ``vgg11`` ... ``vgg19`` (:class:`eoc.nn.VGG` with BatchNorm), ``resnet<6n+2>``
and ``resnet<6n+2>-stable`` (CIFAR ResNets, :func:`eoc.nn.resnet`), and
``module:PATH:ATTR`` (``ATTR`` of the Python module or file ``PATH``: an
``nn.Module``, or a callable returning one, called without arguments).

The data are read by :func:`load_data`; the scoring batch is ``--batch-size``
training images drawn with ``--seed``, which also seeds the initialization and the
random scores.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import math
import os
import re
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

from ._cli import CLIError
from .datasets import DATASETS
from ._pruning import THEORY_METHODS
from ._vocab import BN_MODES, DEFAULT_BN_MODE, PRUNING_METHODS

__all__ = ["HELP", "build", "load_data", "parse_model", "PRUNE_METHODS", "DATA"]

HELP = "prune a model at initialization: predicted and measured critical sparsity, per-layer densities, masks"

#: The methods of :func:`eoc.nn.prune_at_init` (from the torch-free vocabulary, so ``--help`` does not import torch).
PRUNE_METHODS = PRUNING_METHODS
#: The real image datasets of :mod:`eoc.datasets` (its seeded synthetic class-mean images are not offered here).
DATA = tuple(name for name in DATASETS if name != "synthetic")
INITS = ("eoc", "kaiming", "none")
RESCALE = ("neuron", "layer", "population")


def load_data(name: str, data_dir: str | None) -> tuple[np.ndarray, np.ndarray, int]:
    """Training images ``(N, C, H, W)`` (float32, normalized per channel) and int64 labels, and the class count.

    Read by :func:`eoc.datasets.load` (the training split; ``digits`` is scikit-learn's
    bundled ``load_digits``, the others are read from ``data_dir``).  All data loading of
    the command is here.
    """
    from . import datasets

    if datasets.needs_files(name) and data_dir is None:
        raise CLIError(f"--data {name} is read from files: pass --data-dir, the folder holding them")
    train = datasets.load(name, data_dir=data_dir, split="train")
    return np.asarray(train.x, dtype=np.float32), np.asarray(train.y, dtype=np.int64), int(train.num_classes)


def _parse_widths(text: str, flag: str) -> list[int]:
    out: list[int] = []
    for part in text.split(","):
        m = re.fullmatch(r"\s*(\d+)\s*(?:x\s*(\d+))?\s*", part)
        if not m or int(m.group(1)) < 1 or (m.group(2) is not None and int(m.group(2)) < 1):
            raise CLIError(f"{flag}: widths are comma-separated positive integers or WIDTHxCOUNT, got {part!r} in {text!r}")
        out += [int(m.group(1))] * (int(m.group(2)) if m.group(2) else 1)
    if len(out) < 2:
        raise CLIError(f"{flag}: an FFNN needs at least an input and an output width, got {text!r}")
    return out


def _import_attr(path: str, attr: str, spec: str):
    try:
        if path.endswith(".py") or os.sep in path:
            file = Path(path).expanduser()
            if not file.is_file():
                raise CLIError(f"--model {spec}: no file {file}")
            mspec = importlib.util.spec_from_file_location(file.stem, file)
            module = importlib.util.module_from_spec(mspec)
            mspec.loader.exec_module(module)
        else:
            module = importlib.import_module(path)
    except CLIError:
        raise
    except Exception as exc:
        raise CLIError(f"--model {spec}: cannot import {path!r} ({type(exc).__name__}: {exc})") from None
    if not hasattr(module, attr):
        raise CLIError(f"--model {spec}: {path!r} has no attribute {attr!r}")
    return getattr(module, attr)


def parse_model(spec: str, in_channels: int, input_size: int, num_classes: int, *, activation: str, width_multiplier: float):
    """The model of ``--model spec`` for data with these dimensions, and the activation used to initialize it."""
    from torch import nn

    import eoc.nn as enn

    if spec.startswith("ffnn:"):
        widths = _parse_widths(spec[len("ffnn:") :], f"--model {spec}")
        if widths[0] != input_size or widths[-1] != num_classes:
            fix = ",".join(map(str, [input_size] + widths[1:-1] + [num_classes]))
            raise CLIError(
                f"--model {spec}: the data have {input_size} inputs and {num_classes} classes, the widths say "
                f"{widths[0]} and {widths[-1]} (use --model ffnn:{fix})"
            )
        try:
            return enn.FFNN(widths, activation), activation
        except ValueError as exc:
            raise CLIError(f"--activation {activation}: {exc}") from None
    if re.fullmatch(r"vgg(11|13|16|19)", spec):
        return enn.VGG(spec, in_channels, num_classes, "relu", True, width_multiplier), "relu"
    m = re.fullmatch(r"resnet(\d+)(-stable)?", spec)
    if m:
        depth = int(m.group(1))
        if depth < 8 or (depth - 2) % 6:
            raise CLIError(f"--model {spec}: a CIFAR ResNet has depth 6n + 2 (8, 14, 20, 32, 50, 104, ...), got {depth}")
        return enn.resnet(depth, num_classes, bool(m.group(2)), in_channels, width_multiplier), "relu"
    if spec.startswith("module:"):
        path, sep, attr = spec[len("module:") :].rpartition(":")
        if not sep or not path or not attr:
            raise CLIError(f"--model {spec}: expected module:PATH:ATTR (a module or .py file, and a name in it)")
        obj = _import_attr(path, attr, spec)
        if not isinstance(obj, nn.Module) and callable(obj):
            try:
                obj = obj()
            except Exception as exc:
                raise CLIError(f"--model {spec}: calling {attr}() failed ({type(exc).__name__}: {exc})") from None
        if not isinstance(obj, nn.Module):
            raise CLIError(f"--model {spec}: {attr} is not an nn.Module nor a callable returning one")
        return obj, None
    raise CLIError(
        f"--model {spec!r}: use ffnn:W0,W1xN,..., vgg11|vgg13|vgg16|vgg19, resnet<6n+2>[-stable] or module:PATH:ATTR"
    )


def build(p: argparse.ArgumentParser):
    """Fill the ``prune`` parser; return its runner (registered by :mod:`eoc.__main__`)."""
    p.description = (
        "Prune a model at initialization and print the theory's prediction beside the measurement: critical "
        "sparsity, the first layer to empty, per-layer densities, collapse warnings; optionally write the pruned "
        "state_dict. Models: ffnn:W0,W1xN,... (100x20 is 20 layers of width 100), vgg11..vgg19, "
        "resnet<6n+2>[-stable], module:PATH:ATTR (an nn.Module or a callable returning one)."
    )
    p.epilog = "Example: python -m eoc prune --model ffnn:64,100x20,10 --method snip --sparsity 0.98"
    p.add_argument("--model", required=True, help="ffnn:W0,W1xN,..., vgg11..vgg19, resnet<6n+2>[-stable], module:PATH:ATTR")
    p.add_argument("--method", default="snip", choices=PRUNE_METHODS, help="pruning method (default snip)")
    p.add_argument("--sparsity", type=float, default=0.9, help="fraction of prunable weights removed, in [0, 1) (default 0.9)")
    p.add_argument("--data", default="digits", choices=DATA, help="scoring data (default digits: scikit-learn's, embedded)")
    p.add_argument("--data-dir", default=None, help="folder holding the files of --data mnist/cifar10/cifar100/tinyimagenet")
    p.add_argument("--init", default="eoc", choices=INITS,
                   help="eoc: sigma_w on the edge of chaos of --activation at --sigma-b; kaiming: He, N(0, 2/fan-in), "
                        "zero biases; none: keep the model's weights (default eoc)")  # fmt: skip
    p.add_argument("--activation", default="relu", help="activation of an ffnn model (default relu; vgg/resnet use relu)")
    p.add_argument("--sigma-b", type=float, default=0.0, help="bias scale of --init eoc (default 0; ReLU's EOC needs 0)")
    p.add_argument("--width-multiplier", type=float, default=1.0, help="channel multiplier of vgg/resnet models (default 1)")
    p.add_argument("--scope", default="global", choices=("global", "layer"), help="rank all weights together or per layer")
    p.add_argument("--rounds", type=int, default=100, help="SynFlow rounds (default 100)")
    p.add_argument("--bn-mode", default=DEFAULT_BN_MODE, metavar="{" + ",".join(BN_MODES) + "}",
                   help="BatchNorm/Dropout mode while SNIP and GraSP score the batch: eval (running statistics, as "
                        "Lee et al.'s SNIP code and Tanaka et al.'s benchmark), train (batch statistics, as Wang et "
                        "al.'s GraSP code), model (the model's own mode) (default eval)")  # fmt: skip
    p.add_argument("--temperature", type=float, default=None,
                   help="GraSP only: the loss is computed on logits / T (default eoc.nn.GRASP_TEMPERATURE, the GraSP "
                        "reference code's 200)")  # fmt: skip
    p.add_argument("--prune-bias", action="store_true", help="also prune the biases of the Linear/Conv layers")
    p.add_argument("--prune-batchnorm", action="store_true",
                   help="also prune the BatchNorm weights (and, with --prune-bias, their biases), as Tanaka et al.'s code")
    p.add_argument("--batch-size", type=int, default=128, help="scoring batch: training images drawn with --seed (default 128)")
    p.add_argument("--seed", type=int, default=0, help="seed of the initialization, the batch and random scores (default 0)")
    p.add_argument("--rescale", nargs="?", const="neuron", default=None, choices=RESCALE,
                   help="apply the rescaling trick after pruning (default mode neuron)")  # fmt: skip
    p.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N or auto (default cpu)")
    p.add_argument("--out", default=None, help="write the pruned state_dict (weight_orig + weight_mask) here")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    return _run


def _check_args(ns: argparse.Namespace) -> None:
    if not 0 <= ns.sparsity < 1:
        raise CLIError(f"--sparsity must lie in [0, 1), got {ns.sparsity!r}")
    if ns.batch_size < 1:
        raise CLIError(f"--batch-size must be >= 1, got {ns.batch_size}")
    if ns.rounds < 1:
        raise CLIError(f"--rounds must be >= 1, got {ns.rounds}")
    if ns.bn_mode not in BN_MODES:
        raise CLIError(f"--bn-mode must be one of {', '.join(BN_MODES)}, got {ns.bn_mode!r}")
    if ns.temperature is not None and not (ns.temperature > 0 and math.isfinite(ns.temperature)):
        raise CLIError(f"--temperature must be a finite number > 0, got {ns.temperature!r}")
    if not (ns.width_multiplier > 0 and math.isfinite(ns.width_multiplier)):
        raise CLIError(f"--width-multiplier must be > 0, got {ns.width_multiplier!r}")
    if not (ns.sigma_b >= 0 and math.isfinite(ns.sigma_b)):
        raise CLIError(f"--sigma-b must be >= 0, got {ns.sigma_b!r}")
    if ns.rescale == "population" and ns.method not in THEORY_METHODS:
        raise CLIError(f"--rescale population needs a method with a score law ({', '.join(THEORY_METHODS)}), got --method {ns.method}")
    if ns.out is not None and not Path(ns.out).expanduser().resolve().parent.is_dir():
        raise CLIError(f"--out {ns.out}: its folder does not exist")


def _initialize(model, ns, activation, generator) -> dict:
    import eoc
    import eoc.nn as enn

    if ns.init == "none":
        return {"scheme": "none"}
    if ns.init == "kaiming":
        enn.init_(model, activation or "relu", math.sqrt(2.0), 0.0, generator=generator)
        return {"scheme": "kaiming", "sigma_w": math.sqrt(2.0), "sigma_b": 0.0}
    if activation is None:
        raise CLIError("--init eoc needs the model's activation: pass --activation")
    try:
        sigma_w = float(eoc.edge_of_chaos(activation, ns.sigma_b))
    except ValueError as exc:
        raise CLIError(f"--init eoc with --activation {activation} --sigma-b {ns.sigma_b:g}: {exc}") from None
    enn.init_(model, activation, sigma_w, ns.sigma_b, generator=generator)
    return {"scheme": "eoc", "activation": eoc.get_activation(activation).label, "sigma_w": sigma_w, "sigma_b": ns.sigma_b}


def _atomic_save(obj, path: str) -> str:
    import torch

    target = Path(path).expanduser().resolve()
    fd, tmp = tempfile.mkstemp(prefix=target.name + ".", suffix=".tmp", dir=target.parent)
    os.close(fd)
    try:
        torch.save(obj, tmp)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return str(target)


def _predict(arch, ns, activation, input_q) -> tuple[dict | None, dict | None, list[str], str | None]:
    """Theory: (collapse prediction, predicted keep fractions, warnings, error) — never fatal."""
    import eoc
    import eoc.nn as enn

    if ns.method not in THEORY_METHODS:
        return None, None, [], f"method {ns.method!r} has no score law in the theory (only {', '.join(THEORY_METHODS)})"
    kw = dict(activation=activation, batch_size=ns.batch_size, input_q=input_q)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", eoc.TheoryCoverageWarning)
        try:
            pred = enn.predict_collapse(arch, ns.method, **kw)
            keep = enn.predict_keep_fractions(arch, ns.method, ns.sparsity, **kw) if ns.scope == "global" else None
        except ValueError as exc:
            return None, None, [], str(exc)
    notes = [str(w.message) for w in caught if issubclass(w.category, eoc.TheoryCoverageWarning)]
    for w in caught:
        if not issubclass(w.category, eoc.TheoryCoverageWarning):
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    collapse = {"s_cr": pred.s_cr, "t_cr": pred.t_cr, "first_layer": pred.first_layer, "collapse_order": list(pred.collapse_order), "model": pred.model}
    return collapse, keep, notes, None


def _run(ns: argparse.Namespace):
    _check_args(ns)
    start = time.perf_counter()
    import torch

    import eoc.nn as enn
    from eoc.nn._describe import activation_from_label

    try:
        device = enn.resolve_device(ns.device)
    except ValueError as exc:
        raise CLIError(f"--device {ns.device}: {exc}") from None
    x_all, y_all, num_classes = load_data(ns.data, ns.data_dir)
    input_shape = tuple(x_all.shape[1:])
    gen = torch.Generator().manual_seed(ns.seed)
    model, activation = parse_model(
        ns.model, input_shape[0], int(np.prod(input_shape)), num_classes,
        activation=ns.activation, width_multiplier=ns.width_multiplier,
    )  # fmt: skip
    if activation is None and ns.init == "eoc":  # an imported model: read its activation off its description
        try:
            label = enn.describe(model, input_shape).activation
        except ValueError:
            label = None
        activation = activation_from_label(label) if label else None
    init = _initialize(model, ns, activation, gen)
    try:
        arch, arch_error = enn.describe(model, input_shape), None  # the sigmas of the initialized weights
    except ValueError as exc:
        arch, arch_error = None, str(exc)
    model.to(device)
    idx = torch.randperm(len(x_all), generator=gen)[: ns.batch_size]
    x = torch.from_numpy(x_all[idx.numpy()]).to(device)
    y = torch.from_numpy(y_all[idx.numpy()]).to(device)
    input_q = float((x.double() ** 2).mean())

    if arch is not None:
        predicted, keep_pred, theory_warnings, theory_error = _predict(arch, ns, init.get("activation", activation), input_q)
    else:
        predicted, keep_pred, theory_warnings, theory_error = None, None, [], arch_error

    scoring = {"bn_mode": ns.bn_mode, "temperature": enn.GRASP_TEMPERATURE if ns.temperature is None else ns.temperature}
    selection = {"prune_bias": ns.prune_bias, "prune_batchnorm": ns.prune_batchnorm}
    carries_signal = {t.key: t.carries_signal for t in enn.prunable_tensors(model, **selection)}
    score_gen = torch.Generator().set_state(gen.get_state())
    scores = enn.compute_scores(model, ns.method, x, y, generator=score_gen, input_shape=input_shape, **scoring, **selection)
    measured = _measured_critical_sparsity(scores, carries_signal)
    if ns.method == "synflow" and ns.rounds > 1:
        measured["note"] = "critical sparsity of the single-shot scores (the pruning iterates --rounds)"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", enn.LayerCollapseWarning)
        masks = enn.prune_at_init(
            model, ns.method, ns.sparsity, x, y, scope=ns.scope, rounds=ns.rounds, generator=gen, input_shape=input_shape,
            **scoring, **selection,
        )  # fmt: skip
    collapse_warnings = [str(w.message) for w in caught if issubclass(w.category, enn.LayerCollapseWarning)]
    if ns.rescale is not None:
        enn.rescale_(model, ns.rescale, method=ns.method)
    keep_meas = enn.keep_fractions(model)
    out = _atomic_save(model.state_dict(), ns.out) if ns.out is not None else None

    info = {layer.name: layer for layer in arch.layers} if arch is not None else {}
    layers = []
    for name, mask in masks.items():
        layer = info.get(name)
        layers.append(
            {
                "name": name,
                "tensor": "weight" if carries_signal[name] else "bias",
                "kind": layer.kind if layer else None,
                "n_weights": int(mask.numel()),
                "role": arch.roles[arch.index(name)] if layer else None,
                "predicted_density": keep_pred.get(name) if keep_pred is not None else None,
                "measured_density": keep_meas[name],
            }
        )
    total = sum(m.numel() for m in masks.values())
    kept = sum(int(m.count_nonzero()) for m in masks.values())
    return _report(
        ns,
        {
            "model": ns.model,
            "architecture": arch.describe() if arch is not None else type(model).__name__,
            "data": {"name": ns.data, "input_shape": list(input_shape), "classes": num_classes, "batch_size": len(x),
                     "seed": ns.seed, "input_q": input_q},
            "init": init,
            "method": ns.method,
            "scope": ns.scope,
            "sparsity": ns.sparsity,
            "scoring": {**scoring, **selection},
            "rescale": ns.rescale,
            "predicted": predicted,
            "measured": measured,
            "density": {"measured": kept / total, "target": 1.0 - ns.sparsity},
            "layers": layers,
            "collapsed": [name for name, m in masks.items() if carries_signal[name] and not m.any()],
            "collapse_warnings": collapse_warnings,
            "theory_notes": (list(arch.notes) if arch is not None else []) + (
                ["the predictions rank the layer weights only; --prune-bias/--prune-batchnorm add other tensors to the ranking"]
                if ns.prune_bias or ns.prune_batchnorm else []
            ),
            "theory_warnings": theory_warnings,
            "theory_error": theory_error,
            "out": out,
            "device": str(device),
            "seconds": time.perf_counter() - start,
        },
    )  # fmt: skip


def _measured_critical_sparsity(scores: dict, carries_signal: dict[str, bool]) -> dict:
    r"""The measured :math:`\hat s_{cr}` of global pruning with ``scores`` (docs/theory.md §4.3):
    :math:`t_{cr}` from the tensors that carry the signal (a bias emptied is no layer collapse),
    the fraction below it among all scored entries; without biases, :func:`eoc.nn.measured_critical_sparsity`."""
    from .nn import functional as F

    signal = [k for k in scores if carries_signal[k]]
    res = F.critical_sparsity([scores[k].detach() for k in signal], names=signal)
    below = sum(int((s.detach() < res.t_cr).count_nonzero()) for s in scores.values())
    return {"s_cr": below / sum(s.numel() for s in scores.values()), "first_layer": signal[int(res.layer)]}


def _fmt(value, digits: int = 4) -> str:
    if value is None:
        return "-"
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def _report(ns: argparse.Namespace, r: dict):
    """The result: a dict (printed as JSON) for ``--json``, else a table (a string)."""
    for message in r["collapse_warnings"]:
        print(f"warning: {message}", file=sys.stderr)
    if ns.json:
        return r
    pred, meas = r["predicted"] or {}, r["measured"]
    init = r["init"]
    init_text = init["scheme"] + "".join(f", {k} {_fmt(init[k])}" for k in ("activation", "sigma_w", "sigma_b") if k in init)
    lines = [
        f"model         {r['model']}: {r['architecture']}",
        f"data          {r['data']['name']}, {r['data']['batch_size']} training images (seed {r['data']['seed']}), "
        f"input second moment {r['data']['input_q']:.4f}",
        f"init          {init_text}",
        f"pruning       {r['method']}, {r['scope']}, sparsity {r['sparsity']:g}" + (f", rescaled ({r['rescale']})" if r["rescale"] else "")
        + f", BatchNorm {r['scoring']['bn_mode']} mode" + (f", temperature {r['scoring']['temperature']:g}" if r["method"] == "grasp" else "")
        + "".join(f", {k.replace('_', ' ')}" for k in ("prune_bias", "prune_batchnorm") if r["scoring"][k]),
        "",
    ]
    head = [("", "predicted" + (f" ({pred['model']} model)" if pred.get("model") else ""), "measured"),
            ("critical sparsity", _fmt(pred.get("s_cr")), _fmt(meas["s_cr"])),
            ("first layer to empty", str(pred.get("first_layer", "-")), str(meas["first_layer"]))]
    w1, w2 = (max(len(row[c]) for row in head) + 2 for c in (1, 2))
    lines += [f"{a:22}{b:>{w1}}{c:>{w2}}" for a, b, c in head] + [""]
    rows = [("layer", "weights", "role", "predicted density", "measured density")]
    for layer in r["layers"]:
        rows.append((layer["name"], str(layer["n_weights"]), layer["role"] or "-", _fmt(layer["predicted_density"]), _fmt(layer["measured_density"])))
    widths = [max(len(row[c]) for row in rows) for c in range(len(rows[0]))]
    for i, row in enumerate(rows):
        lines.append("  ".join(cell.ljust(w) if c == 0 or c == 2 else cell.rjust(w) for c, (cell, w) in enumerate(zip(row, widths))))
        if i == 0:
            lines.append("  ".join("-" * w for w in widths))
    lines.append("")
    lines.append(f"kept {r['density']['measured']:.4f} of the prunable weights")
    lines.append("collapsed layers: " + (", ".join(r["collapsed"]) or "none"))
    if r["theory_error"]:
        lines.append(f"no prediction: {r['theory_error']}")
    for note in r["theory_notes"]:
        lines.append(f"theory note: {note}")
    if r["out"]:
        lines.append(f"wrote the pruned state_dict to {r['out']}")
    return "\n".join(lines)
