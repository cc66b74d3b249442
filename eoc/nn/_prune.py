r"""Pruning at initialization: keep the largest scores, globally or layer by layer.

docs/theory.md §4.  Global pruning at sparsity :math:`s` keeps the
:math:`\mathrm{round}((1-s)M)` largest importances among all :math:`M` prunable
entries; layer-wise pruning keeps :math:`\mathrm{round}((1-s)M_l)` of each prunable
tensor (Python's ``round``, half to even).  Ties are broken deterministically: the
prunable tensors are flattened row-major and concatenated in module order, and among
equal scores the smallest flat index is kept -- the order of a stable descending
sort, obtained without sorting (:func:`eoc.nn.functional.topk_mask`: the k-th
largest value by selection, then the ties at it by index).

The masks are applied with ``torch.nn.utils.prune.custom_from_mask``: every pruned
tensor ``t`` gets the parameter ``t_orig``, the buffer ``t_mask`` and a forward
pre-hook setting ``t = t_orig * t_mask``, so pruned entries stay exactly 0 through
any optimizer step, ``copy.deepcopy`` and ``state_dict`` round trips
(:func:`load_pruned_state_dict_`).  For training, :func:`eoc.nn.inplace_masks_`
gives the same ``state_dict`` without the per-forward product.

``copy.deepcopy`` caveat (torch, not this package): after a forward pass *with*
autograd, the pruning pre-hook leaves a non-leaf tensor in ``module.weight`` and
deepcopy refuses it.  A freshly pruned model copies fine, and so does a model after
any forward under ``torch.no_grad()`` or masked in place; otherwise copy through
``state_dict`` and :func:`load_pruned_state_dict_`.
"""

from __future__ import annotations

import warnings
from typing import Iterable, Mapping, Sequence

import torch
from torch import nn
from torch.nn.utils import prune
from tqdm import tqdm

from .._validate import check_int, check_sparsity
from . import functional as F
from ._layers import (
    PrunableTensor,
    inplace_hook,
    is_inplace_masked,
    is_masked,
    masked_tensor_names,
    prunable_tensors,
    qualified,
    refresh_weight,
)
from ._scores import (
    DEFAULT_BN_MODE,
    GRASP_TEMPERATURE,
    LossFn,
    ScoringOptions,
    SynFlowNetwork,
    score_tensors,
    synflow_input_shape,
    validate_batch,
)

__all__ = [
    "LayerCollapseWarning",
    "prune_at_init",
    "select_masks",
    "remove_masks_",
    "load_pruned_state_dict_",
    "warn_collapse",
]

SCOPES = ("global", "layer")


class LayerCollapseWarning(UserWarning):
    """Some layer has every weight pruned (docs/theory.md §4, layer collapse).

    In a feed-forward network the output then no longer depends on the input and
    the network cannot train; a fully pruned layer of a residual branch reduces its
    block to the shortcut.
    """


def warn_collapse(names: Sequence[str], method: str, sparsity: float, stacklevel: int) -> None:
    """Emit a :class:`LayerCollapseWarning` naming the fully pruned layers, if any."""
    if names:
        warnings.warn(
            f"method={method!r} at sparsity={sparsity:g} prunes every weight of layer(s) "
            f"{', '.join(map(repr, names))} (layer collapse: no signal passes through them)",
            LayerCollapseWarning,
            stacklevel=stacklevel + 1,
        )


def collapsed(tensors: Sequence[PrunableTensor], masks: Sequence[torch.Tensor]) -> list[str]:
    """Keys of the fully pruned weights (biases do not carry the signal: not a collapse)."""
    return [t.key for t, m in zip(tensors, masks) if t.carries_signal and not bool(m.any())]


def _check_feasible(
    tensors: Sequence[PrunableTensor], alive: Sequence[torch.Tensor | None], keep: float, scope: str, sparsity: float
) -> None:
    groups = [("", list(range(len(tensors))))]
    if scope == "layer":
        groups = [(f" in {t.key!r}", [i]) for i, t in enumerate(tensors)]
    sizes = [t.param.numel() for t in tensors]
    counts = [n if a is None else int(a.count_nonzero()) for n, a in zip(sizes, alive)]
    for where, idx in groups:
        wanted = round(keep * sum(sizes[i] for i in idx))
        n_alive = sum(counts[i] for i in idx)
        if wanted > n_alive:
            raise ValueError(
                f"sparsity={sparsity!r} keeps {wanted} weights{where} but an earlier pruning left only "
                f"{n_alive}; pruning cannot revive weights"
            )


