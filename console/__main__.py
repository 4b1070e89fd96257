from console.cli import main

# Speech workers are spawned processes that import this module again: only the real
# start runs the command line.
if __name__ == "__main__":
    raise SystemExit(main())
