"""Bad input to the eoc core and to ``python -m eoc`` raises a ValueError that names the argument and the value.

Every case states the call, the exception type, and the substrings the message must
contain: the argument (or flag) and the offending value.  The classes covered are
the ones of issue 8: non-positive, NaN, infinite, overflowing, non-numeric and
boolean numbers; non-integers where an integer is needed; out-of-range
correlations, sparsities and tolerances; unknown names; user activations that are not
finite on the integration range; points without a fixed point or an EOC; and the
same through the command line, where each error is one line naming the flag.
CLI cases call ``eoc.__main__.main`` in-process; ``test_cli_pipes.py`` runs the few
that need a real process.
"""

from __future__ import annotations

import numpy as np
import pytest

import eoc
from eoc.__main__ import main

_NAN_OUTSIDE_3 = eoc.Activation.from_callable(lambda x: np.where(np.abs(x) > 3, np.nan, np.tanh(x)), name="nan_tail")
_INF_OUTSIDE_4 = eoc.Activation.from_callable(lambda x: np.where(np.abs(x) > 4, np.inf, np.tanh(x)), name="inf_tail")
_NAN_DERIV = eoc.Activation.from_callable(
    np.tanh, lambda x: np.where(np.abs(x) > 2.5, np.nan, 1 - np.tanh(x) ** 2), name="nan_slope"
)


def _case(call, *needles, exc=ValueError):
    return (call, exc, needles)


