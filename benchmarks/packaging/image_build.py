"""Build time of a model image when an earlier version with the same requirements was built.

Model teams package a new version per training run, nearly always with the same library
versions. The Dockerfile installs the dependencies in a layer of their own (the wheelhouse
first, the mlops_helpers wheel after it), so the engine reuses that layer. Baseline: the
same Dockerfile with the dependencies and the helpers wheel installed in one step (as before
2026-11-29), whose layer changes with every build because the helpers wheel is rebuilt.

For each Dockerfile and round: build v1 (cold: the previous round's images are removed), then
v2 (warm), with `mlops package --no-push --no-verify`; the figure is v2's build stage time.
Needs the services of scripts/services (Docker engine, base image); takes ~15 min here.

    .venv/bin/python benchmarks/packaging/image_build.py [--rounds 2]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
MLOPS = str(REPO / ".venv" / "bin" / "mlops")
BUILTIN = REPO / "templates" / "package" / "Dockerfile.j2"


def baseline_dockerfile() -> str:
    """The built-in Dockerfile with its two build steps folded back into one (the old layout)."""
    text = BUILTIN.read_text()
    folded = re.sub(r"\nCOPY helpers /helpers\nRUN /opt/venv/bin/pip install (.*?)/helpers/",
                    r" \\\n && /opt/venv/bin/pip install \1/wheels/", text, flags=re.S)
    folded = folded.replace("{{ requirements | join(' ') }}\n", "{{ requirements | join(' ') }}", 1)
    # Before, one folder held every wheel: the helpers wheel, new in each build, changed that layer.
    folded = folded.replace("COPY wheels /wheels\n", "COPY wheels /wheels\nCOPY helpers /wheels\n", 1)
    assert folded.count("RUN ") == 1 and "/wheels/{{ helpers_wheel }}" in folded, "the built-in Dockerfile changed shape"
    return folded


def service(script: str) -> str:
    return subprocess.run(["bash", str(REPO / "scripts/services" / script), *(["start"] if script != "base-image.sh" else [])],
                          check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1]


def mlops(*args: str, cwd: Path, env: dict[str, str]) -> dict:
    completed = subprocess.run([MLOPS, *args, "--output", "json"], cwd=cwd, env=env, capture_output=True, text=True)
    if completed.returncode != 0:
        raise SystemExit(f"mlops {' '.join(args)} failed:\n{completed.stderr[-3000:]}")
    return json.loads(completed.stdout)


def remove_images(env: dict[str, str]) -> None:
    ids = subprocess.run(["docker", "image", "ls", "-q", "--filter", "label=io.mlops.model.name=bench"],
                         env=env, capture_output=True, text=True).stdout.split()
    if ids:
        subprocess.run(["docker", "image", "rm", "-f", *sorted(set(ids))], env=env, capture_output=True)
    subprocess.run(["docker", "image", "prune", "-f"], env=env, capture_output=True)


def timed_package(version: int, root: Path, env: dict[str, str]) -> float:
    started = time.monotonic()
    mlops("package", "--model", f"@{version}", "--no-push", "--no-verify", cwd=root, env=env)
    return time.monotonic() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()

    docker_host = service("docker.sh").removeprefix("export DOCKER_HOST=")
    base = service("base-image.sh")
    env = {**os.environ, "DOCKER_HOST": docker_host}
    with tempfile.TemporaryDirectory(prefix="bench-package-") as tmp:
        root = Path(tmp) / "bench"
        subprocess.run([MLOPS, "init", str(root), "--dataset", "breast_cancer"], check=True, capture_output=True)
        config = root / "mlops.yaml"
        config.write_text(config.read_text().replace("  on_run: true", "  on_run: false", 1)
                          + f"package:\n  base_image: {base}\n")
        subprocess.run(["git", "commit", "-qam", "bench"], cwd=root, check=True)
        for estimators in (100, 60):  # two registered versions, same requirements
            mlops("run", "--deliver", "none", "--set", f"training.params.n_estimators={estimators}", cwd=root, env=env)
        old = Path(tmp) / "baseline" / "package"
        old.mkdir(parents=True)
        (old / "Dockerfile.j2").write_text(baseline_dockerfile())
        variants = {"one install step (baseline)": {**env, "MLOPS_TEMPLATES": str(old.parent)},
                    "dependencies in their own layer": env}
        results: dict[str, list[tuple[float, float]]] = {name: [] for name in variants}
        for round_number in range(args.rounds):
            for name, variant_env in variants.items():
                remove_images(env)
                cold = timed_package(1, root, variant_env)
                warm = timed_package(2, root, variant_env)
                results[name].append((cold, warm))
                print(f"round {round_number + 1} {name}: v1 {cold:.1f}s, v2 {warm:.1f}s", flush=True)
        remove_images(env)

    print("\n| Dockerfile | v1 (cold) median s | v2 (same requirements) median s | v2 ÷ baseline v2 |")
    print("|---|---:|---:|---:|")
    baseline_warm = statistics.median(w for _, w in results["one install step (baseline)"])
    for name, runs in results.items():
        cold, warm = statistics.median(c for c, _ in runs), statistics.median(w for _, w in runs)
        print(f"| {name} | {cold:.1f} | {warm:.1f} | {warm / baseline_warm:.2f} |")


if __name__ == "__main__":
    main()
