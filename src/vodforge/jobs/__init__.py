"""The job repository (the only writer of job state), its SQL, and wake-ups."""
