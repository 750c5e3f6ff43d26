"""The mechanism both renderers share: rewrite the sections of Markdown files that sit between
their markers,

    <!-- BEGIN name (scripts/SCRIPT.py) -->
    …
    <!-- END name -->

from a function per section; with --check, only report the files whose sections are stale.
The END marker keeps its indentation, so a section can sit inside a list item.
"""
import os
import re
import sys


def render(root, files, script):
    """`files`: {file relative to root: {section name: function returning its text}};
    `script`: the renderer's path as the markers name it (scripts/render_readme.py)."""
    stale = []
    for file, sections in files.items():
        path = os.path.join(root, file)
        with open(path) as f:
            text = f.read()
        new = text
        for name, section in sections.items():
            pattern = re.compile(rf"(<!-- BEGIN {re.escape(name)} \({re.escape(script)}\) -->\n).*?([ \t]*<!-- END {re.escape(name)} -->)", re.S)
            if not pattern.search(new):
                sys.exit(f"{file}: no markers for section '{name}'")
            new = pattern.sub(lambda m: m.group(1) + section() + "\n" + m.group(2), new)
        if "--check" in sys.argv:
            if new != text:
                stale.append(file)
            continue
        with open(path, "w") as f:
            f.write(new)
        print(f"{file}: rendered " + ", ".join(sections))
    if stale:
        sys.exit(f"{', '.join(stale)} stale: run python3 {script}")
