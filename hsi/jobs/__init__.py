"""CLI jobs: one module each, ``run(cfg)`` taking the Hydra config composed by :mod:`hsi.cli`."""
