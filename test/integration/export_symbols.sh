#!/usr/bin/env bash
# libxlsxwriter (and the zlib and minizip it brings) is linked dynamically
# into crm.so.  A library that defines a symbol the postgres executable also
# exports would have its calls bound to the server's function at run time (as
# jansson's json_object() was, see README "Building").  This checks, with
# nm -D --defined-only, that no symbol of those libraries is also one the
# server exports, and that what the libraries need from outside is not
# something the server defines either.
set -euo pipefail
top=${CRM_TEST_TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
bindir=${CRM_TEST_BINDIR:-/usr/lib/postgresql/15/bin}
cd "$top"
[ -f crm.so ] || { echo "crm.so is not built"; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# the linker's own markers are in every object and mean nothing here
markers='^(__bss_start|_edata|_end|_init|_fini)$'
nm -D --defined-only "$bindir/postgres" | awk '{print $3}' | sed 's/@.*//' | grep -Ev "$markers" | sort -u >"$work/server"
[ "$(wc -l <"$work/server")" -gt 1000 ] || { echo "could not read the server's symbols"; exit 1; }

libs=$(ldd crm.so | awk '/xlsxwriter|minizip|libz\.so/ {print $3}')
echo "$libs" | grep -q xlsxwriter || { echo "crm.so is not linked with libxlsxwriter"; exit 1; }
fail=0
for lib in $libs; do
  nm -D --defined-only "$lib" | awk '{print $3}' | sed 's/@.*//' | grep -Ev "$markers" | sort -u >"$work/defined"
  nm -D --undefined-only "$lib" | awk '{print $2}' | sed 's/@.*//' | sort -u >"$work/needed"
  both=$(comm -12 "$work/defined" "$work/server")
  if [ -n "$both" ]; then
    echo "$lib defines symbols the server exports:"; echo "$both"; fail=1
  fi
  # libc's own data (stderr ...) is copied into the executable by the linker
  # (copy relocation): every library uses that one copy, as it should
  taken=$(comm -12 "$work/needed" "$work/server" | grep -Ev '^(stdin|stdout|stderr|environ|__environ|optarg|optind|opterr|optopt)$' || true)
  if [ -n "$taken" ]; then
    echo "$lib needs symbols the server defines (they would bind to the server's):"; echo "$taken"; fail=1
  fi
  echo "$lib: $(wc -l <"$work/defined") symbols defined, $(wc -l <"$work/needed") needed; none is the server's"
done
# and crm.so itself exports no library symbol (it calls them, it does not define them)
if nm -D --defined-only crm.so | awk '{print $3}' | grep -E '^(workbook_|worksheet_|lxw_|zip|deflate)' ; then
  echo "crm.so defines library symbols"; fail=1
fi
exit $fail
