"""Validation of the sampler and pruner sections: a name plus the options of the Optuna class it names."""

from __future__ import annotations

import importlib.util
import math
import warnings

from search.space import _fields, registry
from search._format import did_you_mean


class _OptunaSections:
    """Mixin of the validator: sampler and pruner."""

    # -- sampler / pruner: a name plus the options of the Optuna class it names

    def named(self, section: str, raw, default_name: str) -> dict:
        if raw is None:
            raw = {"name": default_name}
        if isinstance(raw, str):
            raw = {"name": raw}
        raw = dict(self.mapping(section, raw))
        kind = section.split(".")[0]
        table = registry.SAMPLERS if kind == "sampler" else registry.PRUNERS
        name = raw.pop("name", default_name)
        if not isinstance(name, str) or name not in table:
            self.error(f"{section}.name", f"unknown {kind} {name!r}{did_you_mean(name, table)} (valid: {', '.join(table)})")
            return {"name": name}
        cls = table[name]
        options = registry.option_names(cls)
        annotations = registry.option_annotations(cls)
        before = len(self.problems)
        for key, value in raw.items():
            dotted = f"{section}.{key}"
            if key not in options:
                listed = ", ".join(options) if options else "none"
                self.error(dotted, f"{name} {kind} has no option {key!r}{did_you_mean(key, options)} (valid: {listed})")
            elif key == "wrapped":
                raw[key] = self.named(dotted, value, "median")
            else:
                self.check_option(dotted, value, annotations.get(key))
        for key in registry.required_options(cls):
            if key not in raw:
                self.error(f"{section}.{key}", f"the {name} {kind} needs this option (e.g. {key}: {registry.OPTION_EXAMPLES.get(key, '...')})")
        spec = {"name": name, **raw}
        if len(self.problems) == before and kind == "sampler":
            missing = [p for p in _fields.SAMPLER_PACKAGES.get(name, ()) if importlib.util.find_spec(p) is None]
            if missing:
                self.error(f"{section}.name", f"the {name} sampler needs the package{'s' if len(missing) > 1 else ''} {', '.join(missing)}, not installed; pip install {' '.join(missing)}, or use tpe")
        if len(self.problems) == before and name != "grid":
            self.constructs(section, kind, spec)
        return spec

    def check_option(self, dotted: str, value, annotation: str | None) -> None:
        """Type-check a sampler/pruner option by its constructor annotation (simple types only)."""
        if annotation is None:
            return
        tokens = {t.strip() for t in annotation.split("|")}
        if not tokens <= {"int", "float", "bool", "str", "None"}:
            return
        ok = (
            (value is None and "None" in tokens)
            or (isinstance(value, bool) and "bool" in tokens)
            or (isinstance(value, int) and not isinstance(value, bool) and tokens & {"int", "float"})
            or (isinstance(value, float) and "float" in tokens and math.isfinite(value))
            or (isinstance(value, str) and "str" in tokens)
        )
        if not ok:
            words = {"int": "an integer", "float": "a number", "bool": "true or false", "str": "a string", "None": "null"}
            expected = " or ".join(words[t] for t in ("int", "float", "bool", "str", "None") if t in tokens)
            self.error(dotted, f"expected {expected}, got {value!r}")

    def constructs(self, section: str, kind: str, spec: dict) -> None:
        """Build the sampler/pruner once, so that Optuna's own checks fail now, naming the option."""
        build = registry.make_sampler if kind == "sampler" else registry.make_pruner
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                build(spec)
            for warning in caught:
                if issubclass(warning.category, (FutureWarning, DeprecationWarning)):
                    text = str(warning.message).split(". ")[0]
                    key = next((k for k in spec if k != "name" and f"`{k}`" in text), None)
                    self.warn(f"{section}.{key}" if key else section, f"{text} (Optuna); drop it")
            return
        except (TypeError, ValueError) as exc:
            message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        culprit = section
        for key in spec:
            if key in ("name", "wrapped"):
                continue
            try:
                build({"name": spec["name"], key: spec[key], **({"wrapped": spec["wrapped"]} if "wrapped" in spec else {})})
            except (TypeError, ValueError):
                culprit = f"{section}.{key}"
                break
        self.error(culprit, f"the {spec['name']} {kind} rejects its options: {message}")
