#!/usr/bin/env bash
# R5: GMime 3 and glib live in the backend, linked dynamically.  That is safe
# only if neither they nor the libraries they pull in define a symbol that
# the postgres executable also exports (jansson's json_object() does, see
# README "Building"), and if none of their undefined symbols could bind to
# one of the server's.  This checks every library crm.so needs besides libc,
# and proves the check works by finding jansson's clash.
set -euo pipefail
export LC_ALL=C
top=${CRM_TEST_TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
bindir=${CRM_TEST_BINDIR:-/usr/lib/postgresql/15/bin}
cd "$top"
[ -f crm.so ] || { echo "crm.so is not built"; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

nm -D --defined-only "$bindir/postgres" | awk '{print $3}' | sort -u >"$work/postgres.syms"
[ -s "$work/postgres.syms" ] || { echo "no symbols read from $bindir/postgres"; exit 1; }

# the linker's own section markers are in every shared object, the server's too
defined() { nm -D --defined-only "$1" | awk '{print $3}' | sed 's/@.*//' |
            grep -vxE '__bss_start|_edata|_end|_init|_fini' | sort -u; }
undefined() { nm -D --undefined-only "$1" | awk '{print $2}' | sed 's/@.*//' | sort -u; }

# the check catches what it must: jansson defines json_object, as postgres does
# (awk reads to the end: leaving early would kill ldconfig with SIGPIPE, and
# pipefail would end this script without a word)
jansson=$(ldconfig -p | awk '/libjansson\.so\.4 / && !found {print $NF; found = 1}')
if [ -n "$jansson" ]; then
  clash=$(comm -12 "$work/postgres.syms" <(defined "$jansson"))
  [ "$clash" = "json_object" ] || { echo "the check did not find jansson's known clash (got: $clash)"; exit 1; }
  echo "check works: libjansson clashes on json_object (it is linked statically, symbols hidden)"
fi

# every shared library crm.so loads, GMime and glib and theirs, except libc's own
libs=$(ldd crm.so | awk '/=> \//{print $3}' | grep -vE '/(libc|libm|libpthread|libdl|librt|ld-linux[^/]*)\.so' || true)
echo "$libs" | grep -q gmime || { echo "crm.so does not load GMime"; exit 1; }
status=0
for lib in $libs; do
  clash=$(comm -12 "$work/postgres.syms" <(defined "$lib") | tr '\n' ' ')
  bind=$(comm -12 "$work/postgres.syms" <(undefined "$lib") | tr '\n' ' ')
  if [ -n "$clash$bind" ]; then
    echo "CLASH $lib: defines [$clash] needs [$bind]"
    status=1
  else
    printf 'ok     %-50s %5d symbols, none exported by postgres\n' "$(basename "$lib")" "$(defined "$lib" | wc -l)"
  fi
done
# crm.so itself exports no GMime or glib symbol
if nm -D --defined-only crm.so | awk '{print $3}' | grep -qE '^(g_|gmime_|internet_address_)'; then
  echo "crm.so re-exports GMime/glib symbols"; status=1
fi
exit $status
