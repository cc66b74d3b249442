r"""The cost of an experiment before it is launched: runs, epochs, a measured time per step, device-hours.

``python -m paper_repro plan ID... --profile full [--device cuda]`` lists, for each
experiment, its training runs grouped by model and dataset, and for each group

.. math::

    \text{device-hours} = \frac{n_\text{runs}\,\big(E\,\lceil N_\text{train}/B\rceil\,t_\text{step}
    + n_\text{eval}\,N_\text{test}\,t_\text{eval}\big)}{3600},

with :math:`E` epochs, batch :math:`B`, :math:`n_\text{eval}` test evaluations per run
(every epoch, or the last only), :math:`N_\text{train}, N_\text{test}` the published
split sizes (:func:`eoc.datasets.info`), and :math:`t_\text{step}, t_\text{eval}` *measured
here*, on the current device, by :func:`probe`: the model of the group is built at
full size, initialized, randomly pruned at the group's largest sparsity (so the
masking hooks are timed too) and trained on a seeded synthetic batch of the right
shape with the run's optimizer settings, precision and memory format (``warmup``
untimed steps, then ``steps`` steps timed one by one, CUDA synchronized after each as
the training loop's ``loss.item()`` does; :math:`t_\text{step}` is their median, which a
busy shared machine disturbs least); :math:`t_\text{eval}` is one timed evaluation pass,
per image, over a synthetic test batch of the training loop's evaluation batch size on
CUDA (after an untimed pass), or of one training batch on the CPU, whose time per image
does not depend on the batch size.

A run is counted once: a configuration repeated within an experiment, or already
counted by an earlier experiment of the same plan (E5's ResNet32 runs are E6's SNIP
and SBP-SR runs), executes once through the run cache and is listed as shared.

What is not counted: pruning at initialization (one scoring pass per run, or
``rounds`` of SynFlow on a single input, small against training), pruning-only runs
(counted, not timed), data loading (the probe's batches are already on the device), and
the simulation and theory experiments (E2, E8, E9), which have no training runs.
Nothing here is an estimate typed in: every time comes from the probe of this call.
"""

from __future__ import annotations

import math
import platform
import statistics
import time
import warnings
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Callable, Mapping, Sequence

__all__ = ["StepProbe", "CostRow", "ExperimentCost", "CostPlan", "probe", "cost_plan", "device_name"]

#: Images of the synthetic test batch the evaluation probe times on CUDA (at most the test
#: split): the batch of :func:`paper_repro.train.evaluate`.
EVAL_IMAGES = 1024
#: The probe's learning rate: small, so that random data keep the loss finite and every
#: step does its full backward pass (the time of a step does not depend on the rate).
PROBE_LR = 1e-6


def device_name(device: Any) -> str:
    """What ``device`` is: the GPU's name on CUDA, the CPU model (from ``/proc/cpuinfo``) on the CPU."""
    import torch

    dev = torch.device(device)
    if dev.type == "cuda":
        return torch.cuda.get_device_name(dev)
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


@dataclass(frozen=True)
class StepProbe:
    """A measured training step and evaluation of one model on one input shape.

    Attributes
    ----------
    seconds_per_step : float
        Median wall time of one optimization step (forward, backward, SGD, masks; with
        augmentation if the runs augment) at the runs' batch size.
    eval_seconds_per_image : float
        Wall time of the evaluation pass over the synthetic test batch, per image.
    batch_size, steps, warmup, eval_images : int
    step_seconds : tuple of float
        Every timed step.
    """

    seconds_per_step: float
    eval_seconds_per_image: float
    batch_size: int
    steps: int
    warmup: int
    eval_images: int
    step_seconds: tuple[float, ...] = ()


@dataclass(frozen=True)
class CostRow:
    """The training runs of one experiment that share a model, a dataset and a training spec."""

    model: str
    dataset: str
    runs: int
    epochs: int
    batch_size: int
    steps_per_epoch: int
    evals_per_run: int
    test_size: int
    probe: StepProbe

    @property
    def steps(self) -> int:
        """Optimization steps of all the runs of the row."""
        return self.runs * self.epochs * self.steps_per_epoch

    @property
    def seconds_per_run(self) -> float:
        """Training plus evaluation time of one run (module docstring)."""
        p = self.probe
        return self.epochs * self.steps_per_epoch * p.seconds_per_step + self.evals_per_run * self.test_size * p.eval_seconds_per_image

    @property
    def device_hours(self) -> float:
        return self.runs * self.seconds_per_run / 3600.0