def _select(
    tensors: Sequence[PrunableTensor],
    scores: Sequence[torch.Tensor],
    alive: Sequence[torch.Tensor | None],
    keep: float,
    scope: str,
) -> list[torch.Tensor]:
    """Boolean masks keeping round(keep * M) of the largest scores among the alive entries."""
    names = [t.key for t in tensors]
    if all(a is None for a in alive):
        alive = None
    else:
        alive = [torch.ones(s.shape, dtype=torch.bool, device=s.device) if a is None else a for s, a in zip(scores, alive)]
    if scope == "layer":
        return F.select_per_layer(scores, keep, alive=alive, names=names)
    return F.select_global(scores, round(keep * sum(s.numel() for s in scores)), alive=alive, names=names)


class _AliveSynFlow:
    r"""Iterative SynFlow (Tanaka et al. 2020, Algorithm 1) on the alive entries only.

    Round :math:`r` keeps :math:`\mathrm{round}(k^{r/n}M)` entries (per tensor with
    ``scope="layer"``).  Each round scores and ranks only the entries still alive:
    their flat indices are kept in increasing order (so the tie rule is the same as
    on the dense scores), their scores :math:`|\theta|\,\partial R/\partial\theta`
    are gathered into one reused buffer (only the index lists are compacted:
    gathers are cheaper than compactions), and the entries pruned are zeroed in the
    linearized network.  Besides the forward/backward pass, work and memory per
    round are proportional to the entries still alive.
    """

    def __init__(self, net: SynFlowNetwork, alive: Sequence[torch.Tensor | None]) -> None:
        self.net = net
        self.sizes = [v.numel() for v in net.values]
        index_dtype = torch.int32 if max(self.sizes) < 2**31 else torch.int64
        self.index = []
        for n, v, a in zip(self.sizes, net.values, alive):
            everything = torch.arange(n, dtype=index_dtype, device=v.device)
            self.index.append(everything if a is None else F._compress(everything, F._is_alive(a.reshape(-1))))
        n_alive = sum(len(i) for i in self.index)
        self.buffer = torch.empty(n_alive, dtype=net.dtype, device=net.device)
        self.gathered = torch.empty(max(len(i) for i in self.index), dtype=net.dtype, device=net.device)

    def _fill(self, grads: list[torch.Tensor]) -> bool:
        """Scores of the alive entries into the buffer (segments in tensor order); all finite?"""
        if self.buffer.dtype != self.net.dtype:  # switched to float64
            self.buffer = self.buffer.to(self.net.dtype)
            self.gathered = self.gathered.to(self.net.dtype)
        off = 0
        for g, idx, v in zip(grads, self.index, self.net.values):
            seg, values = self.buffer[off : off + len(idx)], self.gathered[: len(idx)]
            torch.index_select(v.detach().view(-1), 0, idx, out=values)
            torch.index_select(g.reshape(-1), 0, idx, out=seg).mul_(values)
            off += len(idx)
        return bool(torch.isfinite(self.buffer[:off].sum()))

    def round(self, fraction: float, scope: str) -> None:
        self.net.gradients(finite=self._fill)
        lengths = [len(i) for i in self.index]
        segments = self.buffer[: sum(lengths)].split(lengths)
        if scope == "layer":
            kept = [F.topk_mask(s, round(fraction * n)) for s, n in zip(segments, self.sizes)]
        else:
            kept = F.topk_mask(self.buffer[: sum(lengths)], round(fraction * sum(self.sizes))).split(lengths)
        for i, k in enumerate(kept):
            if F._count(k) < len(k):
                self.net.prune_(i, F._compress(self.index[i], ~k).long())
                self.index[i] = F._compress(self.index[i], k)

    def masks(self) -> list[torch.Tensor]:
        out = []
        for v, idx in zip(self.net.values, self.index):
            m = torch.zeros(v.numel(), dtype=torch.bool, device=v.device)
            m[idx.long()] = True
            out.append(m.view(v.shape))
        return out


def _synflow_masks(
    net: SynFlowNetwork, alive: Sequence[torch.Tensor | None], keep: float, rounds: int, scope: str
) -> list[torch.Tensor]:
    """The masks of ``rounds`` rounds of SynFlow down to the keep fraction ``keep`` (:class:`_AliveSynFlow`)."""
    loop = _AliveSynFlow(net, alive)
    for r in tqdm(range(1, rounds + 1), desc="SynFlow rounds", disable=None if rounds > 1 else True, leave=False):
        loop.round(keep ** (r / rounds), scope)
    return loop.masks()


