"""All SQLModel tables; importing this package registers them on SQLModel.metadata.

Each domain keeps its tables in its own module here; add the module to the import list.
"""

from storage.models import (
    billing,
    compliance,
    copilot,
    core,
    digests,
    incidents,
    partners,
    runbooks,
    sandboxes,
    scheduler,
)

__all__ = [
    "billing",
    "compliance",
    "copilot",
    "core",
    "digests",
    "incidents",
    "partners",
    "runbooks",
    "sandboxes",
    "scheduler",
]