@dataclass(frozen=True)
class ExperimentCost:
    """The cost of one experiment: its training rows and what is counted but not timed."""

    experiment: str
    title: str
    rows: list[CostRow]
    pruning_runs: int = 0
    shared_runs: int = 0
    note: str | None = None

    @property
    def training_runs(self) -> int:
        return sum(r.runs for r in self.rows)

    @property
    def epochs(self) -> int:
        """Epochs over all training runs."""
        return sum(r.runs * r.epochs for r in self.rows)

    @property
    def steps(self) -> int:
        return sum(r.steps for r in self.rows)

    @property
    def device_hours(self) -> float:
        return sum(r.device_hours for r in self.rows)


@dataclass(frozen=True)
class CostPlan:
    """The plan of :func:`cost_plan`: every experiment's cost on one device."""

    profile: str
    device: str
    device_name: str
    threads: int
    torch: str
    experiments: list[ExperimentCost]
    probe_steps: int
    probe_warmup: int
    seed: int

    @property
    def device_hours(self) -> float:
        return sum(e.device_hours for e in self.experiments)

    def as_dict(self) -> dict[str, Any]:
        """Everything, with the derived counts and hours (JSON-able)."""
        out = asdict(self)
        out["device_hours"] = self.device_hours
        for e, d in zip(self.experiments, out["experiments"]):
            d.update(training_runs=e.training_runs, epochs=e.epochs, steps=e.steps, device_hours=e.device_hours)
            for r, rd in zip(e.rows, d["rows"]):
                rd.update(steps=r.steps, seconds_per_run=r.seconds_per_run, device_hours=r.device_hours)
        return out

    def format(self) -> str:
        """The plan as a table per experiment (what ``python -m paper_repro plan`` prints)."""
        lines = [
            f"Cost plan, {self.profile} profile, on {self.device} ({self.device_name}), {self.threads} torch thread(s), "
            f"torch {self.torch}; each model timed over {self.probe_warmup} warm-up + {self.probe_steps} steps on "
            f"synthetic input (seed {self.seed})",
        ]
        head = ("model", "dataset", "runs", "epochs", "batch", "steps/epoch", "evals/run", "s/step", "min-max",
                "s/test img", "device-h")  # fmt: skip
        for e in self.experiments:
            lines += ["", f"{e.experiment}  {e.title}"]
            if e.note:
                lines.append(f"  {e.note}")
            if e.rows:
                table = [head] + [
                    (r.model, r.dataset, str(r.runs), str(r.epochs), str(r.batch_size), str(r.steps_per_epoch),
                     str(r.evals_per_run), f"{r.probe.seconds_per_step:.4g}", _spread(r.probe),
                     f"{r.probe.eval_seconds_per_image:.3g}", f"{r.device_hours:.4g}")
                    for r in e.rows
                ]  # fmt: skip
                widths = [max(len(row[i]) for row in table) for i in range(len(head))]
                for row in table:
                    cells = [c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths))]
                    lines.append("  " + "  ".join(cells))
            shared = f", {e.shared_runs} runs shared with an earlier experiment (counted there)" if e.shared_runs else ""
            lines.append(
                f"  {e.experiment}: {e.training_runs} training runs, {e.epochs} epochs, {e.steps} steps, "
                f"{e.pruning_runs} pruning-only runs (not timed){shared}; {e.device_hours:.4g} device-hours"
            )
        lines += [
            "",
            f"Total: {self.device_hours:.4g} device-hours on {self.device} ({self.device_name}): training and evaluation "
            "only (pruning at initialization, pruning-only runs and data loading not included).",
        ]
        return "\n".join(lines)


def _spread(p: StepProbe) -> str:
    """The fastest and slowest timed step (how much a shared machine disturbed the probe)."""
    return f"{min(p.step_seconds):.3g}-{max(p.step_seconds):.3g}" if p.step_seconds else "-"


