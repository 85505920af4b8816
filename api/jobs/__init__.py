"""Persisted async jobs and the worker that runs them.

- ``models``: the ``jobs`` table (``PENDING → RUNNING → SUCCEEDED | FAILED``, lease columns).
- ``service``: submit, owner-scoped reads, atomic claims with a lease, heartbeats, guarded
  finishes that settle the job's credit hold in the same transaction, reaping of jobs whose
  workers died on every attempt.
- ``handlers``: the registry mapping a job kind to its (idempotent) handler.
- ``worker``: the loop that claims and runs jobs, in-process or as ``amphion worker``.

Nothing is imported here, so importing the table (``api.tables``) stays cheap and cycle-free.
"""
