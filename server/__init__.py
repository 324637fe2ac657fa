"""What one app server keeps for all its sessions: the loaded models and their stored results
(``resources``), the queue that checks and prepares every new model (``preparer``), the
training, fine-tune and live data-efficiency jobs (``training_job``, ``finetune_job``,
``live_run``) and the worker processes they run in (``worker_process``).

Sessions read it; worker threads in it never call ``st.*`` (Streamlit is used for its
per-server caches only). It imports nothing from ``ui`` or ``views``: widgets and session glue
live there (``tests/test_architecture.py``).
"""
