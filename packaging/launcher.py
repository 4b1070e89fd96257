"""Entry point of the desktop bundle."""

from console.cli import main

raise SystemExit(main())
