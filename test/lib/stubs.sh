# test/lib/stubs.sh -- starts and drives the peer stubs of test/stubs/ (R4,
# R26).  Sourced.  Each stub binds 127.0.0.1 on a free port; its pid file
# goes into DIR (test/lib/cluster.sh's cluster_stop kills DIR/*.pid).
#
#   stub_start NAME DIR [ARGS...]   NAME = mailchimp | mikopbx; sets and
#                                   exports <NAME>_PORT (MAILCHIMP_PORT ...)
#   stub_control NAME JSON          POST /_control (faults, data, keys)
#   stub_state NAME [PYTHON-EXPR]   GET /_control; with an expression over
#                                   the state s, prints its value (json)
#   stub_stop NAME                  stops it
stubs_top=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)

stub_start() {
  local name=$1 dir=$2; shift 2
  local var; var=$(echo "$name" | tr '[:lower:]' '[:upper:]')_PORT
  rm -f "$dir/$name.port"
  python3 "$stubs_top/test/stubs/$name.py" --port-file "$dir/$name.port" --pid-file "$dir/$name.pid" \
    --log-file "$dir/$name.requests.jsonl" "$@" 2>>"$dir/$name.log" &
  local i
  for i in $(seq 1 100); do
    [ -s "$dir/$name.port" ] && break
    sleep 0.05
  done
  [ -s "$dir/$name.port" ] || { echo "stub $name did not start"; cat "$dir/$name.log"; return 1; }
  printf -v "$var" '%s' "$(cat "$dir/$name.port")"
  export "${var?}"
  eval "STUB_DIR_$name=\$dir"
}

stub_port() {
  local var; var=$(echo "$1" | tr '[:lower:]' '[:upper:]')_PORT
  echo "${!var}"
}

stub_control() {
  curl -sf -X POST --data-binary "$2" "http://127.0.0.1:$(stub_port "$1")/_control" >/dev/null
}

stub_state() {
  local json
  json=$(curl -sf "http://127.0.0.1:$(stub_port "$1")/_control") || return 1
  if [ $# -ge 2 ]; then
    python3 -c 'import json,sys; s=json.loads(sys.stdin.read()); print(json.dumps(eval(sys.argv[1])))' "$2" <<<"$json"
  else
    echo "$json"
  fi
}

stub_stop() {
  local dir_var="STUB_DIR_$1"
  local dir=${!dir_var:-}
  [ -n "$dir" ] && [ -s "$dir/$1.pid" ] && kill "$(cat "$dir/$1.pid")" 2>/dev/null
  return 0
}
