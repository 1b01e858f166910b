#!/usr/bin/env bash
# R5: crm.mail_poll() against a real IMAP server (Dovecot, test/lib/dovecot.sh)
# filled from the mail fixtures: new messages by UID past the stored
# UIDVALIDITY/UID watermark, each fetched with BODY.PEEK[] (left unseen) and
# loaded by crm.ingest_email in its own transaction; a refused message goes to
# quarantine with its raw bytes and the error (nothing silently dropped); a
# message too large to fetch is quarantined without its body; optionally
# processed mail is marked \Seen or moved; a rebuilt folder (new UIDVALIDITY)
# is read again without duplicates; IMAPS with the server's certificate; wrong
# password, missing folder, a stalled server (timeout) and a cancel.
set -euo pipefail
source "$(dirname "$0")/../lib/integ.sh"
source "$(dirname "$0")/../lib/dovecot.sh"
integ_setup crm_it_mailbox it_mail_job
integ_intake
dovecot_start "$work/dovecot" sales 'S3cret-imap-pw'
# SIGSTOP/SIGCONT of this Dovecot's processes (its master and children, by pid)
master=$(cat "$DOVECOT_DIR/dovecot.pid")
stall() { kill -"$1" "$master" $(pgrep -P "$master") 2>/dev/null || true; }
integ_cleanups+=("stall CONT" "dovecot_stop")
fixtures="$integ_top/test/fixtures/mail"
[ -d "$fixtures" ] || fixtures="$integ_top/test/fixtures/mailbox"
echo "intake: $INTAKE; fixtures: $fixtures; IMAP on $DOVECOT_PORT, IMAPS on $DOVECOT_IMAPS_PORT"
refused="$integ_top/test/fixtures/mailbox/09_refused_no_from.eml"

