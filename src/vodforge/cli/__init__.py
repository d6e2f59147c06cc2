"""The `vodforge` command line."""
