"""Write docs/space-keys.md, the manual's page of every space-file key, from the validator's own
definitions (search.space.keys). `python docs/gen_keys.py --check` exits 1 when the committed page
is out of date; tests/test_docs.py checks the same."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from search.space.keys import markdown  # noqa: E402

PAGE = ROOT / "docs" / "space-keys.md"


def main(argv: list[str]) -> int:
    text = markdown()
    if "--check" in argv:
        if PAGE.read_text() != text:
            print(f"{PAGE.relative_to(ROOT)} is out of date: run python docs/gen_keys.py", file=sys.stderr)
            return 1
        return 0
    PAGE.write_text(text)
    print(f"wrote {PAGE.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
