"""Validation of the model section: the family's own config checks its parameters."""

from __future__ import annotations

import re
from typing import Any

from search.space._checks import _fmt, _Invalid
from search.space._fields import _MODEL_KINDS, LAYER_SIZE_ALIASES, LEGACY_KEYS, MAX_ATTENTION_PAIRS, UNIFORM_LAYER_KEYS
from search._format import did_you_mean
from search.space._types import RANGE_KEYS, UniformLayers, uniform_sizes, values_of


class _ModelSection:
    """Mixin of the validator: the model section, legacy layer keys, attention pairs."""

    # -- model section: the family's own config validates its parameters

    def model(self, raw) -> tuple[str, dict]:
        import models

        raw = dict(self.mapping("model", raw))
        family = raw.pop("family", None)
        if family not in models.FAMILIES:
            if family is None:
                self.error("model.family", f"required key is missing (one of {', '.join(models.FAMILIES)})")
            else:
                self.error("model.family", f"unknown model family {family!r}{did_you_mean(family, models.FAMILIES)} (valid: {', '.join(models.FAMILIES)})")
            return str(family), {}
        config_cls = models.config_class(family)
        kinds = {
            name: _MODEL_KINDS.get(f.type if isinstance(f.type, str) else getattr(f.type, "__name__", str(f.type)), "any")
            for name, f in config_cls.__dataclass_fields__.items()
        }
        valid = list(kinds)
        legacy = {k: raw.pop(k) for k in list(raw) if k in LEGACY_KEYS}
        out = {}
        for key, value in raw.items():
            dotted = f"model.{key}"
            if key not in kinds:
                names = valid + (list(LEGACY_KEYS) if "layer_sizes" in kinds else [])
                self.error(dotted, f"unknown parameter for {family}{did_you_mean(key, names)} (valid: {', '.join(valid)})")
                continue
            parsed = self.model_value(family, key, value, dotted, kinds[key])
            if parsed is None:
                self.failed_model_keys.add(key)
            else:
                out[key] = parsed
        if legacy:
            if "layer_sizes" not in kinds:
                for key in legacy:
                    self.error(f"model.{key}", f"{family} has no layer sizes; set its own parameters instead (valid: {', '.join(valid)})")
            else:
                sizes = self.legacy_layer_sizes(family, legacy, "layer_sizes" in raw)
                if sizes is None:
                    self.failed_model_keys.add("layer_sizes")
                else:
                    out["layer_sizes"] = sizes
        if family == "transformer" and not self.failed_model_keys & {"d_model", "nhead"}:
            self.attention(out, raw)
        return family, out

    def model_value(self, family: str, key: str, value, dotted: str, kind: str):
        """A model key's fixed value (normalised) or search range; None when invalid."""

        def check(v):
            return self.check_model_value(family, key, v, dotted)

        if isinstance(value, dict) and (set(value) & RANGE_KEYS):
            return self.searchable(dotted, value, check, kind)
        try:
            return check(value)
        except _Invalid:
            return None

    def check_model_value(self, family: str, key: str, value, dotted: str):
        """One value of one model key, checked by the family's config on its own (rules between
        keys, such as nhead dividing d_model, are checked over the whole section later)."""
        import models

        others: dict[str, Any] = {}
        if key == "nhead" and isinstance(value, int) and not isinstance(value, bool) and value > 0:
            others = {"d_model": value}
        elif key == "d_model":
            others = {"nhead": 1}
        try:
            if key == "layer_sizes":
                value = models.format_layer_sizes(value)
                models.config_class(family)(layer_sizes=models.parse_layer_sizes(value)).validate()
            else:
                models.config_class(family)(**{key: value, **others}).validate()
        except (models.ModelParamError, TypeError, ValueError) as exc:
            message = getattr(exc, "message", None) or str(exc)
            self.error(dotted, message)
            raise _Invalid(message) from None
        return value

    def legacy_layer_sizes(self, family: str, legacy: dict, canonical_given: bool):
        """``RNN_LAYER_SIZES`` / ``GRU_UNITS`` / ``LAYERS`` + ``HIDDEN_UNITS`` -> layer sizes."""
        aliases = [k for k in LAYER_SIZE_ALIASES if k in legacy]
        uniform = [k for k in UNIFORM_LAYER_KEYS if k in legacy]
        sources = (["layer_sizes"] if canonical_given else []) + aliases + uniform[:1]
        if len(sources) > 1:
            for extra in sources[1:]:
                self.error(f"model.{extra}", f"sets the layer sizes again (model.{sources[0]} sets them already); keep one of {', '.join('model.' + s for s in sources)}")
            return None
        if aliases:
            key = aliases[0]
            return self.model_value(family, "layer_sizes", legacy[key], f"model.{key}", "sizes")
        missing = [k for k in UNIFORM_LAYER_KEYS if k not in legacy]
        if missing:
            self.error(f"model.{uniform[0]}", f"needs model.{missing[0]} too: LAYERS is the number of layers, HIDDEN_UNITS the units in each (e.g. LAYERS: 2, HIDDEN_UNITS: 64 is layer_sizes '64,64')")
            return None
        n_layers = self.legacy_int("model.LAYERS", legacy["LAYERS"])
        hidden = self.legacy_int("model.HIDDEN_UNITS", legacy["HIDDEN_UNITS"])
        if n_layers is None or hidden is None:
            return None
        if isinstance(n_layers, int) and isinstance(hidden, int):
            return uniform_sizes(n_layers, hidden)
        return UniformLayers(n_layers, hidden)

    def legacy_int(self, dotted: str, value):
        """A positive int, or a range of them: ``"[1,3]"``, ``[1, 3]`` or a range mapping."""

        def check(v):
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                message = f"expected a positive integer, got {v!r}"
                self.error(dotted, message)
                raise _Invalid(message)
            return v

        if isinstance(value, str):
            text = value.strip()
            match = re.fullmatch(r"\[\s*([+-]?\d+)\s*,\s*([+-]?\d+)\s*\]", text)
            if match:
                value = [int(match.group(1)), int(match.group(2))]
            elif re.fullmatch(r"[+-]?\d+", text):
                value = int(text)
            else:
                self.error(dotted, f"expected an integer, a range string like '[1,3]', or a range mapping, got {value!r}")
                return None
        if isinstance(value, list):
            if len(value) != 2 or not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
                self.error(dotted, f"a range is two integers [low, high], got {value!r}; for a set of values use {{choices: [...]}}")
                return None
            value = {"type": "int", "low": value[0], "high": value[1]}
        if isinstance(value, dict) and (set(value) & RANGE_KEYS):
            return self.searchable(dotted, value, check, "int")
        try:
            return check(value)
        except _Invalid:
            return None

    def attention(self, out: dict, raw: dict) -> None:
        """nhead must divide d_model: for fixed values, every choice of a searched one, and (when
        both are searched) at least one pair; the compiler then samples valid pairs only."""
        import models

        defaults = models.config_class("transformer")()
        d_model, nhead = out.get("d_model", defaults.d_model), out.get("nhead", defaults.nhead)
        d_values, h_values = values_of(d_model), values_of(nhead)
        if d_values is None or h_values is None:
            return
        key = "model.nhead" if "nhead" in raw or "d_model" not in raw else "model.d_model"
        pairs = [(d, h) for d in d_values for h in h_values if d % h == 0]
        default_note = "" if "nhead" in raw else " (the default)"
        if not pairs:
            if len(d_values) == 1 and len(h_values) == 1:
                divisors = [n for n in range(1, d_model + 1) if d_model % n == 0]
                self.error(key, f"nhead={nhead}{default_note} must divide d_model={d_model}; valid nhead for d_model={d_model}: {_fmt(divisors, 12)}")
            else:
                self.error(key, f"no nhead value divides any d_model value (d_model: {_fmt(d_values)}; nhead: {_fmt(h_values)}); nhead must divide d_model, e.g. d_model 128 with nhead 4 or 8")
            return
        if len(d_values) == 1 and len(pairs) < len(h_values):
            bad = [h for h in h_values if d_values[0] % h]
            divisors = [n for n in range(1, d_values[0] + 1) if d_values[0] % n == 0]
            verb, them = ("does", "it") if len(bad) == 1 else ("do", "them")
            self.error("model.nhead", f"nhead {_fmt(bad)} {verb} not divide d_model={d_values[0]}; remove {them} (valid nhead for d_model={d_values[0]}: {_fmt(divisors, 12)})")
        elif len(h_values) == 1 and len(pairs) < len(d_values):
            bad = [d for d in d_values if d % h_values[0]]
            self.error("model.d_model", f"d_model {_fmt(bad)} {'is' if len(bad) == 1 else 'are'} not a multiple of nhead={h_values[0]}{default_note}; use multiples of {h_values[0]} only (e.g. a step that is a multiple of {h_values[0]} from a multiple of {h_values[0]})")
        elif len(pairs) > MAX_ATTENTION_PAIRS:
            self.error("model.d_model", f"d_model x nhead gives {len(pairs)} valid pairs, too many to sample as one categorical (at most {MAX_ATTENTION_PAIRS}); give d_model a step (e.g. step: 32) or choices")
