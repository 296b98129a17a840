"""CLI jobs: one module each, ``run(cfg)`` taking the Hydra config composed by :func:`hsi.jobs.run.run_job`.

Every job goes through the skeleton in :mod:`hsi.jobs.common` (outputs checked before work,
report written last by ``finish``) and builds its method through :mod:`hsi.methods`.
"""
