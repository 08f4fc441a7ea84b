"""Peer comparison: decayrec's models against baselines and other libraries, on one split.

Run ``python -m benchmarks.peers --help`` from the repository root; see ``DESIGN.md``.
"""
