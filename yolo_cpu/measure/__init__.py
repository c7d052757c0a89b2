"""Measurement: timing with intervals, throughput and latency rounds, memory, the machine fingerprint."""
