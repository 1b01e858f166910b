#!/usr/bin/env python3
"""test/stubs/mikopbx.py -- a MikoPBX REST API v3 stand-in for the tests and
the demo (R4), following MikoPBX's own implementation of the call history
endpoint (PBXCoreREST/Controllers/Cdr/RestController.php and
Lib/Cdr/GetListAction.php):

  GET /pbxcore/api/v3/cdr
      Authorization: Bearer <API key>
      limit (1..1000, default 50), offset (>= 0, else 422), dateFrom, dateTo
      ("YYYY-MM-DD" or "YYYY-MM-DD HH:MM:SS", compared with the call start;
      a range over 365 days is 422; no filter at all means the last 30 days),
      src_num, dst_num, did (substring), disposition, linkedid, idFrom (id >),
      sort (id, start, linkedid, src_num, dst_num, did, disposition, duration,
      billsec; default id), order (ASC/DESC, default DESC), grouped (default
      true: one entry per linkedid with its records; false: the rows)
  -> {"result": true, "data": {"records": [...], "pagination": {"total",
      "limit", "offset", "hasMore", "lastId"}}, "messages": [], "function":
      "getList", "processor": "...", "pid": N}
  errors: {"result": false, "data": [], "messages": {"error": [text]},
      "function": "", "processor": "", "pid": N} -- 401 "The user isn't
      authenticated.", 403 "Access denied. ...", 422, and 503 "Service
      temporarily unavailable, please retry later" when the API queue is full.

Rows: --cdr FILE (a JSON array) and control {"add_cdr": [rows]} (ids given
or assigned), {"generate": {"calls": N, "legs": L, "start": "YYYY-MM-DD
HH:MM:SS", "step_seconds": S, "first_number": 79160000000}},
{"cdr_clear": true}, {"key": "..."}, {"forbidden": true} (403 for a valid key).
"""
import datetime
import json
import os
import threading

from stubcommon import serve

FIELDS = {
    "id": 0, "start": "", "endtime": "", "answer": "", "src_chan": "", "src_num": "", "src_name": "",
    "dst_chan": "", "dst_num": "", "dst_name": "", "UNIQUEID": "", "linkedid": "", "did": "",
    "disposition": "", "recordingfile": "", "from_account": "", "to_account": "", "dialstatus": "",
    "appname": "", "transfer": "0", "is_app": "0", "duration": 0, "billsec": 0, "work_completed": "1",
    "src_call_id": "", "dst_call_id": "", "verbose_call_id": "", "rec_src_channel": "", "dtmf_digits": "",
}
SORTS = ["id", "start", "linkedid", "src_num", "dst_num", "did", "disposition", "duration", "billsec"]


def envelope(records, pagination):
    return {"result": True, "data": {"records": records, "pagination": pagination}, "messages": [],
            "function": "getList", "processor": "MikoPBX\\PBXCoreREST\\Lib\\Cdr\\GetListAction::main",
            "pid": os.getpid()}


def failure(message):
    return {"result": False, "data": [], "messages": {"error": [message]}, "function": "", "processor": "",
            "pid": os.getpid()}


