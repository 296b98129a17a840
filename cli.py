#!/usr/bin/env python
"""hsi: ``python cli.py <job> key=value ...``; ``python cli.py --help`` lists the jobs."""

import sys

from hsi.cli import main

if __name__ == "__main__":
    sys.exit(main())
