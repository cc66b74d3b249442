"""eoc.nn.functional: the batched pruning primitives shared by eoc.nn and eoc.sim.

Each primitive is checked against an independent plain implementation (a Python
loop over networks and entries), and batched calls must equal the per-network calls.
"""

from __future__ import annotations

import pytest
import torch

from eoc.nn import functional as F


def _reference_keep(flat: list[float], k: int, alive: list[bool]) -> list[bool]:
    """Plain rule: rank alive entries by (-score, index), keep the first k."""
    ranked = sorted((i for i in range(len(flat)) if alive[i]), key=lambda i: (-flat[i], i))
    kept = set(ranked[:k])
    return [i in kept for i in range(len(flat))]


def test_topk_mask_keeps_exact_count_and_breaks_ties_by_lowest_index():
    """Many ties: the kept set is the k largest, ties resolved towards the smallest index."""
    g = torch.Generator().manual_seed(0)
    for trial in range(20):
        n = 50
        scores = torch.randint(0, 4, (n,), generator=g).double()  # 4 distinct values: heavy ties
        alive = torch.rand(n, generator=g) > 0.3
        k = int(torch.randint(0, n + 5, (1,), generator=g))
        got = F.topk_mask(scores, k, alive)
        want = _reference_keep(scores.tolist(), k, alive.tolist())
        assert got.tolist() == want, trial
        assert int(got.sum()) == min(k, int(alive.sum()))


def test_select_global_batched_equals_one_network_at_a_time():
    """Replica r of a batched selection equals the selection on network r alone."""
    g = torch.Generator().manual_seed(1)
    shapes = [(5, 3), (4, 5), (2, 4)]
    R = 6
    scores = [torch.randint(0, 5, (R, *s), generator=g).double() for s in shapes]
    alive = [(torch.rand(R, *s, generator=g) > 0.2).double() for s in shapes]
    keep = 17
    batched = F.select_global(scores, keep, batch_dims=1, alive=alive)
    for r in range(R):
        single = F.select_global([s[r] for s in scores], keep, alive=[a[r] for a in alive])
        for b, s in zip(batched, single):
            assert torch.equal(b[r], s)
        flat = torch.cat([s[r].flatten() for s in scores]).tolist()
        live = torch.cat([a[r].flatten() for a in alive]).bool().tolist()
        want = _reference_keep(flat, keep, live)
        got = torch.cat([s.flatten() for s in single]).tolist()
        assert got == want


def test_select_per_layer_keeps_round_fraction_of_each_layer():
    scores = [torch.arange(10.0), torch.arange(7.0).flip(0)]
    masks = F.select_per_layer(scores, 0.35)
    assert [int(m.sum()) for m in masks] == [round(3.5), round(0.35 * 7)]
    assert masks[0][-4:].all() and not masks[0][:6].any()  # largest of arange(10) are the last
    assert masks[1][:2].all() and not masks[1][2:].any()


def test_kept_count_rounds_half_to_even():
    assert F.kept_count(10, 0.25) == 8  # 7.5 -> 8
    assert F.kept_count(10, 0.35) == 6  # 6.5 -> 6
    assert F.kept_count(100, 0.0) == 100


def test_critical_sparsity_matches_its_definition_per_network():
    """s_cr = #{g < min_l max g^l} / M, batched over replicas."""
    g = torch.Generator().manual_seed(2)
    R = 4
    scores = [torch.rand(R, 6, 5, generator=g), 0.5 * torch.rand(R, 3, 6, generator=g), torch.rand(R, 2, 3, generator=g)]
    res = F.critical_sparsity(scores, batch_dims=1)
    for r in range(R):
        maxima = [float(s[r].max()) for s in scores]
        t = min(maxima)
        below = sum(int((s[r] < t).sum()) for s in scores)
        assert float(res.s_cr[r]) == pytest.approx(below / sum(s[r].numel() for s in scores), abs=0)
        assert int(res.layer[r]) == maxima.index(t)
        assert float(res.t_cr[r]) == t


def test_rescale_factors_restore_the_row_norms():
    """After multiplying kept weights by rho_i, each row has its unpruned squared norm."""
    g = torch.Generator().manual_seed(3)
    w = torch.randn(3, 8, 5, generator=g, dtype=torch.float64)
    m = (torch.rand(3, 8, 5, generator=g) > 0.5).double()
    m[0, 0] = 0  # a neuron with no kept weight gets 1
    rho = F.rescale_factors(w, m, "neuron", batch_dims=1)
    assert rho.shape == (3, 8)
    new = w * m * rho[..., None]
    kept_rows = m.sum(-1) > 0
    assert torch.allclose(new.square().sum(-1)[kept_rows], w.square().sum(-1)[kept_rows], rtol=1e-14)
    assert rho[0, 0] == 1.0
    rho_layer = F.rescale_factors(w, m, "layer", batch_dims=1)
    assert rho_layer.shape == (3,)
    assert torch.allclose((w * m * rho_layer[:, None, None]).square().sum((1, 2)), w.square().sum((1, 2)), rtol=1e-14)


def test_bad_input_names_the_argument():
    with pytest.raises(ValueError, match="batch_dims"):
        F.select_global([torch.ones(3)], 1, batch_dims=-1)
    with pytest.raises(ValueError, match="NaN"):
        F.select_global([torch.tensor([1.0, float("nan")])], 1, names=["fc"])
    with pytest.raises(ValueError, match="batch shape"):
        F.select_global([torch.ones(2, 3), torch.ones(3, 3)], 1, batch_dims=1)
    with pytest.raises(ValueError, match="mode"):
        F.rescale_factors(torch.ones(2, 2), torch.ones(2, 2), "population")
