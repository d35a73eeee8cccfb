"""mlops_helpers: the Python side of the `mlops` Jenkins shared library.

The version here is the single source of truth: the Jenkins library tag `vX.Y.Z`
installs helpers `X.Y.Z` (see vars/mlopsSetup.groovy).
"""

__version__ = "0.1.0"
