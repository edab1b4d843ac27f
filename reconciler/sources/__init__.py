"""Partner exports (CSV, JSONL, Parquet) read into typed attribute rows."""
