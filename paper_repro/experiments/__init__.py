"""One module per experiment; each registers itself with :func:`paper_repro.registry.register`."""
