"""Command line of :mod:`eoc`: every subcommand prints JSON (``derive`` prints LaTeX).

Examples
--------
::

    python -m eoc point --activation tanh --sigma-w 1.3 --sigma-b 0.2
    python -m eoc eoc --activation tanh --sigma-b 0.2
    python -m eoc eoc --activation tanh --curve --sigma-b-max 2 --num 21
    python -m eoc derive relu
    python -m eoc prune-predict --method snip --widths 784,100x50,10 -a tanh --eoc --sigma-b 0.2
    python -m eoc prune --model resnet32-stable --method snip --sparsity 0.98
    python -m eoc activations
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from typing import Callable

import numpy as np

# name -> (help text, builder); a builder fills its parser and returns the runner.
_COMMANDS: dict[str, tuple[str, Callable[[argparse.ArgumentParser], Callable[[argparse.Namespace], object]]]] = {}


def command(name: str, help_text: str):
    """Register a subcommand: the decorated function fills its parser and returns the runner."""

    def wrap(build):
        _COMMANDS[name] = (help_text, build)
        return build

    return wrap


def jsonable(obj):
    """Convert numpy values (and inf/nan, which JSON lacks) to plain JSON values."""
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return jsonable(obj.tolist())
    if isinstance(obj, (np.floating, float)):
        x = float(obj)
        if math.isnan(x):
            return "nan"
        if math.isinf(x):
            return "inf" if x > 0 else "-inf"
        return x
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.bool_):
        return bool(obj)
    if isinstance(obj, np.str_):
        return str(obj)
    return obj


def _activation_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--activation", "-a", default="tanh", help="activation name (see `activations`); default tanh")
    p.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="activation parameter, e.g. --param negative_slope=0.1 (repeatable)",
    )


def _activation(ns: argparse.Namespace):
    from . import get_activation

    params = {}
    for item in ns.param:
        if "=" not in item:
            raise ValueError(f"--param expects KEY=VALUE, got {item!r}")
        key, value = item.split("=", 1)
        try:
            params[key] = float(value)
        except ValueError:
            params[key] = value
    return get_activation(ns.activation, **params)


@command("point", "everything about one (activation, sigma_w, sigma_b): q*, chi's, depth scales, phase")
def _point(p: argparse.ArgumentParser):
    _activation_args(p)
    p.add_argument("--sigma-w", type=float, required=True, help="weight scale (variance sigma_w^2 / fan-in)")
    p.add_argument("--sigma-b", type=float, default=0.0, help="bias standard deviation (default 0)")

    def run(ns):
        import eoc

        act = _activation(ns)
        sw, sb = ns.sigma_w, ns.sigma_b
        qs = eoc.q_star(act, sw, sb)
        cs = eoc.c_star(act, sw, sb)
        xi_q, xi_c = eoc.depth_scales(act, sw, sb)
        return {
            "activation": act.label,
            "sigma_w": sw,
            "sigma_b": sb,
            "q_star": qs,
            "c_star": cs,
            "chi_1": eoc.chi_1(act, sw, sb),
            "chi_c": eoc.chi_c(act, sw, sb),
            "chi_q": eoc.chi_q(act, sw, sb),
            "xi_q": xi_q,
            "xi_c": xi_c,
            "phase": eoc.phase(act, sw, sb),
        }

    return run


@command("eoc", "the edge-of-chaos sigma_w for an activation and sigma_b, or the whole curve")
def _eoc(p: argparse.ArgumentParser):
    _activation_args(p)
    p.add_argument("--sigma-b", type=float, nargs="+", default=[0.0], help="bias scale(s) (default 0)")
    p.add_argument("--curve", action="store_true", help="the whole curve on [0, --sigma-b-max]")
    p.add_argument("--sigma-b-max", type=float, default=2.0, help="upper end of --curve (default 2)")
    p.add_argument("--num", type=int, default=21, help="points of --curve (default 21)")

    def run(ns):
        import eoc

        act = _activation(ns)
        if ns.curve:
            curve = eoc.eoc_curve(act, num=ns.num, sigma_b_max=ns.sigma_b_max)
        else:
            curve = eoc.eoc_curve(act, sigma_b=np.asarray(ns.sigma_b))
        out = curve.as_dict()
        if len(out["sigma_b"]) == 1:
            out = {k: (v[0] if isinstance(v, list) else v) for k, v in out.items()}
        return out

    return run


def parse_widths(text: str) -> list[int]:
    """``"784,100x50,10"`` -> [784, 100, ..., 100 (50 times), 10]."""
    out: list[int] = []
    for part in text.split(","):
        part = part.strip()
        try:
            if "x" in part:
                width, times = part.split("x", 1)
                out += [int(width)] * int(times)
            else:
                out.append(int(part))
        except ValueError:
            raise ValueError(f"--widths expects comma-separated integers or WIDTHxCOUNT, got {part!r} in {text!r}") from None
    return out


@command("prune-predict", "predicted critical sparsity, collapse order and keep fractions of a pruning method")
def _prune_predict(p: argparse.ArgumentParser):
    _activation_args(p)
    p.add_argument("--method", required=True, choices=["random", "magnitude", "snip"], help="pruning method")
    p.add_argument(
        "--widths", required=True, help="input dim, hidden widths, output dim, e.g. 784,100x50,10 (100 repeated 50 times)"
    )
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--sigma-w", type=float, help="weight scale")
    g.add_argument("--eoc", action="store_true", help="use the edge-of-chaos sigma_w for --sigma-b")
    p.add_argument("--sigma-b", type=float, default=0.0, help="bias scale (default 0)")
    p.add_argument("--arch", choices=["ffnn", "cnn", "resnet"], default="ffnn", help="default ffnn")
    p.add_argument("--alpha", default=None, help="resnet branch scale: a number, 'standard' or 'stable'")
    p.add_argument("--kernel-size", type=int, default=3, help="cnn kernel size (default 3)")
    p.add_argument("--sparsity", type=float, nargs="*", default=[0.9], help="sparsities for keep fractions (default 0.9)")

    def run(ns):
        import eoc

        act = _activation(ns)
        widths = parse_widths(ns.widths)
        sw = float(eoc.edge_of_chaos(act, ns.sigma_b)) if ns.eoc else ns.sigma_w
        alpha = ns.alpha
        if alpha is not None and alpha not in ("standard", "stable"):
            alpha = float(alpha)
        kw = dict(arch=ns.arch, alpha=alpha, kernel_size=ns.kernel_size)
        pred = eoc.critical_sparsity(ns.method, widths, act, sw, ns.sigma_b, **kw)
        keep = eoc.predict_keep_fractions(ns.method, np.asarray(ns.sparsity), widths, act, sw, ns.sigma_b, **kw)
        out = {
            "method": ns.method,
            "architecture": eoc.as_architecture(widths, ns.arch, alpha=alpha, kernel_size=ns.kernel_size).describe(),
            "activation": act.label,
            "sigma_w": sw,
            "sigma_b": ns.sigma_b,
            "phase_before_pruning": eoc.phase(act, sw, ns.sigma_b) if ns.arch != "resnet" else None,
            "critical_sparsity": pred.s_cr,
            "first_layer_to_collapse": pred.first_layer,
            "collapse_order": list(pred.collapse_order),
            "keep_fractions": {f"{s:g}": k for s, k in zip(ns.sparsity, keep)},
        }
        if ns.arch != "resnet":
            after = {}
            for s in ns.sparsity:
                if s < pred.s_cr:
                    pr = eoc.post_pruning_phase(ns.method, s, widths, act, sw, ns.sigma_b, **kw)
                    after[f"{s:g}"] = {"chi_1": pr.chi_1_mean, "phase": pr.phase}
                else:
                    after[f"{s:g}"] = {"chi_1": None, "phase": "collapsed (sparsity >= s_cr)"}
            out["after_pruning"] = after
        return out

    return run


@command("derive", "sympy derivations of closed forms, printed as LaTeX")
def _derive(p: argparse.ArgumentParser):
    from .symbolic import topics

    p.add_argument("topic", help=f"one of: {', '.join(topics())}")
    p.add_argument("--json", action="store_true", help="print JSON (name, description, latex) instead")

    def run(ns):
        from .symbolic import derive, render_latex

        ds = derive(ns.topic)
        if ns.json:
            return [{"name": d.name, "description": d.description, "latex": d.latex} for d in ds]
        return render_latex(ds)

    return run


@command("activations", "list the activations and their parameters")
def _activations(p: argparse.ArgumentParser):
    def run(ns):
        from . import available_activations, get_activation

        return {name: get_activation(name).label for name in available_activations()}

    return run


from ._cli_prune import HELP as _PRUNE_HELP, build as _build_prune  # noqa: E402  (the `prune` command)

command("prune", _PRUNE_HELP)(_build_prune)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m eoc",
        description=(
            "Edge-of-chaos mean-field theory of deep networks and of pruning at initialization. "
            "Subcommands print JSON (derive prints LaTeX). Weights are N(0, sigma_w^2/fan-in), "
            "biases N(0, sigma_b^2)."
        ),
        epilog="Example: python -m eoc point --activation tanh --sigma-w 1.3 --sigma-b 0.2",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (help_text, build) in _COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.set_defaults(_run=build(p))
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    ns = parser.parse_args(argv)
    try:
        result = ns._run(ns)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if isinstance(result, str):
        print(result)
    else:
        print(json.dumps(jsonable(result), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
