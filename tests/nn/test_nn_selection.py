"""The fast selection (k-th value, then ties at it by index) keeps exactly the entries a
stable descending sort keeps: the documented count and tie rule, on scores with many ties.

The reference below is the sort-based rule the package used before (a stable sort of
the alive scores, descending, first k kept), written independently of the package.
Both kernels of :mod:`eoc.nn.functional` (numpy on the CPU, torch elsewhere) are
checked, the torch one by forcing it on the CPU.
"""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from eoc.nn import functional as F


def _sorted_reference(scores: torch.Tensor, k: int, alive: torch.Tensor | None) -> torch.Tensor:
    """Rows of ``scores``: stable sort descending among alive entries, keep the first k."""
    rows = scores.reshape(-1, scores.shape[-1])
    live = torch.ones_like(rows, dtype=torch.bool) if alive is None else alive.reshape(rows.shape).bool()
    keep = torch.zeros(rows.shape, dtype=torch.bool)
    for r in range(rows.shape[0]):
        idx = live[r].nonzero().squeeze(1)
        order = torch.sort(rows[r, idx], descending=True, stable=True).indices
        keep[r, idx[order[:k]]] = True
    return keep.reshape(scores.shape)


@pytest.fixture(params=["numpy", "torch"])
def backend(request, monkeypatch):
    if request.param == "torch":
        monkeypatch.setattr(F, "_uses_numpy", lambda t: False)
    return request.param


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(1, 300),
    levels=st.integers(1, 6),
    k_frac=st.floats(0.0, 1.2),
    dead=st.floats(0.0, 0.9),
    rows=st.integers(1, 4),
    seed=st.integers(0, 2**31 - 1),
)
def test_fast_selection_equals_the_sorted_reference_on_heavily_tied_scores(n, levels, k_frac, dead, rows, seed):
    """For scores taking only a few distinct values (ties everywhere), any k and any
    dead set, topk_mask keeps exactly the entries of the stable-sort rule."""
    g = torch.Generator().manual_seed(seed)
    scores = torch.randint(0, levels, (rows, n), generator=g).float()
    alive = torch.rand(rows, n, generator=g) >= dead
    k = int(k_frac * n)
    for a in (None, alive):
        got = F.topk_mask(scores, k, a)
        want = _sorted_reference(scores, k, a)
        assert torch.equal(got, want)
        n_alive = torch.full((rows,), n) if a is None else a.sum(-1)
        assert torch.equal(got.sum(-1), n_alive.clamp(max=k))


def test_both_kernels_agree_on_every_dtype_and_edge_case(backend):
    """k = 0, k = n_alive, k > n_alive, -inf and integer scores, rows with different
    alive counts: the same masks as the reference, in both kernels."""
    g = torch.Generator().manual_seed(0)
    cases = [
        (torch.tensor([[1.0, -torch.inf, -torch.inf, 0.5]]), 3, torch.tensor([[1, 1, 0, 1]])),  # -inf alive
        (torch.tensor([[3, 1, 3, 2, 3]], dtype=torch.int64), 2, None),
        (torch.randint(0, 3, (5, 40), generator=g).double(), 0, None),
        (torch.randint(0, 3, (5, 40), generator=g).double(), 40, None),
        (torch.randint(0, 3, (5, 40), generator=g).half(), 17, None),
    ]
    alive_rows = torch.ones(4, 30, dtype=torch.bool)
    alive_rows[1, :25] = False  # 5 alive: fewer than k
    alive_rows[2, :] = False  # none alive
    cases.append((torch.randint(0, 2, (4, 30), generator=g).float(), 10, alive_rows))
    for scores, k, alive in cases:
        got = F.topk_mask(scores, k, alive)
        assert torch.equal(got, _sorted_reference(scores.double(), k, alive)), (scores, k)


def test_per_row_k_and_select_global_match_the_reference(backend):
    g = torch.Generator().manual_seed(1)
    scores = torch.randint(0, 4, (3, 50), generator=g).float()
    ks = torch.tensor([0, 7, 50])
    got = F.topk_mask(scores, ks)
    for r in range(3):
        assert torch.equal(got[r], _sorted_reference(scores[r : r + 1], int(ks[r]), None)[0])
    layers = [torch.randint(0, 3, (4, 6, 5), generator=g).float(), torch.randint(0, 3, (4, 7), generator=g).float()]
    alive = [torch.rand(4, 6, 5, generator=g) > 0.3, torch.rand(4, 7, generator=g) > 0.3]
    masks = F.select_global(layers, 11, batch_dims=1, alive=[a.float() for a in alive])
    flat = torch.cat([s.flatten(1) for s in layers], dim=1)
    live = torch.cat([a.flatten(1) for a in alive], dim=1)
    assert torch.equal(torch.cat([m.flatten(1) for m in masks], dim=1), _sorted_reference(flat, 11, live))


def test_selection_among_a_million_tied_maxima_keeps_the_first_k():
    """667 thousand equal maxima in two million entries: the first k by index are kept."""
    scores = torch.zeros(2_000_000)
    scores[::3] = 1.0
    keep = F.topk_mask(scores, 1000)
    assert int(keep.sum()) == 1000 and bool(keep[: 3 * 1000 : 3].all()) and not bool(keep[3000:].any())
