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

Manners (:mod:`eoc._cli`): ``--version``; every error is one line ``error: ...`` naming
the flag and the value, exit status 2; a closed pipe (``| head``) ends quietly.
Other modules add subcommands with :func:`command` (``python -m eoc prune`` lives in
``eoc._cli_prune``).
"""

from __future__ import annotations

import argparse
import json
import math
from typing import Callable

import numpy as np

from ._cli import CLIError, add_version, run

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


# ---------------------------------------------------------------- argument types


def _number(text: str) -> float:
    try:
        x = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(x):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return x


def _checked(test, condition: str, doc: str):
    def parse(text: str) -> float:
        x = _number(text)
        if not test(x):
            raise argparse.ArgumentTypeError(f"must {condition}, got {text!r}")
        return x

    parse.__doc__ = doc
    return parse


positive = _checked(lambda x: x > 0, "be > 0", "argparse type: a finite number > 0.")
nonnegative = _checked(lambda x: x >= 0, "be >= 0", "argparse type: a finite number >= 0.")
sparsity = _checked(lambda x: 0 <= x < 1, "lie in [0, 1)", "argparse type: a sparsity in [0, 1).")


def count(text: str) -> int:
    """argparse type: an integer >= 1."""
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be an integer >= 1, got {text!r}")
    return n


class _Parser(argparse.ArgumentParser):
    """argparse whose errors are one line (:class:`CLIError`, printed by :func:`eoc._cli.run`)."""

    def error(self, message: str):  # noqa: D401 - argparse's hook
        raise CLIError(f"{self.prog}: {message}")


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
            raise CLIError(f"--param expects KEY=VALUE, got --param {item!r}")
        key, value = item.split("=", 1)
        try:
            params[key] = float(value)
        except ValueError:
            params[key] = value
    try:
        return get_activation(ns.activation, **params)
    except ValueError as exc:
        shown = f"--activation {ns.activation!r}" + "".join(f" --param {p!r}" for p in ns.param)
        raise CLIError(f"{shown}: {exc}") from None


@command("point", "everything about one (activation, sigma_w, sigma_b): q*, chi's, depth scales, phase")
def _point(p: argparse.ArgumentParser):
    _activation_args(p)
    p.add_argument("--sigma-w", type=positive, required=True, help="weight scale (variance sigma_w^2 / fan-in)")
    p.add_argument("--sigma-b", type=nonnegative, default=0.0, help="bias standard deviation (default 0)")
    p.add_argument("--q0", type=positive, default=1.0, help="starting variance for q* (default 1)")

    def run(ns):
        import eoc

        act = _activation(ns)
        sw, sb = ns.sigma_w, ns.sigma_b
        qs = eoc.q_star(act, sw, sb, q0=ns.q0)
        cs = eoc.c_star(act, sw, sb, q=qs)
        xi_q, xi_c = eoc.depth_scales(act, sw, sb)
        chi1 = eoc.chi_1(act, sw, sb, q=qs)
        return {
            "activation": act.label,
            "sigma_w": sw,
            "sigma_b": sb,
            "q0": ns.q0,
            "q_star": qs,
            "c_star": cs,
            "chi_1": chi1,
            "chi_c": eoc.chi_c(act, sw, sb, q=qs),
            "chi_q": eoc.chi_q(act, sw, sb, q=qs),
            "xi_q": xi_q,
            "xi_c": xi_c,
            "phase": eoc.phase_of_chi(chi1),
        }

    return run


@command("eoc", "the edge-of-chaos sigma_w for an activation and sigma_b, or the whole curve")
def _eoc(p: argparse.ArgumentParser):
    _activation_args(p)
    p.add_argument("--sigma-b", type=nonnegative, nargs="+", default=[0.0], help="bias scale(s) (default 0)")
    p.add_argument("--curve", action="store_true", help="the whole curve on [0, --sigma-b-max]")
    p.add_argument("--sigma-b-max", type=positive, default=2.0, help="upper end of --curve (default 2)")
    p.add_argument("--num", type=count, default=21, help="points of --curve (default 21)")
    p.add_argument("--q0", type=positive, default=1.0, help="starting variance the EOC fixed point must be reached from")
    p.add_argument(
        "--missing",
        choices=["raise", "drop", "keep"],
        default=None,
        help="sigma_b without a valid EOC point: error (default for --sigma-b), drop (default for --curve), "
        "or keep with valid=false (unstable fixed points)",
    )

    def run(ns):
        import eoc

        act = _activation(ns)
        kw = dict(q0=ns.q0, missing=ns.missing)
        if ns.curve:
            curve = eoc.eoc_curve(act, num=ns.num, sigma_b_max=ns.sigma_b_max, **kw)
        else:
            curve = eoc.eoc_curve(act, sigma_b=np.asarray(ns.sigma_b), **kw)
        out = curve.as_dict()
        if len(out["sigma_b"]) == 1 and not ns.curve:
            out = {k: (v[0] if isinstance(v, list) else v) for k, v in out.items()}
        return out

    return run


def parse_widths(text: str, flag: str = "--widths") -> list[int]:
    """``"784,100x50,10"`` -> [784, 100, ..., 100 (50 times), 10]; positive widths and counts only."""
    out: list[int] = []
    for part in text.split(","):
        item = part.strip()
        width, _, times = item.partition("x")
        try:
            w = int(width)
            n = int(times) if times else 1
        except ValueError:
            raise CLIError(f"{flag} expects comma-separated integers or WIDTHxCOUNT, got {item!r} in {flag} {text!r}") from None
        if w < 1:
            raise CLIError(f"{flag}: widths must be positive integers, got {w} in {item!r} ({flag} {text!r})")
        if times and n < 1:
            raise CLIError(f"{flag}: the count in {item!r} must be a positive integer, got {n} ({flag} {text!r})")
        out += [w] * n
    if len(out) < 2:
        raise CLIError(f"{flag} needs at least an input and an output width, got {flag} {text!r}")
    return out


def _alpha(text: str | None):
    if text is None or text in ("standard", "stable"):
        return text
    try:
        return positive(text)
    except argparse.ArgumentTypeError as exc:
        raise CLIError(f"--alpha must be a number > 0, 'standard' or 'stable': {exc}") from None


@command("prune-predict", "predicted critical sparsity, collapse order and keep fractions of a pruning method")
def _prune_predict(p: argparse.ArgumentParser):
    _activation_args(p)
    p.add_argument("--method", required=True, choices=["random", "magnitude", "snip"], help="pruning method")
    p.add_argument(
        "--widths", required=True, help="input dim, hidden widths, output dim, e.g. 784,100x50,10 (100 repeated 50 times)"
    )
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--sigma-w", type=positive, help="weight scale")
    g.add_argument("--eoc", action="store_true", help="use the edge-of-chaos sigma_w for --sigma-b")
    p.add_argument("--sigma-b", type=nonnegative, default=0.0, help="bias scale (default 0)")
    p.add_argument("--arch", choices=["ffnn", "cnn", "resnet"], default="ffnn", help="default ffnn")
    p.add_argument("--alpha", default=None, help="resnet branch scale: a number, 'standard' or 'stable'")
    p.add_argument("--kernel-size", type=count, default=3, help="cnn kernel size (default 3)")
    p.add_argument("--image-size", type=count, default=None,
                   help="cnn input height = width: the finite SNIP model counts the batch x image positions of "
                        "every convolution (docs/theory.md §8.6); default: one position per example")
    p.add_argument(
        "--sparsity", type=sparsity, nargs="*", default=[0.9], help="sparsities for keep fractions (default 0.9)"
    )
    p.add_argument("--model", choices=["finite", "iid"], default="finite",
                   help="score model: finite-width and batch-aware (default) or the paper's iid one (docs/theory.md §8)")
    p.add_argument("--batch-size", type=count, default=128, help="scoring batch of the finite SNIP model (default 128)")

    def run(ns):
        import eoc

        act = _activation(ns)
        widths = parse_widths(ns.widths)
        alpha = _alpha(ns.alpha)
        if alpha is not None and ns.arch != "resnet":
            raise CLIError(f"--alpha {ns.alpha!r} is only meaningful with --arch resnet, got --arch {ns.arch}")
        sw = float(eoc.edge_of_chaos(act, ns.sigma_b)) if ns.eoc else ns.sigma_w
        if ns.image_size is not None and ns.arch != "cnn":
            raise CLIError(f"--image-size {ns.image_size} is only meaningful with --arch cnn, got --arch {ns.arch}")
        arch = eoc.as_architecture(widths, ns.arch, alpha=alpha, kernel_size=ns.kernel_size, image_size=ns.image_size)
        if ns.model == "finite" and ns.method == "snip":  # one simulation per call, every sparsity at once
            kw = {"model": "finite", "batch_size": ns.batch_size}
            pred = eoc.critical_sparsity(ns.method, arch, act, sw, ns.sigma_b, **kw)
            keep = eoc.predict_keep_fractions(ns.method, np.asarray(ns.sparsity), arch, act, sw, ns.sigma_b, **kw)
        else:  # One layer profile for every sparsity: the scores' scales, then the laws.
            scales = eoc.score_scales(ns.method, arch, act, sw, ns.sigma_b)
            pred = eoc.critical_sparsity_from_scales(ns.method, scales, arch.n_weights)
            keep = eoc.keep_fractions_from_scales(ns.method, np.asarray(ns.sparsity), scales, arch.n_weights)
        out = {
            "method": ns.method,
            "architecture": arch.describe(),
            "activation": act.label,
            "sigma_w": sw,
            "sigma_b": ns.sigma_b,
            "phase_before_pruning": eoc.phase(act, sw, ns.sigma_b) if ns.arch != "resnet" else None,
            "model": ns.model,
            "critical_sparsity": pred.s_cr,
            "first_layer_to_collapse": pred.first_layer,
            "collapse_order": list(pred.collapse_order),
            "keep_fractions": {f"{s:g}": k for s, k in zip(ns.sparsity, keep)},
        }
        if ns.arch == "cnn" and ns.model == "finite" and ns.method == "snip":
            from ._finite import sample_positions

            # the samples per example each layer's gradient sums (docs/theory.md §8.6): 1 = positions not counted
            out["positions_per_example"] = [int(p) for p in sample_positions(arch)[0]]
        if ns.arch != "resnet":
            after = {}
            for s, k in zip(ns.sparsity, keep):
                if s < pred.s_cr:
                    # The pruned network's own profile: its effective sigma_w differs per sparsity.
                    sw_eff = eoc.effective_sigma_w(ns.method, k, np.full(arch.depth, sw))
                    chi = eoc.layer_profile(arch, act, sw_eff, ns.sigma_b).chi_1_mean
                    after[f"{s:g}"] = {"chi_1": chi, "phase": eoc.phase_of_chi(chi)}
                else:
                    after[f"{s:g}"] = {"chi_1": None, "phase": "collapsed (sparsity >= s_cr)"}
            out["after_pruning"] = after
        return out

    return run


@command("derive", "sympy derivations of closed forms, printed as LaTeX")
def _derive(p: argparse.ArgumentParser):
    # The topics live in eoc.symbolic, which imports sympy (seconds): not at parser build time.
    p.add_argument("topic", help="a topic of eoc.symbolic, e.g. relu, leaky_relu, linear, mbp, resnet; "
                   "an unknown one lists them all")
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
    parser = _Parser(
        prog="python -m eoc",
        description=(
            "Edge-of-chaos mean-field theory of deep networks and of pruning at initialization. "
            "Subcommands print JSON (derive prints LaTeX). Weights are N(0, sigma_w^2/fan-in), "
            "biases N(0, sigma_b^2)."
        ),
        epilog="Example: python -m eoc point --activation tanh --sigma-w 1.3 --sigma-b 0.2",
    )
    add_version(parser)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=_Parser)
    for name, (help_text, build) in _COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.set_defaults(_run=build(p))
    return parser


def _main(argv: list[str] | None = None) -> int:
    ns = build_parser().parse_args(argv)
    result = ns._run(ns)
    if isinstance(result, str):
        print(result)
    else:
        print(json.dumps(jsonable(result), indent=2))
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m eoc`` (and the ``eoc`` script); returns the exit status."""
    return run(_main, argv)


if __name__ == "__main__":
    # Run the registry of the importable module eoc.__main__ (where other modules register
    # their subcommands), not of this copy that runpy executes as __main__.
    from eoc.__main__ import main as _entry

    raise SystemExit(_entry())
