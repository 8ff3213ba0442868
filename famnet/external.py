"""Methods from outside the package: a user's model declared in the config or by an installed
package, trained and evaluated like a built-in baseline (docs/methods.md "Add your method").

A declaration names the model class (``module:Class``, importable in the environment), the input
it reads (famnet.data.InputSpec fields), its training recipe and, optionally, its paper's numbers:

    external_methods:                       # config; or a package's "famnet.methods" entry point
      tinyflownet:                          # to a dict of these keys
        entry_point: tinyflownet:TinyFlowNet
        display: TinyFlowNet
        input: {kind: flow, channels: [u, v, strain], size: 28, per_image: minmax, standardise: false}
        recipe: {optimizer: adam, lr: 0.001, batch_size: 32, epochs: 30}
        paper: {uf1: 70.1, uar: 69.0, protocol: megc2019, selection: last epoch, source: "..."}

The class is any ``torch.nn.Module`` built as ``Class(num_classes=C, **models.<name> keys)`` whose
``forward(x)`` returns N×C class scores; ``ExternalModel`` wraps it into the harness's single-task
output. Registered (``register``), the method gets what a built-in baseline gets: folds, the
leakage guard, the oracle, intervals, comparisons, selection, the table; its code's identity
(``code_identity``: the version of its distribution and a hash of its package's source) enters
its models' provenance, so an edit of the user's code retrains its models and nothing else.
"""

from __future__ import annotations

import hashlib
import importlib
from dataclasses import dataclass, field
from pathlib import Path

from famnet.config import ConfigError

ENTRY_POINT_GROUP = "famnet.methods"
DECLARATION_KEYS = {"entry_point", "display", "input", "recipe", "paper"}


class ExternalMethodError(ConfigError):
    """A declared method cannot be loaded or does not fit the harness; the message names it."""


@dataclass(frozen=True)
class ExternalSpec:
    name: str
    entry_point: str
    display: str
    input: dict
    recipe: dict = field(default_factory=dict)
    paper: dict | None = None

    @classmethod
    def from_dict(cls, name: str, values: dict) -> "ExternalSpec":
        unknown = sorted(set(values) - DECLARATION_KEYS)
        if unknown:
            raise ExternalMethodError(f"external method {name!r}: unknown key(s) {unknown} (known: "
                                      f"{sorted(DECLARATION_KEYS)})")
        for key in ("entry_point", "input"):
            if key not in values:
                raise ExternalMethodError(f"external method {name!r}: no {key} declared")
        if ":" not in values["entry_point"]:
            raise ExternalMethodError(f"external method {name!r}: entry_point must be 'module:Class', got "
                                      f"{values['entry_point']!r}")
        from famnet.methods import RECIPE_KEYS

        extra = sorted(set(values.get("recipe") or {}) - set(RECIPE_KEYS))
        if extra:
            raise ExternalMethodError(f"external method {name!r}: recipe keys {extra} are not recipe keys "
                                      f"({list(RECIPE_KEYS)})")
        return cls(name, values["entry_point"], values.get("display", name), dict(values["input"]),
                   dict(values.get("recipe") or {}), values.get("paper"))

    def to_dict(self) -> dict:
        out = {"entry_point": self.entry_point, "display": self.display, "input": self.input, "recipe": self.recipe}
        return out | ({"paper": self.paper} if self.paper else {})

    def input_spec(self):
        from famnet.data import InputSpec

        try:
            return InputSpec.of(self.input)
        except (TypeError, ValueError) as error:
            raise ExternalMethodError(f"external method {self.name!r}: input {self.input}: {error}") from None


def entry_point_declarations() -> dict[str, dict]:
    """{name: declaration} of every installed package's ``famnet.methods`` entry point."""
    from importlib.metadata import entry_points

    out = {}
    for point in entry_points(group=ENTRY_POINT_GROUP):
        try:
            declared = point.load()
        except Exception as error:          # the user's package: any import error, named
            raise ExternalMethodError(f"external method {point.name!r}: entry point {point.value} of group "
                                      f"{ENTRY_POINT_GROUP} cannot be loaded ({type(error).__name__}: {error})") from None
        out[point.name] = dict(declared)
    return out


def declarations(config: dict) -> dict[str, dict]:
    """The external methods a config can use: installed packages' entry points, then the config's
    ``external_methods`` (a config declaration wins over a package's of the same name)."""
    return {**entry_point_declarations(), **(config.get("external_methods") or {})}


def load_class(spec: ExternalSpec):
    module_name, _, class_name = spec.entry_point.partition(":")
    try:
        module = importlib.import_module(module_name)
    except Exception as error:
        raise ExternalMethodError(f"external method {spec.name!r}: cannot import {module_name} "
                                  f"({type(error).__name__}: {error}); install its package (pip install -e ...) "
                                  f"or put it on PYTHONPATH") from None
    try:
        return getattr(module, class_name)
    except AttributeError:
        raise ExternalMethodError(f"external method {spec.name!r}: module {module_name} has no {class_name}") from None


