#!/usr/bin/env python3
"""Cold start of a Lambda process under a minimal Lambda Runtime API emulator (Python stdlib only).

Each run starts the process with AWS_LAMBDA_RUNTIME_API pointing here, serves it one event from
/2018-06-01/runtime/invocation/next and stops the clock when its response (or error) arrives; then
the process is killed and its peak RSS read from wait4's rusage. The same server also plays the
Slack Web API (every method answers ok) and a select-options URL, so that no run leaves the machine.

  coldstart.py run --name NAME --event FILE|signed-help [--runs 20] [--env K=V ...] -- CMD [ARG ...]
      prints one JSON line: name, runs, median/min/max ms, init ms (to the first /next), peak RSS,
      the startup phases the process logged (RUST_LOG=airlock::startup=debug), the first answer.
  coldstart.py table FILE.jsonl   prints the Markdown table of the JSON lines in FILE.
"""

import argparse
import base64
import hashlib
import hmac
import json
import os
import signal
import statistics
import subprocess
import sys
import threading
import time
import urllib.parse
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SIGNING_SECRET = "bench-signing-secret"
PREFIX = "/2018-06-01/runtime"


def signed_help_event():
    """An HTTP API (payload 2.0) event carrying a Slack-signed `/access help` slash command."""
    body = urllib.parse.urlencode({
        "token": "x", "team_id": "T0BENCH", "team_domain": "bench", "channel_id": "C0BENCH",
        "channel_name": "bench", "user_id": "U0CAROL", "user_name": "carol", "command": "/access",
        "text": "help", "api_app_id": "A0BENCH", "response_url": "https://hooks.slack.com/commands/x",
        "trigger_id": "1.2.3",
    })
    ts = str(int(time.time()))
    sig = "v0=" + hmac.new(SIGNING_SECRET.encode(), f"v0:{ts}:{body}".encode(), hashlib.sha256).hexdigest()
    headers = {
        "content-type": "application/x-www-form-urlencoded", "host": "abc123.execute-api.us-east-1.amazonaws.com",
        "user-agent": "Slackbot 1.0 (+https://api.slack.com/robots)", "x-slack-request-timestamp": ts,
        "x-slack-signature": sig, "content-length": str(len(body)),
    }
    return http_api_event("POST", "/slack/commands", headers, base64.b64encode(body.encode()).decode(), True)


def api_event(method, path, token, payload):
    """An HTTP API (payload 2.0) event calling Airlock's /api/v1 with a bearer token."""
    headers = {"content-type": "application/json", "authorization": f"Bearer {token}",
               "host": "abc123.execute-api.us-east-1.amazonaws.com"}
    return http_api_event(method, path, headers, json.dumps(payload), False)


def http_api_event(method, path, headers, body, b64):
    return {
        "version": "2.0", "routeKey": "$default", "rawPath": path, "rawQueryString": "", "headers": headers,
        "requestContext": {
            "accountId": "123456789012", "apiId": "abc123", "domainName": headers["host"], "domainPrefix": "abc123",
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "203.0.113.7",
                     "userAgent": headers.get("user-agent", "bench")},
            "requestId": uuid.uuid4().hex, "routeKey": "$default", "stage": "$default",
            "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime()), "timeEpoch": int(time.time() * 1000),
        },
        "body": body, "isBase64Encoded": b64,
    }


class Invocation:
    """One run's event and what the process did with it."""

    def __init__(self, event):
        self.event = json.dumps(event).encode()
        self.request_id = str(uuid.uuid4())
        self.served = False
        self.next_at = None
        self.answered_at = None
        self.answer = None
        self.kind = None
        self.done = threading.Event()