good=()
for f in "$fixtures"/*.eml; do
  case "$f" in *refused*|*broken*|*huge*) continue ;; esac
  good+=("$f")
  [ ${#good[@]} -ge 3 ] && break
done
for f in "${good[@]}"; do dovecot_deliver "$f"; done
dovecot_deliver "$refused"

integ_secret mailbox password 'S3cret-imap-pw'
q -q <<SQL
SELECT crm.configure('mailbox', 'url', 'imap://127.0.0.1:$DOVECOT_PORT');
SELECT crm.configure('mailbox', 'username', 'sales');
SELECT crm.configure('mailbox', 'backoff_base_seconds', '1');
SELECT crm.configure('mailbox', 'backoff_max_seconds', '1');
SQL
last_run() { qa "SELECT outcome || ' ' || COALESCE(sqlstate, '-') FROM crm.integration_run ORDER BY id DESC LIMIT 1"; }
detail() { qa "SELECT COALESCE(detail->>'$1', '-') FROM crm.integration_run WHERE outcome <> 'skipped' ORDER BY id DESC LIMIT 1"; }
flags() { doveadm -c "$DOVECOT_DIR/dovecot.conf" -f flow fetch -u sales "uid flags" mailbox "${1:-INBOX}" all | tr '\n' ' ' | sed 's/ $//'; }
loaded() { qa "SELECT count(*) FROM $MAILS"; }

job "CALL crm.mail_poll()"
check "R5 four new messages: three loaded, one refused" "$(detail ingested) $(detail quarantined) $(last_run)" "3 1 ok -"
check "R5 each message is loaded by crm.ingest_email" "$(loaded)" "3"
check "R5 each message in its own transaction" "$(qa "SELECT count(DISTINCT xmin::text) FROM $MAIL_TABLE WHERE $MAIL_WHERE")" "3"
check "R5 the refused message is quarantined with the error" \
  "$(qa "SELECT sqlstate || ' ' || error FROM crm.integration_quarantine WHERE peer = 'mailbox'")" \
  "22P02 e-mail is not an RFC 5322 message"
check "R5 ...with its raw bytes, exactly as in the mailbox" \
  "$(qa "SELECT md5(raw) FROM crm.integration_quarantine WHERE peer = 'mailbox'")" "$(md5sum <"$refused" | cut -d' ' -f1)"
check "R5 ...and where it is (folder/UIDVALIDITY/UID)" \
  "$(qa "SELECT source_key FROM crm.integration_quarantine WHERE peer = 'mailbox'")" "INBOX/$(dovecot_uidvalidity)/4"
check "R5 BODY.PEEK[] leaves the messages unseen" "$(flags | sed 's/\\Recent//g')" "uid=1 flags= uid=2 flags= uid=3 flags= uid=4 flags="
check "R5 the watermark is the folder's UIDVALIDITY and the last UID" \
  "$(qa "SELECT watermark->>'uidvalidity' || '/' || (watermark->>'uid') FROM crm.integration_peer WHERE peer = 'mailbox'")" \
  "$(dovecot_uidvalidity)/4"
if [ "$INTAKE" = standin ]; then
  check "R5 the bytes handed are the message's bytes" \
    "$(qa "SELECT md5(raw) FROM $MAILS ORDER BY id LIMIT 1")" "$(md5sum <"${good[0]}" | cut -d' ' -f1)"
fi

job "CALL crm.mail_poll()"
check "R5 polling again loads nothing" "$(detail ingested) $(detail quarantined) $(loaded)" "- - 3"
dovecot_deliver "${good[0]}"      # the same message again (same Message-ID)
new=$(mktemp "$work/mail.XXXXXX")
printf 'From: Pavel <pavel@client.example>\r\nTo: sales@pumpmash.example\r\nSubject: pumps\r\nMessage-ID: <new-1@client.example>\r\n\r\nHow much is a CNS 60-99?\r\n' >"$new"
dovecot_deliver "$new"
job "CALL crm.mail_poll()"
check "R5 only the new UIDs are read" "$(detail ingested) $(qa "SELECT watermark->>'uid' FROM crm.integration_peer WHERE peer = 'mailbox'")" "2 6"
check "R5 a message delivered twice is loaded once (Message-ID)" "$(loaded)" "4"

# after loading: mark \Seen, or move to a folder
q -q -c "SELECT crm.configure('mailbox', 'after_ingest', 'seen')"
printf 'From: a@client.example\r\nSubject: seen\r\nMessage-ID: <seen-1@client.example>\r\n\r\nx\r\n' >"$new"; dovecot_deliver "$new"
job "CALL crm.mail_poll()"
check "R5 after_ingest = seen marks the loaded message \\Seen (only it)" "$(flags | sed 's/\\Recent//g; s/ *\(uid=\)/ \1/g; s/.*uid=6/uid=6/')" 'uid=6 flags= uid=7 flags=\Seen'
q -q -c "SELECT crm.configure('mailbox', 'after_ingest', 'move')"
printf 'From: b@client.example\r\nSubject: move\r\nMessage-ID: <move-1@client.example>\r\n\r\nx\r\n' >"$new"; dovecot_deliver "$new"
job "CALL crm.mail_poll()"
check "R5 after_ingest = move moves it to the move_to folder" \
  "$(dovecot_count INBOX) $(dovecot_count Processed) $(detail ingested)" "7 1 1"
q -q -c "SELECT crm.configure('mailbox', 'after_ingest', 'keep')"

# a message larger than max_message_bytes: quarantined, not fetched, not lost
q -q -c "SELECT crm.configure('mailbox', 'max_message_bytes', '2048')"
{ printf 'From: big@client.example\r\nSubject: big\r\nMessage-ID: <big-1@client.example>\r\n\r\n'; head -c 6000 /dev/zero | tr '\0' 'x'; printf '\r\n'; } >"$new"
dovecot_deliver "$new"
job "CALL crm.mail_poll()"
check "R5 a message over max_message_bytes is quarantined without its body" \
  "$(qa "SELECT sqlstate || ' ' || (raw IS NULL) || ' ' || (data->>'size') FROM crm.integration_quarantine WHERE source_key LIKE '%/9'")" \
  "54000 true $(wc -c <"$new")"
q -q -c "SELECT crm.configure('mailbox', 'max_message_bytes', '52428800')"

# another folder, rebuilt: a new UIDVALIDITY reads it from the start
doveadm -c "$DOVECOT_DIR/dovecot.conf" mailbox create -u sales Orders
dovecot_deliver "${good[1]}" Orders
q -q -c "SELECT crm.configure('mailbox', 'folder', 'Orders')"
job "CALL crm.mail_poll()"
v1=$(dovecot_uidvalidity Orders)
check "R5 a new folder is read from its first UID" \
  "$(qa "SELECT watermark->>'folder' || ' ' || (watermark->>'uidvalidity') || ' ' || (watermark->>'uid') FROM crm.integration_peer WHERE peer = 'mailbox'")" "Orders $v1 1"
doveadm -c "$DOVECOT_DIR/dovecot.conf" mailbox delete -u sales Orders
doveadm -c "$DOVECOT_DIR/dovecot.conf" mailbox create -u sales Orders
dovecot_deliver "${good[1]}" Orders
dovecot_deliver "${good[2]}" Orders
v2=$(dovecot_uidvalidity Orders)
job "CALL crm.mail_poll()"
check "R5 a rebuilt folder (new UIDVALIDITY) is read again from the start" \
  "$([ "$v1" != "$v2" ] && echo new) $(detail uidvalidity_changed) $(detail ingested) $(qa "SELECT watermark->>'uidvalidity' || '/' || (watermark->>'uid') FROM crm.integration_peer WHERE peer = 'mailbox'")" \
  "new 1 2 $v2/2"
check "R5 ...without loading a message twice" "$(loaded)" "6"

# IMAPS, verified with the server's certificate
q -q -c "SELECT crm.configure('mailbox', 'url', 'imaps://127.0.0.1:$DOVECOT_IMAPS_PORT')"
out=$(job_try "CALL crm.mail_poll()")
check_match "R5 IMAPS with a certificate crm cannot verify is refused (08001)" "$out" "^08001: could not open a TLS connection to the IMAP server"
sleep 1.1
q -q -c "SELECT crm.configure('mailbox', 'ca_file', '$DOVECOT_CERT')"
printf 'From: tls@client.example\r\nSubject: tls\r\nMessage-ID: <tls-1@client.example>\r\n\r\nx\r\n' >"$new"; dovecot_deliver "$new" Orders
job "CALL crm.mail_poll()"
check "R5 IMAPS with mailbox.ca_file works" "$(last_run) $(detail ingested)" "ok - 1"

# wrong password, missing folder: the job stops with a clear error
integ_secret mailbox password 'wrong-password'
out=$(job_try "CALL crm.mail_poll()")
check_match "R5 a wrong password fails with 28000" "$out" "^28000: the IMAP server refused the login"
check "R5 ...and stops the job" "$(qa "SELECT state FROM crm.integration_peer WHERE peer = 'mailbox'")" "failed"
integ_secret mailbox password 'S3cret-imap-pw'
q -q -c "SELECT crm.configure('mailbox', 'folder', 'NoSuchFolder')"
out=$(job_try "CALL crm.mail_poll()")
check_match "R5 a missing folder fails with 42704" "$out" "^42704: the IMAP server cannot open folder \"NoSuchFolder\""
q -q -c "SELECT crm.configure('mailbox', 'folder', 'INBOX')"

# a stalled server: the timeout, then a cancel
stall STOP
t0=$(now_ms)
out=$(PGOPTIONS="-c crm.http_timeout=1000" job_try "CALL crm.mail_poll()")
took=$(( $(now_ms) - t0 ))
check_match "R5 a stalled IMAP server fails the run as a timeout" "$out" "^080(01|06): (could not connect to )?the IMAP server (did not answer )?within 1000 ms"
check "R5 ...within the timeout plus 0.9 s (took $took ms)" "$([ "$took" -lt 1900 ] && echo yes)" "yes"
sleep 1.1
( job_try "CALL crm.mail_poll()" >"$work/mail_cancel.out"; now_ms >"$work/mail_cancel.t" ) &
bg=$!
sleep 1
pid=$(qa "SELECT pid FROM pg_stat_activity WHERE usename = '$INTEG_JOB' AND query LIKE 'CALL crm.mail_poll()%' AND state = 'active'")
t0=$(now_ms)
qa "SELECT pg_cancel_backend($pid)" >/dev/null
wait $bg
took=$(( $(cat "$work/mail_cancel.t") - t0 ))
stall CONT
check_match "R5 cancel during the IMAP exchange ends with 57014" "$(cat "$work/mail_cancel.out")" "57014"
check "R5 ...within about a second (took $took ms)" "$([ "$took" -lt 1500 ] && echo yes)" "yes"
check "R5 ...recorded as cancelled" "$(last_run)" "cancelled 57014"
job "CALL crm.mail_poll()"
check "R5 the server back, the poll works" "$(last_run)" "ok -"
integ_done
