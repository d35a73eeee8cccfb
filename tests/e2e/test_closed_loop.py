"""The closed loop end to end on the local embedded default, exactly as a user runs the example:
examples/closed_loop/closed_loop.py trains and rolls out v1, sends live traffic, shifts the
population and its new labelled data, and `mlops monitor check --act` must detect the drift,
retrain on the new data version, gate the candidate against production and roll it out as a
canary under the traffic until it serves 100%.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from cli_support import run_mlops
from serving_support import free_port

pytestmark = pytest.mark.slow  # the whole loop: two trainings, a canary under traffic

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "closed_loop" / "closed_loop.py"


def test_drift_retrains_gates_and_rolls_out_the_new_version(tmp_path: Path) -> None:
    root = tmp_path / "loop"
    port = free_port()
    try:
        completed = subprocess.run([sys.executable, str(EXAMPLE), "--dir", str(root), "--port", str(port),
                                    "--timeout", "300"], capture_output=True, text=True, timeout=900)
    finally:
        if (root / ".mlops").exists():
            run_mlops("undeploy", cwd=root, check=None)
    assert completed.returncode == 0, completed.stderr[-6000:]
    summary = json.loads(completed.stdout)
    print(f"closed loop: drift detected {summary['detected_after_seconds']} s after the shift, new version at 100% "
          f"{summary['shift_to_full_traffic_seconds']} s after it ({summary['total_seconds']} s in all)")
    assert summary["before_shift"] == "ok"
    assert summary["trigger"]["action"] == "run" and summary["trigger"]["reason"].startswith("data drift: ")
    assert summary["run_exit_code"] == 0
    assert summary["rollout"] == {"status": "promoted", "stable": "2", "weights": {"2": 100}, "strategy": "canary"}
    assert summary["requests"]["failed"] == 0 and summary["requests"]["sent"] > 500
    # The new version's report carries its servers' own figures.
    serving = summary["serving"]
    assert serving["servers"] == 2 and serving["error_rate"] == 0.0 and serving["memory_mb"] > 20
    assert 0 < serving["latency_p50_ms"] <= serving["latency_p99_ms"] and serving["cpu_percent"] > 0
    assert Path(summary["report"]).read_text().count("<svg") >= 30
    # The new version was trained on the new data version and passed the gate against v1.
    shown = run_mlops("registry", "show", "@2", "--output", "json", cwd=root).json()
    assert shown["lineage"]["data"]["md5"] != run_mlops("registry", "show", "@1", "--output", "json",
                                                        cwd=root).json()["lineage"]["data"]["md5"]
    assert "production" in shown["stages"]
