"""The static table of experiments: what each rebuilds, its claim, where its code lives.

This module imports nothing (no torch, no matplotlib, not even numpy), so that
``python -m paper_repro list`` and ``--help`` work in any environment.  The
experiment modules register their run functions and profiles against these entries
(:func:`paper_repro.registry.register` checks that every entry has its module).

``paper`` says which part of "Robust Pruning at Initialization" (Hayou, Ton, Doucet,
Teh, ICLR 2021) the experiment rebuilds, by the paper's sections and the kind of
figure or table.  The list was reconstructed from the paper's stated contributions
(``docs/theory.md`` §7); figure and table numbers are not given because they were not
checked against the paper's text.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Entry", "EXPERIMENTS", "ids", "entry", "PAPER"]

PAPER = "Hayou, Ton, Doucet, Teh: Robust Pruning at Initialization (ICLR 2021)"


@dataclass(frozen=True)
class Entry:
    """One experiment of the table.

    Attributes
    ----------
    id : str
        ``"E1"`` ... ``"E9"``.
    module : str
        Module under :mod:`paper_repro.experiments` that registers it.
    title : str
    paper : str
        The part of the paper it rebuilds.
    claim : str
        The paper's claim the experiment tests (a statement, not a result).
    needs_torch : bool
        Whether running it needs PyTorch.
    data : str
        The data of the quick and full profiles.
    """

    id: str
    module: str
    title: str
    paper: str
    claim: str
    needs_torch: bool
    data: str


EXPERIMENTS: tuple[Entry, ...] = (
    Entry(
        "E1", "e1_layer_collapse", "Layer collapse under SNIP: keep-fraction heatmaps per phase",
        "Sensitivity-based pruning of FFNNs (the SBP section): the heatmaps of the fraction of weights kept per "
        "neuron after SNIP, ordered phase vs edge of chaos vs chaotic phase",
        "With SNIP (sensitivity-based pruning), a deep FFNN initialized on the edge of chaos keeps weights in every "
        "layer, whereas in the ordered phase the layers next to the input and in the chaotic phase the layers next "
        "to the output are pruned entirely (layer collapse), making the network untrainable.",
        True, "quick: digits; full: MNIST",
    ),
    Entry(
        "E2", "e2_critical_sparsity", "Critical sparsity vs depth and width: theory against measurement",
        "The theory of magnitude- and sensitivity-based pruning (the MBP and SBP theorems): critical sparsity "
        "against depth and width in the three phases, FFNN and CNN",
        "Magnitude pruning's critical sparsity depends only on the architecture; SNIP's stays close to 1 at every "
        "depth on the edge of chaos and falls with depth in the ordered and chaotic phases, where input-side "
        "(ordered) or output-side (chaotic) layers collapse first; the finite-width, batch-aware model of "
        "docs/theory.md §8 predicts s_cr (the paper's iid model of §4 drawn beside it).",
        True, "Gaussian inputs (no dataset)",
    ),
    Entry(
        "E3", "e3_trainability", "Trainability of pruned deep FFNNs: EOC vs ordered, with and without rescaling",
        "The rescaling trick for FFNNs: test accuracy over (depth, sparsity) for EOC and ordered initializations, "
        "with and without rescaling",
        "Deep FFNNs pruned at initialization by SNIP train well only when initialized on the edge of chaos and "
        "rescaled after pruning (the rescaling trick puts the pruned network back on the EOC); ordered-phase "
        "initialization, or EOC without rescaling, loses accuracy as depth and sparsity grow.",
        True, "quick: digits; full: MNIST",
    ),
    Entry(
        "E4", "e4_rescaling", "The rescaling trick: accuracy with and without it, FFNN and VGG-like CNN",
        "The rescaling trick (FFNN and CNN): the table of test accuracy with and without rescaling at several "
        "sparsities",
        "Pruning moves a network initialized on the edge of chaos into the ordered phase; the rescaling trick puts "
        "it back on the EOC and improves the test accuracy of pruned FFNNs and CNNs.",
        True, "quick: digits; full: MNIST, CIFAR-10",
    ),
    Entry(
        "E5", "e5_stable_resnet", "Standard vs Stable ResNet under SNIP",
        "Sensitivity-based pruning of Stable ResNets (the ResNet section): the table of test accuracy of SNIP on "
        "standard against Stable ResNets of several depths at 90/95/98 % sparsity",
        "SNIP (sensitivity-based pruning) at high sparsity breaks standard ResNets, more so as depth grows, while "
        "the same pruning applied to a Stable ResNet (residual branches scaled by 1/sqrt(L)) keeps them trainable: "
        "SBP-SR reaches higher test accuracy than SNIP on the standard ResNet at 90/95/98 % sparsity for "
        "ResNet32/50/104 on CIFAR-10.",
        True, "quick: digits; full: CIFAR-10",
    ),
    Entry(
        "E6", "e6_methods", "Pruning methods table (Random, Magnitude, SNIP, GraSP, SynFlow, SBP-SR)",
        "The experiments section: the main table comparing pruning-at-initialization methods on CIFAR-10, "
        "CIFAR-100 and Tiny ImageNet",
        "SBP-SR (SNIP on a Stable ResNet) matches or outperforms Random, Magnitude, SNIP, GraSP and SynFlow pruning "
        "at initialization on ResNets, with the largest gains at the highest sparsities (CIFAR-10, CIFAR-100, Tiny "
        "ImageNet; 90/95/98 %).",
        True, "quick: digits; full: CIFAR-10, CIFAR-100, Tiny ImageNet",
    ),
    Entry(
        "E7", "e7_mask_density", "Layer-wise mask density of every pruning method",
        "The ResNet section and its appendix: the per-layer fraction of weights kept by SNIP on a standard vs a "
        "Stable ResNet, and by the other methods",
        "SNIP on a standard ResNet distributes the kept weights very unevenly across layers, the layers near the "
        "output being pruned most (up to layer collapse at high sparsity), while SNIP on a Stable ResNet (SBP-SR) "
        "keeps every layer alive with more even densities; the other methods have their own layer-wise profiles.",
        True, "quick: digits; full: CIFAR-10",
    ),
    Entry(
        "E8", "e8_propagation", "Variance and gradient propagation: FFNN phases, ResNet vs Stable ResNet",
        "The mean-field background and the ResNet section: variance and gradient propagation through FFNNs in the "
        "three phases and through standard vs Stable ResNets, theory against finite networks",
        "Mean-field variance and gradient maps describe finite networks at initialization: a tanh FFNN's per-layer "
        "weight gradients vanish towards the input in the ordered phase, explode in the chaotic phase and stay "
        "flat on the edge of chaos; in a standard ReLU ResNet activations and gradients grow like "
        "(1 + sigma_w^2/2)^L with depth L (float32 overflow at L = 200, N = 100), while a Stable ResNet (branches "
        "scaled by 1/sqrt(L)) keeps them within the bound exp(sigma_w^2/2) at every depth.",
        True, "Gaussian inputs (no dataset)",
    ),
    Entry(
        "E9", "e9_eoc", "EOC curves, chi_1 phase diagram and correlation convergence",
        "The edge-of-chaos background (the EOC section): EOC curves of several activations, the chi_1 phase "
        "diagram and the convergence of correlations on and off the EOC",
        "On the edge of chaos (chi_1 = 1) correlations converge to 1 only polynomially with depth (for ReLU, "
        "1 - c^l ~ 9 pi^2 / (2 l^2)), while in the ordered and chaotic phases they converge exponentially; the EOC "
        "is a curve sigma_w(sigma_b) separating the two phases.",
        False, "theory only (no data, no simulation)",
    ),
)  # fmt: skip

_BY_ID = {e.id: e for e in EXPERIMENTS}


def ids() -> list[str]:
    """Every experiment id, in order (E1 ... E9)."""
    return [e.id for e in EXPERIMENTS]


def entry(exp_id: str) -> Entry:
    """The table entry of ``exp_id`` (case-insensitive).

    Raises
    ------
    ValueError
        Unknown id (the message lists the valid ones).
    """
    key = str(exp_id).upper()
    if key not in _BY_ID:
        raise ValueError(f"unknown experiment {exp_id!r}; available: {', '.join(ids())}")
    return _BY_ID[key]
