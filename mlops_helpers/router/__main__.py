"""`python -m mlops_helpers.router ...`: see mlops_helpers/router/proxy.py."""

import sys

from mlops_helpers.router.proxy import main

if __name__ == "__main__":
    sys.exit(main())
