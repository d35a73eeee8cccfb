"""Model monitoring: reference statistics stored with a model version (reference.py) and
drift detection of logged predictions against them (drift.py).

Nothing is imported here: the CLI's configuration imports `monitoring.policy` at start-up,
and pandas/scipy (which reference.py and drift.py need) must stay out of `mlops --help`.
"""
