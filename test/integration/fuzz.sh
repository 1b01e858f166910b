#!/usr/bin/env bash
# Builds each libFuzzer harness under test/fuzz/ with ASan + UBSan, outside the
# server, and runs it from its seed corpus for a bounded time and number of
# inputs (CRM_FUZZ_SECONDS, default 20; CRM_FUZZ_RUNS, default 2000000) with a
# fixed seed, so that the run in CI is repeatable (CRM_FUZZ_SEED=0 and CRM_FUZZ_RUNS=-1 pick a
# random seed and no limit but the time, for longer campaigns by hand).  Any crash, leak or broken
# invariant fails the test; inputs that once failed are kept in the corpus.
set -euo pipefail
top=${CRM_TEST_TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
secs=${CRM_FUZZ_SECONDS:-20}
runs=${CRM_FUZZ_RUNS:-2000000}
seed=${CRM_FUZZ_SEED:-1}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$top"
for h in test/fuzz/*_fuzz.c; do
  name=$(basename "$h" .c)
  srcs=$(sed -n 's/^ \* *sources: *//p' "$h")
  # the harness names the project files it links in a "sources:" comment,
  # else the file of the same stem in src/
  [ -n "$srcs" ] || srcs="src/${name%_fuzz}.c"
  clang -g -O1 -std=c11 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
    -Isrc -o "$work/$name" "$h" $srcs
  mkdir -p "$work/corpus-$name"
  [ -d "test/fuzz/corpus/${name%_fuzz}" ] && cp test/fuzz/corpus/"${name%_fuzz}"/* "$work/corpus-$name/"
  echo "== $name for ${secs}s"
  "$work/$name" -seed="$seed" -runs="$runs" -max_total_time="$secs" -max_len=512 -timeout=5 -print_final_stats=1 \
    -artifact_prefix="$work/" "$work/corpus-$name" 2>&1 | tail -15
done
