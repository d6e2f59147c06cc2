"""Operator use cases over the whole system: dead-letter reports, stuck leases, reconcile."""
