#!/usr/bin/env bash
# The build refuses warnings, and crm.so exports and imports no jansson/json_
# symbol (the server's json_object() would capture jansson's, see README).
set -euo pipefail
top=${CRM_TEST_TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
cd "$top"

[ -f crm.so ] || { echo "crm.so is not built"; exit 1; }
syms=$(nm -D crm.so | grep -E ' (json_|jansson)' || true)
if [ -n "$syms" ]; then
  echo "crm.so exposes jansson symbols:"; echo "$syms"; exit 1
fi
echo "nm -D crm.so: no json_/jansson symbol"

# a copy of the tree with one file that has a warning must not build
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cp -r Makefile crm.control src "$tmp/"
cat >"$tmp/src/warn.c" <<'C'
#include "postgres.h"
int crm_warn_probe(void);
int crm_warn_probe(void) { int unused_variable; return 0; }
C
objs="$(make -s print-OBJS) src/warn.o"
if make -C "$tmp" OBJS="$objs" >"$tmp/build.log" 2>&1; then
  echo "a file with a warning was built: -Werror is not in effect"; exit 1
fi
grep -q "unused variable" "$tmp/build.log" || { cat "$tmp/build.log"; exit 1; }
echo "a warning fails the build"
