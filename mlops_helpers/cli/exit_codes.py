"""Every exit code of `mlops`, in one table: Jenkins steps and cron jobs branch on them.

The first three are the ones the exceptions of errors.py carry (`exit_code`), so a command
that raises and a command that returns an outcome exit alike.
"""

from __future__ import annotations

from mlops_helpers.errors import EXIT_CHECK_FAILED, EXIT_OK, EXIT_USAGE

OK = EXIT_OK
FAILED = EXIT_CHECK_FAILED  # a check failed; a rollout aborted, rolled back or failed; a build failed
USAGE = EXIT_USAGE  # usage or config error, and anything the user has to fix first
PAUSED = 3  # no verdict yet: a rollout awaits `mlops rollout promote`, a monitoring window is too small
TIMED_OUT = 4  # --timeout passed; the rollout is left as it is
INTERRUPTED = 130  # Ctrl-C while waiting on Jenkins, as a shell reports SIGINT

ROLLOUT = {"promoted": OK, "rolled_back": FAILED, "aborted": FAILED, "failed": FAILED, "undeployed": FAILED,
           "paused": PAUSED, "timed_out": TIMED_OUT}
MONITOR = {"ok": OK, "retrain": FAILED, "insufficient_data": PAUSED}
