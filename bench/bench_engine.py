"""Benchmark: forward-pass throughput of the simulator's ``MLPStack`` (:mod:`eoc.sim`).

Throughput is counted in network-layer-samples per second: R networks of depth L
(equal widths N) propagating B samples each make ``R * L * B`` per forward pass.
For each width N in {64, 128, 256, 512, 1024} (depth 10, tanh) and each dtype the
same weights and inputs go through

* ``engine``: :meth:`eoc.sim.MLPStack.forward` (one :func:`torch.baddbmm`
  per layer over the stacked weights, the activation, every pre-activation kept);
* ``loop``: a plain Python loop over the R networks doing the same forward with
  per-network :func:`torch.addmm` and the activation;
* ``roofline``: the bare batched matrix products of the same shapes and layouts,
  :func:`torch.baddbmm` into preallocated outputs, no activation, no bookkeeping;
* ``matmul_act``: the roofline plus ``torch.tanh(out=)`` into preallocated buffers,
  the work a forward cannot avoid (it separates the activation's cost from the
  engine's own overhead: allocation and memory traffic).

The report also counts the minor page faults of one engine pass: the fresh memory
of its newly allocated outputs, which the preallocated variants do not touch.

R is the largest power of two (at most ``--max-replicas``) whose weights fit in
``--weights-mb``; B is doubled from 1 until one engine pass takes ``--target``
seconds or more (within the ``--activations-mb`` cap on the kept pre-activations),
or fixed with ``--batch`` (small B is the regime of the Monte-Carlo checks, where
the per-network loop pays Python and dispatch overhead on every small product).
Timing: warm-up passes, then the best of ``--repeat`` rounds in which the four
variants run in turn (with :func:`torch.cuda.synchronize` on a GPU).

The report records the device by name (the GPU's name on CUDA, the CPU model on the
CPU: :func:`paper_repro.cost.device_name`), the machine, torch's threads and the dtype
of every row; ``engine_fraction_of_roofline`` is the simulator's throughput over the
bare batched-matmul roofline on that device.

Run: ``python bench/bench_engine.py [--device cpu|cuda] [--repeat 5] [--threads 1] [--batch 8]``.
Prints a table and writes ``bench/results/engine.json`` (``engine_batch<B>.json`` with
``--batch``; ``--out`` elsewhere).  Not a test: speed is never asserted.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import resource
import time
from pathlib import Path
from typing import Callable

import torch

from eoc.sim import MLPStack, resolve_device
from paper_repro.cost import device_name

HERE = Path(__file__).resolve().parent
WIDTHS = (64, 128, 256, 512, 1024)
DTYPES = {"float64": torch.float64, "float32": torch.float32}
SIGMA_W, SIGMA_B = 1.3, 0.2


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def best_times(
    fns: dict[str, Callable[[], object]], device: torch.device, repeat: int, warmup: int = 2, clock: str = "wall"
) -> dict:
    """Best time of each function over ``repeat`` rounds, after ``warmup`` calls of each.

    The functions are called in turn within each round, so that a slow spell of a
    shared machine hits all of them alike.  ``clock="cpu"`` measures the process's CPU
    time (user + system of all threads, :func:`time.process_time`) instead of wall time:
    with one thread on a shared CPU it is not inflated by waiting for a core.
    """
    now = time.process_time if clock == "cpu" else time.perf_counter
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    _sync(device)
    best = dict.fromkeys(fns, math.inf)
    for _ in range(repeat):
        for name, fn in fns.items():
            t0 = now()
            fn()
            _sync(device)
            best[name] = min(best[name], now() - t0)
    return best


def minor_faults(fn: Callable[[], object]) -> int:
    """Minor page faults of this process during one call of ``fn`` (fresh memory being touched)."""
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    fn()
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before


def loop_forward(net: MLPStack, x: torch.Tensor) -> list[torch.Tensor]:
    """The engine's forward, one network at a time: per-network ``addmm`` and activation."""
    outs = []
    with torch.no_grad():
        for r in range(net.replicas):
            h = x[r]
            pre = []  # kept, as the engine keeps every pre-activation
            for l, (w, b) in enumerate(zip(net.weights, net.biases)):
                y = torch.addmm(b[r], h, w[r].T)
                pre.append(y)
                h = net.act(y) if l < net.depth - 1 else y
            outs.append(h)
    return outs


