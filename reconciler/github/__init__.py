"""GitHub glue for Actions: the sticky PR comment, the job summary and the drift issue.

A small synchronous httpx client (`client.py`) over the four REST resources we need, the
environment Actions provides (`context.py`), body fitting and markers (`body.py`) and the
three operations the CLI exposes (`ops.py`).
"""
