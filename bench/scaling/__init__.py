"""Autoscaling simulator: the seeds' SQS rule against vodforge's backlog signal, over a day."""
