"""Search ranges and categorical choices of a space key (``{type: int, low: 1, high: 4}``,
``{choices: [32, 64]}``): a part of ``_Validator`` (``search.space._validate``), which records
each problem with ``error`` and checks each candidate value with the key's own check."""

from __future__ import annotations

import math
from typing import Callable

from search._format import did_you_mean
from search.space._checks import _Invalid, _is_number
from search.space._types import RANGE_KEYS, Categorical, FloatRange, IntRange, Searchable


class _RangeRules:
    def searchable(self, dotted: str, raw: dict, check: Callable, kind: str) -> Searchable | None:
        """Parse a search range of a key of ``kind`` (int, float, bool, str, choice, sizes, any);
        ``check(value)`` validates one candidate value (records the problem, raises _Invalid)."""
        unknown = sorted(set(raw) - RANGE_KEYS, key=str)
        for key in unknown:
            self.error(f"{dotted}.{key}", f"unknown range key{did_you_mean(key, RANGE_KEYS)} (valid: {', '.join(sorted(RANGE_KEYS))})")
        if unknown:
            return None
        rtype = raw.get("type")
        if "choices" in raw and rtype not in (None, "categorical"):
            self.error(f"{dotted}.type", f"choices go with type: categorical (or no type), got type {rtype!r}; drop 'type' or 'choices'")
            return None
        if rtype is None:
            if "choices" in raw:
                rtype = "categorical"
            elif kind in ("int", "float"):
                rtype = kind
            elif kind == "any" and all(isinstance(raw.get(b), int) and not isinstance(raw.get(b), bool) for b in ("low", "high")):
                rtype = "int"
            elif kind == "any":
                rtype = "float"
        if rtype == "categorical":
            return self.categorical(dotted, raw, check, allow_lists=kind in ("sizes", "lists"))
        if rtype not in ("int", "float"):
            self.error(f"{dotted}.type", f"a range needs type: int, float or categorical (with choices), got {rtype!r}{did_you_mean(rtype, ('int', 'float', 'categorical'))}")
            return None
        if kind == "sizes":
            self.error(dotted, "layer sizes take a string like '64,32', a list of ints, or {choices: [...]} of those, not a numeric range; for a range of uniform layers use LAYERS + HIDDEN_UNITS (e.g. LAYERS: '[1,3]', HIDDEN_UNITS: {choices: [32, 64]})")
            return None
        if kind in ("bool", "str", "choice", "lists"):
            self.error(f"{dotted}.type", f"a {rtype} range does not fit this key (a {kind}); use {{choices: [...]}}")
            return None
        if kind == "int" and rtype == "float":
            self.error(f"{dotted}.type", "a float range does not fit an integer key; use type: int")
            return None
        low, high, step, log = raw.get("low"), raw.get("high"), raw.get("step"), raw.get("log", False)
        bad = False
        for name, bound in (("low", low), ("high", high)):
            if name not in raw:
                self.error(dotted, f"missing '{name}'; a {rtype} range needs low and high, e.g. {{type: {rtype}, low: 1, high: 4}}")
                bad = True
            elif not _is_number(bound) or (rtype == "int" and not isinstance(bound, int)):
                self.error(f"{dotted}.{name}", f"expected {'an integer' if rtype == 'int' else 'a number'}, got {bound!r}")
                bad = True
            elif not math.isfinite(bound):
                self.error(f"{dotted}.{name}", f"must be finite, got {bound!r}; give a finite bound")
                bad = True
        if not isinstance(log, bool):
            self.error(f"{dotted}.log", f"expected true or false, got {log!r}")
            bad = True
        if step is not None and (
            not _is_number(step) or not math.isfinite(step) or step <= 0 or (rtype == "int" and not isinstance(step, int))
        ):
            self.error(f"{dotted}.step", f"expected a positive {'integer' if rtype == 'int' else 'finite number'}, got {step!r}")
            bad = True
        if bad:
            return None
        if low > high:
            self.error(dotted, f"low={low!r} > high={high!r}; low must not exceed high (swap them: low: {high!r}, high: {low!r})")
            return None
        if log and low <= 0:
            self.error(f"{dotted}.low", f"a log range needs low > 0, got {low!r}; set a positive low (e.g. {'1' if rtype == 'int' else '1.0e-5'}) or drop log: true")
            return None
        if log and step is not None and not (rtype == "int" and step == 1):
            self.error(f"{dotted}.step", f"a log range cannot have a step (got step={step!r}); drop step or log")
            return None
        if step is not None:
            ratio = (high - low) / step
            if abs(ratio - round(ratio)) > 1e-9 * max(1.0, abs(ratio)):
                below = low + math.floor(ratio) * step
                above = low + math.ceil(ratio) * step
                if rtype == "float":
                    below, above = round(below, 12), round(above, 12)
                self.error(f"{dotted}.step", f"step={step!r} does not divide high - low = {high - low!r}; set high to {below!r} or {above!r}, or pick a step that divides {high - low!r}")
                return None
        for bound in (low, high):
            try:
                check(bound)
            except _Invalid as exc:
                self.problems.pop()  # replace the fixed-value message with the range form
                self.error(dotted, f"range bound {exc}")
                return None
        if rtype == "int":
            return IntRange(low, high, step or 1, log)
        return FloatRange(float(low), float(high), None if step is None else float(step), log)

    def categorical(self, dotted: str, raw: dict, check: Callable, *, allow_lists: bool = False) -> Categorical | None:
        extra = set(raw) - {"type", "choices"}
        if extra:
            self.error(dotted, f"a categorical takes only 'choices', not {', '.join(sorted(map(str, extra)))}; drop them or use a range (type: int/float, low, high)")
            return None
        choices = raw.get("choices")
        if not isinstance(choices, list) or not choices:
            self.error(f"{dotted}.choices", f"expected a non-empty list, got {choices!r}; list the values to try, e.g. {{choices: [32, 64]}}, or give a fixed value")
            return None
        normalised = []
        bad = False
        for i, choice in enumerate(choices):
            if isinstance(choice, dict) or (isinstance(choice, list) and not allow_lists):
                self.error(f"{dotted}.choices[{i}]", f"choices must be scalars (number, string, bool, null), got {choice!r}")
                bad = True
                continue
            try:
                normalised.append(check(choice))
            except _Invalid as exc:
                self.problems.pop()
                self.error(f"{dotted}.choices[{i}]", str(exc))
                bad = True
        if bad:
            return None
        seen: dict[tuple, int] = {}
        for i, choice in enumerate(normalised):
            key = (type(choice).__name__, choice)
            if key in seen:
                self.error(f"{dotted}.choices[{i}]", f"duplicate choice {choices[i]!r} (same as choices[{seen[key]}] {choices[seen[key]]!r}); remove one")
                return None
            seen[key] = i
        return Categorical(tuple(normalised))
