"""The executor: batches, paces, retries, journals and runs guards."""