PY_CASES = {
    # --- q_star: sigma_w, sigma_b, q0, activation, numerics
    "q_star sigma_w=0": _case(lambda: eoc.q_star("tanh", 0.0, 0.1), "sigma_w", "0.0"),
    "q_star sigma_w<0": _case(lambda: eoc.q_star("tanh", -1.0, 0.1), "sigma_w", "-1.0"),
    "q_star sigma_w=nan": _case(lambda: eoc.q_star("tanh", np.nan, 0.1), "sigma_w", "nan"),
    "q_star sigma_w=inf": _case(lambda: eoc.q_star("tanh", np.inf, 0.1), "sigma_w", "inf"),
    "q_star sigma_w=str": _case(lambda: eoc.q_star("tanh", "big", 0.1), "sigma_w", "'big'"),
    "q_star sigma_w=bool": _case(lambda: eoc.q_star("tanh", True, 0.1), "sigma_w", "True"),
    "q_star sigma_w=1e300 overflow": _case(lambda: eoc.q_star("tanh", 1e300, 0.0), "overflow", "sigma_w", "1e+300"),
    "q_star sigma_w array": _case(lambda: eoc.q_star("tanh", [1.0, -2.0], 0.1), "sigma_w", "-2.0"),
    "q_star sigma_w complex": _case(lambda: eoc.q_star("tanh", 1 + 1j, 0.1), "sigma_w", "1j"),
    "q_star sigma_b<0": _case(lambda: eoc.q_star("tanh", 1.0, -0.1), "sigma_b", "-0.1"),
    "q_star sigma_b=nan": _case(lambda: eoc.q_star("tanh", 1.0, np.nan), "sigma_b", "nan"),
    "q_star sigma_b=inf": _case(lambda: eoc.q_star("tanh", 1.0, np.inf), "sigma_b", "inf"),
    "q_star sigma_b=1e200 overflow": _case(lambda: eoc.q_star("tanh", 1.0, 1e200), "overflow", "sigma_b", "1e+200"),
    "q_star q0=0": _case(lambda: eoc.q_star("tanh", 1.0, 0.0, q0=0.0), "q0", "0.0"),
    "q_star q0<0": _case(lambda: eoc.q_star("tanh", 1.0, 0.0, q0=-2.0), "q0", "-2.0"),
    "q_star q0=nan": _case(lambda: eoc.q_star("tanh", 1.0, 0.0, q0=np.nan), "q0", "nan"),
    "q_star q0=inf": _case(lambda: eoc.q_star("tanh", 1.0, 0.0, q0=np.inf), "q0", "inf"),
    "q_star unknown act": _case(lambda: eoc.q_star("swishy", 1.0, 0.1), "activation", "'swishy'"),
    "q_star act=number": _case(lambda: eoc.q_star(3.0, 1.0, 0.1), "activation", "3.0"),
    "q_star numerics=str": _case(lambda: eoc.q_star("tanh", 1.0, 0.1, numerics="fast"), "numerics", "'fast'"),
    "q_star relu no fixed point": _case(lambda: eoc.q_star("relu", 1.5, 0.0), "no finite variance fixed point", "sigma_w=1.5"),
    "q_star relu critical sb>0": _case(lambda: eoc.q_star("relu", np.sqrt(2), 0.3), "no finite variance fixed point", "sigma_b=0.3"),
    "q_star elu no fixed point": _case(lambda: eoc.q_star("elu", 2.0, 0.3), "no finite variance fixed point", "sigma_w=2.0"),
    "q_star silu above unstable": _case(
        lambda: eoc.q_star("silu", 1.625, 0.0, q0=2.0), "from q0=2.0", "sigma_w=1.625", "without bound"
    ),
    "q_star vector one bad point": _case(lambda: eoc.q_star("relu", [1.0, 1.6, 1.2], 0.1), "sigma_w=1.6"),
    # --- variance_map / covariance_map
    "variance_map q<0": _case(lambda: eoc.variance_map(-1.0, "tanh", 1.0, 0.1), "q", "-1.0"),
    "variance_map q=nan": _case(lambda: eoc.variance_map(np.nan, "tanh", 1.0, 0.1), "q", "nan"),
    "variance_map q=inf": _case(lambda: eoc.variance_map(np.inf, "tanh", 1.0, 0.1), "q", "inf"),
    "variance_map q=str": _case(lambda: eoc.variance_map("1", "tanh", 1.0, 0.1), "q", "'1'"),
    "variance_map overflow": _case(lambda: eoc.variance_map(1e308, "relu", 10.0, 0.0), "overflow", "q=1e+308"),
    "variance_map unknown act": _case(lambda: eoc.variance_map(1.0, "mish", 1.0, 0.1), "activation", "'mish'"),
    "covariance_map q12 too big": _case(lambda: eoc.covariance_map(1.0, 1.0, 1.5, "tanh", 1.0, 0.0), "q12", "1.5"),
    "covariance_map q12 nan": _case(lambda: eoc.covariance_map(1.0, 1.0, np.nan, "tanh", 1.0, 0.0), "q12", "nan"),
    "covariance_map q1<0": _case(lambda: eoc.covariance_map(-1.0, 1.0, 0.0, "tanh", 1.0, 0.0), "q1", "-1.0"),
    "covariance_map q2 inf": _case(lambda: eoc.covariance_map(1.0, np.inf, 0.0, "tanh", 1.0, 0.0), "q2", "inf"),
    # --- variance_iterates
    "variance_iterates depth<0": _case(lambda: eoc.variance_iterates(1.0, -3, "tanh", 1.0, 0.0), "depth", "-3"),
    "variance_iterates depth float": _case(lambda: eoc.variance_iterates(1.0, 2.5, "tanh", 1.0, 0.0), "depth", "2.5"),
    "variance_iterates depth 1e3 float": _case(lambda: eoc.variance_iterates(1.0, 1e3, "tanh", 1.0, 0.0), "depth", "1000.0"),
    "variance_iterates depth str": _case(lambda: eoc.variance_iterates(1.0, "10", "tanh", 1.0, 0.0), "depth", "'10'"),
    "variance_iterates depth bool": _case(lambda: eoc.variance_iterates(1.0, True, "tanh", 1.0, 0.0), "depth", "True"),
    "variance_iterates q0<0": _case(lambda: eoc.variance_iterates(-1.0, 3, "tanh", 1.0, 0.0), "q0", "-1.0"),
    "variance_iterates overflow": _case(lambda: eoc.variance_iterates(1.0, 3000, "relu", 2.0, 0.0), "overflow", "layer", "sigma_w=2.0"),
    "variance_iterates deep overflow": _case(lambda: eoc.variance_iterates(1.0, 3000, "softplus", 2.0, 0.0), "overflow", "layer"),
    # --- correlation map and iterates
    "correlation_map c>1": _case(lambda: eoc.correlation_map(1.2, "tanh", 1.0, 0.1), "c", "1.2"),
    "correlation_map c<-1": _case(lambda: eoc.correlation_map(-1.5, "tanh", 1.0, 0.1), "c", "-1.5"),
    "correlation_map c nan": _case(lambda: eoc.correlation_map(np.nan, "tanh", 1.0, 0.1), "c", "nan"),
    "correlation_map c str": _case(lambda: eoc.correlation_map("0.5", "tanh", 1.0, 0.1), "c", "'0.5'"),
    "correlation_map q<0": _case(lambda: eoc.correlation_map(0.5, "tanh", 1.0, 0.1, q=-1.0), "q", "-1.0"),
    "correlation_map no fixed point": _case(lambda: eoc.correlation_map(0.5, "relu", 1.6, 0.1), "sigma_w=1.6"),
    "correlation_map_derivative c=2": _case(lambda: eoc.correlation_map_derivative(2.0, "tanh", 1.0, 0.1), "c", "2.0"),
    "correlation_iterates c0=2": _case(lambda: eoc.correlation_iterates(2.0, 5, "tanh", 1.0, 0.1), "c0", "2.0"),
    "correlation_iterates depth<0": _case(lambda: eoc.correlation_iterates(0.5, -1, "tanh", 1.0, 0.1), "depth", "-1"),
    "correlation_iterates depth float": _case(lambda: eoc.correlation_iterates(0.5, 1e5, "tanh", 1.0, 0.1), "depth", "100000.0"),
    "correlation_iterates interpolate str": _case(
        lambda: eoc.correlation_iterates(0.5, 5, "tanh", 1.0, 0.1, interpolate="yes"), "interpolate", "'yes'"
    ),
    "correlation_iterates gap str": _case(lambda: eoc.correlation_iterates(0.5, 5, "tanh", 1.0, 0.1, gap="no"), "gap", "'no'"),
    "correlation_iterates q and q0": _case(lambda: eoc.correlation_iterates(0.5, 5, "tanh", 1.0, 0.1, q=1.0, q0=1.0), "q0", "q"),
    "correlation_iterates q0=0": _case(lambda: eoc.correlation_iterates(0.5, 5, "tanh", 1.0, 0.1, q0=0.0), "q0", "0.0"),
    "c_star q<0": _case(lambda: eoc.c_star("tanh", 2.0, 0.1, q=-3.0), "q", "-3.0"),
    "c_star sigma_w<0": _case(lambda: eoc.c_star("tanh", -2.0, 0.1), "sigma_w", "-2.0"),
    # --- slopes, depth scales, phases
    "chi_1 sigma_b<0": _case(lambda: eoc.chi_1("tanh", 1.0, -0.1), "sigma_b", "-0.1"),
    "chi_1 q nan": _case(lambda: eoc.chi_1("tanh", 1.0, 0.1, q=np.nan), "q", "nan"),
    "chi_q q<0": _case(lambda: eoc.chi_q("tanh", 1.0, 0.1, q=-1.0), "q", "-1.0"),
    "chi_c c>1": _case(lambda: eoc.chi_c("tanh", 2.0, 0.1, c=1.5), "c", "1.5"),
    "chi_c q inf": _case(lambda: eoc.chi_c("tanh", 2.0, 0.1, q=np.inf), "q", "inf"),
    "depth_scales tol nan": _case(lambda: eoc.depth_scales("tanh", 1.0, 0.1, tol=np.nan), "tol", "nan"),
    "depth_scales tol<0": _case(lambda: eoc.depth_scales("tanh", 1.0, 0.1, tol=-1.0), "tol", "-1.0"),
    "depth_scales tol str": _case(lambda: eoc.depth_scales("tanh", 1.0, 0.1, tol="a"), "tol", "'a'"),
    "phase tol nan": _case(lambda: eoc.phase("tanh", 1.0, 0.1, tol=np.nan), "tol", "nan"),
    "phase tol -1": _case(lambda: eoc.phase("tanh", 1.0, 0.1, tol=-1), "tol", "-1"),
    "phase tol inf": _case(lambda: eoc.phase("tanh", 1.0, 0.1, tol=np.inf), "tol", "inf"),
    "phase tol bool": _case(lambda: eoc.phase("tanh", 1.0, 0.1, tol=True), "tol", "True"),
    "phase tol list": _case(lambda: eoc.phase("tanh", 1.0, 0.1, tol=[1e-8]), "tol", "[1e-08]"),
    "phase no fixed point": _case(lambda: eoc.phase("relu", 1.6, 0.0), "no finite variance fixed point", "sigma_w=1.6"),
    "phase_of_chi nan": _case(lambda: eoc.phase_of_chi(np.nan), "chi", "nan"),
    "phase_of_chi tol nan": _case(lambda: eoc.phase_of_chi(1.0, tol=np.nan), "tol", "nan"),
    # --- edge of chaos
    "edge_of_chaos sigma_b<0": _case(lambda: eoc.edge_of_chaos("tanh", -1.0), "sigma_b", "-1.0"),
    "edge_of_chaos sigma_b nan": _case(lambda: eoc.edge_of_chaos("tanh", np.nan), "sigma_b", "nan"),
    "edge_of_chaos sigma_b inf": _case(lambda: eoc.edge_of_chaos("tanh", np.inf), "sigma_b", "inf"),
    "edge_of_chaos sigma_b overflow": _case(lambda: eoc.edge_of_chaos("tanh", 1e200), "overflow", "sigma_b"),
    "edge_of_chaos sigma_b huge": _case(lambda: eoc.edge_of_chaos("tanh", 1e10), "no edge of chaos", "sigma_b=10000000000.0"),
    "edge_of_chaos q0=0": _case(lambda: eoc.edge_of_chaos("tanh", 0.2, q0=0.0), "q0", "0.0"),
    "edge_of_chaos q0 array": _case(lambda: eoc.edge_of_chaos("tanh", 0.2, q0=[1.0, 2.0]), "q0", "[1.0, 2.0]"),
    "edge_of_chaos relu sb>0": _case(lambda: eoc.edge_of_chaos("relu", 0.2), "no edge of chaos", "sigma_b=0.2", "single point"),
    "edge_of_chaos softplus": _case(lambda: eoc.edge_of_chaos("softplus", 0.5), "'softplus(beta=1)'", "sigma_b=0.5"),
    "edge_of_chaos gelu unstable": _case(lambda: eoc.edge_of_chaos("gelu", 0.1), "sigma_b=0.1", "unstable", "chi_q"),
    "edge_of_chaos silu unstable": _case(lambda: eoc.edge_of_chaos("silu", 0.3), "sigma_b=0.3", "unstable"),
    "edge_of_chaos gelu sb=0 repelling": _case(lambda: eoc.edge_of_chaos("gelu", 0.0), "sigma_b=0.0", "repelling"),
    "edge_of_chaos vector one bad point": _case(lambda: eoc.edge_of_chaos("gelu", [1.0, 0.1, 0.5]), "sigma_b=0.1"),
    "eoc_curve num=2.7": _case(lambda: eoc.eoc_curve("tanh", num=2.7), "num", "2.7"),
    "eoc_curve num=0": _case(lambda: eoc.eoc_curve("tanh", num=0), "num", "0"),
    "eoc_curve num<0": _case(lambda: eoc.eoc_curve("tanh", num=-3), "num", "-3"),
    "eoc_curve num str": _case(lambda: eoc.eoc_curve("tanh", num="5"), "num", "'5'"),
    "eoc_curve num bool": _case(lambda: eoc.eoc_curve("tanh", num=True), "num", "True"),
    "eoc_curve num 1e5 float": _case(lambda: eoc.eoc_curve("tanh", num=1e5), "num", "100000.0"),
    "eoc_curve sigma_b_max=0": _case(lambda: eoc.eoc_curve("tanh", sigma_b_max=0.0), "sigma_b_max", "0.0"),
    "eoc_curve sigma_b_max nan": _case(lambda: eoc.eoc_curve("tanh", sigma_b_max=np.nan), "sigma_b_max", "nan"),
    "eoc_curve sigma_b_max inf": _case(lambda: eoc.eoc_curve("tanh", sigma_b_max=np.inf), "sigma_b_max", "inf"),
    "eoc_curve missing": _case(lambda: eoc.eoc_curve("tanh", sigma_b=[0.1], missing="maybe"), "missing", "'maybe'"),
    "eoc_curve both": _case(lambda: eoc.eoc_curve("tanh", sigma_b=[0.1], q_star=[1.0]), "sigma_b", "q_star"),
    "eoc_curve q_star<0": _case(lambda: eoc.eoc_curve("tanh", q_star=[-1.0]), "q_star", "-1.0"),
    "eoc_curve q_star relu": _case(lambda: eoc.eoc_curve("relu", q_star=[1.0]), "q_star", "'relu'"),
    "eoc_curve sigma_b<0": _case(lambda: eoc.eoc_curve("tanh", sigma_b=[0.1, -0.2]), "sigma_b", "-0.2"),
    "eoc_curve q0<0": _case(lambda: eoc.eoc_curve("tanh", q0=-1.0), "q0", "-1.0"),
    "eoc_curve gelu explicit unstable": _case(lambda: eoc.eoc_curve("gelu", sigma_b=[0.1, 1.0]), "sigma_b=0.1", "unstable"),
    "eoc_curve gelu drop all": _case(lambda: eoc.eoc_curve("gelu", sigma_b=[0.1], missing="drop"), "sigma_b=0.1"),
    # --- fixed points
    "variance_fixed_points array": _case(lambda: eoc.variance_fixed_points("tanh", [1.0, 2.0], 0.1), "sigma_w", "(2,)"),
    "variance_fixed_points q_max=0": _case(lambda: eoc.variance_fixed_points("tanh", 1.0, 0.1, q_max=0.0), "q_max", "0.0"),
    "variance_fixed_points per_octave": _case(lambda: eoc.variance_fixed_points("tanh", 1.0, 0.1, per_octave=0), "per_octave", "0"),
    "variance_fixed_points relu critical": _case(lambda: eoc.variance_fixed_points("relu", np.sqrt(2), 0.0), "every q", "sigma_w"),
    # --- layer profiles
    "gradient_variances widths empty": _case(lambda: eoc.gradient_variances([], "tanh", 1.0, 0.0), "widths", "[]"),
    "gradient_variances widths one": _case(lambda: eoc.gradient_variances([4], "tanh", 1.0, 0.0), "widths", "[4]"),
    "gradient_variances width 0": _case(lambda: eoc.gradient_variances([4, 0, 2], "tanh", 1.0, 0.0), "widths[1]", "0"),
    "gradient_variances width<0": _case(lambda: eoc.gradient_variances([4, -1], "tanh", 1.0, 0.0), "widths[1]", "-1"),
    "gradient_variances width float": _case(lambda: eoc.gradient_variances([4, 2.5, 3], "tanh", 1.0, 0.0), "widths[1]", "2.5"),
    "gradient_variances widths str": _case(lambda: eoc.gradient_variances("784,10", "tanh", 1.0, 0.0), "widths", "'784,10'"),
    "gradient_variances sigma_w length": _case(
        lambda: eoc.gradient_variances([4, 8, 2], "tanh", [1.0, 2.0, 3.0], 0.0), "sigma_w", "(3,)"
    ),
    "gradient_variances sigma_b nan": _case(lambda: eoc.gradient_variances([4, 8, 2], "tanh", 1.0, [0.0, np.nan]), "sigma_b", "nan"),
    "gradient_variances input_q=0": _case(lambda: eoc.gradient_variances([4, 8, 2], "tanh", 1.0, 0.0, input_q=0.0), "input_q", "0.0"),
    "gradient_variances output_grad<0": _case(
        lambda: eoc.gradient_variances([4, 8, 2], "tanh", 1.0, 0.0, output_grad=-1.0), "output_grad", "-1.0"
    ),
    "gradient_variances overflow": _case(lambda: eoc.gradient_variances([10] * 3000, "relu", 2.0, 0.0), "overflow", "layer"),
    # --- ResNets
    "resnet_variances depth=0": _case(lambda: eoc.resnet_variances(0, "relu", 1.0, 0.0), "depth", "0"),
    "resnet_variances alpha<0": _case(lambda: eoc.resnet_variances(5, "relu", 1.0, 0.0, alpha=-1.0), "alpha", "-1.0"),
    "resnet_variances alpha str": _case(lambda: eoc.resnet_variances(5, "relu", 1.0, 0.0, alpha="fast"), "alpha", "'fast'"),
    "resnet_variances q0=0": _case(lambda: eoc.resnet_variances(5, "relu", 1.0, 0.0, q0=0.0), "q0", "0.0"),
    "resnet_variances sigma_w array": _case(lambda: eoc.resnet_variances(5, "relu", [1.0, 2.0], 0.0), "sigma_w", "[1.0, 2.0]"),
    "resnet_variances overflow": _case(
        lambda: eoc.resnet_variances(2000, "relu", np.sqrt(2), 0.0), "overflow", "layer 1024", "alpha='stable'"
    ),
    "resnet_gradient_variances grad_out=0": _case(
        lambda: eoc.resnet_gradient_variances(5, "relu", 1.0, 0.0, grad_out=0.0), "grad_out", "0.0"
    ),
    "resnet_gradient_variances overflow": _case(
        lambda: eoc.resnet_gradient_variances(2000, "relu", np.sqrt(2), 0.0), "overflow", "alpha='stable'"
    ),
    "resnet_correlations c0>1": _case(lambda: eoc.resnet_correlations(5, 1.5, "relu", 1.0, 0.0), "c0", "1.5"),
    "resnet_correlations depth float": _case(lambda: eoc.resnet_correlations(5.0, 0.5, "relu", 1.0, 0.0), "depth", "5.0"),
    # --- numerics and activations
    "Numerics order_1d=1": _case(lambda: eoc.Numerics(order_1d=1), "order_1d", "1"),
    "Numerics order_1d float": _case(lambda: eoc.Numerics(order_1d=2.5), "order_1d", "2.5"),
    "Numerics order_1d str": _case(lambda: eoc.Numerics(order_1d="64"), "order_1d", "'64'"),
    "Numerics order_2d small": _case(lambda: eoc.Numerics(order_2d=(1, 64)), "order_2d", "(1, 64)"),
    "Numerics order_2d short": _case(lambda: eoc.Numerics(order_2d=(32,)), "order_2d", "(32,)"),
    "Numerics order_2d str": _case(lambda: eoc.Numerics(order_2d=("a", 3)), "order_2d", "('a', 3)"),
    "Numerics xrtol=0": _case(lambda: eoc.Numerics(xrtol=0.0), "xrtol", "0.0"),
    "Numerics xrtol nan": _case(lambda: eoc.Numerics(xrtol=np.nan), "xrtol", "nan"),
    "Numerics method": _case(lambda: eoc.Numerics(method="magic"), "method", "'magic'"),
    "closed forms missing": _case(lambda: eoc.chi_1("tanh", 1.0, 0.1, numerics=eoc.Numerics(method="closed")), "'tanh'", "closed"),
    "get_activation unknown": _case(lambda: eoc.get_activation("mish"), "activation", "'mish'"),
    "get_activation elu alpha<0": _case(lambda: eoc.get_activation("elu", alpha=-1.0), "alpha", "-1.0"),
    "get_activation elu alpha nan": _case(lambda: eoc.get_activation("elu", alpha=np.nan), "alpha", "nan"),
    "get_activation elu alpha str": _case(lambda: eoc.get_activation("elu", alpha="x"), "alpha", "'x'"),
    "get_activation softplus beta=0": _case(lambda: eoc.get_activation("softplus", beta=0.0), "beta", "0.0"),
    "get_activation softplus beta str": _case(lambda: eoc.get_activation("softplus", beta="x"), "beta", "'x'"),
    "get_activation silu beta<0": _case(lambda: eoc.get_activation("silu", beta=-1.0), "beta", "-1.0"),
    "get_activation leaky inf": _case(lambda: eoc.get_activation("leaky_relu", negative_slope=np.inf), "negative_slope", "inf"),
    "get_activation leaky str": _case(lambda: eoc.get_activation("leaky_relu", negative_slope="x"), "negative_slope", "'x'"),
    "get_activation gelu approximate": _case(lambda: eoc.get_activation("gelu", approximate="erf"), "approximate", "'erf'"),
    "get_activation bad keyword": _case(lambda: eoc.get_activation("tanh", slope=2.0), "slope", "'tanh'"),
    "get_activation number": _case(lambda: eoc.get_activation(3.0), "activation", "3.0"),
    "get_activation wrong shape": _case(lambda: eoc.get_activation(lambda x: np.ones(2)), "activation", "same shape"),
    "get_activation params with object": _case(
        lambda: eoc.get_activation(eoc.get_activation("tanh"), beta=1.0), "'tanh'", "beta"
    ),
    # --- activations that are not finite on the integration range (each expectation)
    "nan activation q_star": _case(lambda: eoc.q_star(_NAN_OUTSIDE_3, 1.0, 0.1), "'nan_tail'", "non-finite", "3.0"),
    "nan activation variance_map": _case(lambda: eoc.variance_map(2.0, _NAN_OUTSIDE_3, 1.0, 0.1), "'nan_tail'", "nan"),
    "nan activation phase": _case(lambda: eoc.phase(_NAN_OUTSIDE_3, 1.0, 0.1), "'nan_tail'", "non-finite"),
    "nan activation chi_1": _case(lambda: eoc.chi_1(_NAN_OUTSIDE_3, 1.0, 0.1, q=1.0), "'nan_tail'", "non-finite"),
    "nan activation chi_q": _case(lambda: eoc.chi_q(_NAN_OUTSIDE_3, 1.0, 0.1, q=1.0), "'nan_tail'", "non-finite"),
    "nan activation covariance_map": _case(
        lambda: eoc.covariance_map(1.0, 1.0, 0.5, _NAN_OUTSIDE_3, 1.0, 0.1), "'nan_tail'", "E[phi(u1) phi(u2)]"
    ),
    "nan activation correlation_map": _case(
        lambda: eoc.correlation_map(0.5, _NAN_OUTSIDE_3, 1.0, 0.1, q=1.0), "'nan_tail'", "non-finite"
    ),
    "nan activation chi_c": _case(lambda: eoc.chi_c(_NAN_OUTSIDE_3, 1.0, 0.1, q=1.0, c=0.3), "'nan_tail'", "non-finite"),
    "nan activation edge_of_chaos": _case(lambda: eoc.edge_of_chaos(_NAN_OUTSIDE_3, 0.2), "'nan_tail'", "non-finite"),
    "nan activation variance_iterates": _case(
        lambda: eoc.variance_iterates(1.0, 3, _NAN_OUTSIDE_3, 1.0, 0.1), "'nan_tail'", "non-finite"
    ),
    "nan activation gradient_variances": _case(
        lambda: eoc.gradient_variances([5, 5, 5], _NAN_OUTSIDE_3, 1.0, 0.1), "'nan_tail'", "non-finite"
    ),
    "inf activation q_star": _case(lambda: eoc.q_star(_INF_OUTSIDE_4, 1.0, 0.1), "'inf_tail'", "inf", "4.0"),
    "inf activation correlation_iterates": _case(
        lambda: eoc.correlation_iterates(0.5, 3, _INF_OUTSIDE_4, 1.0, 0.1, q=1.0), "'inf_tail'", "non-finite"
    ),
    "nan derivative chi_1": _case(lambda: eoc.chi_1(_NAN_DERIV, 1.0, 0.1, q=1.0), "'nan_slope'", "its derivative", "2.5"),
    "nan derivative chi_c": _case(lambda: eoc.chi_c(_NAN_DERIV, 1.0, 0.1, q=1.0, c=0.2), "'nan_slope'", "its derivative"),
}


