"""The paper's claims as paired comparisons of table rows, and their verdicts (docs/claims.md).

A claim (``evaluation.claims`` in the config) names the row it says is better and the rows it is
better than, e.g. ``{id: au, claim: "...", better: amnet2d, than: [amnet2d-no_au]}``. The evaluate
job compares each pair over the same resampled held-out subjects and each row's own resampled
seeds (famnet.bootstrap.compare, slice ``all``) and records the differences in the metrics; the
tables job turns them into ``results/tables/claims.csv`` / ``claims.md`` with a verdict per pair
and per claim, in words:

- **supported**: the interval of the UF1 difference (better − than) lies above 0;
- **contradicted**: it lies below 0;
- **not distinguishable on this data**: it holds 0;
- **not assessed**: a side has fewer than ``evaluation.min_seeds`` seeds (its interval leaves the
  retraining variance out), so no verdict is drawn either way;
- **not tested here**: a row the claim needs was not run (``needs`` says what data would test it).

A claim is supported when every pair supports it; otherwise it takes the first verdict of its pairs
in the order contradicted, not distinguishable, not assessed, not tested (one pair supported and
the other not run: not tested).

Late fusions of two trained rows (``evaluation.fusions``: the pair, the weight and the mode, all
fixed in the config before the run; famnet.fuse.fuse_pooled) are rows like any other, named
``<a>+<b>``, so a claim can name them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from famnet.bootstrap import compare, covers_retraining, why_not_covered

SUPPORTED, CONTRADICTED, NOT_DISTINGUISHABLE = "supported", "contradicted", "not distinguishable on this data"
NOT_ASSESSED, NOT_TESTED = "not assessed", "not tested here"
CLAIM_COLUMNS = ["protocol", "claim_id", "claim", "better", "than", "better_method", "than_method", "uf1_diff",
                 "uf1_diff_ci_low", "uf1_diff_ci_high", "uf1_p", "uar_diff", "uar_diff_ci_low", "uar_diff_ci_high",
                 "seeds", "than_seeds", "verdict", "why", "claim_verdict"]


@dataclass(frozen=True)
class Claim:
    id: str
    claim: str
    better: str
    than: tuple[str, ...]
    needs: str = ""                     # what data would test it, where this run cannot
    source: str = ""

    @classmethod
    def from_dict(cls, values: dict) -> "Claim":
        return cls(id=values["id"], claim=values["claim"], better=values["better"], than=tuple(values["than"]),
                   needs=values.get("needs", ""), source=values.get("source", ""))


@dataclass(frozen=True)
class Fusion:
    rows: tuple[str, str]
    weight: float = 0.5                 # the first row's share
    mode: str = "softmax_mean"
    name: str = field(default="")

    @classmethod
    def from_dict(cls, values: dict) -> "Fusion":
        from famnet.fuse import FUSION_MODES

        rows, weight, mode = tuple(values["rows"]), float(values.get("weight", 0.5)), values.get("mode", "softmax_mean")
        if len(rows) != 2 or rows[0] == rows[1]:
            raise ValueError(f"evaluation.fusions: a fusion takes two different rows, got {list(rows)}")
        if mode not in FUSION_MODES or not 0.0 <= weight <= 1.0:
            raise ValueError(f"evaluation.fusions: {'+'.join(rows)}: mode must be one of {FUSION_MODES} and weight in "
                             f"[0, 1], got {mode!r}, {weight}")
        return cls(rows=rows, weight=weight, mode=mode, name="+".join(rows))


def claim_comparisons(claims: list[Claim], methods: dict, replicates: dict, level: float,
                      slice_name: str = "all") -> list[dict]:
    """One record per (claim, compared row): the paired difference better − than where both rows
    exist and their overall slice has an interval, else why not."""
    records = []
    for claim in claims:
        for than in claim.than:
            record = {"claim_id": claim.id, "claim": claim.claim, "better": claim.better, "than": than,
                      "needs": claim.needs, "source": claim.source}
            missing = [row for row in (claim.better, than) if row not in methods]
            if missing:
                records.append({**record, "missing": missing})
                continue
            better, other = methods[claim.better], methods[than]
            record.update({"better_method": better["method"], "than_method": other["method"],
                           "seeds": better["seed_count"], "than_seeds": other["seed_count"],
                           "assessed": covers_retraining(better["retraining"]) and covers_retraining(other["retraining"]),
                           "retraining": "; ".join(f"{m['method']}: {why_not_covered(m['retraining'])}"
                                                   for m in (better, other) if not covers_retraining(m["retraining"]))})
            if replicates[claim.better].get(slice_name) is None or replicates[than].get(slice_name) is None:
                records.append({**record, "missing": [], "undefined": True})
                continue
            record.update(compare(replicates[claim.better][slice_name], replicates[than][slice_name],
                                  better["scores"][slice_name], other["scores"][slice_name], level))
            records.append(record)
    return records


def pair_verdict(record: dict) -> tuple[str, str]:
    """(verdict, why) of one compared pair."""
    if "missing" in record and record["missing"]:
        needs = f"; {record['needs']}" if record.get("needs") else ""
        return NOT_TESTED, f"{', '.join(record['missing'])} not in this run{needs}"
    if record.get("undefined"):
        return NOT_ASSESSED, "no interval on this slice (too few units)"
    if not record["assessed"]:
        return NOT_ASSESSED, f"retraining variance not covered ({record['retraining']})"
    low, high = record["uf1_diff_ci_low"], record["uf1_diff_ci_high"]
    interval = f"UF1 {100 * record['uf1_diff']:+.2f} [{100 * low:+.2f}, {100 * high:+.2f}]"
    if low > 0:
        return SUPPORTED, f"{interval} lies above 0"
    if high < 0:
        return CONTRADICTED, f"{interval} lies below 0"
    return NOT_DISTINGUISHABLE, f"{interval} holds 0"


def claim_verdict(verdicts: list[str]) -> str:
    """A claim over its pairs: supported only if every pair is; else the first of contradicted,
    not distinguishable, not assessed, not tested that some pair is."""
    if verdicts and all(v == SUPPORTED for v in verdicts):
        return SUPPORTED
    return next(v for v in (CONTRADICTED, NOT_DISTINGUISHABLE, NOT_ASSESSED, NOT_TESTED) if v in verdicts)


def claims_table(metrics: list[dict]) -> pd.DataFrame:
    """claims.csv: per protocol, claim and compared row the difference in percentage points and the
    verdicts (of the pair and of the whole claim)."""
    rows = []
    for document in metrics:
        records = document.get("claims") or []
        for record in records:
            verdict, why = pair_verdict(record)
            row = {"protocol": document["protocol"], "claim_id": record["claim_id"], "claim": record["claim"],
                   "better": record["better"], "than": record["than"],
                   "better_method": record.get("better_method", record["better"]),
                   "than_method": record.get("than_method", record["than"]),
                   "seeds": record.get("seeds"), "than_seeds": record.get("than_seeds"), "verdict": verdict, "why": why}
            for key in ("uf1_diff", "uf1_diff_ci_low", "uf1_diff_ci_high", "uar_diff", "uar_diff_ci_low",
                        "uar_diff_ci_high"):
                row[key] = round(100 * record[key], 2) if key in record else None
            row["uf1_p"] = record.get("uf1_p")
            rows.append(row)
    table = pd.DataFrame(rows, columns=CLAIM_COLUMNS)
    if len(table):
        table["claim_verdict"] = table.groupby(["protocol", "claim_id"])["verdict"].transform(
            lambda v: claim_verdict(list(v)))
    return table


def claims_markdown(table: pd.DataFrame, level: float = 0.95) -> str:
    """claims.md: one section line per claim with its verdict, one table row per compared pair."""
    if table.empty:
        return "No claim configured (evaluation.claims).\n"
    lines = []
    for protocol, claims in table.groupby("protocol", sort=False):
        lines += [f"## {protocol}", "", "| claim | verdict | row | compared with | UF1 difference [CI] | p | seeds | "
                  "pair verdict | why |", "| --- | --- | --- | --- | ---: | ---: | ---: | --- | --- |"]
        for r in claims.itertuples(index=False):
            difference = "" if pd.isna(r.uf1_diff) else \
                f"{r.uf1_diff:+.2f} [{r.uf1_diff_ci_low:+.2f}, {r.uf1_diff_ci_high:+.2f}]"
            p = "" if r.uf1_p is None or pd.isna(r.uf1_p) else f"{r.uf1_p:.3f}"
            seeds = "" if pd.isna(r.seeds) else f"{int(r.seeds)} / {int(r.than_seeds)}"
            lines.append(f"| {r.claim} | **{r.claim_verdict}** | {r.better_method} | {r.than_method} | {difference} | "
                         f"{p} | {seeds} | {r.verdict} | {r.why} |")
        lines.append("")
    lines.append(f"Generated from the paired comparisons (famnet.claims): UF1 difference row − compared row in "
                 f"percentage points, pooled over the held-out subjects, mean over seeds, with its "
                 f"{100 * level:g} % interval over resampled subjects and each row's seeds; a pair supports the "
                 f"claim when the interval lies above 0, contradicts it below 0; rows of fewer seeds than "
                 f"evaluation.min_seeds are not assessed (docs/claims.md).")
    return "\n".join(lines) + "\n"


__all__ = ["Claim", "Fusion", "claim_comparisons", "pair_verdict", "claim_verdict", "claims_table",
           "claims_markdown", "SUPPORTED", "CONTRADICTED", "NOT_DISTINGUISHABLE", "NOT_ASSESSED", "NOT_TESTED"]
