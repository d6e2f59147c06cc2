"""The worker runtime: claim, heartbeat, run the job's work, record the outcome."""
