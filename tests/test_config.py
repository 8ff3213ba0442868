"""Config schema validation: the shipped configs pass; a wrong key or type names the key."""

import copy
import re
from pathlib import Path

import pytest
import yaml

from famnet.config import ConfigError, load_config, validate_config

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture()
def config():
    return load_config(REPO / "config" / "config.yaml")


def test_shipped_configs_validate(config):
    ci = load_config(REPO / "config" / "config.yaml", REPO / "config" / "ci.yaml")
    assert config["synthetic"]["demo"]["size"] == "demo"
    assert ci["synthetic"]["demo"]["size"] == "tiny"
    # The CI file only overrides; everything else comes from the main config.
    assert ci["datasets"] == config["datasets"] and ci["protocols"] == config["protocols"]
    paper = load_config(REPO / "config" / "config.yaml", REPO / "config" / "paper.yaml")
    assert paper["preprocess"]["crop_size"] == 224 and paper["training"]["device"] == "cuda"
    # the paper's inputs, not the CPU demo's
    assert paper["models"]["amnet2d"]["input"] == "apex" and paper["models"]["amnet3d"]["input"] == "clip"
    # ... at torchvision's widths (the demo's 0.25 is a CPU departure)
    assert config["models"]["amnet2d"]["width"] == config["models"]["amnet3d"]["width"] == 0.25
    assert paper["models"]["amnet2d"]["width"] == paper["models"]["amnet3d"]["width"] == 1


@pytest.mark.parametrize("mutate, key, words", [
    (lambda c: c["datasets"]["syn_casme2"].update(rot="x"), "datasets.syn_casme2", "unknown key"),
    (lambda c: c["datasets"]["syn_casme2"].update(format="casme9"), "datasets.syn_casme2.format", "casme9"),
    (lambda c: c["datasets"]["syn_casme2"].update(root=3), "datasets.syn_casme2.root", "is not of type 'string'"),
    (lambda c: c["synthetic"]["demo"].update(size="huge"), "synthetic.demo.size", "huge"),
    (lambda c: c["synthetic"]["demo"].update(subjects=0), "synthetic.demo.subjects", "minimum"),
    (lambda c: c["protocols"]["synthetic"].update(classes={"a": ["x"]}), "protocols.synthetic.classes",
     "does not have enough properties"),
    (lambda c: c.update(trainig={}), "(top level)", "unknown key"),
    (lambda c: c["run"].update(protocols=[]), "run.protocols", "should be non-empty|too short|\\[\\]"),
    (lambda c: c["run"].update(protocols=["nope"]), "run.protocols", "no protocol named 'nope'"),
    (lambda c: c["run"].update(protocols=["megc2019"]), "protocols.megc2019.datasets", "not defined under datasets"),
    (lambda c: c["datasets"]["syn_samm"].update(synthetic="other"), "datasets.syn_samm.synthetic",
     "no synthetic entry named 'other'"),
    (lambda c: c["datasets"]["syn_samm"].update(annotation=None), "datasets.syn_samm.annotation",
     "needs its annotation sheet"),
])
def test_bad_config_names_the_key(config, mutate, key, words):
    bad = copy.deepcopy(config)
    mutate(bad)
    with pytest.raises(ConfigError, match=r"config error at ") as error:
        validate_config(bad)
    message = str(error.value)
    assert f"config error at {key}:" in message
    assert re.search(words, message), message


def test_inactive_protocols_may_name_undefined_datasets(config):
    # megc2019 names smic/casme2/samm, which the demo config does not define: fine until it is run.
    assert "megc2019" in config["protocols"] and "casme2" not in config["datasets"]
    validate_config(config)


def test_schema_file_is_valid_yaml_with_strict_top_level():
    schema = yaml.safe_load((REPO / "workflow" / "schemas" / "config.schema.yaml").read_text())
    assert schema["additionalProperties"] is False
    assert set(schema["required"]) == {"datasets", "protocols", "run"}


def test_models_section_builds_both_branches(config):
    from famnet.models import create_model

    for branch in ("amnet2d", "amnet3d"):
        model = create_model(branch, num_classes=3, aus=config["models"]["aus"], **config["models"][branch])
        assert model.config.au_count == len(config["models"]["aus"]) == 14
        assert model.pretrained_source == "random init"