def _sync(dev) -> None:
    import torch

    if dev.type == "cuda":
        torch.cuda.synchronize(dev)


def probe(
    network: Any,
    dataset: str,
    train: Any,
    *,
    device: str = "cpu",
    sparsity: float = 0.0,
    steps: int = 3,
    warmup: int = 1,
    seed: int = 0,
) -> StepProbe:
    """Time a training step and an evaluation of ``network`` on ``dataset``-shaped input (module docstring).

    Parameters
    ----------
    network : paper_repro.config.NetworkSpec
    dataset : str
        Its :func:`eoc.datasets.info` gives the input shape and classes (nothing is read).
    train : paper_repro.config.TrainSpec
        Batch size, momentum, weight decay, augmentation, ``amp`` and ``channels_last``
        of the runs (the probe's learning rate is :data:`PROBE_LR`).
    device : {"cpu", "cuda"}
    sparsity : float
        Random pruning at this sparsity first (0: dense, no masks).
    steps, warmup : int
        Timed steps (>= 1), untimed steps before them (>= 0).
    seed : int
        Seeds the weights, the masks and the synthetic batches.
    """
    import torch

    from eoc.datasets import info
    from eoc.nn import LayerCollapseWarning, init_, inplace_masks_, prune_at_init, register_mask_hook, resolve_device

    from .batches import augment_crop_flip
    from .config import InitSpec
    from .runs import build_model
    from .train import evaluate, grad_scaler, to_memory_format, train_step

    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"probe steps (--probe-steps) must be an integer >= 1, got steps={steps!r}")
    if isinstance(warmup, bool) or not isinstance(warmup, int) or warmup < 0:
        raise ValueError(f"probe warm-up steps (--probe-warmup) must be an integer >= 0, got warmup={warmup!r}")
    meta = info(dataset)
    dev = resolve_device(device)
    gen = torch.Generator().manual_seed(seed)
    model = build_model(network, meta.input_shape, meta.num_classes)
    init_(model, network.activation, InitSpec().sigma_w(network.activation), generator=gen)
    model.to(dev)
    if sparsity > 0:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", LayerCollapseWarning)
            prune_at_init(model, "random", sparsity, generator=gen)
    if train.channels_last:
        model.to(memory_format=torch.channels_last)
    opt = torch.optim.SGD(model.parameters(), lr=PROBE_LR, momentum=train.momentum, weight_decay=train.weight_decay)
    if sparsity > 0:
        register_mask_hook(opt, inplace_masks_(model))  # as train() does: masks in place, re-applied after each step
    scaler = grad_scaler(dev, train.amp)
    x = torch.randn((train.batch_size, *meta.input_shape), generator=gen).to(dev)
    y = torch.randint(0, meta.num_classes, (train.batch_size,), generator=gen).to(dev)
    model.train()
    times = []
    _sync(dev)
    for i in range(warmup + steps):
        t0 = time.perf_counter()
        xb = augment_crop_flip(x, gen) if train.augment else x
        _, _, finite = train_step(model, opt, to_memory_format(xb, train.channels_last), y, amp=train.amp, scaler=scaler)
        _sync(dev)
        if not finite:
            raise RuntimeError(f"the timing probe of {network.label} on {dataset}-shaped input gave a non-finite loss")
        if i >= warmup:
            times.append(time.perf_counter() - t0)
    cuda = dev.type == "cuda"
    n_eval = min(EVAL_IMAGES if cuda else train.batch_size, meta.test_size)
    x_eval = torch.randn((n_eval, *meta.input_shape), generator=gen).to(dev)
    y_eval = torch.randint(0, meta.num_classes, (n_eval,), generator=gen).to(dev)
    kw = {"batch_size": n_eval, "amp": train.amp, "channels_last": train.channels_last, "device": dev}
    if cuda:
        evaluate(model, x_eval, y_eval, **kw)  # warm-up (kernel selection for the new batch shape)
        _sync(dev)
    t0 = time.perf_counter()
    evaluate(model, x_eval, y_eval, **kw)
    _sync(dev)
    per_image = (time.perf_counter() - t0) / n_eval
    return StepProbe(statistics.median(times), per_image, train.batch_size, steps, warmup, n_eval, tuple(times))


