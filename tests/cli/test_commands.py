"""Every data command through click's test runner: output and exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from ringfence.cli.main import cli
from tests.conftest import CASES


def _invoke(*args: str, code: int = 0) -> str:
    result = CliRunner().invoke(cli, list(args))
    assert result.exit_code == code, (result.output, result.exception)
    return result.stdout


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("gen")
    data = json.loads(_invoke("generate", "--accounts", "3000", "--seed", "3",
                              "--out", str(out), "--json"))
    assert data["accounts"] == 3000 and data["rings"] > 0
    return out


@pytest.fixture(scope="module")
def loaded(generated: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    store = tmp_path_factory.mktemp("store") / "s"
    _invoke("--store", str(store), "load", str(generated / "accounts.csv"),
            "--loans", str(generated / "loans.csv"))
    _invoke("--store", str(store), "detect")
    return store


def test_generate_writes_the_three_tables(generated: Path) -> None:
    for name in ("accounts.csv", "loans.csv", "truth.csv"):
        assert (generated / name).stat().st_size > 0


def test_generate_adds_camouflaged_rings_on_request(
    generated: Path, tmp_path: Path
) -> None:
    _invoke("generate", "--accounts", "3000", "--seed", "3", "--out",
            str(tmp_path), "--camouflaged-rings", "--json")
    with_them = pd.read_csv(tmp_path / "truth.csv", dtype=str)
    without = pd.read_csv(generated / "truth.csv", dtype=str)
    assert "camouflaged_ring" in set(with_them["typology"])
    assert "camouflaged_ring" not in set(without["typology"])


def test_load_prints_the_accounting(generated: Path, tmp_path: Path) -> None:
    out = _invoke("--store", str(tmp_path / "s"), "load",
                  str(generated / "accounts.csv"), "--json")
    (report,) = json.loads(out)
    assert report["rows_read"] == report["rows_accepted"] + report["rows_rejected"]
    text = _invoke("--store", str(tmp_path / "s"), "load",
                   str(generated / "accounts.csv"))
    assert "rows read" in text and "accepted" in text


def test_load_without_files_is_a_usage_error(tmp_path: Path) -> None:
    _invoke("--store", str(tmp_path / "s"), "load", code=2)


def test_load_missing_column_exits_3_with_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("account_id\nA1\n")
    result = CliRunner().invoke(cli, ["--store", str(tmp_path / "s"), "load",
                                      str(bad)])
    assert result.exit_code == 3
    assert result.output.strip().startswith("error: ")
    assert "created_at" in result.output and "Traceback" not in result.output


def test_detect_then_rings_and_shows(loaded: Path) -> None:
    rings = json.loads(_invoke("--store", str(loaded), "rings", "--json"))
    assert rings and all(r["score"] >= 0.6 for r in rings)
    assert rings == sorted(rings, key=lambda r: (-r["score"], r["ring_id"]))
    big = json.loads(_invoke("--store", str(loaded), "rings", "--min-size", "5",
                             "--sort", "size", "--json"))
    assert all(r["size"] >= 5 for r in big)
    ring = rings[0]
    view = json.loads(_invoke("--store", str(loaded), "ring", "show",
                              ring["ring_id"], "--json"))
    assert view["members"] == ring["members"] and view["evidence"]["shared"]
    assert "shared identifiers" in _invoke("--store", str(loaded), "ring", "show",
                                           ring["ring_id"])
    member = ring["members"][0]
    acc = json.loads(_invoke("--store", str(loaded), "account", "show", member,
                             "--json"))
    assert acc["account"]["ring_id"] == ring["ring_id"]
    assert acc["linked_accounts"]
    assert "identifiers:" in _invoke("--store", str(loaded), "account", "show",
                                     member)


def test_unknown_ids_exit_3(loaded: Path) -> None:
    _invoke("--store", str(loaded), "account", "show", "NOPE", code=3)
    _invoke("--store", str(loaded), "ring", "show", "R-nope", code=3)


def test_queries_on_a_missing_store_exit_4(tmp_path: Path) -> None:
    out = CliRunner().invoke(cli, ["--store", str(tmp_path / "none"), "rings"])
    assert out.exit_code == 4 and "ringfence load" in out.output


def test_export_and_evaluate(loaded: Path, generated: Path, tmp_path: Path) -> None:
    info = json.loads(_invoke("--store", str(loaded), "export", "--out",
                              str(tmp_path / "x"), "--json"))
    assert info["rows"] > 0 and Path(info["current"]).is_symlink()
    metrics = json.loads(_invoke("--store", str(loaded), "evaluate", "--truth",
                                 str(generated / "truth.csv"), "--json"))
    for key in ("ring_f1", "account_precision", "baseline_ring_f1"):
        assert 0.0 <= metrics[key] <= 1.0
    assert metrics["ring_f1"] > metrics["baseline_ring_f1"]
    assert "ring_f1" in _invoke("--store", str(loaded), "evaluate", "--truth",
                                str(generated / "truth.csv"))


def test_export_before_detect_exits_4(tmp_path: Path) -> None:
    store = tmp_path / "s"
    _invoke("--store", str(store), "load", str(CASES / "bank-ring" / "accounts.csv"))
    _invoke("--store", str(store), "export", "--out", str(tmp_path / "x"), code=4)


def test_bad_config_exits_2(tmp_path: Path) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text("detect:\n  hub_degre: 3\nfoo: 1\n")
    out = CliRunner().invoke(cli, ["--config", str(cfg), "--store",
                                   str(tmp_path / "s"), "detect"])
    assert out.exit_code == 2
    assert "hub_degre" in out.output and "foo" in out.output


def test_demo_json_has_the_promised_keys(tmp_path: Path) -> None:
    out = _invoke("demo", "--accounts", "2000", "--seed", "5", "--out",
                  str(tmp_path), "--no-gnn", "--json")
    data = json.loads(out)
    for key in ("accounts", "rings_true", "rings_found", "ring_precision",
                "ring_recall", "ring_f1", "account_precision", "account_recall",
                "baseline_ring_f1", "seconds", "peak_rss_mb", "export_path"):
        assert key in data
    assert data["accounts"] == 2000
    assert (Path(data["export_path"]) / "manifest.json").exists()


def test_gnn_commands_and_detect_with_gnn(loaded: Path, tmp_path: Path) -> None:
    model = tmp_path / "model"
    trained = json.loads(_invoke("--store", str(loaded), "gnn", "train", "--model",
                                 str(model), "--epochs", "5", "--json"))
    assert {"gnn", "features_only", "gbm_neighbours"} <= set(trained)
    evaluated = json.loads(_invoke("--store", str(loaded), "gnn", "evaluate",
                                   "--model", str(model), "--json"))
    assert evaluated["metrics"]["gnn"] == trained["gnn"]
    scores = json.loads(_invoke("--store", str(loaded), "gnn", "score", "--model",
                                str(model), "--top", "5", "--json"))
    assert len(scores) == 5 and all(0 <= s["gnn_score"] <= 1 for s in scores)
    summary = json.loads(_invoke("--store", str(loaded), "detect", "--gnn",
                                 "--model", str(model), "--json"))
    assert summary["rings"] > 0


def test_detect_gnn_without_model_exits_5(loaded: Path, tmp_path: Path) -> None:
    _invoke("--store", str(loaded), "detect", "--gnn", "--model",
            str(tmp_path / "none"), code=5)
