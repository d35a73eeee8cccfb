from mlops_helpers.cli import main

main()
