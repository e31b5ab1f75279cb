#!/usr/bin/env bash
# Fails when a .cc or .h file of the repository differs from what
# clang-format (Debian 12's clang-format 14, deploy/install-deps.sh) makes of
# it with the repository's .clang-format; prints the files and the command
# that fixes them. Files and folders listed in tests/format_pending.txt are
# skipped.
#
#   tests/format_check.sh SOURCE_DIR
set -uo pipefail
src=${1:?usage: format_check.sh SOURCE_DIR}
cd "$src" || exit 2
formatter=$(command -v clang-format-14 || command -v clang-format) || {
  echo "format_check: clang-format not found; install it (deploy/install-deps.sh)" >&2
  exit 1
}
mapfile -t pending < <(grep -v '^#' tests/format_pending.txt | grep -v '^$')
skip() {
  local f=$1 p
  for p in "${pending[@]}"; do
    if [[ $p == */ ]]; then [[ $f == "$p"* ]] && return 0; else [[ $f == "$p" ]] && return 0; fi
  done
  return 1
}
checked=0
bad=()
while IFS= read -r f; do
  f=${f#./}
  skip "$f" && continue
  checked=$((checked + 1))
  if ! "$formatter" --dry-run -Werror "$f" >/dev/null 2>&1; then bad+=("$f"); fi
done < <(find agents bench cli common daemon db planner proto sim tests \
           \( -name '*.cc' -o -name '*.h' \) -type f | sort)
if ((${#bad[@]} > 0)); then
  echo "format_check: ${#bad[@]} of $checked files are not formatted; fix with:" >&2
  echo "  $formatter -i ${bad[*]}" >&2
  exit 1
fi
echo "format_check: $checked files formatted (${#pending[@]} entries pending)"
