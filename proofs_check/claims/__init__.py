"""One module per family of claims; each registers its checks with :func:`proofs_check.registry.claim`
under the ids of :mod:`proofs_check.catalog`, and exposes its measurements as ``measure_*`` /
``predict_*`` functions (keyword-only) for ``paper_repro``."""
