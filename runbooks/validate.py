"""`console-copilot runbooks validate [PATH]`: check a catalog folder or one file."""

from __future__ import annotations

from pathlib import Path

from runbooks.catalog import CATALOG, ValidationError, _files, parse_file

__all__ = ["ValidationError", "main", "validate_path"]


def validate_path(path: str | Path | None = None) -> list[ValidationError]:
    """Every error of the runbooks at `path` (a folder or a file; default the catalog)."""
    target = Path(path) if path else CATALOG
    if not target.exists():
        return [ValidationError(str(target), 0, "no such file or folder")]
    errors: list[ValidationError] = []
    names: dict[str, str] = {}
    for file in _files(target):
        rb, errs = parse_file(file)
        errors += errs
        if rb is not None:
            if rb.name in names:
                errors.append(
                    ValidationError(
                        str(file), 1, f"duplicate runbook name {rb.name} (also in {names[rb.name]})"
                    )
                )
            names[rb.name] = str(file)
    return errors


def main(path: str | None = None) -> int:
    """Print errors (file:line: message); exit status 1 when there are any."""
    errors = validate_path(path)
    for err in errors:
        print(err)
    if not errors:
        print("ok")
    return 1 if errors else 0
