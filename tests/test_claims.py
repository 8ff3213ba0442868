"""The paper's claims as verdicts generated from paired comparisons (famnet.claims), the late
fusion of two rows, and rows that say when a network runs at other sizes than its paper's
(docs/claims.md). The predictions are built here with a known-better ablation, so each verdict is
known in advance; the smoke run's claims.md is checked in tests/test_workflow.py."""

import json

import numpy as np
import pandas as pd
import pytest
from conftest import write_per_fold

from famnet.claims import (CONTRADICTED, NOT_ASSESSED, NOT_DISTINGUISHABLE, NOT_TESTED, SUPPORTED, Claim, Fusion,
                           claim_verdict, claims_table)
from famnet.cli import main
from famnet.fuse import fuse_pooled
from famnet.metrics import uf1_uar
from famnet.tables import build_table, evaluate_protocol, table_markdown, write_metrics

CLASSES = ["surprise", "negative", "positive"]     # not alphabetical, as the synthetic protocol's


def protocol_table(subjects: int = 30, per_subject: int = 6) -> pd.DataFrame:
    rows = [{"dataset": "d1" if s % 2 else "d2", "subject": f"s{s:02d}", "sample": f"x{s}_{k}", "fold": s,
             "label": k % 3} for s in range(subjects) for k in range(per_subject)]
    return pd.DataFrame(rows)


def predictions(table: pd.DataFrame, accuracy: float, seed: int) -> pd.DataFrame:
    """Right with probability ``accuracy`` (a confident softmax on the predicted class)."""
    rng = np.random.default_rng(seed)
    right = rng.random(len(table)) < accuracy
    wrong = (table["label"].to_numpy() + rng.integers(1, 3, len(table))) % 3
    predicted = np.where(right, table["label"], wrong)
    probabilities = np.full((len(table), 3), 0.15)
    probabilities[np.arange(len(table)), predicted] = 0.7
    return table.assign(prediction=predicted, **{f"prob_{c}": probabilities[:, i] for i, c in enumerate(CLASSES)})


def run_files(tmp_path, table, name, accuracy, seeds, offset):
    return {seed: write_per_fold(tmp_path, f"{name}{seed}", predictions(table, accuracy, 100 * offset + seed))
            for seed in seeds}


CLAIMS = [
    Claim("au", "Joint training on AUs improves MER", "amnet2d", ("amnet2d-no_au",)),
    Claim("attention", "Attention improves MER", "amnet2d", ("amnet2d-no_attention",)),
    Claim("reversed", "Dropping the AU task improves MER", "amnet2d-no_au", ("amnet2d",)),
    Claim("fusion_2d_3d", "Fusing 2D and 3D improves on each", "famnet", ("amnet2d", "amnet3d"),
          needs="clips: the release has none"),
    Claim("one_seed", "STSTNet beats AMNet2D", "ststnet", ("amnet2d",)),
]


@pytest.fixture(scope="module")
def document(tmp_path_factory):
    """AMNet2D right 90 % of the time, without its AU task 45 %, without attention 90 % (other
    draws), 3 seeds each; STSTNet one seed; no FAMNet."""
    tmp_path = tmp_path_factory.mktemp("claims")
    table = protocol_table()
    files = {"amnet2d": run_files(tmp_path, table, "a", 0.9, range(3), 1),
             "amnet2d-no_au": run_files(tmp_path, table, "b", 0.45, range(3), 2),
             "amnet2d-no_attention": run_files(tmp_path, table, "c", 0.9, range(3), 3),
             "ststnet": run_files(tmp_path, table, "d", 0.8, [0], 4)}
    return evaluate_protocol("p", table, CLASSES, files, claims=CLAIMS)


def test_a_known_better_row_supports_its_claim_and_the_reverse_is_contradicted(document):
    claims = claims_table([document]).set_index(["claim_id", "than"])
    assert claims.loc[("au", "amnet2d-no_au"), "verdict"] == SUPPORTED
    assert claims.loc[("au", "amnet2d-no_au"), "uf1_diff_ci_low"] > 20           # about 90 - 45 points
    assert claims.loc[("reversed", "amnet2d"), "verdict"] == CONTRADICTED
    assert claims.loc[("reversed", "amnet2d"), "uf1_diff"] == pytest.approx(-claims.loc[("au", "amnet2d-no_au"), "uf1_diff"])
    attention = claims.loc[("attention", "amnet2d-no_attention")]
    assert attention["verdict"] == NOT_DISTINGUISHABLE and attention["uf1_diff_ci_low"] < 0 < attention["uf1_diff_ci_high"]
    # The pair's difference is the table's: the rows' pooled UF1 (mean over seeds) subtracted.
    scores = document["methods"]
    assert claims.loc[("au", "amnet2d-no_au"), "uf1_diff"] == pytest.approx(
        100 * (scores["amnet2d"]["scores"]["all"]["uf1"] - scores["amnet2d-no_au"]["scores"]["all"]["uf1"]), abs=0.006)