def roofline_forward(net: MLPStack, x: torch.Tensor, out: list[torch.Tensor]) -> torch.Tensor:
    """Bare batched products of the engine's shapes and layouts into preallocated ``out``."""
    h = x
    for w, b, buf in zip(net.weights, net.biases, out):
        torch.baddbmm(b[:, None, :], h, w.transpose(1, 2), out=buf)
        h = buf
    return h


def matmul_act_forward(net: MLPStack, x: torch.Tensor, out: list[torch.Tensor], act: list[torch.Tensor]) -> None:
    """The roofline plus the activation, both into preallocated buffers: the work the engine cannot avoid."""
    h = x
    for l, (w, b, buf, a) in enumerate(zip(net.weights, net.biases, out, act)):
        torch.baddbmm(b[:, None, :], h, w.transpose(1, 2), out=buf)
        if l < net.depth - 1:
            h = torch.tanh(buf, out=a)


def _pow2_floor(v: float) -> int:
    """The largest power of two not above ``v`` (1 for ``v < 2``)."""
    return 1 << max(0, int(math.floor(math.log2(max(v, 1.0)))))


def replicas_for(width: int, depth: int, dtype: torch.dtype, ns: argparse.Namespace) -> int:
    """The largest power of two (at most ``--max-replicas``) whose weights fit in ``--weights-mb``."""
    per_net = depth * width * width * torch.empty((), dtype=dtype).element_size()
    return min(ns.max_replicas, _pow2_floor(ns.weights_mb * 2**20 / per_net))


def batch_for(net: MLPStack, width: int, device: torch.device, ns: argparse.Namespace) -> int:
    """Double B from 1 until one engine pass takes at least ``--target`` seconds or a memory cap is hit."""
    dtype = net.weights[0].dtype
    per_sample = net.replicas * net.depth * width * torch.empty((), dtype=dtype).element_size()
    cap = min(ns.max_batch, _pow2_floor(ns.activations_mb * 2**20 / per_sample))
    gen = torch.Generator().manual_seed(ns.seed + 1)
    batch = 1
    while batch < cap:
        x = torch.randn(net.replicas, batch, width, generator=gen, dtype=dtype).to(device)
        if best_times({"engine": lambda: net.forward(x)}, device, repeat=3, warmup=1)["engine"] >= ns.target:
            break
        batch *= 2
    return batch


