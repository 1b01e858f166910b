#!/usr/bin/env bash
# demo/peers.sh start|stop|status -- the peers of the demo's integration jobs
# (R4, R5, R26): the MikoPBX and MailChimp stubs (test/stubs) and a Dovecot
# IMAP server, on 127.0.0.1, left running in the background after `make demo`
# ends, so that the pg_cron jobs can be watched pulling calls and mail and
# pushing contacts.  Everything -- pid files, logs, ports, the mailbox -- is
# under /var/lib/crm-demo (CRM_DEMO_PEERS).  `start` keeps what runs already.
#
#   MikoPBX stub    a day of calls, then a new call every 90 seconds
#   Dovecot         user "sales": a few of intake's fixture messages at once
#                   (one of them refused by crm: it ends in quarantine), then
#                   one more every 2 minutes
#   MailChimp stub  audience demo0list1
# demo/50_integrations.sql reads the ports from peers.psql written here.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
dir=${CRM_DEMO_PEERS:-/var/lib/crm-demo}
miko_key="demo-miko-key-7f3a9c"
mailchimp_key="demo0000000000000000000000000000-us21"
mailchimp_list="demo0list1"
imap_password="demo-imap-password"
owner=postgres

alive() { [ -s "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }
# a background process keeps no descriptor of whoever started the demo
closefds() { local fd; for fd in $(ls /proc/$BASHPID/fd); do [ "$fd" -gt 2 ] && eval "exec $fd>&-" 2>/dev/null; done; true; }
as_owner() { if [ "$(id -u)" -eq 0 ]; then runuser -u "$owner" -- "$@"; else "$@"; fi; }

start_stub() {   # name, then the stub's own arguments
  local name=$1; shift
  if alive "$dir/$name.pid"; then return 0; fi
  rm -f "$dir/$name.port"
  (
    exec >>"$dir/$name.log" 2>&1 </dev/null
    closefds
    as_owner env TZ=Europe/Moscow setsid python3 "$dir/stubs/$name.py" --port-file "$dir/$name.port" \
      --pid-file "$dir/$name.pid" "$@"
  ) &
  local i
  for i in $(seq 1 100); do [ -s "$dir/$name.port" ] && return 0; sleep 0.05; done
  echo "demo: the $name stub did not start, see $dir/$name.log" >&2
  return 1
}

history_calls() {   # a day of calls of the PBX: known clients, new numbers, internal ones
  TZ=Europe/Moscow python3 - <<'PY'
import datetime, json
now = datetime.datetime.now().replace(microsecond=0)
callers = ["84732551010", "79162103344", "73433002010", "79265550101", "79031112233", "74956667788",
           "201", "79998887766", "78123007070", "79260000001"]
rows, n = [], 0
for i, src in enumerate(callers * 3):
    start = now - datetime.timedelta(hours=23) + datetime.timedelta(minutes=45 * i)
    n += 1
    lk = f"mikopbx-{int(start.timestamp())}.{n}"
    fmt = lambda t: t.strftime("%Y-%m-%d %H:%M:%S.000")
    internal = src == "201"
    answered = i % 4 != 3
    legs = [{"start": fmt(start), "endtime": fmt(start + datetime.timedelta(seconds=10)), "src_num": src,
             "dst_num": "202" if internal else "201", "did": "" if internal else "74951000000", "linkedid": lk,
             "disposition": "ANSWERED" if internal else "NO ANSWER", "duration": 10, "billsec": 7 if internal else 0}]
    if not internal:
        legs.append({"start": fmt(start + datetime.timedelta(seconds=10)),
                     "answer": fmt(start + datetime.timedelta(seconds=14)) if answered else "",
                     "endtime": fmt(start + datetime.timedelta(seconds=130)), "src_num": src, "dst_num": "202",
                     "did": "74951000000", "linkedid": lk, "disposition": "ANSWERED" if answered else "NO ANSWER",
                     "duration": 120, "billsec": 116 if answered else 0,
                     "recordingfile": f"/storage/usbdisk1/mikopbx/astspool/monitor/{lk}.mp3" if answered else ""})
    rows += legs
print(json.dumps(rows, ensure_ascii=False))
PY
}

start() {
  mkdir -p "$dir/stubs"
  cp "$top"/test/stubs/*.py "$dir/stubs/"
  [ -s "$dir/cdr.json" ] || history_calls >"$dir/cdr.json"
  chmod 755 "$dir"
  chown -R "$owner": "$dir/stubs" "$dir/cdr.json" 2>/dev/null || true
  touch "$dir/mikopbx.log" "$dir/mailchimp.log"
  chown "$owner": "$dir/mikopbx.log" "$dir/mailchimp.log" 2>/dev/null || true
  [ "$(id -u)" -ne 0 ] || chown "$owner": "$dir"

  start_stub mikopbx --key "$miko_key" --cdr "$dir/cdr.json" --live 90 \
    --live-numbers "79267770011,84732551010,79035550022,79162103344,74997776655"
  start_stub mailchimp --key "$mailchimp_key" --list "$mailchimp_list"

  # Dovecot with the company mailbox, filled from intake's fixtures
  source "$top/test/lib/dovecot.sh"
  local fresh=false
  if alive "$dir/dovecot/dovecot.pid"; then
    DOVECOT_DIR=$dir/dovecot DOVECOT_USER=sales DOVECOT_PORT=$(cat "$dir/dovecot.port")
  else
    [ -d "$dir/dovecot/mail/sales" ] || fresh=true
    mkdir -p "$dir/dovecot"
    dovecot_start "$dir/dovecot" sales "$imap_password" "$(cat "$dir/dovecot.port" 2>/dev/null || true)"
    echo "$DOVECOT_PORT" >"$dir/dovecot.port"
  fi
  local fixtures="$top/test/fixtures/mail" first rest
  first="01_jivo_chat_ru.eml 07_site_form_en_plain.eml 11_handwritten_ru_plain_utf8.eml 27_known_client_reply_quoted.eml 92_refused_no_from.eml"
  rest="02_jivo_chat_en.eml 06_site_form_ru_html_cp1251.eml 12_handwritten_reply_to.eml 16_handwritten_en_alternative.eml 28_rfc2047_from_name_utf8.eml 31_site_form_labels_on_own_line.eml"
  if $fresh; then
    local f
    for f in $first; do [ -f "$fixtures/$f" ] && dovecot_deliver "$fixtures/$f"; done
    # one more message every 2 minutes, in the background
    (
      exec >>"$dir/mail-feeder.log" 2>&1 </dev/null
      closefds
      export DOVECOT_DIR DOVECOT_USER
      for f in $rest; do sleep 120; [ -f "$fixtures/$f" ] && dovecot_deliver "$fixtures/$f"; done
      rm -f "$dir/mail-feeder.pid"
    ) &
    echo $! >"$dir/mail-feeder.pid"
    disown || true
  fi

  cat >"$dir/peers.psql" <<PSQL
-- written by demo/peers.sh: where the demo's peers listen
\\set miko_url 'http://127.0.0.1:$(cat "$dir/mikopbx.port")'
\\set mailchimp_url 'http://127.0.0.1:$(cat "$dir/mailchimp.port")/3.0'
\\set imap_url 'imap://127.0.0.1:$DOVECOT_PORT'
PSQL
  chmod 644 "$dir/peers.psql"
  # the keys, for COPY (readable by the server's user only)
  printf '%s\n' "-- written by demo/peers.sh: the demo's keys, loaded with COPY (no statement carries them)" \
    "COPY crm.integration_setting_load (peer, name, value) FROM STDIN;" \
    "miko	api_key	$miko_key" "mailbox	password	$imap_password" "mailchimp	api_key	$mailchimp_key" \
    '\.' >"$dir/keys.sql"
  chmod 600 "$dir/keys.sql"
  [ "$(id -u)" -ne 0 ] || chown "$owner": "$dir/keys.sql"
  status
}

stop() {
  local p
  for p in mikopbx mailchimp mail-feeder; do
    alive "$dir/$p.pid" && kill "$(cat "$dir/$p.pid")" 2>/dev/null
    rm -f "$dir/$p.pid"
  done
  if [ -f "$dir/dovecot/dovecot.conf" ]; then
    /usr/sbin/dovecot -c "$dir/dovecot/dovecot.conf" stop 2>/dev/null || true
    rm -f "$dir/dovecot/dovecot.pid"
  fi
  echo "demo peers stopped"
}

status() {
  local p
  for p in mikopbx mailchimp; do
    if alive "$dir/$p.pid"; then
      echo "demo peer: $p stub on 127.0.0.1:$(cat "$dir/$p.port") (log $dir/$p.log, state: curl http://127.0.0.1:$(cat "$dir/$p.port")/_control)"
    else
      echo "demo peer: $p stub is not running"
    fi
  done
  if alive "$dir/dovecot/dovecot.pid"; then
    echo "demo peer: Dovecot IMAP on 127.0.0.1:$(cat "$dir/dovecot.port"), user sales (mail in $dir/dovecot/mail)"
  else
    echo "demo peer: Dovecot is not running"
  fi
}

case "${1:-status}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
