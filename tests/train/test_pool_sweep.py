"""seamrefine_train.pool_sweep: the pick and the pool on a drawn seam, the table, the CLI and its errors."""

from __future__ import annotations

import numpy as np
from seamrefine_train import pool_sweep as ps
from seamrefine_train.__main__ import main as cli

from ..support.synthetic_images import photo_folder


def test_a_pool_that_holds_the_pick_alone_gains_what_the_pick_gains(tmp_path):
    from seamrefine_train import train_rank
    from seamrefine_train.synthesis import list_photos, photo_sides

    paths = list_photos(photo_folder(tmp_path))
    rows = [ps._case((paths, photo_sides(paths), 0, i, (128,)), (1e-9, 0.18)) for i in range(4)]
    rows = [r for r in rows if r is not None]
    assert rows and all(r["family"] in train_rank.FAMILY_WEIGHTS for r in rows)
    for r in rows:  # at a vanishing temperature the pool is the pick
        assert r["pool 1e-09"] == r["pick"] and np.isfinite(r["pool 0.18"])


def test_format_table_known_values():
    rows = [{"family": "color_uniform", "pick": 1.0, "pool 0.2": 2.0},
            {"family": "color_gradient", "pick": -1.0, "pool 0.2": 0.5}]
    table = ps.format_table(rows)
    assert "| variant | color_uniform | color_gradient | all | worse |" in table
    assert "| pick | +1.000 | -1.000 | +0.000 | 50.0% |" in table
    assert "| pool 0.2 | +2.000 | +0.500 | +1.250 | 0.0% |" in table


def test_cli_prints_the_table(tmp_path, capsys):
    argv = ["pool_sweep", "--photos", str(photo_folder(tmp_path)), "--cases", "20", "--sizes", "128",
            "--workers", "1", "--temperatures", "0.18"]
    assert cli(argv) == 0
    out = capsys.readouterr().out
    assert "| variant |" in out and "| pick |" in out and "| pool 0.18 |" in out


def test_cli_errors_are_clear(capsys):
    assert ps.main(["--temperatures", "0,x"]) == 2
    assert "--temperatures must list numbers > 0, got '0,x'" in capsys.readouterr().err
    assert ps.main(["--photos", "/nonexistent/photos"]) == 2
    assert "does not exist" in capsys.readouterr().err