class MikoPBX:
    error_type = "application/json; charset=utf-8"
    malformed_body = b'{"result": true, "data": {"records": [{"id": 1, "start": "2025-'

    def __init__(self):
        self.lock = threading.Lock()
        self.key = "miko-test-key"
        self.forbidden = False
        self.rows = []
        self.next_id = 1

    def configure(self, opts):
        if opts.key:
            self.key = opts.key
        if opts.cdr:
            with open(opts.cdr, encoding="utf-8") as f:
                self.add(json.load(f))

    def add(self, rows):
        for r in rows:
            row = dict(FIELDS)
            row.update(r)
            if not row["id"]:
                row["id"] = self.next_id
            self.next_id = max(self.next_id, int(row["id"]) + 1)
            if not row["UNIQUEID"]:
                row["UNIQUEID"] = f"{row['linkedid']}_{row['id']}"
            self.rows.append(row)
        self.rows.sort(key=lambda r: int(r["id"]))

    def generate(self, spec):
        n = int(spec.get("calls", 100))
        legs = int(spec.get("legs", 1))
        t = datetime.datetime.strptime(spec.get("start", "2025-01-15 09:00:00"), "%Y-%m-%d %H:%M:%S")
        step = float(spec.get("step_seconds", 30))
        first = int(spec.get("first_number", 79160000000))
        did = spec.get("did", "74951000000")
        rows = []
        for i in range(n):
            start = t + datetime.timedelta(seconds=i * step)
            linkedid = f"mikopbx-{int(start.timestamp())}.{self.next_id + i}"
            for k in range(legs):
                s = start + datetime.timedelta(seconds=5 * k)
                answered = k == legs - 1
                e = s + datetime.timedelta(seconds=60 if answered else 15)
                rows.append({"start": s.strftime("%Y-%m-%d %H:%M:%S.000"),
                             "answer": (s + datetime.timedelta(seconds=3)).strftime("%Y-%m-%d %H:%M:%S.000") if answered else "",
                             "endtime": e.strftime("%Y-%m-%d %H:%M:%S.000"),
                             "src_num": str(first + i), "dst_num": str(201 + k), "did": did,
                             "linkedid": linkedid, "disposition": "ANSWERED" if answered else "NO ANSWER",
                             "duration": int((e - s).total_seconds()), "billsec": 57 if answered else 0,
                             "recordingfile": f"/storage/usbdisk1/mikopbx/astspool/monitor/{linkedid}.mp3" if answered else ""})
        self.add(rows)

    def control(self, spec):
        with self.lock:
            if spec.get("cdr_clear"):
                self.rows, self.next_id = [], 1
            if "key" in spec:
                self.key = spec["key"]
            if "forbidden" in spec:
                self.forbidden = bool(spec["forbidden"])
            if "add_cdr" in spec:
                self.add(spec["add_cdr"])
            if "generate" in spec:
                self.generate(spec["generate"])

    def state(self):
        with self.lock:
            return {"rows": len(self.rows), "linkedids": len({r["linkedid"] for r in self.rows})}

    def error_body(self, status):
        if status == 503:
            return failure("Service temporarily unavailable, please retry later")
        if status == 401:
            return failure("The user isn't authenticated.")
        if status == 403:
            return failure("Access denied. You do not have permission to access this resource.")
        return failure(f"Internal Server Error ({status})")

    def handle(self, handler, method, path, query, body, entry, apply=True):
        from urllib.parse import parse_qs
        if path.rstrip("/") != "/pbxcore/api/v3/cdr" or method != "GET":
            return 404, failure("Not found"), self.error_type
        auth = handler.headers.get("Authorization") or ""
        if not auth.startswith("Bearer ") or auth[7:] != self.key:
            entry["auth_ok"] = False
            return 401, failure("The user isn't authenticated."), self.error_type
        entry["auth_ok"] = True
        if self.forbidden:
            return 403, failure("Access denied. You do not have permission to access this resource."), self.error_type
        q = {k: v[-1] for k, v in parse_qs(query, keep_blank_values=True).items()}
        entry["params"] = q
        try:
            limit = min(max(1, int(q.get("limit", 50) or 50)), 1000)
            offset = int(q.get("offset", 0) or 0)
        except ValueError:
            limit, offset = 50, 0
        if offset < 0:
            return 422, failure(f"Invalid offset value: {offset}. Offset must be non-negative."), self.error_type
        date_from, date_to = q.get("dateFrom"), q.get("dateTo")
        if date_from is not None and len(date_from) == 10:
            date_from += " 00:00:00"
        if date_to is not None and len(date_to) == 10:
            date_to += " 23:59:59"
        date_from = date_from.replace("T", " ") if date_from else date_from
        date_to = date_to.replace("T", " ") if date_to else date_to
        for d in (date_from, date_to):
            if d is not None:
                try:
                    datetime.datetime.strptime(d[:19], "%Y-%m-%d %H:%M:%S")
                except ValueError:
                    return 422, failure("Invalid date format. Expected: YYYY-MM-DD or YYYY-MM-DD HH:MM:SS"), self.error_type
        if date_from and date_to:
            a = datetime.datetime.strptime(date_from[:19], "%Y-%m-%d %H:%M:%S")
            b = datetime.datetime.strptime(date_to[:19], "%Y-%m-%d %H:%M:%S")
            if abs((b - a).days) > 365:
                return 422, failure("Date range exceeds maximum allowed (365 days). Please narrow your search criteria."), self.error_type
        filters = [k for k in ("dateFrom", "dateTo", "linkedid", "src_num", "dst_num", "search", "did") if k in q]
        if not filters:
            now = datetime.datetime.now()
            date_to = now.strftime("%Y-%m-%d 23:59:59")
            date_from = (now - datetime.timedelta(days=30)).strftime("%Y-%m-%d 00:00:00")
        sort = q.get("sort", "id") if q.get("sort", "id") in SORTS else "id"
        order = q.get("order", "DESC").upper()
        order = order if order in ("ASC", "DESC") else "DESC"
        grouped = q.get("grouped", "true").lower() not in ("false", "0", "no", "off", "")
        with self.lock:
            rows = list(self.rows)

        def keep(r):
            if date_from and r["start"] < date_from:
                return False
            if date_to and r["start"] > date_to:
                return False
            if "idFrom" in q and int(r["id"]) <= int(q["idFrom"] or 0):
                return False
            if "linkedid" in q and r["linkedid"] != q["linkedid"]:
                return False
            for k in ("src_num", "dst_num", "did"):
                if k in q and q[k] not in r[k]:
                    return False
            if "disposition" in q and r["disposition"] != q["disposition"]:
                return False
            return True
        rows = [r for r in rows if keep(r)]

        def sortkey(r):
            v = r[sort]
            return int(v) if sort in ("id", "duration", "billsec") else str(v)
        if not grouped:
            rows.sort(key=sortkey, reverse=(order == "DESC"))
            page = rows[offset:offset + limit]
            total = len(rows)
            records = [dict(r, playback_url="", download_url="") for r in page]
        else:
            groups = {}
            for r in rows:
                groups.setdefault(r["linkedid"], []).append(r)
            ordered = sorted(groups.items(), key=lambda kv: max(sortkey(r) for r in kv[1]),
                             reverse=(order == "DESC"))
            total = len(ordered)
            records = []
            page = []
            for linkedid, legs in ordered[offset:offset + limit]:
                legs.sort(key=lambda r: r["start"])
                first = legs[0]
                g = {"linkedid": linkedid, "start": first["start"], "src_num": first["src_num"],
                     "src_name": first["src_name"], "dst_num": first["dst_num"], "dst_name": first["dst_name"],
                     "did": first["did"], "disposition": first["disposition"], "totalDuration": 0,
                     "totalBillsec": 0, "records": []}
                for r in legs:
                    if r["did"]:
                        g["dst_num"] = g["did"] = r["did"]
                    g["totalDuration"] += int(r["duration"])
                    g["totalBillsec"] += int(r["billsec"])
                    if r["disposition"] in ("ANSWERED", "ANSWER"):
                        g["disposition"] = "ANSWERED"
                    g["records"].append(dict(r, playback_url="", download_url=""))
                    page.append(r)
                records.append(g)
        last_id = page[-1]["id"] if page else None
        entry["returned"] = len(records)
        return 200, envelope(records, {"total": total, "limit": limit, "offset": offset,
                                       "hasMore": offset + limit < total, "lastId": last_id}), \
            "application/json; charset=utf-8"


if __name__ == "__main__":
    serve(MikoPBX(), "MikoPBX stub",
          [(("--key",), {"help": "the API key accepted as Bearer token"}),
           (("--cdr",), {"help": "a JSON file of CDR rows to serve"})])
