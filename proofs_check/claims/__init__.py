"""One module per family of claims; each registers its claims with :func:`proofs_check.registry.claim`."""
