"""The methods a run can train: a registered model, the input it reads and its training recipe.

    method = METHODS["ststnet"]
    spec = method.input_spec(model_config)              # famnet.data.InputSpec
    settings = training_settings("ststnet", config["training"], config["models"].get("ststnet", {}))

FAMNet's branches (amnet2d, amnet3d) train with the ``training`` section of config.yaml; each
baseline with its paper's recipe (``METHODS[name].recipe``), over which ``models.<method>.training``
may set keys (every departure is written in docs/baselines.md and in the config). The run-wide keys
(seeds, device, threads, val_fraction, the oracle analysis) always come from ``training``; ``amp``
(bf16 autocast on CUDA) is a recipe key: the branches take ``training.amp``, the baselines train in
fp32 as their authors did unless ``models.<baseline>.training.amp`` says otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# Keys a method's recipe sets; the rest of TrainConfig is run-wide.
RECIPE_KEYS = ("epochs", "batch_size", "optimizer", "lr", "weight_decay", "lr_schedule", "class_balance", "hflip",
               "amp")


@dataclass(frozen=True)
class Method:
    name: str                       # registered model and variant prefix
    display: str                    # table name
    kind: str                       # "famnet" (a FAMNet branch) | "baseline" | "external" (famnet.external)
    default_input: str = ""         # FAMNet branches: input kind when models.<name>.input is not set
                                    # (a baseline's model class declares its own)
    recipe: dict = field(default_factory=dict)   # the paper's training recipe (baselines)
    paper: dict | None = None       # published result: uf1, uar (percent), protocol, selection, source;
                                    # optional ``alt``: a second published pair {uf1, uar, source}
    paper_sizes: dict = field(default_factory=dict)   # the paper's network sizes, as models.<method> keys
                                    # (the model config classes' defaults: a key not set is the paper's)
    benchmark: dict | None = None   # MEB's rerun on the MEGC2019 composite: uf1 after fixed epochs,
                                    # oracle_uf1 with each fold's best test epoch, source
    external: dict | None = None    # an external method's declaration (famnet.external)

    @property
    def multitask(self) -> bool:
        return self.kind == "famnet"

    def input_spec(self, model_config: dict):
        """What this method reads (a famnet.data.InputSpec), from its model config (the model class
        declares it). Imported lazily: this module stays free of torch for the command line."""
        if self.kind == "famnet":
            from famnet.data import InputSpec
            return InputSpec(model_config.get("input", self.default_input))
        if self.kind == "external":
            from famnet.external import ExternalSpec
            return ExternalSpec.from_dict(self.name, self.external).input_spec()
        model_class, config_class = _baseline_classes()[self.name]
        return model_class.spec(config_class.from_dict(architecture(model_config)))


# What the three baselines' papers share: Adam without weight decay at a constant learning rate,
# plain cross-entropy, no augmentation, fp32 (no autocast).
PAPER_RECIPE = {"optimizer": "adam", "weight_decay": 0.0, "lr_schedule": "constant", "class_balance": "none",
                "hflip": 0.0, "amp": False}

# The field's leak-free reference: MEB (tvaranka/meb) reruns methods on the MEGC2019 composite with
# a fixed number of epochs and, beside it, with each fold's best test epoch (the leak), UF1 only.
MEB_SOURCE = "MEB: Varanka et al., IEEE TAFFC 2024 (tvaranka/meb)"

# Published numbers, MEGC2019 composite (SMIC-HS + CASME II + SAMM, 3 classes, LOSO), as fractions
# in the papers, in percent here. `selection` says how the paper's code chose the reported epoch.
METHODS = {
    "amnet2d": Method("amnet2d", "AMNet2D", "famnet", "apex", paper_sizes={"width": 1.0}),
    "amnet3d": Method("amnet3d", "AMNet3D", "famnet", "clip", paper_sizes={"width": 1.0}),
    "ststnet": Method(
        "ststnet", "STSTNet", "baseline",
        recipe={**PAPER_RECIPE, "lr": 5e-5, "batch_size": 256, "epochs": 800}, paper_sizes={"input_size": 28},
        paper={"uf1": 73.53, "uar": 76.05, "protocol": "megc2019", "selection": "last epoch",
               "source": "Liong et al., FG 2019 (MEGC2019): the authors' MATLAB model (500 epochs, L2 1e-4, "
                         "zero-centred input, padding 1), not the recipe run here",
               "alt": {"uf1": 72.09, "uar": 72.50,
                       "source": "the authors' Python rerun of the recipe run here (christy1206/STSTNet main.py, "
                                 "STSTNet_python_logfile.txt, last epoch)"}},
        benchmark={"uf1": 71.27, "oracle_uf1": 77.40,
                   "source": MEB_SOURCE + ": 28 x 28 flow, Adam 5e-5, weight decay 1e-3, one seed"}),
    "off_apexnet": Method(
        "off_apexnet", "OFF-ApexNet", "baseline",
        recipe={**PAPER_RECIPE, "lr": 1e-4, "batch_size": 64, "epochs": 3000}, paper_sizes={"input_size": 28},
        paper={"uf1": 71.96, "uar": 70.96, "protocol": "megc2019", "selection": "not stated",
               "source": "OFF-ApexNet (Gan et al., SPIC 2019) on the MEGC2019 composite, as cited in the "
                         "MEGC2019 comparisons; not found in a readable copy of the paper here"},
        benchmark={"uf1": 70.32, "oracle_uf1": 83.90,
                   "source": MEB_SOURCE + ": its single-stream OffApexNet (u, v stacked as one 2-channel stream, "
                             "one FC layer), not the two-stream network here; 28 x 28, 3000 epochs, Adam 1e-4, "
                             "weight decay 1e-3, one seed"}),
    "htnet": Method(
        "htnet", "HTNet", "baseline",
        recipe={**PAPER_RECIPE, "lr": 5e-5, "batch_size": 256, "epochs": 800},
        paper_sizes={"input_size": 28, "patch_size": 7, "dim": 256, "heads": 3, "levels": 3, "block_repeats": [2, 2, 10],
                     "mlp_mult": 4},
        paper={"uf1": 86.03, "uar": 84.75, "protocol": "megc2019", "selection": "best test epoch per subject",
               "source": "Wang et al., Neurocomputing 602, 2024"}),
    "sssnet": Method(
        "sssnet", "SSSNet", "baseline",
        recipe={**PAPER_RECIPE, "lr": 1e-4, "weight_decay": 1e-3, "batch_size": 32, "epochs": 200},
        paper_sizes={"input_size": 64},
        paper={"uf1": 73.9, "uar": None, "protocol": "megc2019", "selection": "last epoch",
               "source": MEB_SOURCE + " (64 x 64 flow, 200 epochs, Adam 1e-4, one seed; UAR not reported)"},
        benchmark={"uf1": 73.9, "oracle_uf1": None, "source": MEB_SOURCE}),
}
BASELINES = tuple(name for name, method in METHODS.items() if method.kind == "baseline")


def _baseline_classes() -> dict:
    from famnet.models import HTNet, HTNetConfig, OFFApexNet, SSSNet, SSSNetConfig, STSTNet, BaselineConfig
    return {"ststnet": (STSTNet, BaselineConfig), "off_apexnet": (OFFApexNet, BaselineConfig),
            "htnet": (HTNet, HTNetConfig), "sssnet": (SSSNet, SSSNetConfig)}


def method(name: str) -> Method:
    if name not in METHODS:
        raise ValueError(f"unknown method {name!r}; one of {sorted(METHODS)} (an external method: declared under "
                         f"external_methods, docs/methods.md)")
    return METHODS[name]


def size_departures(name: str, model_config: dict | None) -> list[str]:
    """How a method's network, as configured, departs from its paper's sizes, in words for its table
    row: HTNet at dim 32 with [1, 1, 1] blocks -> ['dim 32', '1 block per level']; [] when it runs at
    the paper's sizes (its row may then be set beside the paper's number)."""
    sizes = method(name).paper_sizes
    config = architecture(model_config)
    out = []
    for key, paper in sizes.items():
        value = config.get(key, paper)
        if (list(value) if isinstance(value, (list, tuple)) else value) == paper:
            continue
        if key == "block_repeats":
            out.append(f"{value[0]} block{'s' if value[0] > 1 else ''} per level" if len(set(value)) == 1
                       else "blocks per level " + ", ".join(map(str, value)))
        elif key == "input_size":
            out.append(f"{value} x {value} input")
        else:
            out.append(f"{key.replace('_', ' ')} {value:g}" if isinstance(value, float) else
                       f"{key.replace('_', ' ')} {value}")
    return out


def architecture(model_config: dict | None) -> dict:
    """models.<method> without its training recipe, seeds and recipe selection (and an external
    method's declaration, which the workflow passes its jobs with it): what builds the model."""
    return {k: v for k, v in (model_config or {}).items() if k not in ("training", "seeds", "selection", "external")}


def training_settings(name: str, training: dict, model_config: dict | None = None) -> dict:
    """The training keys one method's jobs use: the run's section, then (baselines) the paper's
    recipe over the recipe keys, then ``models.<method>.training``."""
    settings = dict(training or {})
    settings.pop("methods", None)
    m = method(name)
    if m.kind in ("baseline", "external"):
        settings.update(m.recipe)
    overrides = (model_config or {}).get("training") or {}
    unknown = sorted(set(overrides) - set(RECIPE_KEYS))
    if unknown:
        raise ValueError(f"models.{name}.training: {unknown} are run-wide keys or unknown; a method's recipe "
                         f"sets only {list(RECIPE_KEYS)}")
    settings.update(overrides)
    return settings




# What each baseline reads, as its model class declares it (Method.input_spec; a test keeps the two
# equal): known without importing torch, so the workflow checks methods against datasets when the
# DAG is built (famnet.datasets.formats.input_problem).
BASELINE_INPUT_KINDS = {"ststnet": "flow", "off_apexnet": "flow", "htnet": "flow_regions", "sssnet": "flow"}


def input_kind(name: str, model_config: dict | None = None) -> str:
    """The input kind (famnet.data.INPUTS) method ``name`` reads under its model config."""
    m = method(name)
    if m.kind == "famnet":
        return (model_config or {}).get("input", m.default_input)
    return BASELINE_INPUT_KINDS[name]


def input_problems(variants: list, models: dict, datasets: dict[str, str]) -> list[str]:
    """Why each of ``variants`` (method names, or (method, ablation or None) pairs) cannot read each of
    ``datasets`` ({name: format}); empty when all can."""
    from famnet.datasets.formats import input_problem

    out = []
    for variant in variants:
        name, ablation = (variant, None) if isinstance(variant, str) else variant
        kind = variant_input_kind(name, ablation, (models or {}).get(name))
        label = name if not ablation else f"{name}-{ablation}"
        out += [p for d, fmt in datasets.items() if (p := input_problem(d, fmt, kind, label))]
    return out


# Input variants of the FAMNet branches, listed with the ablations (training.ablations): the same
# branch trained on another of its inputs, a variant (and a table row) of its own.
INPUT_VARIANTS = {"input_apex": "apex", "input_flow": "flow", "input_apex_flow": "apex_flow",
                  "input_clip": "clip", "input_clip_diff": "clip_diff"}
BRANCH_INPUTS = {"amnet2d": ("apex", "flow", "apex_flow"), "amnet3d": ("clip", "clip_diff")}


# The fixed-recipe twin of a method that selects its recipe (models.<method>.selection.also_fixed):
# the same model and recipe without the search, a variant (and a table row) of its own.
FIXED_RECIPE = "fixed"


def ablation_applies(name: str, ablation: str) -> bool:
    """Whether an ablation (or input variant) exists for method ``name``: the ablations for both
    FAMNet branches, an input variant for the branch that reads that input, the fixed-recipe twin
    for every method."""
    if ablation == FIXED_RECIPE:
        return True
    if not method(name).multitask:
        return False
    return ablation not in INPUT_VARIANTS or INPUT_VARIANTS[ablation] in BRANCH_INPUTS.get(name, ())


def variant_input_kind(name: str, ablation: str | None, model_config: dict | None = None) -> str:
    """The input kind of a variant: its input variant's, else the method's."""
    if ablation in INPUT_VARIANTS:
        return INPUT_VARIANTS[ablation]
    return input_kind(name, model_config)


__all__ = ["Method", "METHODS", "BASELINES", "RECIPE_KEYS", "INPUT_VARIANTS", "BRANCH_INPUTS", "FIXED_RECIPE", "method",
           "architecture", "size_departures",
           "training_settings", "input_kind", "input_problems", "ablation_applies", "variant_input_kind"]