def test_a_claim_whose_rows_did_not_run_or_have_one_seed_gets_no_verdict_either_way(document):
    claims = claims_table([document]).set_index(["claim_id", "than"])
    missing = claims.loc[("fusion_2d_3d", "amnet2d")]
    assert missing["verdict"] == NOT_TESTED and missing["why"] == "famnet not in this run; clips: the release has none"
    assert claims.loc[("fusion_2d_3d", "amnet3d"), "why"].startswith("famnet, amnet3d not in this run")
    one_seed = claims.loc[("one_seed", "amnet2d")]
    assert one_seed["verdict"] == NOT_ASSESSED and "STSTNet: 1 seed" in one_seed["why"]
    assert pd.notna(one_seed["uf1_diff"])                       # the difference is shown, no verdict drawn
    assert claim_verdict([SUPPORTED, NOT_DISTINGUISHABLE]) == NOT_DISTINGUISHABLE
    assert claim_verdict([SUPPORTED, CONTRADICTED]) == CONTRADICTED
    assert claim_verdict([SUPPORTED, SUPPORTED]) == SUPPORTED
    assert claim_verdict([SUPPORTED, NOT_TESTED]) == NOT_TESTED and claim_verdict([NOT_ASSESSED, NOT_TESTED]) == NOT_ASSESSED


def test_the_tables_command_writes_claims_md_from_the_metrics(document, tmp_path):
    metrics = tmp_path / "p.json"
    write_metrics(document, metrics)
    info = {"paper": {}, "synthetic": {"p": True}, "config_hash": "abc", "code_version": "v1"}
    assert main(["tables", "--metrics", str(metrics), "--info", json.dumps(info), "--out-csv", str(tmp_path / "all.csv"),
                 "--out-md", str(tmp_path / "all.md"), "--claims-csv", str(tmp_path / "claims.csv")]) == 0
    markdown = (tmp_path / "claims.md").read_text()
    assert "| Joint training on AUs improves MER | **supported** | AMNet2D | AMNet2D w/o AU task | +" in markdown
    assert "| Dropping the AU task improves MER | **contradicted** |" in markdown
    assert "| Fusing 2D and 3D improves on each | **not tested here** |" in markdown
    assert "| STSTNet beats AMNet2D | **not assessed** |" in markdown
    assert len(pd.read_csv(tmp_path / "claims.csv")) == 6        # one line per compared pair


def test_a_late_fusion_of_two_rows_is_a_row_of_its_own_scored_from_the_averaged_softmax(tmp_path):
    table = protocol_table(12, 6)
    a = {seed: predictions(table, 0.6, seed).assign(model_hash="a") for seed in range(3)}
    b = {seed: predictions(table, 0.6, 10 + seed).assign(model_hash="b") for seed in (1, 2, 3)}
    files = {"amnet2d": {s: write_per_fold(tmp_path, f"a{s}", f) for s, f in a.items()},
             "amnet2d-input_apex": {s: write_per_fold(tmp_path, f"b{s}", f) for s, f in b.items()}}
    fusion = Fusion.from_dict({"rows": ["amnet2d", "amnet2d-input_apex"], "weight": 0.7})
    expected = {row: {"hash": model_hash, "settings": {"model": {"width": 0.25}}}     # the run's, as the rule gives
                for row, model_hash in (("amnet2d", "a"), ("amnet2d-input_apex", "b"))}
    document = evaluate_protocol("p", table, CLASSES, files, fusions=[fusion], expected_models=expected)
    fused = document["methods"]["amnet2d+amnet2d-input_apex"]
    assert fused["method"] == "AMNet2D (width 0.25) + AMNet2D (width 0.25) on the apex crop (late fusion)"
    assert fused["reduced"] == ["width 0.25"]
    assert sorted(fused["seeds"]) == [1, 2]                       # the seeds both rows ran
    columns = [f"prob_{c}" for c in CLASSES]
    expected = np.mean([uf1_uar(table["label"], (0.7 * a[s][columns].to_numpy() + 0.3 * b[s][columns].to_numpy()).argmax(1),
                                3)[0] for s in (1, 2)])
    assert fused["scores"]["all"]["uf1"] == pytest.approx(expected)
    assert fused["fusion"] == {"rows": ["amnet2d", "amnet2d-input_apex"], "weight": 0.7, "mode": "softmax_mean"}
    # logit_mean fuses the logs of the softmax: the softmax of the weighted log-probabilities
    logit = fuse_pooled(a[1], b[1], CLASSES, 0.7, "logit_mean")[columns].to_numpy()
    mixed = np.exp(0.7 * np.log(a[1][columns].to_numpy()) + 0.3 * np.log(b[1][columns].to_numpy()))
    assert np.allclose(logit, mixed / mixed.sum(1, keepdims=True))
    with pytest.raises(ValueError, match=r"amnet2d\+htnet: rows \['htnet'\] are not in this run"):
        evaluate_protocol("p", table, CLASSES, files, fusions=[Fusion.from_dict({"rows": ["amnet2d", "htnet"]})])
    with pytest.raises(ValueError, match="a fusion takes two different rows"):
        Fusion.from_dict({"rows": ["amnet2d", "amnet2d"]})


