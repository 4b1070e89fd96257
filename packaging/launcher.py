"""Entry point of the desktop bundle."""

import multiprocessing

from console.cli import main

if __name__ == "__main__":
    # The speech workers are spawned processes; a frozen app must route them here first.
    multiprocessing.freeze_support()
    raise SystemExit(main())
