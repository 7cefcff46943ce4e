"""Print the README's options table from `TranscribeOptions` (the single source of truth).

    .venv/bin/python scripts/options_table.py           # print it
tests/test_readme.py checks README.md contains exactly this table.
"""

from __future__ import annotations

from whisperkit_nb.options import choices_of, option_fields


def options_table() -> str:
    lines = ["| option | default | values | what it does |", "|---|---|---|---|"]
    for f in option_fields():
        choices = choices_of(f)
        low, high = f.metadata.get("low"), f.metadata.get("high")
        values = " / ".join(map(str, choices)) if choices else (f"{low} .. {high}" if low is not None else "")
        lines.append(f"| `{f.name}` | `{f.default}` | {values} | {f.metadata['help']} |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(options_table())
