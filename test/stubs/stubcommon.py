#!/usr/bin/env python3
"""test/stubs/stubcommon.py -- what the peer stubs (mailchimp.py, mikopbx.py)
share: a threaded HTTP/1.1 server on 127.0.0.1 that records every request,
and faults it can be told to inject through its control endpoint:

  POST /_control   {"delay": 2.5}                  answer every API request 2.5 s late
                   {"fail": [{"status": 503, "times": 2}]}   the next 2 API requests get 503
                   {"malformed": 1}                the next API answer is 200 with broken JSON
                   {"reset": 1}                    the next API request: connection reset (RST)
                   {"clear": true}                 no faults
                   (the peer stub adds its own keys: data, credentials, ...)
  GET  /_control   the stub's state: faults, the request log, the peer's data
  POST /_control/log/clear   empties the request log

The control endpoint is never delayed or failed.  The stub writes its port to
--port-file once it listens, and its pid to --pid-file; SIGTERM stops it.
Standard library only.
"""
import argparse
import json
import os
import signal
import socket
import struct
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Faults:
    def __init__(self):
        self.lock = threading.Lock()
        self.delay = 0.0
        self.fail = []          # [{"status": 503, "times": n, "body": {...}}]
        self.malformed = 0
        self.reset = 0

    def update(self, spec):
        with self.lock:
            if spec.get("clear"):
                self.delay, self.fail, self.malformed, self.reset = 0.0, [], 0, 0
            if "delay" in spec:
                self.delay = float(spec["delay"])
            if "fail" in spec:
                self.fail.extend(dict(f) for f in spec["fail"])
            if "malformed" in spec:
                self.malformed += int(spec["malformed"])
            if "reset" in spec:
                self.reset += int(spec["reset"])

    def take(self):
        """The fault for this API request: ('reset'|'fail'|'malformed'|None, detail)."""
        with self.lock:
            if self.reset > 0:
                self.reset -= 1
                return "reset", None
            if self.fail:
                f = self.fail[0]
                f["times"] = int(f.get("times", 1)) - 1
                if f["times"] <= 0:
                    self.fail.pop(0)
                return "fail", f
            if self.malformed > 0:
                self.malformed -= 1
                return "malformed", None
            return None, None

    def state(self):
        with self.lock:
            return {"delay": self.delay, "fail": list(self.fail), "malformed": self.malformed,
                    "reset": self.reset}


class StubServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, addr, handler, peer):
        super().__init__(addr, handler)
        self.peer = peer            # the peer's model: handles API requests
        self.faults = Faults()
        self.log = []
        self.log_lock = threading.Lock()
        self.log_file = None

    def record(self, entry):
        with self.log_lock:
            entry["seq"] = len(self.log) + 1
            self.log.append(entry)
            if self.log_file:
                self.log_file.write(json.dumps(entry, ensure_ascii=False) + "\n")
                self.log_file.flush()


class StubHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "crm-test-stub/1.0"

    def log_message(self, fmt, *args):   # quiet: the request log says it all
        pass

    # ---- plumbing ----
    def read_body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n > 0 else b""

    def send(self, status, body, content_type="application/json; charset=utf-8", headers=None):
        if isinstance(body, (dict, list)):
            body = json.dumps(body, ensure_ascii=False).encode()
        elif isinstance(body, str):
            body = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        self.wfile.flush()

    def reset_connection(self):
        """Closes the connection with a TCP RST, answering nothing."""
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
        finally:
            self.close_connection = True
            self.wfile = _Sink()

    # ---- dispatch ----
    def handle_any(self):
        body = self.read_body()
        path, _, query = self.path.partition("?")
        if path.startswith("/_control"):
            return self.control(path, body)
        server = self.server
        entry = {"time": time.time(), "method": self.command, "path": path, "query": query,
                 "idempotency_key": self.headers.get("Idempotency-Key"),
                 "authorization": (self.headers.get("Authorization") or "").split(" ")[0] or None,
                 "bytes": len(body)}
        kind, fault = server.faults.take()
        delay = server.faults.state()["delay"]
        entry["fault"] = kind
        if kind == "reset":
            server.record(entry)
            return self.reset_connection()
        status, answer, ctype = server.peer.handle(self, self.command, path, query, body, entry,
                                                   apply=(kind != "fail"))
        if kind == "fail":
            status = int(fault.get("status", 503))
            answer = fault.get("body") or server.peer.error_body(status)
            ctype = server.peer.error_type
        elif kind == "malformed":
            answer, ctype = server.peer.malformed_body, "application/json; charset=utf-8"
        entry["status"] = status
        server.record(entry)
        if delay > 0:
            time.sleep(delay)
        try:
            self.send(status, answer, ctype)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def control(self, path, body):
        server = self.server
        if self.command == "GET":
            with server.log_lock:
                log = list(server.log)
            return self.send(200, {"faults": server.faults.state(), "requests": log,
                                   "peer": server.peer.state()})
        if path == "/_control/log/clear":
            with server.log_lock:
                server.log.clear()
            return self.send(200, {"ok": True})
        try:
            spec = json.loads(body or b"{}")
        except ValueError as e:
            return self.send(400, {"error": str(e)})
        server.faults.update(spec)
        server.peer.control(spec)
        return self.send(200, {"ok": True, "faults": server.faults.state()})

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = handle_any


class _Sink:
    def write(self, data):
        return len(data)

    def flush(self):
        pass


def serve(peer, description, extra_args=None):
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--port-file")
    ap.add_argument("--pid-file")
    ap.add_argument("--log-file", help="append each request as a JSON line")
    for args, kw in (extra_args or []):
        ap.add_argument(*args, **kw)
    opts = ap.parse_args()
    peer.configure(opts)
    server = StubServer(("127.0.0.1", opts.port), StubHandler, peer)
    if opts.log_file:
        server.log_file = open(opts.log_file, "a", encoding="utf-8")
    port = server.server_address[1]
    if opts.pid_file:
        with open(opts.pid_file + ".tmp", "w") as f:
            f.write(str(os.getpid()))
        os.replace(opts.pid_file + ".tmp", opts.pid_file)
    if opts.port_file:
        with open(opts.port_file + ".tmp", "w") as f:
            f.write(str(port))
        os.replace(opts.port_file + ".tmp", opts.port_file)

    def stop(signum, frame):
        threading.Thread(target=server.shutdown, daemon=True).start()
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print(f"{description}: listening on 127.0.0.1:{port}", file=sys.stderr, flush=True)
    server.serve_forever(poll_interval=0.2)
    if opts.pid_file:
        try:
            os.unlink(opts.pid_file)
        except OSError:
            pass
