"""E8's expectations (from the simulated numbers) and its summary lines (from ``numbers.json``)."""

from __future__ import annotations

import math

from ... import verdicts
from ...registry import Summary
from ...style import PHASE_LABELS
from ...summary import num, pm

__all__ = ["expectations", "summarize"]


def expectations(ffnn: dict, resnet: dict, overflow: dict, samples: dict) -> list[verdicts.Expectation]:
    r"""What the claim predicts, judged on the simulated networks.

    ``samples`` holds the per-network values: ``log_grad_layer1[phase]``,
    ``grad_layer1[phase]`` (relative weight gradient of layer 1) and ``growth[key]``
    (q^L/q^0 of the standard ResNets).  The growth is compared as the mean of the
    per-network ratios, whose expectation the recursion gives exactly at any width (for
    ReLU and symmetric weights, :math:`\mathbb E[q^l \mid y^{l-1}] = q^{l-1}(1 + \sigma_w^2/2)`);
    the mean of their logarithms would carry a finite-width Jensen gap.
    """
    out = [
        verdicts.expect_sign("ordered phase: weight gradients vanish towards the input",
                             "log relative weight gradient of layer 1, ordered", samples["log_grad_layer1"]["ordered"],
                             sense="less"),
        verdicts.expect_sign("chaotic phase: weight gradients explode towards the input",
                             "log relative weight gradient of layer 1, chaotic", samples["log_grad_layer1"]["chaotic"],
                             sense="greater"),
        verdicts.expect_equal("EOC: the relative weight gradient of layer 1 is the mean-field value",
                              "relative weight gradient of layer 1, EOC", ffnn["edge_of_chaos"]["gradient_theory_layer1"],
                              samples["grad_layer1"]["edge_of_chaos"]),
    ]  # fmt: skip
    for key, r in resnet.items():
        if r["kind"] == "standard":
            out.append(
                verdicts.expect_equal(
                    "standard ResNet: the stream variance grows like the mean-field product",
                    f"q^L/q^0 (mean over networks), {key}", r["q_growth_predicted"], samples["growth"][key],
                )
            )  # fmt: skip
        else:
            out.append(
                verdicts.expect_sign_of(
                    "Stable ResNet: the gradient varies across layers by less than the bound",
                    f"gradient max/min over layers, {key} (bound e)", r["grad_maxmin_measured"], r["grad_maxmin_se"],
                    r["gradient_networks"], sense="less", null=math.e,
                )
            )  # fmt: skip
    first = overflow["first_square"]
    margin = overflow["depth"] - (first if first is not None else overflow["scan"] + 1)
    out.append(
        verdicts.expect_sign(
            f"float32 standard ResNet of width {overflow['width']}: squared activations overflow by the quoted depth",
            "quoted depth minus the first layer where a float32 second moment overflows", [margin], sense="greater",
            exact=True,
        )
    )  # fmt: skip
    return out


def _layer(value: int | None, scan: int) -> str:
    return f"layer {value}" if value is not None else f"none within {scan} layers"


def summarize(n: dict) -> Summary:
    s, o = n["setting"], n["overflow"]
    setting = [
        f"tanh FFNN: width {s['width']}, {s['depth']} hidden layers, {s['outputs']} outputs, sigma_b = "
        f"{num(s['sigma_b'])}, sigma_w = {num(s['phases']['ordered'])} / {num(s['phases']['edge_of_chaos'])} / "
        f"{num(s['phases']['chaotic'])} x the EOC value; {s['inputs']} inputs per network for q^l.",
        f"ReLU ResNets: width {s['resnet_width']}, residual branches {', '.join(map(str, s['resnet_depths']))}, "
        f"sigma_w^2 = {num(n['resnet_sigma_w'] ** 2)}, sigma_b = {num(n['resnet_sigma_b'])}.",
        f"{s['replicas']} networks per setting and seed, {s['seeds']} seed(s); bands: the "
        f"{num(s['quantiles'][0])}-{num(s['quantiles'][1])} quantiles of the per-network values.",
        f"float32 check: width {o['width']}, {o['networks']} networks, scan of {o['scan']} layers; the claim quotes "
        f"depth {o['depth']}.",
    ]
    findings = []
    for phase, r in n["ffnn"].items():
        v, g = r["variance"], r["gradient"]
        findings.append(
            f"FFNN {PHASE_LABELS[phase]} (sigma_w = {num(r['sigma_w'])}): q^l max `|log(measured/theory)|` = "
            f"{num(v['max_abs_log'])} (largest |z| = {num(v['max_z'])}); relative weight gradient max "
            f"`|log(measured/theory)|` = {num(g['max_abs_log'])} (layer {g['worst_layer']}, largest |z| = "
            f"{num(g['max_z'])}); layer 1 relative to layer {s['depth']}: measured "
            f"{pm(r['gradient_measured_layer1'], r['gradient_measured_layer1_se'])}, theory {num(r['gradient_theory_layer1'])}."
        )
    ffnn = n["ffnn"].values()
    findings.append(
        f"The per-network gradient ratios scatter widely (variance of their log up to "
        f"{num(max(r['log_variance_max'] for r in ffnn))}): the geometric mean over networks lies up to "
        f"{num(max(r['geometric_gap_max'] for r in ffnn))} (in log) from the theory, and adding half the variance of "
        f"the log (the log-normal correction) brings it to within {num(max(r['lognormal_gap_max'] for r in ffnn))}; the "
        "arithmetic mean drawn estimates the expectation the theory gives."
    )
    for key, r in n["resnet"].items():
        v, g = r["variance"], r["gradient"]
        findings.append(
            f"ResNet {key} (alpha = {num(r['alpha'])}): q^l max `|log(measured/theory)|` = {num(v['max_abs_log'])}; "
            f"gradient ratio max `|log(measured/theory)|` = {num(g['max_abs_log'])}; growth q^L/q^0 measured "
            f"{num(r['q_growth_measured'])} vs {num(r['q_growth_predicted'])} predicted; gradient growth measured "
            f"{num(r['grad_growth_measured'])} vs {num(r['grad_growth_predicted'])}; gradient max/min over layers "
            f"{pm(r['grad_maxmin_measured'], r['grad_maxmin_se'])} (predicted {num(r['grad_maxmin_predicted'])}); "
            f"{r['gradient_networks']} networks with a finite gradient; layer_profile agrees with the ResNet "
            f"recursions to {num(r['layer_profile_rel_diff'])} (relative)."
        )
    findings.append(
        f"float32 ({o['networks']} networks of width {o['width']}, q^0 = {num(o['q0'])}): the first stream layer where "
        f"some second moment overflows is {_layer(o['first_square'], o['scan'])} (predicted {num(o['predicted_square'])}), "
        f"where some activation overflows {_layer(o['first_entry'], o['scan'])} (predicted {num(o['predicted_entry'])})."
    )
    return Summary(setting, findings)
