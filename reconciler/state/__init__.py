"""State stores: lineage, serial, lock, the per-user ledger and the apply journal."""