class Emulator:
    def __init__(self, port=0):
        self.current = None
        self.lock = threading.Lock()
        emulator = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def reply(self, status, body=b"", headers=()):
                self.send_response(status)
                for k, v in headers:
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):
                if self.path == f"{PREFIX}/invocation/next":
                    return emulator.next(self)
                if self.path.startswith("/options"):
                    options = [{"value": f"INC-{i}", "label": f"INC-{i} outage"} for i in range(5)]
                    return self.reply(200, json.dumps(options).encode(), [("Content-Type", "application/json")])
                self.reply(404)

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                if self.path.startswith(PREFIX):
                    return emulator.answer(self, body)
                # The Slack Web API: every method succeeds.
                answer = {"ok": True, "channel": "C0BENCH", "ts": "1700000000.000100",
                          "user": {"id": "U0CAROL", "name": "carol", "profile": {"email": "carol@example.com"}},
                          "view": {"id": "V0BENCH"}}
                self.reply(200, json.dumps(answer).encode(), [("Content-Type", "application/json")])

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request, client_address):
                pass  # a killed process resets its connections

        self.server = Server(("127.0.0.1", port), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def next(self, handler):
        with self.lock:
            inv = self.current
            first = inv is not None and not inv.served
            if first:
                inv.served = True
                inv.next_at = time.perf_counter()
        if not first:
            # The process asks for its second event: hold it until the run ends.
            if inv is not None:
                inv.done.wait(30)
            return handler.reply(410)
        deadline = str(int(time.time() * 1000) + 30_000)
        handler.reply(200, inv.event, [
            ("Content-Type", "application/json"),
            ("Lambda-Runtime-Aws-Request-Id", inv.request_id),
            ("Lambda-Runtime-Deadline-Ms", deadline),
            ("Lambda-Runtime-Invoked-Function-Arn", "arn:aws:lambda:us-east-1:123456789012:function:bench"),
            ("Lambda-Runtime-Trace-Id", "Root=1-00000000-000000000000000000000000;Sampled=0"),
        ])

    def answer(self, handler, body):
        now = time.perf_counter()
        inv = self.current
        handler.reply(202, b'{"status":"OK"}', [("Content-Type", "application/json")])
        if inv is None or inv.done.is_set():
            return
        inv.answered_at = now
        inv.kind = "error" if handler.path.endswith("/error") else "response"
        inv.answer = body.decode(errors="replace")
        inv.done.set()

    def run_once(self, cmd, env, event, cwd=None):
        inv = Invocation(event)
        self.current = inv
        full_env = dict(env)
        full_env["AWS_LAMBDA_RUNTIME_API"] = f"127.0.0.1:{self.port}"
        # What Lambda sets for every function (lambda_runtime requires them).
        for key, value in [("AWS_LAMBDA_FUNCTION_NAME", "bench"), ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST"),
                           ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256"), ("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/bench"),
                           ("AWS_LAMBDA_LOG_STREAM_NAME", "bench")]:
            full_env.setdefault(key, value)
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, env=full_env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        out = []
        reader = threading.Thread(target=lambda: out.append(proc.stdout.read()), daemon=True)
        reader.start()
        finished = inv.done.wait(30)
        proc.send_signal(signal.SIGKILL)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = status
        reader.join(5)
        self.current = None
        log = out[0].decode(errors="replace") if out else ""
        if not finished:
            raise RuntimeError(f"{cmd[0]} gave no answer within 30 s; its output:\n{log[-3000:]}")
        return {
            "total_ms": (inv.answered_at - start) * 1000,
            "init_ms": (inv.next_at - start) * 1000,
            "rss_kib": usage.ru_maxrss,
            "kind": inv.kind,
            "answer": inv.answer,
            "phases": phases(log),
        }


def phases(log):
    """The startup phases a process logged (`airlock::startup` events): [(phase, µs since main)]."""
    found = []
    for line in log.splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if record.get("target") == "airlock::startup":
            fields = record.get("fields", {})
            found.append((fields.get("phase"), fields.get("elapsed_us")))
    return found


def load_event(spec):
    """A function of the run's index giving its event: signed-help, inline JSON, a JSON file, or a
    JSON Lines file with one event per run."""
    if spec == "signed-help":
        return lambda i: signed_help_event()
    if spec.startswith("{"):
        value = json.loads(spec)
        return lambda i: value
    with open(spec) as f:
        if spec.endswith(".jsonl"):
            events = [json.loads(line) for line in f if line.strip()]
            return lambda i: events[i]
        value = json.load(f)
    return lambda i: value


def api_events(args):
    """JSON Lines of POST /api/v1/requests events, one new requester per line."""
    for i in range(args.count):
        body = {"requester": f"bench{args.tag}{i}@example.com", "flow": "aws-prod", "target": "prod-admin",
                "duration": "15m", "reason": "cold-start bench", "fields": {"urgency": args.urgency}}
        print(json.dumps(api_event("POST", "/api/v1/requests", args.token, body)))


def step_events(args):
    """JSON Lines of step calls for the requests created by the API answers in ANSWERS."""
    for line in open(args.answers):
        if not line.strip():
            continue
        answer = json.loads(json.loads(line)["answer"])
        request_id = json.loads(answer["body"])["id"]
        state = {"schema_version": 1, "request_id": request_id, "approval_timeout_seconds": 3600}
        state.update(json.loads(args.state))
        call = {"step": args.step, "state": state}
        if args.token:
            call["task_token"] = f"bench-token-{request_id}"
        print(json.dumps(call))


def run(args):
    emulator = Emulator(args.port)
    env = dict(os.environ)
    for pair in args.env:
        key, _, value = pair.partition("=")
        env[key] = value.replace("{EMULATOR}", f"http://127.0.0.1:{emulator.port}")
    make_event = load_event(args.event)
    results = []
    answers = open(args.answers, "w") if args.answers else None
    for i in range(args.warmup + args.runs):
        result = emulator.run_once(args.cmd, env, make_event(i), cwd=args.cwd)
        if answers:
            answers.write(json.dumps({"kind": result["kind"], "answer": result["answer"]}) + "\n")
        if i >= args.warmup:
            results.append(result)
    if answers:
        answers.close()
    totals = [r["total_ms"] for r in results]
    first = results[0]
    median_phases = []
    for index, (phase, _) in enumerate(first["phases"]):
        values = [r["phases"][index][1] for r in results if len(r["phases"]) > index]
        median_phases.append([phase, statistics.median(values) / 1000])
    line = {
        "name": args.name,
        "runs": len(results),
        "median_ms": statistics.median(totals),
        "min_ms": min(totals),
        "max_ms": max(totals),
        "init_median_ms": statistics.median(r["init_ms"] for r in results),
        "peak_rss_mib": max(r["rss_kib"] for r in results) / 1024,
        "answer_kind": first["kind"],
        "answer": first["answer"][:300],
        "phases_median_ms": median_phases,
        "note": args.note,
    }
    print(json.dumps(line), flush=True)


def table(args):
    rows = [json.loads(l) for l in open(args.file) if l.strip()]
    floor = next((r for r in rows if r["name"] == "floor (lambda_http hello)"), None)
    print("| function | event | median ms | min ms | max ms | x floor | peak RSS MiB |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        ratio = f"{r['median_ms'] / floor['median_ms']:.1f}" if floor else "-"
        print(f"| {r['name']} | {r['note']} | {r['median_ms']:.1f} | {r['min_ms']:.1f} | {r['max_ms']:.1f} | "
              f"{ratio} | {r['peak_rss_mib']:.1f} |")
    traced = [r for r in rows if r["phases_median_ms"]]
    if traced:
        print()
        print("Start-up phases (median ms since the top of `main`, from `RUST_LOG=airlock::startup=debug`):")
        print()
        for r in traced:
            steps = ", ".join(f"{p} {ms:.2f}" for p, ms in r["phases_median_ms"])
            print(f"* {r['name']}: {steps}; first /next at {r['init_median_ms']:.2f} after spawn")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("run")
    p.add_argument("--name", required=True)
    p.add_argument("--event", required=True, help="a JSON file, inline JSON, or signed-help")
    p.add_argument("--runs", type=int, default=20)
    p.add_argument("--warmup", type=int, default=1, help="runs not counted (page cache)")
    p.add_argument("--env", action="append", default=[], help="K=V; {EMULATOR} is this server's URL")
    p.add_argument("--cwd")
    p.add_argument("--note", default="")
    p.add_argument("--answers", help="write every run's answer here (JSON Lines)")
    p.add_argument("--port", type=int, default=0, help="the emulator's port (0: any free one)")
    p.add_argument("cmd", nargs="+")
    a = sub.add_parser("api-events")
    a.add_argument("--count", type=int, required=True)
    a.add_argument("--tag", required=True)
    a.add_argument("--urgency", default="Normal")
    a.add_argument("--token", default="bench-token")
    s = sub.add_parser("step-events")
    s.add_argument("answers")
    s.add_argument("step")
    s.add_argument("--state", default="{}", help="JSON merged into the step's state")
    s.add_argument("--token", action="store_true", help="give the call a task token")
    t = sub.add_parser("table")
    t.add_argument("file")
    args = parser.parse_args()
    try:
        {"run": run, "table": table, "api-events": api_events, "step-events": step_events}[args.command](args)
    except RuntimeError as e:
        print(f"coldstart: {e}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
