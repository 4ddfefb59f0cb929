"""Haven's benchmarks: ``python -m bench`` (or ``make bench``) runs them all.

Each figure is a ratio, or is paired with a baseline measured in the same run, and is the
median of several runs; the table is printed as markdown and written with the machine's
description to ``bench/results/latest.json``. See ``python -m bench --help``.
"""
