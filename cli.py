#!/usr/bin/env python
"""hsi: ``python cli.py <job> key=value ...``; ``python cli.py --help`` lists the jobs."""

import sys

if __name__ == "__main__":
    from hsi.malloc import limit_arenas
    from hsi.threads import limit_spinning

    limit_arenas()  # before any thread allocates (hsi/malloc.py says why)
    limit_spinning()  # before torch loads its OpenMP runtime (hsi/threads.py says why)
    from hsi.cli import main

    sys.exit(main())
