"""Rollout engine: strategies, analysis and backends."""
