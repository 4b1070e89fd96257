"""Coach Console: a supervisor console for live call coaching."""

__version__ = "0.1.0"
APP_ID = "com.coachconsole.CoachConsole"
APP_NAME = "Coach Console"
