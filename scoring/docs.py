"""``python -m scoring.docs``: rewrite the generated schema section of docs/DATA.md."""
from __future__ import annotations

import re
from pathlib import Path

from .schema import markdown

DOC = Path(__file__).resolve().parents[1] / "docs" / "DATA.md"


def main() -> None:
    text = DOC.read_text(encoding="utf-8")
    new = re.sub(r"(<!-- schema:start -->\n).*(<!-- schema:end -->)",
                 lambda m: m.group(1) + markdown() + m.group(2), text, flags=re.S)
    DOC.write_text(new, encoding="utf-8")


if __name__ == "__main__":
    main()
