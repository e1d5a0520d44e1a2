#!/usr/bin/env bash
# Every source path docs/architecture.md names (in backticks, ending in a source extension)
# must exist: a path with a folder as the end of a file under crates/ or the repository, a bare
# file name as some file's name. Prints each stale name and fails on any. Run by .ci/run.
set -euo pipefail
cd "$(dirname "$0")/.."
doc="${1:-docs/architecture.md}"
files=$(git ls-files)
stale=0
while IFS= read -r name; do
  case "$name" in
    */) found=$(grep -cE -- "(^|/)${name//./\\.}" <<<"$files" || true) ;;
    */*) found=$(grep -cE -- "(^|/)${name//./\\.}$" <<<"$files" || true) ;;
    *) found=$(grep -cE -- "(^|/)${name//./\\.}$" <<<"$files" || true) ;;
  esac
  if [ "${found:-0}" -eq 0 ]; then
    echo "$doc: \`$name\` names no file of the repository" >&2
    stale=$((stale + 1))
  fi
done < <(grep -oE '`[A-Za-z0-9_./-]+\.(rs|sql|yaml|html|js|css|sh|py|toml)`|`[A-Za-z0-9_.-]+/([A-Za-z0-9_.-]+/)*`' "$doc" | tr -d '`' | sort -u)
if [ "$stale" -gt 0 ]; then
  echo "check-doc-paths: $stale stale path(s) in $doc" >&2
  exit 1
fi
echo "check-doc-paths: every path in $doc exists"
