#!/usr/bin/env bash
# Fails when a non-test source file (.cc or .h outside tests/, not *_test.cc
# nor testdata) is over 600 lines (issue 12: every file small enough to hold
# in mind; split one that grows along a seam).
#
#   tests/file_lines_check.sh SOURCE_DIR
set -uo pipefail
cd "${1:?usage: file_lines_check.sh SOURCE_DIR}" || exit 2
limit=600
long=()
while IFS= read -r f; do
  n=$(wc -l < "$f")
  ((n > limit)) && long+=("$f ($n lines)")
done < <(find agents bench cli common daemon db planner proto sim \
           \( -name '*.cc' -o -name '*.h' \) -type f ! -name '*_test.cc' ! -path '*/testdata/*' | sort)
if ((${#long[@]} > 0)); then
  printf 'file_lines_check: over %d lines: %s\n' "$limit" "${long[@]}" >&2
  exit 1
fi
echo "file_lines_check: no source file over $limit lines"
