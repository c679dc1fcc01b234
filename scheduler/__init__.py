"""Scheduled jobs (thin, idempotent) and the APScheduler wiring."""
