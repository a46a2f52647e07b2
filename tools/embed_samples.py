#!/usr/bin/env python3
"""Keeps code in docs/ identical to the samples that CI compiles.

A doc marks a quoted sample with a line `<!-- sample: samples/<topic>/main.cpp -->` followed by a
```cpp block. `--check` fails if any block differs from its file; `--write` rewrites the blocks.
"""
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
MARK = re.compile(r"<!-- sample: (\S+) -->\n```cpp\n(.*?)```", re.S)


def main() -> int:
    mode = sys.argv[1] if len(sys.argv) > 1 else "--check"
    bad = 0
    for doc in sorted((ROOT / "docs").glob("*.md")):
        text = doc.read_text()

        def fix(m: re.Match) -> str:
            nonlocal bad
            src = (ROOT / m.group(1)).read_text()
            if m.group(2) != src:
                bad += 1
                print(f"{doc.relative_to(ROOT)}: block for {m.group(1)} differs from the file")
            return f"<!-- sample: {m.group(1)} -->\n```cpp\n{src}```"

        new = MARK.sub(fix, text)
        if mode == "--write" and new != text:
            doc.write_text(new)
    if mode == "--check" and bad:
        return 1
    print("docs: every quoted sample matches its source" if not bad or mode == "--write" else "")
    return 0


if __name__ == "__main__":
    sys.exit(main())