@dataclass(frozen=True)
class _Group:
    dataset: str
    network: Any
    train: Any
    runs: list = field(default_factory=list)


def _rows(runs: Sequence[Any], measure: Callable[..., StepProbe], memo: dict, seen: set) -> tuple[list[CostRow], int, int]:
    """The training rows of the runs not in ``seen`` (grouped by dataset, network and training
    spec), the pruning-only count, and the count of runs already in ``seen`` (then added to it)."""
    from eoc.datasets import info

    groups: dict[tuple, _Group] = {}
    pruning_only = shared = 0
    for r in dict.fromkeys(runs):
        if r in seen:
            shared += 1
            continue
        seen.add(r)
        if getattr(r, "train", None) is None:
            pruning_only += 1
            continue
        key = (r.dataset, r.network, r.train)
        groups.setdefault(key, _Group(r.dataset, r.network, r.train)).runs.append(r)
    rows = []
    for g in groups.values():
        meta = info(g.dataset)
        sparsity = max(r.prune.sparsity for r in g.runs)
        timing = replace(g.train, epochs=1, lr=1.0, schedule="constant", milestones=(), eval_every_epoch=True)
        key = (g.network, meta.input_shape, meta.num_classes, timing, sparsity > 0)
        if key not in memo:
            memo[key] = measure(g.network, g.dataset, g.train, sparsity=sparsity)
        rows.append(
            CostRow(
                model=g.network.label, dataset=g.dataset, runs=len(g.runs), epochs=g.train.epochs,
                batch_size=g.train.batch_size, steps_per_epoch=math.ceil(meta.train_size / g.train.batch_size),
                evals_per_run=g.train.epochs if g.train.eval_every_epoch else 1, test_size=meta.test_size,
                probe=memo[key],
            )
        )  # fmt: skip
    return rows, pruning_only, shared


def cost_plan(
    ids: Sequence[str],
    profile: str = "quick",
    *,
    device: str = "cpu",
    overrides: Mapping[str, Any] | None = None,
    seeds: int | None = None,
    threads: int | None = None,
    steps: int = 3,
    warmup: int = 1,
    seed: int = 0,
    measure: Callable[..., StepProbe] | None = None,
) -> CostPlan:
    """The cost plan of the experiments ``ids`` at ``profile`` (module docstring).

    Parameters
    ----------
    ids, profile, overrides, seeds
        As :func:`paper_repro.runner.run_many` (``--set`` and ``--seeds`` change the plan
        as they would change the runs).
    device : {"cpu", "cuda"}
        Where the probes run (the projection is for this device).
    threads : int, optional
        torch intra-op threads during the probes (default: as :func:`~paper_repro.runner.run_many`).
    steps, warmup, seed
        Of every :func:`probe`.
    measure : callable, optional
        ``measure(network, dataset, train, sparsity=...) -> StepProbe`` in place of
        :func:`probe` (tests).
    """
    import torch

    from eoc.nn import resolve_device

    from .runner import _check_threads, _check_torch, _torch_threads, plan

    planned = plan(ids, profile, overrides=overrides, seeds=seeds)
    _check_torch(planned)
    dev = str(resolve_device(device))
    threads = _check_threads(threads, dev)
    if measure is None:

        def measure(network, dataset, train, *, sparsity):
            return probe(network, dataset, train, device=dev, sparsity=sparsity, steps=steps, warmup=warmup, seed=seed)

    memo: dict = {}
    seen: set = set()
    experiments = []
    with _torch_threads(threads, True):
        for p in planned:
            if p.exp.runs is None:
                note = "no training runs (a simulation or theory experiment): not planned"
                experiments.append(ExperimentCost(p.exp.id, p.exp.title, [], note=note))
                continue
            rows, pruning_only, shared = _rows(p.exp.runs(p.config), measure, memo, seen)
            experiments.append(ExperimentCost(p.exp.id, p.exp.title, rows, pruning_only, shared))
    return CostPlan(
        profile, dev, device_name(dev), threads, torch.__version__, experiments, steps, warmup, seed,
    )  # fmt: skip
