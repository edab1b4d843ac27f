"""Run a workflow job's `run:` steps locally, the way the Actions runner would, for the e2e tests.

`uses:` steps are stood in for (checkout: the test prepares the directory; the composite
setup action: `reconciler` is on PATH from the venv; upload-artifact: skipped). `${{ }}`
expressions are resolved from a small table (secrets, vars, github.token, step outputs and
outcomes); an unknown expression fails the test rather than running with a blank.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

WORKFLOWS = Path(__file__).resolve().parents[2] / ".github" / "workflows"
_EXPR = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")


def load(name: str) -> dict[str, Any]:
    """A workflow file; PyYAML reads the `on:` key as True, so it is put back."""
    data = yaml.safe_load((WORKFLOWS / name).read_text())
    if True in data:
        data["on"] = data.pop(True)
    return data  # type: ignore[no-any-return]


@dataclass
class StepRun:
    name: str
    outcome: str
    stdout: str


@dataclass
class JobRunner:
    """One job, run in `workdir` with `base_env` (the GITHUB_* the runner would provide)."""

    workdir: Path
    base_env: dict[str, str]
    secrets: dict[str, str] = field(default_factory=dict)
    variables: dict[str, str] = field(default_factory=dict)
    outputs: dict[str, dict[str, str]] = field(default_factory=dict)
    outcomes: dict[str, str] = field(default_factory=dict)

    def resolve(self, text: str) -> str:
        def one(m: re.Match[str]) -> str:
            expr = m[1]
            if expr == "github.token":
                return self.base_env["GITHUB_TOKEN"]
            if "||" in expr:
                left, default = (p.strip() for p in expr.split("||", 1))
                return self.resolve("${{ " + left + " }}") or default.strip("'")
            if expr.startswith("secrets."):
                return self.secrets.get(expr.removeprefix("secrets."), "")
            if expr.startswith("vars."):
                return self.variables.get(expr.removeprefix("vars."), "")
            if m2 := re.fullmatch(r"steps\.(\w+)\.outputs\.(\w+)", expr):
                return self.outputs.get(m2[1], {}).get(m2[2], "")
            if m2 := re.fullmatch(r"steps\.(\w+)\.outcome", expr):
                return self.outcomes.get(m2[1], "")
            raise AssertionError(f"the runner stand-in does not know ${{{{ {expr} }}}}")

        return _EXPR.sub(one, text)

    def run(self, job: dict[str, Any]) -> list[StepRun]:
        """Every `run:` step in order; after a failure only `if: always()` steps run."""
        job_env = {k: self.resolve(str(v)) for k, v in (job.get("env") or {}).items()}
        bindir = str(Path(sys.executable).parent)
        failed = False
        done: list[StepRun] = []
        for index, step in enumerate(job["steps"]):
            if "run" not in step:
                continue
            if failed and step.get("if") != "always()":
                continue
            output = self.workdir / f"output-{index}"
            output.write_text("")
            env = {
                **self.base_env,
                **job_env,
                **{k: self.resolve(str(v)) for k, v in (step.get("env") or {}).items()},
                "GITHUB_OUTPUT": str(output),
                "PATH": f"{bindir}{os.pathsep}{os.environ['PATH']}",
            }
            proc = subprocess.run(
                ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", step["run"]],
                cwd=self.workdir,
                env=env,
                capture_output=True,
                text=True,
                check=False,
                timeout=180,
            )
            ok = proc.returncode == 0 or step.get("continue-on-error") is True
            outcome = "success" if proc.returncode == 0 else "failure"
            if "id" in step:
                self.outcomes[step["id"]] = outcome
                self.outputs[step["id"]] = dict(
                    line.split("=", 1) for line in output.read_text().splitlines() if "=" in line
                )
            done.append(
                StepRun(step.get("name", step["run"][:40]), outcome, proc.stdout + proc.stderr)
            )
            failed = failed or not ok
        return done