def select_masks(
    model: nn.Module,
    method: str,
    sparsity: float,
    inputs: torch.Tensor | None = None,
    targets: torch.Tensor | None = None,
    *,
    scope: str = "global",
    rounds: int = 100,
    options: ScoringOptions = ScoringOptions(),
    tensors: Sequence[PrunableTensor] | None = None,
) -> tuple[list[PrunableTensor], list[torch.Tensor]]:
    """The prunable tensors and the boolean masks :func:`prune_at_init` would apply;
    the model is left untouched.  Every argument is validated before any scoring."""
    arr = check_sparsity(sparsity)
    if arr.ndim:
        raise ValueError(f"sparsity must be a scalar, got sparsity={sparsity!r}")
    validate_batch(model, method, inputs, targets, options.loss_fn)
    if scope not in SCOPES:
        raise ValueError(f"scope must be one of {SCOPES}, got scope={scope!r}")
    rounds = check_int(rounds, "rounds", minimum=1)
    tensors = list(prunable_tensors(model) if tensors is None else tensors)
    alive = [t.alive for t in tensors]
    keep = 1.0 - float(arr)
    _check_feasible(tensors, alive, keep, scope, float(arr))
    if method == "synflow":
        net = SynFlowNetwork(model, tensors, alive, synflow_input_shape(model, inputs, options.input_shape))
        return tensors, _synflow_masks(net, alive, keep, rounds, scope)
    scores = score_tensors(model, tensors, alive, method, inputs, targets, options)
    return tensors, _select(tensors, scores, alive, keep, scope)


def apply_masks(tensors: Sequence[PrunableTensor], masks: Sequence[torch.Tensor]) -> None:
    """Apply boolean ``masks`` to the prunable tensors (``torch.nn.utils.prune`` form,
    or in place for tensors already masked in place)."""
    for t, mask in zip(tensors, masks):
        if is_inplace_masked(t.module, t.tensor):
            getattr(t.module, t.tensor + "_mask").copy_(mask)
            refresh_weight(t.module, t.tensor)
        else:
            prune.custom_from_mask(t.module, t.tensor, mask)
            # the pre-hook's product carries autograd history: keep a leaf (deepcopy-able)
            t.module.__dict__[t.tensor] = t.module.__dict__[t.tensor].detach()


def prune_at_init(
    model: nn.Module,
    method: str,
    sparsity: float,
    inputs: torch.Tensor | None = None,
    targets: torch.Tensor | None = None,
    *,
    scope: str = "global",
    loss_fn: LossFn | None = None,
    rounds: int = 100,
    generator: torch.Generator | None = None,
    input_shape: Sequence[int] | None = None,
    bn_mode: str = DEFAULT_BN_MODE,
    temperature: float = GRASP_TEMPERATURE,
    parameters_to_prune: Iterable | None = None,
    exclude: Iterable = (),
    prune_bias: bool = False,
    prune_batchnorm: bool = False,
) -> dict[str, torch.Tensor]:
    r"""Prune ``model`` in place at initialization; return ``{key: mask}``.

    Parameters
    ----------
    model : nn.Module
        Its Linear/Conv weights are pruned (or the selection below).
    method : {"random", "magnitude", "snip", "grasp", "synflow"}
        The importance of :func:`compute_scores`; the largest importances are kept.
    sparsity : float
        Fraction of entries removed, in [0, 1).
    inputs, targets : Tensor, optional
        A batch, required by "snip" and "grasp"; validated before any scoring.
    scope : {"global", "layer"}
        Rank all prunable entries together, or keep ``1 - sparsity`` of every tensor.
    loss_fn, generator, input_shape
        As for :func:`compute_scores`.
    bn_mode : {"eval", "train", "model"}
        Modes while SNIP/GraSP score the batch; default "eval" (:func:`compute_scores`).
    temperature : float
        GraSP's temperature, default 200 (:data:`eoc.nn.GRASP_TEMPERATURE`).
    parameters_to_prune, exclude, prune_bias, prune_batchnorm
        What is pruned (:func:`prunable_tensors`): by default the weights of every
        Linear/Conv layer.
    rounds : int
        SynFlow only (Tanaka et al. 2020, Algorithm 1): round :math:`k = 1..n`
        keeps the fraction :math:`(1-s)^{k/n}` of the entries, with the scores
        recomputed on the network masked by round :math:`k-1`.  ``rounds=1`` is
        single-shot SynFlow.

    Returns
    -------
    dict
        ``{key: mask}`` (copies of the ``<tensor>_mask`` buffers, 0/1 in the tensor's
        dtype), in module order; a layer's weight is keyed by the layer's name.

    Raises
    ------
    ValueError
        ``sparsity`` outside [0, 1), unknown ``method``, ``scope`` or ``bn_mode``,
        "snip"/"grasp" without data, a bad batch (:func:`compute_scores`), a model
        SynFlow cannot linearize, nothing to prune, or (on a model pruned before) a
        sparsity keeping more entries than are left: the new masks are always
        contained in the old ones.

    Warns
    -----
    LayerCollapseWarning
        If some weight (of a layer, or of a pruned BatchNorm) is pruned entirely.

    Notes
    -----
    Exactly ``round((1 - sparsity) * M)`` entries are kept, ``M`` being the number of
    prunable entries (per tensor for ``scope="layer"``): the smallest kept importance
    is >= the largest pruned one, ties resolved by index (module docstring).  Time
    and memory are linear in ``M`` per round; SynFlow's later rounds touch only the
    entries still alive (``bench/bench_prune.py``).  To save and reload a pruned
    model, see :func:`load_pruned_state_dict_`; :func:`remove_masks_` makes the
    pruning permanent.
    """
    options = ScoringOptions(loss_fn, generator, input_shape, bn_mode, temperature)
    selection = prunable_tensors(
        model, parameters_to_prune, exclude=exclude, prune_bias=prune_bias, prune_batchnorm=prune_batchnorm
    )
    tensors, masks = select_masks(
        model, method, sparsity, inputs, targets, scope=scope, rounds=rounds, options=options, tensors=selection
    )
    apply_masks(tensors, masks)
    warn_collapse(collapsed(tensors, masks), method, float(sparsity), 2)
    return {t.key: getattr(t.module, t.tensor + "_mask").detach().clone() for t in tensors}


