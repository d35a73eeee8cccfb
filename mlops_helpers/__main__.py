"""`python -m mlops_helpers`: the `mlops` command."""

from mlops_helpers.cli import main

if __name__ == "__main__":
    main()
