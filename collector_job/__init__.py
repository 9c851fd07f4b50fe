"""Collector job: buckets the input stream into append-only CSV files and announces dataset versions."""