def remove_masks_(model: nn.Module) -> nn.Module:
    """Make the pruning permanent: every masked tensor becomes a plain parameter again.

    Each masked tensor ``t`` gets back a plain parameter ``t`` equal to the effective
    tensor ``t_orig * t_mask`` (pruned entries 0, but no longer held at 0 by
    training); ``torch.nn.utils.prune.remove`` for the pruning pre-hook, the same by
    hand for a tensor masked in place.  Returns ``model``.
    """
    for m in model.modules():
        for name in masked_tensor_names(m):
            if is_inplace_masked(m, name):
                _remove_inplace(m, name)
            else:
                prune.remove(m, name)
    return model


def _remove_inplace(module: nn.Module, name: str) -> None:
    hook = inplace_hook(module)
    orig, mask = getattr(module, name + "_orig"), getattr(module, name + "_mask")
    with torch.no_grad():
        orig.mul_(mask)
    del module._parameters[name + "_orig"], module._buffers[name + "_mask"]
    module.__dict__.pop(name, None)
    module.register_parameter(name, orig)
    hook.names = tuple(n for n in hook.names if n != name)
    if not hook.names:
        for key, h in list(module._forward_pre_hooks.items()):
            if h is hook:
                del module._forward_pre_hooks[key]


def load_pruned_state_dict_(
    model: nn.Module, state_dict: Mapping[str, torch.Tensor], strict: bool = True
) -> nn.Module:
    """Load the ``state_dict`` of a pruned model into a freshly built one; return ``model``.

    A pruned tensor ``t`` saves ``<module>.t_orig`` and ``<module>.t_mask`` instead of
    ``<module>.t``.  Every tensor of ``model`` whose mask is in ``state_dict`` is first
    given the pruning parametrization (``torch.nn.utils.prune.identity``), then
    ``model.load_state_dict(state_dict, strict)`` fills in the values and masks.  The
    result uses the pruning pre-hook, whether the saved model was masked that way or
    in place (:func:`eoc.nn.inplace_masks_`: same ``state_dict``)::

        torch.save(pruned.state_dict(), path)
        model = load_pruned_state_dict_(FFNN(widths), torch.load(path))
    """
    for name, module in model.named_modules():
        for tensor, value in list(module._parameters.items()):
            if value is not None and qualified(name, tensor + "_mask") in state_dict and not is_masked(module, tensor):
                prune.identity(module, tensor)
    model.load_state_dict(state_dict, strict=strict)
    for m in model.modules():
        for name in masked_tensor_names(m):
            refresh_weight(m, name)
    return model

