#!/usr/bin/env python3
"""test/stubs/mailchimp.py -- a MailChimp Marketing API v3 stand-in for the
tests and the demo (R26), following the documented requests, answers and
errors of the endpoints crm uses:

  POST /3.0/lists/{list_id}                       batch subscribe/unsubscribe:
       {"members": [...], "update_existing": bool, "sync_tags": bool}, at most 500
       -> {"new_members", "updated_members", "errors": [{"email_address", "error",
           "error_code", "field", "field_message"}], "total_created",
           "total_updated", "error_count", "_links"}
  PUT  /3.0/lists/{list_id}/members/{md5(lower(email))}   upsert one (status_if_new)
  GET  /3.0/lists/{list_id}/members/{hash}                one member
  POST /3.0/lists/{list_id}/members/{hash}/tags           {"tags": [{"name", "status"}]} -> 204
  GET  /3.0/ping

Authentication: HTTP Basic, any user name, the API key as password;
otherwise 401 "API Key Invalid".  Errors are RFC 7807 problem documents
(type, title, status, detail, instance), as MailChimp sends them.

Members live in memory keyed by the subscriber hash (so one address is one
member, as in MailChimp).  Per-member refusals, as MailChimp gives them:
an address that "looks fake or invalid", one "in a compliance state" (set
with {"compliance": [...]}), required merge fields left empty
({"required_merge_fields": ["FNAME"]}), an existing member when
update_existing is false.  Control (see stubcommon.py) also takes
{"key": "..."} to change the accepted key, {"members_clear": true}, and
{"echo_credentials": true}: a careless peer that repeats the credentials it
received in its 401 answer (crm must not record or show them).
"""
import base64
import hashlib
import json
import re
import threading
import time
import uuid

from stubcommon import serve

EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[A-Za-z]{2,}$")
PROBLEM = "https://mailchimp.com/developer/marketing/docs/errors/"


def subscriber_hash(email):
    return hashlib.md5(email.lower().encode()).hexdigest()


