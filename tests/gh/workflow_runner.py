"""Run a workflow job locally, the way the Actions runner would, for the e2e tests.

- `run:` steps run in bash with the job's and the step's `env:`.
- reconciler's own action (`uses: ./` or `OWNER/reconciler@…`) runs for real: action.yml's
  run step (`scripts/action-run.sh`) with its `with:` inputs and action.yml's defaults, and
  its outputs land under the step's id. Installing is stood in for: `reconciler` is on PATH
  from the venv.
- checkout is stood in for (the test prepares the directory); upload-artifact copies the
  files into `uploaded[name]` (so a test can read every artifact a run would publish);
  download-artifact copies `available[name]` into the working directory.
- `if:` and `${{ }}` are evaluated by a small expression evaluator: literals, `github.*`,
  `secrets.*`, `vars.*`, `steps.<id>.outputs.<name>` and `.outcome`, `==`, `!=`, `&&`, `||`,
  `!`, `always()`, `success()`, `failure()`. An expression it does not know fails the test
  rather than running with a blank.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
WORKFLOWS = REPO / ".github" / "workflows"
EXAMPLES = REPO / "examples" / "github"
_EXPR = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")
_TOKEN = re.compile(r"\s*(==|!=|&&|\|\||!|\(|\)|'(?:[^']|'')*'|[A-Za-z_][\w.\-]*(?:\(\))?)")


def load(name: str, where: Path = WORKFLOWS) -> dict[str, Any]:
    """A workflow file; PyYAML reads the `on:` key as True, so it is put back."""
    data = yaml.safe_load((where / name).read_text())
    if True in data:
        data["on"] = data.pop(True)
    return data  # type: ignore[no-any-return]


def action_defaults() -> dict[str, str]:
    action = yaml.safe_load((REPO / "action.yml").read_text())
    return {k: str(v.get("default", "")) for k, v in action["inputs"].items()}


def is_reconciler_action(uses: str) -> bool:
    return uses == "./" or uses.split("@")[0].endswith("/reconciler")


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
    uploaded: dict[str, Path] = field(default_factory=dict)
    available: dict[str, Path] = field(default_factory=dict)
    failed: bool = False

    # -- expressions -------------------------------------------------------------------------

    def value(self, name: str) -> str:
        if name == "github.token":
            return self.base_env["GITHUB_TOKEN"]
        if name == "github.event_name":
            return self.base_env.get("GITHUB_EVENT_NAME", "")
        if name == "github.action_path":
            return str(REPO)
        if name.startswith("secrets."):
            return self.secrets.get(name.removeprefix("secrets."), "")
        if name.startswith("vars."):
            return self.variables.get(name.removeprefix("vars."), "")
        if m := re.fullmatch(r"steps\.([\w-]+)\.outputs\.([\w-]+)", name):
            return self.outputs.get(m[1], {}).get(m[2], "")
        if m := re.fullmatch(r"steps\.([\w-]+)\.outcome", name):
            return self.outcomes.get(m[1], "")
        if name == "always()":
            return "true"
        if name == "success()":
            return "" if self.failed else "true"
        if name == "failure()":
            return "true" if self.failed else ""
        raise AssertionError(f"the runner stand-in does not know {name!r}")

    def evaluate(self, expr: str) -> str:
        tokens = [t for t in _TOKEN.findall(expr) if t]
        pos = 0

        def peek() -> str:
            return tokens[pos] if pos < len(tokens) else ""

        def take() -> str:
            nonlocal pos
            pos += 1
            return tokens[pos - 1]

        def atom() -> str:
            t = take()
            if t == "(":
                v = either()
                assert take() == ")", expr
                return v
            if t == "!":
                return "" if atom() else "true"
            if t.startswith("'"):
                return t[1:-1].replace("''", "'")
            return self.value(t)

        def compare() -> str:
            left = atom()
            while peek() in ("==", "!="):
                op, right = take(), atom()
                left = "true" if (left == right) == (op == "==") else ""
            return left

        def both() -> str:
            left = compare()
            while peek() == "&&":
                take()
                right = compare()
                left = right if left else left
            return left

        def either() -> str:
            left = both()
            while peek() == "||":
                take()
                right = both()
                left = left or right
            return left

        result = either()
        assert pos == len(tokens), f"cannot parse {expr!r}"
        return result

    def resolve(self, text: str) -> str:
        return _EXPR.sub(lambda m: self.evaluate(m[1]), text)

    def should_run(self, step: dict[str, Any]) -> bool:
        condition = step.get("if")
        if condition is None:
            return not self.failed
        text = str(condition)
        text = text[3:-2].strip() if text.startswith("${{") else text
        status = any(f in text for f in ("always()", "success()", "failure()"))
        if not status and self.failed:
            return False
        return bool(self.evaluate(text))

    # -- steps -------------------------------------------------------------------------------

    def run(self, job: dict[str, Any]) -> list[StepRun]:
        """Every step in order, `if:` honoured; after a failure only status-function steps."""
        self.failed = False
        self.outputs, self.outcomes = {}, {}  # a new run knows nothing of the last one's steps
        job_env = {k: self.resolve(str(v)) for k, v in (job.get("env") or {}).items()}
        done: list[StepRun] = []
        for index, step in enumerate(job["steps"]):
            if not self.should_run(step):
                continue
            uses = str(step.get("uses", ""))
            with_ = {k: self.resolve(str(v)) for k, v in (step.get("with") or {}).items()}
            step_env = {k: self.resolve(str(v)) for k, v in (step.get("env") or {}).items()}
            if uses and not is_reconciler_action(uses):
                self._stand_in(uses, with_)
                continue
            output = self.workdir / f"output-{index}"
            output.write_text("")
            env = {
                **self.base_env,
                **job_env,
                **step_env,
                "GITHUB_OUTPUT": str(output),
                "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
            }
            if uses:
                inputs = {**action_defaults(), **with_}
                env |= {f"INPUT_{k.upper().replace('-', '_')}": v for k, v in inputs.items()}
                env["GITHUB_ACTION_PATH"] = str(REPO)
                script = 'bash "$GITHUB_ACTION_PATH/scripts/action-run.sh"'
            else:
                script = step["run"]
            proc = subprocess.run(
                ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script],
                cwd=self.workdir,
                env=env,
                capture_output=True,
                text=True,
                check=False,
                timeout=300,
            )
            ok = proc.returncode == 0 or step.get("continue-on-error") is True
            outcome = "success" if proc.returncode == 0 else "failure"
            if "id" in step:
                self.outcomes[step["id"]] = outcome
                self.outputs[step["id"]] = dict(
                    line.split("=", 1) for line in output.read_text().splitlines() if "=" in line
                )
            done.append(
                StepRun(
                    step.get("name", script[:40]),
                    outcome,
                    proc.stdout + proc.stderr,
                )
            )
            self.failed = self.failed or not ok
        return done

    def _stand_in(self, uses: str, with_: dict[str, str]) -> None:
        name = uses.split("@")[0]
        if name == "actions/checkout":
            return  # the test prepared the working directory
        if name == "actions/upload-artifact":
            store = self.workdir.parent / f"artifact-{with_['name']}"
            store.mkdir(exist_ok=True)
            for rel in with_["path"].split():
                source = self.workdir / rel
                if source.is_file():
                    shutil.copy2(source, store / source.name)
            self.uploaded[with_["name"]] = store
            return
        if name == "actions/download-artifact":
            source = self.available[with_["name"]]
            for item in source.iterdir():
                shutil.copy2(item, self.workdir / item.name)
            return
        raise AssertionError(f"the runner stand-in has no stand-in for {uses}")
