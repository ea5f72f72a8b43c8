"""Input no backend can hold: PostgreSQL refuses the NUL character in any text, so a form
field, query argument or JSON string carrying one is refused up front (not left to fail as a
database error after part of the work is done)."""

from flask import Request


def _strings(value, path: str):
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _strings(key, path)
            yield from _strings(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _strings(item, f"{path}.{index}" if path else str(index))


def fields_with_nul(request: Request) -> list[str]:
    """Names of the inputs of this request that contain a NUL character."""
    found = [name for source in (request.args, request.form) for name, values in source.lists()
             if "\x00" in name or any("\x00" in v for v in values)]
    if request.is_json:
        found += [path or "json" for path, text in _strings(request.get_json(silent=True), "") if "\x00" in text]
    return found