def run_case(width: int, depth: int, dtype_name: str, device: torch.device, ns: argparse.Namespace) -> dict:
    """Time engine, loop and roofline at one width and dtype; return the row of the report."""
    dtype = DTYPES[dtype_name]
    replicas = replicas_for(width, depth, dtype, ns)
    gen = torch.Generator().manual_seed(ns.seed)
    net = MLPStack.init(
        [width] * (depth + 1), "tanh", SIGMA_W, SIGMA_B, replicas, generator=gen, device=device, dtype=dtype
    )
    batch = ns.batch or batch_for(net, width, device, ns)
    x = torch.randn(replicas, batch, width, generator=gen, dtype=dtype).to(device)
    out = [torch.empty(replicas, batch, width, dtype=dtype, device=device) for _ in range(depth)]
    act = [torch.empty(replicas, batch, width, dtype=dtype, device=device) for _ in range(depth)]
    engine_out = net.forward(x)[0]
    loop_out = torch.stack(loop_forward(net, x))
    max_diff = float((engine_out - loop_out).abs().max() / engine_out.abs().max())
    del engine_out, loop_out
    work = replicas * depth * batch
    times = best_times(
        {
            "engine": lambda: net.forward(x),
            "loop": lambda: loop_forward(net, x),
            "roofline": lambda: roofline_forward(net, x, out),
            "matmul_act": lambda: matmul_act_forward(net, x, out, act),
        },
        device,
        ns.repeat,
        clock=ns.clock,
    )
    return {
        "dtype": dtype_name,
        "width": width,
        "depth": depth,
        "replicas": replicas,
        "batch": batch,
        "seconds": times,
        "throughput": {k: work / t for k, t in times.items()},
        "roofline_gflops": 2 * work * width * width / times["roofline"] / 1e9,
        "engine_fraction_of_roofline": times["roofline"] / times["engine"],
        "engine_fraction_of_matmul_act": times["matmul_act"] / times["engine"],
        "speedup_vs_loop": times["loop"] / times["engine"],
        "engine_vs_loop_max_rel_diff": max_diff,
        "minor_page_faults_per_pass": {
            "engine": minor_faults(lambda: net.forward(x)),
            "matmul_act": minor_faults(lambda: matmul_act_forward(net, x, out, act)),
        },
    }


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    ap.add_argument("--repeat", type=int, default=5, help="timed passes per case (best of)")
    ap.add_argument("--depth", type=int, default=10)
    ap.add_argument("--widths", type=int, nargs="+", default=list(WIDTHS))
    ap.add_argument("--dtypes", nargs="+", choices=list(DTYPES), default=list(DTYPES))
    ap.add_argument("--target", type=float, default=0.25, help="seconds per engine pass (sets B)")
    ap.add_argument("--batch", type=int, default=None, help="fix B instead (e.g. 8: the Monte-Carlo regime)")
    ap.add_argument("--max-replicas", type=int, default=256)
    ap.add_argument("--max-batch", type=int, default=4096)
    ap.add_argument("--weights-mb", type=float, default=None, help="weight memory cap (default 256 cpu, 4096 cuda)")
    ap.add_argument("--activations-mb", type=float, default=None, help="pre-activation memory cap (default 256/4096)")
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    ap.add_argument("--clock", choices=["wall", "cpu"], default="wall", help="cpu: process time (CPU device only)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=None, help="default bench/results/engine[_batch<B>].json")
    ns = ap.parse_args(argv)
    device = resolve_device(ns.device)
    if ns.threads is not None:
        torch.set_num_threads(ns.threads)
    if ns.clock == "cpu" and device.type == "cuda":
        ap.error("--clock cpu measures host CPU time and cannot time GPU work; use --clock wall with --device cuda")
    big = device.type == "cuda"
    ns.weights_mb = ns.weights_mb or (4096.0 if big else 256.0)
    ns.activations_mb = ns.activations_mb or (4096.0 if big else 256.0)
    env = {
        "torch": torch.__version__,
        "batch": "fixed" if ns.batch else f"calibrated to {ns.target} s per engine pass",
        "device": device_name(device),
        "machine": f"{platform.node()} ({platform.platform()}, {os.cpu_count()} CPUs)",
        "threads": torch.get_num_threads(),
        "activation": "tanh",
        "sigma_w": SIGMA_W,
        "sigma_b": SIGMA_B,
        "repeat": ns.repeat,
        "clock": ns.clock,
    }
    print(f"MLPStack forward throughput (network-layer-samples/s), depth {ns.depth}, {device.type}, {env}")
    head = f"{'dtype':8s} {'N':>5s} {'R':>4s} {'B':>5s} {'engine':>10s} {'loop':>10s} {'roofline':>10s}"
    print(head + f" {'GFLOP/s':>8s} {'eng/roof':>8s} {'eng/(mm+act)':>12s} {'vs loop':>8s} {'faults':>7s}")
    rows = []
    for dtype_name in ns.dtypes:
        for width in ns.widths:
            row = run_case(width, ns.depth, dtype_name, device, ns)
            rows.append(row)
            tp = row["throughput"]
            print(
                f"{dtype_name:8s} {width:5d} {row['replicas']:4d} {row['batch']:5d} {tp['engine']:10.3g} "
                f"{tp['loop']:10.3g} {tp['roofline']:10.3g} {row['roofline_gflops']:8.1f} "
                f"{100 * row['engine_fraction_of_roofline']:7.0f}% {100 * row['engine_fraction_of_matmul_act']:11.0f}% "
                f"{row['speedup_vs_loop']:7.1f}x {row['minor_page_faults_per_pass']['engine']:7d}",
                flush=True,
            )
    report = {"environment": env, "unit": "network-layer-samples per second", "rows": rows}
    out = ns.out or HERE / "results" / (f"engine_batch{ns.batch}.json" if ns.batch else "engine.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2))
    return report


if __name__ == "__main__":
    main()
