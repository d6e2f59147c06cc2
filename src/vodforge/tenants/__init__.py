"""Tenants: who owns videos, their API keys (only hashes stored) and webhook settings."""
