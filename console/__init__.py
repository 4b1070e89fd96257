"""Coach Console: a supervisor console for live call coaching."""

import os as _os

# BLAS on the calling thread, set before NumPy loads: OpenBLAS's own worker pool can hang
# the process's exit (its shutdown waits on a worker that never wakes: seen in `serve` and
# the window), and the small products computed here (embeddings) gain little from it while
# the app's threads and speech workers already share the cores.
_os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

__version__ = "0.1.0"
APP_ID = "com.coachconsole.CoachConsole"
APP_NAME = "Coach Console"
