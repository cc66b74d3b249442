"""eoc.nn: the torch side of the toolkit (needs PyTorch; :mod:`eoc` itself never imports it).

* reference networks: :class:`FFNN`, :class:`VGG`, :class:`OneLayerResNet`,
  CIFAR :class:`ResNet` / Stable ResNet (:func:`resnet`, :func:`resnet32`, ...);
* initialization: :func:`init_`, :func:`init_edge_of_chaos_`;
* pruning at initialization: :func:`compute_scores`, :func:`prune_at_init`
  (random, magnitude, SNIP, GraSP, SynFlow; what is pruned: :func:`prunable_tensors`),
  :func:`remove_masks_`, :func:`load_pruned_state_dict_`;
* training with masks: :func:`inplace_masks_`, :func:`apply_masks_`,
  :func:`register_mask_hook`;
* the rescaling trick: :func:`rescale_`, :func:`rescale_factors`;
* diagnostics: :func:`keep_fractions`, :func:`measured_critical_sparsity`,
  :func:`layer_gradient_norms`, :func:`check_layer_collapse`;
* theory from a model: :func:`describe` (the :class:`eoc.Architecture` of a model),
  :func:`predict_critical_sparsity`, :func:`predict_keep_fractions`,
  :func:`collapse_order`, :func:`predict_collapse`;
* tensor-level primitives shared with :mod:`eoc.sim`: :mod:`eoc.nn.functional`.

Functions ending in ``_`` modify the model in place and return it.  Mathematics:
docs/theory.md §1 and §4-6.
"""

from ._activations import ACTIVATION_MODULES, Erf, ScaledSiLU, torch_activation
from ._describe import describe
from ._device import resolve_device
from ._diagnostics import (
    check_layer_collapse,
    critical_sparsity,
    critical_sparsity_details,
    keep_fractions,
    layer_gradient_norms,
    measured_critical_sparsity,
    measured_critical_sparsity_details,
)
from ._init import init_, init_edge_of_chaos_
from ._layers import PRUNABLE, PrunableTensor, prunable_layers, prunable_tensors
from ._linearize import ELEMENTWISE_ACTIVATIONS, NotLinearizableError
from ._masks import apply_masks_, inplace_masks_, register_mask_hook
from ._models import (
    FFNN,
    VGG,
    VGG_CONFIGS,
    BasicBlock,
    OneLayerResNet,
    ResNet,
    resnet,
    resnet32,
    resnet50,
    resnet104,
)
from ._predict import CollapsePrediction, collapse_order, predict_collapse, predict_critical_sparsity, predict_keep_fractions
from ._prune import LayerCollapseWarning, load_pruned_state_dict_, prune_at_init, remove_masks_
from ._rescale import RESCALE_MODES, rescale_, rescale_factors
from ._scores import BN_MODES, DEFAULT_BN_MODE, GRASP_TEMPERATURE, METHODS, compute_scores

__all__ = [
    "resolve_device",
    "torch_activation",
    "ACTIVATION_MODULES",
    "ELEMENTWISE_ACTIVATIONS",
    "Erf",
    "ScaledSiLU",
    "FFNN",
    "VGG",
    "VGG_CONFIGS",
    "OneLayerResNet",
    "ResNet",
    "BasicBlock",
    "resnet",
    "resnet32",
    "resnet50",
    "resnet104",
    "init_",
    "init_edge_of_chaos_",
    "PRUNABLE",
    "prunable_layers",
    "PrunableTensor",
    "prunable_tensors",
    "METHODS",
    "BN_MODES",
    "DEFAULT_BN_MODE",
    "GRASP_TEMPERATURE",
    "compute_scores",
    "prune_at_init",
    "remove_masks_",
    "load_pruned_state_dict_",
    "LayerCollapseWarning",
    "NotLinearizableError",
    "inplace_masks_",
    "apply_masks_",
    "register_mask_hook",
    "RESCALE_MODES",
    "rescale_",
    "rescale_factors",
    "keep_fractions",
    "measured_critical_sparsity",
    "measured_critical_sparsity_details",
    "critical_sparsity",
    "critical_sparsity_details",
    "layer_gradient_norms",
    "check_layer_collapse",
    "describe",
    "CollapsePrediction",
    "predict_collapse",
    "predict_critical_sparsity",
    "predict_keep_fractions",
    "collapse_order",
]
