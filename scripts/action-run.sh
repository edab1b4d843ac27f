#!/usr/bin/env bash
# The body of action.yml's run step: one reconciler command, its output in a file, the exit
# code and (for plan) the summary line as step outputs. Never fails the step on the command's
# own exit code; a broken input (unknown command, wrong workspace) fails it.
set -uo pipefail
cmd="$INPUT_COMMAND"
case "$cmd" in
  validate|plan|apply|drift|show) ;;
  *) echo "::error::reconciler action: unknown command '$cmd' (validate, plan, apply, drift, show)"; exit 1 ;;
esac
ext=txt
case "$INPUT_FORMAT" in markdown) ext=md ;; json) ext=json ;; esac
out="reconciler-$cmd.$ext"
rm -f "$out" "reconciler-$cmd.err"  # never report a previous run's output as this one's
args=()
if [ "$cmd" != show ]; then args+=(--manifests "$INPUT_MANIFESTS"); fi
if [ -n "$INPUT_STATE" ] && [[ "$cmd" =~ ^(plan|apply|drift)$ ]]; then args+=(--state "$INPUT_STATE"); fi
if [[ "$cmd" =~ ^(validate|plan|drift|show)$ ]]; then args+=(--format "$INPUT_FORMAT"); fi
if [ -n "$INPUT_PLAN_FILE" ]; then
  case "$cmd" in
    plan) args+=(--out "$INPUT_PLAN_FILE") ;;
    apply) args=("$INPUT_PLAN_FILE" "${args[@]}" --auto-approve) ;;
    show) args=("$INPUT_PLAN_FILE" "${args[@]}") ;;
  esac
elif [ "$cmd" = apply ]; then
  args+=(--auto-approve)
fi
if [ -n "$INPUT_WORKSPACE" ] && [ "$cmd" != show ]; then
  found=$(reconciler validate --manifests "$INPUT_MANIFESTS" --format json 2>/dev/null \
    | python -c 'import json,sys; print((json.load(sys.stdin).get("summary") or {}).get("workspace",""))' || true)
  if [ -n "$found" ] && [ "$found" != "$INPUT_WORKSPACE" ]; then
    echo "::error::reconciler action: $INPUT_MANIFESTS declares workspace '$found', not '$INPUT_WORKSPACE'"
    exit 1
  fi
fi
# shellcheck disable=SC2086  # INPUT_ARGS is a list of arguments on purpose
reconciler "$cmd" "${args[@]}" $INPUT_ARGS > "$out" 2> "reconciler-$cmd.err"
code=$?
cat "$out"
cat "reconciler-$cmd.err" >&2
summary=""
if [ "$cmd" = plan ] && [ "$INPUT_FORMAT" = markdown ]; then
  summary=$(sed -n '2p' "$out" | tr -d '*')
fi
{
  echo "exit-code=$code"
  echo "output-file=$out"
  echo "summary=$summary"
} >> "$GITHUB_OUTPUT"
exit 0