def code_identity(spec: ExternalSpec) -> dict:
    """What of the user's code built a model: its entry point, its distribution's version when it
    is installed, and a hash of the source files of its top-level package (or module)."""
    load_class(spec)
    top = importlib.import_module(spec.entry_point.partition(":")[0].split(".")[0])
    where = Path(top.__file__)
    files = sorted(where.parent.rglob("*.py")) if where.name == "__init__.py" else [where]
    digest = hashlib.sha256()
    for path in files:
        digest.update(str(path.relative_to(where.parent)).encode() + b"\0" + path.read_bytes())
    out = {"entry_point": spec.entry_point, "source": digest.hexdigest()[:16]}
    try:
        from importlib.metadata import packages_distributions, version

        names = packages_distributions().get(top.__name__, [])
        if names:
            out["version"] = version(names[0])
    except Exception:     # not installed (on PYTHONPATH): the source hash alone
        pass
    return out


class ExternalConfig:
    """What the training loop reads of every model's config, for a user's model."""
    au_weight = 0.0
    au_count = 0
    pretrained = None
    aus = ()

    def __init__(self, num_classes: int, options: dict):
        self.num_classes = num_classes
        self.options = dict(options)

    def to_dict(self) -> dict:
        return {"num_classes": self.num_classes, **self.options}


def external_model_class():
    """ExternalModel, defined on first use: this module stays free of torch for the DAG."""
    from torch import nn

    from famnet.models.heads import ModelOutput
    from famnet.models.registry import RANDOM_INIT

    class ExternalModel(nn.Module):
        """A user's module (N×C class scores) as a single-task model of the harness."""

        def __init__(self, spec: ExternalSpec, num_classes: int = 3, aus=(), pretrained=None, **options):
            super().__init__()
            if list(aus):
                raise ExternalMethodError(f"external method {spec.name!r}: has no AU head, got aus {list(aus)}")
            self.spec, self.config = spec, ExternalConfig(num_classes, options)
            try:
                self.net = load_class(spec)(num_classes=num_classes, **options)
            except TypeError as error:
                raise ExternalMethodError(f"external method {spec.name!r}: {spec.entry_point}(num_classes="
                                          f"{num_classes}, **{options}) failed: {error}") from None
            self.input_spec = spec.input_spec()
            self.pretrained_source = RANDOM_INIT

        def forward(self, x):
            scores = self.net(x)
            if getattr(scores, "ndim", None) != 2 or scores.shape != (x.shape[0], self.config.num_classes):
                raise ExternalMethodError(f"external method {self.spec.name!r}: forward returned "
                                          f"{tuple(getattr(scores, 'shape', ()))}, expected N×{self.config.num_classes} "
                                          f"class scores for input {tuple(x.shape)}")
            return ModelOutput(scores, scores.new_zeros(scores.shape[0], 0))

    return ExternalModel


def register(name: str, values: dict) -> ExternalSpec:
    """Make ``name`` a method of this process (famnet.methods.METHODS, the model registry, its
    input kind). Registering the same declaration again is a no-op; another under a built-in's or a
    registered method's name is an error."""
    from famnet.methods import BASELINE_INPUT_KINDS, METHODS, Method

    spec = ExternalSpec.from_dict(name, values)
    known = METHODS.get(name)
    if known is not None:
        if known.kind == "external" and known.external == spec.to_dict():
            return spec
        raise ExternalMethodError(f"external method {name!r}: the name is taken by "
                                  f"{'a built-in method' if known.kind != 'external' else 'another declaration'}")
    spec.input_spec()                       # a bad input declaration is named now, not in a job
    METHODS[name] = Method(name, spec.display, "external", recipe=spec.recipe, paper=spec.paper,
                           external=spec.to_dict())
    BASELINE_INPUT_KINDS[name] = spec.input_spec().kind
    from famnet.models.registry import _MODEL_ENTRYPOINTS

    _MODEL_ENTRYPOINTS[name] = lambda **cfg: external_model_class()(spec, **cfg)
    return spec


def register_configured(config: dict, names=None) -> list[str]:
    """Register the external methods the config's run uses (``names``: those, default
    training.methods) that are not built in; returns them."""
    from famnet.methods import METHODS

    declared = None
    out = []
    for name in names if names is not None else (config.get("training") or {}).get("methods", []):
        if name in METHODS and METHODS[name].kind != "external":
            continue
        declared = declared if declared is not None else declarations(config)
        if name not in declared:
            raise ExternalMethodError(f"training.methods: {name!r} is neither a built-in method ("
                                      f"{', '.join(sorted(n for n, m in METHODS.items() if m.kind != 'external'))}) "
                                      f"nor declared under external_methods or by an installed package's "
                                      f"{ENTRY_POINT_GROUP} entry point")
        register(name, declared[name])
        out.append(name)
    return out


__all__ = ["ENTRY_POINT_GROUP", "ExternalMethodError", "ExternalSpec", "declarations", "entry_point_declarations",
           "load_class", "code_identity", "register", "register_configured"]
