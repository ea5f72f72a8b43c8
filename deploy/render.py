"""Fill the deployment templates of this folder for one host.

    python3 deploy/render.py VALUES.env TEMPLATE [TEMPLATE ...] --out DIR

Every `@NAME@` in a template is replaced by NAME's value from VALUES.env (lines `NAME=value`,
`#` comments; see hosts.example.env). A placeholder without a value is an error, so a rendered
file never carries one. The multi-host fault suite (tests/multihost) renders these same files
with its own addresses and starts its processes from them.
"""

import argparse
import os
import re
import sys

PLACEHOLDER = re.compile(r"@([A-Z][A-Z0-9_]*)@")


def read_values(path: str) -> dict[str, str]:
    values = {}
    with open(path, encoding="utf-8") as fh:
        for number, line in enumerate(fh, 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            name, sep, value = line.partition("=")
            if not sep:
                raise ValueError(f"{path}:{number}: expected NAME=value")
            values[name.strip()] = value.strip()
    return values


def render(text: str, values: dict[str, str], source: str = "template") -> str:
    missing = sorted({name for name in PLACEHOLDER.findall(text) if name not in values})
    if missing:
        raise KeyError(f"{source}: no value for {', '.join(missing)}")
    return PLACEHOLDER.sub(lambda m: values[m.group(1)], text)


def render_file(source: str, values: dict[str, str], destination: str) -> str:
    with open(source, encoding="utf-8") as fh:
        text = render(fh.read(), values, source)
    os.makedirs(os.path.dirname(destination) or ".", exist_ok=True)
    with open(destination, "w", encoding="utf-8") as fh:
        fh.write(text)
    return destination


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("values")
    parser.add_argument("templates", nargs="+")
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    values = read_values(args.values)
    for template in args.templates:
        print(render_file(template, values, os.path.join(args.out, os.path.basename(template))))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
