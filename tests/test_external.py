"""Methods from outside the package (famnet.external): declared in the config or by an installed
package's entry point, checked when declared, refused for data that cannot feed them. The example
package's run through the whole workflow is tests/test_workflow.py (external_run)."""

import sys
from pathlib import Path

import pytest
import torch

from famnet.config import ConfigError, load_config
from famnet.external import ExternalMethodError, code_identity, declarations, register, register_configured
from famnet.methods import METHODS, input_problems, training_settings
from famnet.models import create_model
from famnet.tables import method_name

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "examples" / "tinyflownet"


@pytest.fixture
def example_on_path(monkeypatch):
    monkeypatch.syspath_prepend(str(EXAMPLE))
    yield
    for name in [n for n, m in METHODS.items() if m.kind == "external"]:
        METHODS.pop(name)
    from famnet.models.registry import _MODEL_ENTRYPOINTS
    for name in [n for n in _MODEL_ENTRYPOINTS if n in ("tinyflownet", "clipnet", "fromplugin", "identity")]:
        _MODEL_ENTRYPOINTS.pop(name)
    sys.modules.pop("tinyflownet", None)


def example_config():
    return load_config(REPO / "config" / "config.yaml", REPO / "config" / "ci.yaml", EXAMPLE / "famnet.yaml")


def test_the_examples_declaration_makes_a_method_with_its_input_recipe_and_name(example_on_path):
    config = example_config()
    assert register_configured(config) == ["tinyflownet"]
    assert register_configured(config) == ["tinyflownet"]                     # again: a no-op
    tiny = METHODS["tinyflownet"]
    assert (tiny.kind, tiny.display, tiny.multitask) == ("external", "TinyFlowNet", False)
    assert tiny.input_spec({"width": 8}).to_dict() == {"kind": "flow", "channels": ["u", "v", "strain"], "size": 28,
                                                       "per_image": "minmax", "standardise": False}
    recipe = training_settings("tinyflownet", config["training"], config["models"]["tinyflownet"])
    assert (recipe["optimizer"], recipe["lr"], recipe["epochs"], recipe["batch_size"]) == ("adam", 0.001, 30, 16)
    model = create_model("tinyflownet", num_classes=3, aus=[], width=8)
    out = model(torch.rand(4, 3, 28, 28))
    assert out.emotion.shape == (4, 3) and out.aus.shape == (4, 0)
    assert method_name("tinyflownet-fixed") == "TinyFlowNet (fixed recipe)"
    identity = code_identity(__import__("famnet.external", fromlist=["ExternalSpec"]).ExternalSpec.from_dict(
        "tinyflownet", tiny.external))
    assert identity["entry_point"] == "tinyflownet:TinyFlowNet" and len(identity["source"]) == 16


def test_a_declared_model_that_does_not_fit_the_harness_is_named(example_on_path):
    config = example_config()
    register_configured(config)
    with pytest.raises(ExternalMethodError, match=r"TinyFlowNet\(num_classes=3, \*\*\{'depth': 2\}\) failed"):
        create_model("tinyflownet", num_classes=3, depth=2)
    register("identity", {"entry_point": "torch.nn:Identity", "input": {"kind": "flow"}})   # returns its input
    with pytest.raises(ExternalMethodError, match=r"'identity': forward returned \(2, 3, 28, 28\), expected N×3"):
        create_model("identity", num_classes=3)(torch.rand(2, 3, 28, 28))
    with pytest.raises(ExternalMethodError, match="the name is taken by a built-in method"):
        register("ststnet", config["external_methods"]["tinyflownet"])
    with pytest.raises(ExternalMethodError, match=r"recipe keys \['seeds'\] are not recipe keys"):
        register("other", {**config["external_methods"]["tinyflownet"], "recipe": {"seeds": [1]}})
    register("fromplugin", {"entry_point": "nowhere_to_be_found:Net", "input": {"kind": "flow"}})
    with pytest.raises(ExternalMethodError, match="'fromplugin': cannot import nowhere_to_be_found"):
        create_model("fromplugin", num_classes=3)
    with pytest.raises(ExternalMethodError, match="input .*unknown model input 'frames'"):
        register("badinput", {"entry_point": "tinyflownet:TinyFlowNet", "input": {"kind": "frames"}})


def test_a_method_whose_input_a_dataset_cannot_give_is_named_before_any_job(example_on_path):
    register("clipnet", {"entry_point": "tinyflownet:TinyFlowNet", "input": {"kind": "clip"}})
    register("tinyflownet", example_config()["external_methods"]["tinyflownet"])
    problems = input_problems(["clipnet", "tinyflownet"], {}, {"megc2019_public": "megc2019_public"})
    assert len(problems) == 1 and "clipnet" in problems[0] and "megc2019_public" in problems[0]


def test_an_unknown_method_or_model_section_is_a_config_error_naming_it():
    config = load_config(REPO / "config" / "config.yaml")
    config["training"]["methods"] = ["amnet2d", "mynet"]
    from famnet.config import validate_config
    with pytest.raises(ConfigError, match="training.methods: 'mynet' is neither a built-in method"):
        validate_config(config)
    config["training"]["methods"] = ["amnet2d"]
    config["models"]["sstnet"] = {"training": {"epochs": 3}}
    with pytest.raises(ConfigError, match=r"models.sstnet: no method of that name"):
        validate_config(config)
    del config["models"]["sstnet"]
    config["external_methods"] = {"ststnet": {"entry_point": "mine:Net", "input": {"kind": "flow"}}}
    with pytest.raises(ConfigError, match=r"external_methods.ststnet: the name is taken by a built-in method"):
        validate_config(config)


def test_an_installed_packages_entry_point_declares_a_method(tmp_path, monkeypatch, example_on_path):
    """A distribution on sys.path whose entry_points.txt names a famnet.methods entry (what pip
    writes for the example's pyproject.toml)."""
    info = tmp_path / "tinyflownet-0.1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: tinyflownet\nVersion: 0.1.0\n")
    (info / "entry_points.txt").write_text("[famnet.methods]\ntinyflownet = tinyflownet:DECLARATION\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    found = declarations({})
    assert found["tinyflownet"]["entry_point"] == "tinyflownet:TinyFlowNet"
    config = load_config(REPO / "config" / "config.yaml", REPO / "config" / "ci.yaml")
    config["training"]["methods"] = ["ststnet", "tinyflownet"]          # no external_methods entry needed
    from famnet.config import validate_config
    validate_config(config)
    assert register_configured(config) == ["tinyflownet"] and METHODS["tinyflownet"].display == "TinyFlowNet"
