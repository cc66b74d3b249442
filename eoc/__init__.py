"""eoc: edge-of-chaos mean-field theory and the theory of pruning at initialization.

The core (this namespace) needs only numpy, scipy and sympy; importing it never
imports torch.  The torch-facing tools live in :mod:`eoc.nn`.

Argument order is ``(..., act, sigma_w, sigma_b)``; an activation is a name
(:func:`available_activations`) or an :class:`Activation`; ``q``, ``c`` and the
sigmas broadcast like numpy arrays.  Mathematics: ``docs/theory.md`` of the project (docs/theory.md §1-§10), and
the docstrings of each function.
"""

from ._activations import Activation, ClosedForms, available_activations, get_activation
from ._arch import Architecture, ArchitectureProfile, as_architecture, layer_profile
from ._graph import Layer, Node, TheoryCoverageWarning
from ._correlation import c_star, correlation_iterates, correlation_map, correlation_map_derivative
from ._expect import Numerics
from ._maps import FixedPoints, covariance_map, q_star, variance_fixed_points, variance_iterates, variance_map
from ._laws import (
    LAW_OF_METHOD,
    HalfNormal,
    LowRankProductNormal,
    ProductNormal,
    ScoreLaw,
    Uniform01,
    available_laws,
    get_law,
    law_for_method,
)
from ._propagation import LayerProfile, gradient_variances
from ._pruning import (
    SCORE_MODELS,
    THEORY_METHODS,
    CriticalSparsity,
    PrunedNetwork,
    collapse_order,
    critical_sparsity,
    critical_sparsity_from_scales,
    effective_sigma_w,
    keep_fractions_from_scales,
    post_pruning_phase,
    predict_critical_sparsity,
    predict_keep_fractions,
    rescale_factor,
    score_scales,
)
from ._resnet import resnet_correlations, resnet_gradient_variances, resnet_variances
from ._phase import (
    PHASES,
    EOCCurve,
    chi_1,
    chi_c,
    chi_q,
    depth_scales,
    edge_of_chaos,
    eoc_curve,
    phase,
    phase_of_chi,
)

__version__ = "0.1.0"

__all__ = [
    "Activation",
    "ClosedForms",
    "available_activations",
    "get_activation",
    "Numerics",
    "variance_map",
    "covariance_map",
    "variance_iterates",
    "q_star",
    "variance_fixed_points",
    "FixedPoints",
    "correlation_map",
    "correlation_map_derivative",
    "correlation_iterates",
    "c_star",
    "chi_1",
    "chi_q",
    "chi_c",
    "depth_scales",
    "phase",
    "phase_of_chi",
    "PHASES",
    "edge_of_chaos",
    "eoc_curve",
    "EOCCurve",
    # backward maps and architectures
    "gradient_variances",
    "LayerProfile",
    "Architecture",
    "ArchitectureProfile",
    "Layer",
    "Node",
    "TheoryCoverageWarning",
    "as_architecture",
    "layer_profile",
    # ResNets
    "resnet_variances",
    "resnet_gradient_variances",
    "resnet_correlations",
    # pruning at initialization
    "HalfNormal",
    "ProductNormal",
    "Uniform01",
    "ScoreLaw",
    "LAW_OF_METHOD",
    "available_laws",
    "get_law",
    "law_for_method",
    "THEORY_METHODS",
    "SCORE_MODELS",
    "LowRankProductNormal",
    "score_scales",
    "CriticalSparsity",
    "critical_sparsity",
    "critical_sparsity_from_scales",
    "predict_critical_sparsity",
    "predict_keep_fractions",
    "keep_fractions_from_scales",
    "collapse_order",
    "effective_sigma_w",
    "rescale_factor",
    "PrunedNetwork",
    "post_pruning_phase",
]