def _cli(*argv):
    return tuple(argv)


CLI_CASES = {
    # point
    "point --sigma-w -1": (_cli("point", "--sigma-w", "-1"), ("--sigma-w", "'-1'")),
    "point --sigma-w 0": (_cli("point", "--sigma-w", "0"), ("--sigma-w", "'0'")),
    "point --sigma-w nan": (_cli("point", "--sigma-w", "nan"), ("--sigma-w", "'nan'")),
    "point --sigma-w inf": (_cli("point", "--sigma-w", "inf"), ("--sigma-w", "'inf'")),
    "point --sigma-w abc": (_cli("point", "--sigma-w", "abc"), ("--sigma-w", "'abc'")),
    "point --sigma-w 1e300": (_cli("point", "--sigma-w", "1e300"), ("overflow", "sigma_w", "1e+300")),
    "point missing --sigma-w": (_cli("point"), ("--sigma-w", "required")),
    "point --sigma-b -1": (_cli("point", "--sigma-w", "1", "--sigma-b", "-1"), ("--sigma-b", "'-1'")),
    "point --sigma-b nan": (_cli("point", "--sigma-w", "1", "--sigma-b", "nan"), ("--sigma-b", "'nan'")),
    "point --sigma-b x": (_cli("point", "--sigma-w", "1", "--sigma-b", "x"), ("--sigma-b", "'x'")),
    "point --q0 0": (_cli("point", "--sigma-w", "1", "--q0", "0"), ("--q0", "'0'")),
    "point -a swishy": (_cli("point", "-a", "swishy", "--sigma-w", "1"), ("--activation", "'swishy'")),
    "point --param no =": (_cli("point", "-a", "elu", "--param", "alpha", "--sigma-w", "1"), ("--param", "'alpha'")),
    "point --param bad value": (
        _cli("point", "-a", "leaky_relu", "--param", "negative_slope=x", "--sigma-w", "1"),
        ("--param", "negative_slope", "'x'"),
    ),
    "point --param unknown key": (_cli("point", "-a", "tanh", "--param", "beta=2", "--sigma-w", "1"), ("--param", "beta")),
    "point relu no fixed point": (_cli("point", "-a", "relu", "--sigma-w", "1.6"), ("no finite variance fixed point", "sigma_w=1.6")),
    "point nan-free unknown flag": (_cli("point", "--sigma-w", "1", "--depth", "3"), ("--depth",)),
    # eoc
    "eoc --sigma-b -1": (_cli("eoc", "--sigma-b", "-1"), ("--sigma-b", "'-1'")),
    "eoc --sigma-b inf": (_cli("eoc", "--sigma-b", "0.1", "inf"), ("--sigma-b", "'inf'")),
    "eoc --num 2.7": (_cli("eoc", "--curve", "--num", "2.7"), ("--num", "'2.7'")),
    "eoc --num 0": (_cli("eoc", "--curve", "--num", "0"), ("--num", "'0'")),
    "eoc --sigma-b-max 0": (_cli("eoc", "--curve", "--sigma-b-max", "0"), ("--sigma-b-max", "'0'")),
    "eoc --sigma-b-max nan": (_cli("eoc", "--curve", "--sigma-b-max", "nan"), ("--sigma-b-max", "'nan'")),
    "eoc --missing maybe": (_cli("eoc", "--missing", "maybe"), ("--missing", "'maybe'")),
    "eoc --q0 -1": (_cli("eoc", "--q0", "-1"), ("--q0", "'-1'")),
    "eoc relu sigma_b": (_cli("eoc", "-a", "relu", "--sigma-b", "0.1"), ("no edge of chaos", "sigma_b=0.1")),
    "eoc gelu unstable": (_cli("eoc", "-a", "gelu", "--sigma-b", "0.1"), ("sigma_b=0.1", "unstable")),
    "eoc -a softplus": (_cli("eoc", "-a", "softplus", "--sigma-b", "0.5"), ("softplus", "sigma_b=0.5")),
    # prune-predict
    "prune --widths negative count": (
        _cli("prune-predict", "--method", "snip", "--widths", "784,100x-5,10", "--sigma-w", "1"),
        ("--widths", "'100x-5'", "-5"),
    ),
    "prune --widths zero count": (
        _cli("prune-predict", "--method", "snip", "--widths", "784,100x0,10", "--sigma-w", "1"),
        ("--widths", "'100x0'"),
    ),
    "prune --widths zero width": (
        _cli("prune-predict", "--method", "snip", "--widths", "784,0,10", "--sigma-w", "1"),
        ("--widths", "'0'"),
    ),
    "prune --widths empty item": (
        _cli("prune-predict", "--method", "snip", "--widths", "784,,10", "--sigma-w", "1"),
        ("--widths", "''"),
    ),
    "prune --widths one": (
        _cli("prune-predict", "--method", "snip", "--widths", "784", "--sigma-w", "1"),
        ("--widths", "'784'"),
    ),
    "prune --widths text": (
        _cli("prune-predict", "--method", "snip", "--widths", "abc", "--sigma-w", "1"),
        ("--widths", "'abc'"),
    ),
    "prune --widths 100xq": (
        _cli("prune-predict", "--method", "snip", "--widths", "784,100xq", "--sigma-w", "1"),
        ("--widths", "'100xq'"),
    ),
    "prune --widths float": (
        _cli("prune-predict", "--method", "snip", "--widths", "784,10.5,10", "--sigma-w", "1"),
        ("--widths", "'10.5'"),
    ),
    "prune --sparsity 1.2": (
        _cli("prune-predict", "--method", "random", "--widths", "784,100,10", "--sigma-w", "1", "--sparsity", "1.2"),
        ("--sparsity", "'1.2'"),
    ),
    "prune --sparsity -0.1": (
        _cli("prune-predict", "--method", "random", "--widths", "784,100,10", "--sigma-w", "1", "--sparsity", "-0.1"),
        ("--sparsity", "'-0.1'"),
    ),
    "prune --sparsity nan": (
        _cli("prune-predict", "--method", "random", "--widths", "784,100,10", "--sigma-w", "1", "--sparsity", "nan"),
        ("--sparsity", "'nan'"),
    ),
    "prune --sparsity 1": (
        _cli("prune-predict", "--method", "random", "--widths", "784,100,10", "--sigma-w", "1", "--sparsity", "1"),
        ("--sparsity", "'1'"),
    ),
    "prune --kernel-size 0": (
        _cli("prune-predict", "--method", "snip", "--widths", "3,8,8,10", "--sigma-w", "1", "--arch", "cnn", "--kernel-size", "0"),
        ("--kernel-size", "'0'"),
    ),
    "prune --alpha -1": (
        _cli("prune-predict", "--method", "snip", "--widths", "8,8,8,8,2", "--sigma-w", "1", "--arch", "resnet", "--alpha", "-1"),
        ("--alpha", "'-1'"),
    ),
    "prune --alpha fast": (
        _cli("prune-predict", "--method", "snip", "--widths", "8,8,8,8,2", "--sigma-w", "1", "--arch", "resnet", "--alpha", "fast"),
        ("--alpha", "'fast'"),
    ),
    "prune --alpha with ffnn": (
        _cli("prune-predict", "--method", "snip", "--widths", "8,8,2", "--sigma-w", "1", "--alpha", "0.5"),
        ("--alpha", "'0.5'", "--arch"),
    ),
    "prune --method grasp": (
        _cli("prune-predict", "--method", "grasp", "--widths", "8,8,2", "--sigma-w", "1"),
        ("--method", "'grasp'"),
    ),
    "prune --arch transformer": (
        _cli("prune-predict", "--method", "snip", "--widths", "8,8,2", "--sigma-w", "1", "--arch", "transformer"),
        ("--arch", "'transformer'"),
    ),
    "prune --sigma-w -1": (
        _cli("prune-predict", "--method", "snip", "--widths", "8,8,2", "--sigma-w", "-1"),
        ("--sigma-w", "'-1'"),
    ),
    "prune --sigma-w and --eoc": (
        _cli("prune-predict", "--method", "snip", "--widths", "8,8,2", "--sigma-w", "1", "--eoc"),
        ("--eoc", "--sigma-w"),
    ),
    "prune missing --method": (_cli("prune-predict", "--widths", "8,8,2", "--sigma-w", "1"), ("--method", "required")),
    "prune --eoc relu sigma_b": (
        _cli("prune-predict", "--method", "snip", "--widths", "8,8,2", "-a", "relu", "--eoc", "--sigma-b", "0.3"),
        ("no edge of chaos", "sigma_b=0.3"),
    ),
    # derive and the top level
    "derive unknown topic": (_cli("derive", "elu"), ("topic", "'elu'")),
    "unknown command": (_cli("bogus"), ("COMMAND", "'bogus'")),
    "no command": (_cli(), ("COMMAND", "required")),
}


@pytest.mark.parametrize("name", sorted(PY_CASES))
def test_python_api_bad_input(name):
    """A ValueError whose message names the argument and the offending value."""
    call, exc, needles = PY_CASES[name]
    with pytest.raises(exc) as info:
        call()
    message = str(info.value)
    for needle in needles:
        assert needle in message, f"{name}: {needle!r} not in {message!r}"


@pytest.mark.parametrize("name", sorted(CLI_CASES))
def test_cli_bad_input(name, capsys):
    """Exit status 2, nothing on stdout, one line on stderr naming the flag and the value, no traceback."""
    argv, needles = CLI_CASES[name]
    code = main(list(argv))
    out, err = capsys.readouterr()
    assert code == 2, (name, code, out, err)
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    for needle in needles:
        assert needle in lines[0], f"{name}: {needle!r} not in {lines[0]!r}"


def test_the_suite_is_large_enough():
    """Issue 8 asks for at least 150 cases over the eoc API and its CLI."""
    assert len(PY_CASES) + len(CLI_CASES) >= 150