def test_a_network_at_other_sizes_than_its_papers_says_so_and_its_paper_number_is_not_compared(tmp_path):
    """The evaluate job names each row from the model settings it checks the predictions against."""
    table = protocol_table(8, 3)
    settings = {"htnet": {"dim": 32, "block_repeats": [1, 1, 1], "input_size": 28}, "sssnet": {},
                "amnet2d": {"input": "flow", "width": 0.25}}
    files = {name: {seed: write_per_fold(tmp_path, f"{name}{seed}", predictions(table, 0.7, i + 10 * seed)
                                         .assign(model_hash=name)) for seed in (0, 1)}
             for i, name in enumerate(settings)}
    expected = {name: {"hash": name, "settings": {"model": model}} for name, model in settings.items()}
    methods = evaluate_protocol("megc2019", table, CLASSES, files, expected_models=expected)["methods"]
    assert methods["htnet"]["method"] == "HTNet (dim 32, 1 block per level)"
    assert methods["htnet+ensemble"]["method"] == "HTNet (dim 32, 1 block per level), 2-seed ensemble"
    assert methods["amnet2d"]["method"] == "AMNet2D (width 0.25)" and methods["sssnet"]["method"] == "SSSNet"
    unrecorded = evaluate_protocol("megc2019", table, CLASSES, files)["methods"]
    assert unrecorded["htnet"]["method"] == "HTNet"               # no settings given: no sizes claimed

    document = evaluate_protocol("megc2019", table, CLASSES, files, expected_models=expected)
    rows = build_table([document], {}, {"megc2019": False}, "abc", "v1").set_index(["variant", "slice"])
    assert rows.loc[("htnet", "all"), "reduced"] == "dim 32, 1 block per level"
    assert np.isnan(rows.loc[("htnet", "all"), "diff_uf1"])         # its paper ran dim 256, [2, 2, 10]
    assert not np.isnan(rows.loc[("sssnet", "all"), "diff_uf1"])    # at its paper's sizes, same protocol
    assert (rows.loc[("sssnet", "all"), "meb_uf1"], rows.loc[("sssnet", "all"), "paper_uf1"]) == (73.9, 73.9)
    markdown = table_markdown(rows.reset_index())
    assert "| 86.03 (not comparable: other sizes) | 84.75 (not comparable: other sizes) |" in markdown
    assert "| HTNet (dim 32, 1 block per level) |" in markdown
    assert "MEB UF1: fixed epochs / best test epoch" in markdown


def test_the_public_configs_reduced_baselines_are_named_as_reduced():
    """config/public.yaml's CPU sizes, as the evaluate job names them (its settings' model keys)."""
    from pathlib import Path

    from famnet.config import load_config
    from famnet.methods import architecture, size_departures

    repo = Path(__file__).resolve().parent.parent
    config = load_config(repo / "config" / "config.yaml", repo / "config" / "public.yaml")
    names = {m: size_departures(m, architecture(config["models"].get(m))) for m in config["training"]["methods"]}
    assert names == {"amnet2d": ["width 0.25"], "ststnet": [], "off_apexnet": [], "htnet": ["dim 32", "1 block per level"],
                     "sssnet": []}
    paper = load_config(repo / "config" / "config.yaml", repo / "config" / "paper.yaml")
    assert all(size_departures(m, architecture(paper["models"].get(m))) == [] for m in paper["training"]["methods"])
