"""The static table of claims: id, title, statement and the module that checks it.

Torch-free, so that ``python -m proofs_check --list`` and ``--help``, and the validation
of ``--claims``, need no torch.  The check of each claim lives in
``proofs_check.claims.<module>`` and registers itself under the same id
(:func:`proofs_check.registry.claim`); a test checks that the two agree.
Mathematics: docs/theory.md, section numbers in each statement.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ClaimInfo", "CATALOG", "CLAIM_IDS", "PROFILES", "claim_info", "check_claim_ids"]

#: Sizes of every claim: tiny (the test suite, seconds), quick (CPU, minutes), full (GPU).
PROFILES = ("tiny", "quick", "full")


@dataclass(frozen=True)
class ClaimInfo:
    id: str
    module: str
    title: str
    statement: str


CATALOG: tuple[ClaimInfo, ...] = (
    ClaimInfo(
        "forward-maps",
        "forward",
        "Variance and correlation maps of finite networks",
        "The pre-activation second moment q^l and the correlation c^l of two inputs, layer by layer, follow "
        "q^l = F(q^{l-1}) and c^l = f(c^{l-1}) (docs/theory.md §2) in the ordered phase, on the edge of chaos and "
        "in the chaotic phase, for tanh, ReLU, SELU and GELU.",
    ),
    ClaimInfo(
        "relu-eoc-asymptotics",
        "forward",
        "ReLU on the edge of chaos: 1 - c^l decays like 9 pi^2 / (2 l^2)",
        "For ReLU at (sigma_b, sigma_w) = (0, sqrt 2), correlations converge to 1 polynomially: 1 - c^l follows the "
        "mean-field iterates, whose tail is 9 pi^2 / (2 l^2) (docs/theory.md §2).",
    ),
    ClaimInfo(
        "gradient-maps",
        "forward",
        "Per-layer gradient variances (backward map)",
        "Under gradient independence, E[(dL/dW^l)^2] = qt^l E[phi(y^{l-1})^2] with qt^l = qt^{l+1} (N_{l+1}/N_l) "
        "sigma_w^2 E[phi'(y^l)^2] (docs/theory.md §3): flat on the edge of chaos, vanishing towards the input in the "
        "ordered phase, exploding towards it in the chaotic phase.",
    ),
    ClaimInfo(
        "mbp-critical-sparsity",
        "critical",
        "Magnitude pruning: critical sparsity and the layer that collapses first",
        "For magnitude pruning (MBP) s_cr depends only on fan-ins and layer sizes, not on sigma_w, sigma_b or the "
        "activation; the iid half-normal model of docs/theory.md §4 (the exact expectation of s_cr) predicts it, and "
        "the layer with the largest fan-in is pruned first.",
    ),
    ClaimInfo(
        "sbp-critical-sparsity-phases",
        "critical",
        "SNIP: critical sparsity in the three phases, and which side collapses first",
        "For SNIP (SBP) on a tanh FFNN (784 - 100 x (L-1) - 10, cross-entropy, batch 128) s_cr stays near 1 at "
        "every depth on the edge of chaos and falls with depth in the ordered and chaotic phases, input-side layers "
        "collapsing first in the ordered phase and output-side layers in the chaotic phase; the finite-width, "
        "batch-aware model of docs/theory.md §8 predicts s_cr within its own stated error (its Monte-Carlo error over "
        "virtual networks and FINITE_MODEL_ERROR, derived from its stored validation, §8.5); the paper's iid model "
        "(§4) is recorded alongside.",
    ),
    ClaimInfo(
        "sbp-critical-sparsity-cnn",
        "critical",
        "SNIP on a plain CNN: critical sparsity in the three phases, positions counted",
        "For SNIP on a plain tanh CNN (3 - 32 x (L-1) - 10, 3x3 convolutions, global average pooling, 8x8 Gaussian "
        "images, batch 128) the finite model that counts every convolution's batch x image positions (docs/theory.md "
        "§8.6) predicts s_cr in the ordered, EOC and chaotic phases within its own stated error (its Monte-Carlo error "
        "and FINITE_CNN_MODEL_ERROR, derived from its stored CNN validation); the paper's iid model and the finite "
        "model with one position per example are recorded alongside.",
    ),
    ClaimInfo(
        "pruned-leaves-eoc",
        "pruned",
        "Pruning moves an edge-of-chaos network into the ordered phase",
        "After pruning at initialization, layer l acts with the effective weight variance sigma_w,eff^2 = "
        "v_l E[(W delta)^2]: k sigma_w^2 (random), sigma_w^2 (k + 2 tau phi(tau)) (magnitude), the product-normal "
        "model's value for SNIP within SNIP_MODEL_ERROR (docs/theory.md §5); the pruned tanh network has the chi_1 "
        "of the mean-field maps at its sigma_w,eff, below 1: it is in the ordered phase.",
    ),
    ClaimInfo(
        "rescaling-restores-eoc",
        "pruned",
        "The rescaling trick puts the pruned network back on the edge of chaos",
        "Multiplying each neuron's kept weights by rho_i = sqrt(sum_j W_ij^2 / sum_j (W_ij delta_ij)^2) "
        "(eoc.nn.rescale_) restores sigma_w,eff = sigma_w: the pruned, rescaled tanh network is back on the edge of "
        "chaos (chi_1 = 1) with the unpruned fixed point q* (docs/theory.md §5).",
    ),
    ClaimInfo(
        "resnet-explodes",
        "resnet",
        "Standard ResNets explode with depth",
        "For the one-layer-branch ReLU ResNet with alpha = 1, sigma_b = 0, activations and gradients grow like "
        "(1 + sigma_w^2/2)^L (docs/theory.md §6): log(q^L/q^0) = L log 2 for sigma_w = sqrt 2, and gradients grow by "
        "the same factor towards the input.",
    ),
    ClaimInfo(
        "stable-resnet-bounded",
        "resnet",
        "Stable ResNets stay bounded",
        "With branches scaled by alpha = 1/sqrt(L), variances and gradients grow by (1 + sigma_w^2/(2L))^L <= "
        "exp(sigma_w^2/2) at every depth (docs/theory.md §6).",
    ),
    ClaimInfo(
        "stable-resnet-sbp-scr",
        "resnet",
        "SNIP keeps a higher critical sparsity on the Stable ResNet than on the standard ResNet",
        "For the one-layer-branch ReLU ResNet (sigma_w = sqrt 2, sigma_b = 0, width 100, 10 classes, batch 128) at "
        "depths 10 to 100, SNIP's s_cr is higher with alpha = 1/sqrt(L) (Stable ResNet) than with alpha = 1 on the "
        "same weights, and the finite-width model of docs/theory.md §8.3 predicts both within its own stated error "
        "(Monte-Carlo error and FINITE_MODEL_ERROR, §8.5); the paper's iid model (§4, §6.5), which orders the two the "
        "other way, is recorded alongside.",
    ),
    ClaimInfo(
        "synflow-no-collapse",
        "synflow",
        "Iterative SynFlow never empties a layer of a feed-forward network",
        "Iterative, data-free SynFlow (Tanaka et al. 2020; 100 rounds, exponential schedule) keeps every layer "
        "of a deep FFNN non-empty at a sparsity where SNIP fully prunes some layer (docs/theory.md §4).",
    ),
)

#: Claim ids in the order they run and are reported.
CLAIM_IDS = tuple(c.id for c in CATALOG)
_BY_ID = {c.id: c for c in CATALOG}


def claim_info(claim_id: str) -> ClaimInfo:
    """The catalog entry of ``claim_id``; ValueError naming the known ids otherwise."""
    try:
        return _BY_ID[claim_id]
    except (KeyError, TypeError):
        raise ValueError(f"unknown claim {claim_id!r}; available: {', '.join(CLAIM_IDS)}") from None


def check_claim_ids(ids) -> tuple[str, ...]:
    """Validate claim ids (all at once: the error lists every unknown one); catalog order, no repeats."""
    ids = list(ids)
    unknown = [i for i in ids if i not in _BY_ID]
    if unknown:
        raise ValueError(
            f"unknown claim{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))}; "
            f"available: {', '.join(CLAIM_IDS)}"
        )
    wanted = set(ids)
    return tuple(i for i in CLAIM_IDS if i in wanted)
