"""The diff: desired x stored -> a frozen Plan. Pure, no I/O."""
