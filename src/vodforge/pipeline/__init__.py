"""The transcode pipeline as a job's work: probe, plan, transcode, validate, upload."""
