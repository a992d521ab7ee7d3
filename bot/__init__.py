"""Console Copilot: the platform-neutral core of the ChatOps bot."""

__version__ = "0.1.0"
