"""Signed webhooks to tenants, delivered from the outbox the videos triggers write."""