class MailChimp:
    error_type = "application/problem+json; charset=utf-8"
    malformed_body = b'{"new_members": [{"id": "0f1e", "email_address": "a@exa'

    def __init__(self):
        self.lock = threading.Lock()
        self.key = "0123456789abcdef0123456789abcdef-us21"
        self.lists = {"a1b2c3d4e5"}
        self.members = {}          # (list_id, hash) -> member
        self.compliance = set()
        self.fake = set()
        self.required = set()
        self.merge_fields = {"FNAME", "LNAME", "ADDRESS", "PHONE", "BIRTHDAY", "COMPANY"}
        self.tag_ids = {}
        self.echo_credentials = False   # a careless peer: repeats the key it got in its errors

    def configure(self, opts):
        if opts.key:
            self.key = opts.key
        if opts.list:
            self.lists = set(opts.list.split(","))

    def control(self, spec):
        with self.lock:
            if "key" in spec:
                self.key = spec["key"]
            if "lists" in spec:
                self.lists = set(spec["lists"])
            if "compliance" in spec:
                self.compliance = {e.lower() for e in spec["compliance"]}
            if "fake" in spec:
                self.fake = {e.lower() for e in spec["fake"]}
            if "required_merge_fields" in spec:
                self.required = set(spec["required_merge_fields"])
            if spec.get("members_clear"):
                self.members.clear()
            if "echo_credentials" in spec:
                self.echo_credentials = bool(spec["echo_credentials"])

    def state(self):
        with self.lock:
            return {"key_suffix": self.key.rsplit("-", 1)[-1], "lists": sorted(self.lists),
                    "members": [dict(m) for m in self.members.values()]}

    # ---- answers ----
    def problem(self, status, title, detail, errors=None):
        body = {"type": PROBLEM, "title": title, "status": status, "detail": detail,
                "instance": str(uuid.uuid4())}
        if errors:
            body["errors"] = errors
        return status, body, self.error_type

    def error_body(self, status):
        titles = {429: ("Too Many Requests", "You have exceeded the limit of 10 simultaneous connections."),
                  500: ("Internal Server Error", "An unexpected internal error has occurred. Please contact Support for more information."),
                  502: ("Bad Gateway", "The server received an invalid response from the upstream server."),
                  503: ("Service Unavailable", "This service is temporarily unavailable. Please try again later."),
                  401: ("API Key Invalid", "Your API key may be invalid, or you've attempted to access the wrong datacenter."),
                  403: ("Forbidden", "You don't have permission to access this resource.")}
        title, detail = titles.get(status, ("Error", "An error occurred."))
        return self.problem(status, title, detail)[1]

    def tag(self, name):
        if name not in self.tag_ids:
            self.tag_ids[name] = len(self.tag_ids) + 1
        return {"id": self.tag_ids[name], "name": name}

    def member_view(self, list_id, m):
        return {
            "id": m["id"], "email_address": m["email_address"], "unique_email_id": m["id"][:10],
            "contact_id": m["id"], "full_name": " ".join(filter(None, [m["merge_fields"].get("FNAME"),
                                                                      m["merge_fields"].get("LNAME")])),
            "web_id": m["web_id"], "email_type": "html", "status": m["status"],
            "consents_to_one_to_one_messaging": True, "merge_fields": m["merge_fields"],
            "interests": {}, "stats": {"avg_open_rate": 0, "avg_click_rate": 0},
            "ip_signup": "", "timestamp_signup": "", "ip_opt": "", "timestamp_opt": m["timestamp_opt"],
            "member_rating": 2, "last_changed": m["last_changed"], "language": "", "vip": False,
            "email_client": "", "location": {"latitude": 0, "longitude": 0, "gmtoff": 0, "dstoff": 0,
                                             "country_code": "", "timezone": "", "region": ""},
            "source": "API - Generic", "tags_count": len(m["tags"]),
            "tags": [self.tag(t) for t in m["tags"]], "list_id": list_id, "_links": [],
        }

    def refuse(self, email, status, merge_fields, exists, update_existing):
        """The per-member error MailChimp would give, or None."""
        low = email.lower()
        if not EMAIL.match(email) or low in self.fake:
            return {"email_address": email,
                    "error": f"{email} looks fake or invalid, please enter a real email address.",
                    "error_code": "ERROR_GENERIC", "field": "", "field_message": ""}
        if low in self.compliance and status in ("subscribed", "pending"):
            return {"email_address": email,
                    "error": f"{email} is in a compliance state due to unsubscribe, bounce, or compliance review and cannot be subscribed.",
                    "error_code": "ERROR_GENERIC", "field": "", "field_message": ""}
        for f in sorted(self.required):
            if status == "subscribed" and not (merge_fields or {}).get(f) and not exists:
                return {"email_address": email, "error": "Your merge fields were invalid.",
                        "error_code": "ERROR_GENERIC", "field": f, "field_message": "Please enter a value"}
        for f in sorted((merge_fields or {}).keys()):
            if f not in self.merge_fields:
                return {"email_address": email, "error": "Your merge fields were invalid.",
                        "error_code": "ERROR_GENERIC", "field": f,
                        "field_message": "This merge field does not exist in the audience."}
        if exists and not update_existing:
            return {"email_address": email,
                    "error": f"{email} is already a list member. Use PUT to insert or update list members.",
                    "error_code": "ERROR_CONTACT_EXISTS", "field": "", "field_message": ""}
        return None

    def upsert(self, list_id, item, status, tags, sync_tags):
        email = item["email_address"]
        h = subscriber_hash(email)
        now = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime())
        key = (list_id, h)
        m = self.members.get(key)
        created = m is None
        if created:
            m = {"id": h, "web_id": len(self.members) + 1, "email_address": email, "status": status,
                 "merge_fields": {}, "tags": [], "timestamp_opt": now, "last_changed": now,
                 "writes": 0}
            self.members[key] = m
        m["email_address"] = email
        m["status"] = status
        m["merge_fields"].update(item.get("merge_fields") or {})
        names = [t["name"] if isinstance(t, dict) else t for t in (tags or [])]
        if sync_tags:
            m["tags"] = list(dict.fromkeys(names))
        else:
            m["tags"] = list(dict.fromkeys(m["tags"] + names))
        m["last_changed"] = now
        m["writes"] += 1
        return created, m

    # ---- requests ----
    def authorized(self, handler):
        auth = handler.headers.get("Authorization") or ""
        if not auth.startswith("Basic "):
            return False
        try:
            user, _, password = base64.b64decode(auth[6:]).decode().partition(":")
        except Exception:
            return False
        return password == self.key

    def handle(self, handler, method, path, query, body, entry, apply=True):
        parts = [p for p in path.split("/") if p]
        if parts[:1] != ["3.0"]:
            return self.problem(404, "Resource Not Found", "The requested resource could not be found.")
        if not self.authorized(handler):
            entry["auth_ok"] = False
            detail = "Your API key may be invalid, or you've attempted to access the wrong datacenter."
            if self.echo_credentials:
                detail += " Received: " + (handler.headers.get("Authorization") or "") + " = " + \
                    base64.b64decode((handler.headers.get("Authorization") or "Basic ")[6:] or b"").decode(errors="replace")
            return self.problem(401, "API Key Invalid", detail)
        entry["auth_ok"] = True
        parts = parts[1:]
        if parts == ["ping"] and method == "GET":
            return 200, {"health_status": "Everything's Chimpy!"}, "application/json; charset=utf-8"
        if len(parts) < 2 or parts[0] != "lists" or parts[1] not in self.lists:
            return self.problem(404, "Resource Not Found", "The requested resource could not be found.")
        list_id = parts[1]
        doc = None
        if method in ("POST", "PUT", "PATCH"):
            try:
                doc = json.loads(body or b"null")
                if not isinstance(doc, dict):
                    raise ValueError("not an object")
            except ValueError:
                return self.problem(400, "JSON Parse Error", "We encountered an unspecified JSON parsing error.")
        with self.lock:
            if len(parts) == 2 and method == "POST":
                return self.batch(list_id, doc, entry, apply)
            if len(parts) == 4 and parts[2] == "members" and method == "PUT":
                return self.put_member(list_id, parts[3], doc, entry, apply)
            if len(parts) == 4 and parts[2] == "members" and method == "GET":
                m = self.members.get((list_id, parts[3]))
                if m is None:
                    return self.problem(404, "Resource Not Found", "The requested resource could not be found.")
                return 200, self.member_view(list_id, m), "application/json; charset=utf-8"
            if len(parts) == 5 and parts[2] == "members" and parts[4] == "tags" and method == "POST":
                return self.member_tags(list_id, parts[3], doc, entry, apply)
        return self.problem(405, "Method Not Allowed", "The requested method and resource are not compatible.")

    def batch(self, list_id, doc, entry, apply):
        members = doc.get("members")
        if not isinstance(members, list):
            return self.problem(400, "Invalid Resource",
                                "The resource submitted could not be validated. For field-specific details, see the 'errors' array.",
                                [{"field": "members", "message": "Required field not provided"}])
        if len(members) > 500:
            return self.problem(400, "Invalid Resource",
                                "The resource submitted could not be validated. For field-specific details, see the 'errors' array.",
                                [{"field": "members", "message": "Schema describes array, maximum of 500 items"}])
        update_existing = bool(doc.get("update_existing", False))
        sync_tags = bool(doc.get("sync_tags", False))
        entry["members"] = [(m.get("email_address"), m.get("status")) for m in members if isinstance(m, dict)]
        new, updated, errors = [], [], []
        for item in members:
            if not isinstance(item, dict) or not isinstance(item.get("email_address"), str) \
                    or item.get("status") not in ("subscribed", "unsubscribed", "cleaned", "pending", "transactional"):
                return self.problem(400, "Invalid Resource",
                                    "The resource submitted could not be validated. For field-specific details, see the 'errors' array.",
                                    [{"field": "members.item", "message": "Schema describes object with email_address and status"}])
            email = item["email_address"]
            exists = (list_id, subscriber_hash(email)) in self.members
            err = self.refuse(email, item["status"], item.get("merge_fields"), exists, update_existing)
            if err:
                errors.append(err)
                continue
            if not apply:
                continue
            created, m = self.upsert(list_id, item, item["status"], item.get("tags"), sync_tags)
            (new if created else updated).append(self.member_view(list_id, m))
        entry["errors"] = len(errors)
        return 200, {"new_members": new, "updated_members": updated, "errors": errors,
                     "total_created": len(new), "total_updated": len(updated),
                     "error_count": len(errors), "_links": []}, "application/json; charset=utf-8"

    def put_member(self, list_id, h, doc, entry, apply):
        email = doc.get("email_address")
        if not isinstance(email, str) or subscriber_hash(email) != h:
            return self.problem(400, "Invalid Resource",
                                "The resource submitted could not be validated. For field-specific details, see the 'errors' array.",
                                [{"field": "email_address", "message": "The subscriber hash does not match the email address"}])
        exists = (list_id, h) in self.members
        status = doc.get("status") if exists or not doc.get("status_if_new") else doc.get("status_if_new")
        status = status or doc.get("status_if_new")
        if status not in ("subscribed", "unsubscribed", "cleaned", "pending", "transactional"):
            return self.problem(400, "Invalid Resource",
                                "The resource submitted could not be validated. For field-specific details, see the 'errors' array.",
                                [{"field": "status_if_new", "message": "Data presented is not one of the accepted values"}])
        err = self.refuse(email, status, doc.get("merge_fields"), exists, True)
        if err:
            title = "Invalid Resource" if "merge" in err["error"] else "Member In Compliance State" \
                if "compliance" in err["error"] else "Invalid Resource"
            return self.problem(400, title, err["error"])
        entry["members"] = [(email, status)]
        if not apply:
            return 200, {}, "application/json; charset=utf-8"
        _, m = self.upsert(list_id, doc, status, doc.get("tags"), False)
        return 200, self.member_view(list_id, m), "application/json; charset=utf-8"

    def member_tags(self, list_id, h, doc, entry, apply):
        m = self.members.get((list_id, h))
        if m is None:
            return self.problem(404, "Resource Not Found", "The requested resource could not be found.")
        tags = doc.get("tags")
        if not isinstance(tags, list) or not all(isinstance(t, dict) and isinstance(t.get("name"), str)
                                                 and t.get("status") in ("active", "inactive") for t in tags):
            return self.problem(400, "Invalid Resource",
                                "The resource submitted could not be validated. For field-specific details, see the 'errors' array.",
                                [{"field": "tags", "message": "Schema describes array of {name, status}"}])
        entry["tags"] = [(t["name"], t["status"]) for t in tags]
        if apply:
            for t in tags:
                if t["status"] == "active" and t["name"] not in m["tags"]:
                    m["tags"].append(t["name"])
                if t["status"] == "inactive" and t["name"] in m["tags"]:
                    m["tags"].remove(t["name"])
        return 204, b"", "application/json; charset=utf-8"


if __name__ == "__main__":
    serve(MailChimp(), "MailChimp stub",
          [(("--key",), {"help": "the API key accepted (Basic auth password)"}),
           (("--list",), {"help": "comma-separated audience (list) ids"})])
