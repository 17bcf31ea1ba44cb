#!/usr/bin/env python3
"""Cold start of a Lambda process under a minimal Lambda Runtime API emulator (Python stdlib only).

Each run starts the process with AWS_LAMBDA_RUNTIME_API pointing here, serves it one event from
/2018-06-01/runtime/invocation/next and stops the clock when its response (or error) arrives; then
the process is killed; its peak RSS is its VmHWM, read just before. The same server also plays the
Slack Web API (every method answers ok) and a select-options URL, so that no run leaves the machine.

  coldstart.py run --name NAME --event FILE|signed-help [--runs 20] [--timeout 30] [--env K=V ...] -- CMD [ARG ...]
      prints one JSON line: name, runs, median/min/max ms, init ms (to the first /next), peak RSS,
      the startup phases the process logged (RUST_LOG=airlock::startup=debug), the first answer.
      Every run is bounded: a process that exits without answering fails its run at once, one that
      gives no answer within --timeout seconds is killed. A failed run ends the row: the JSON line
      then carries "error" (what happened and the end of the process's output), and the exit is 1.
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
        # Set by the answer or by the process's exit.
        self.over = threading.Event()
        # Set once the process is killed.
        self.ended = threading.Event()


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

    def body(self):
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        pass  # a killed process resets its connections


def serve(handler):
    """A server on a free port, serving in a thread."""
    server = Server(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    return server


def runtime_api(inv):
    """The Runtime API of one run, on its own port: a request left over from an earlier run's process
    (killed with a /next or a post in flight) reaches that run's server, never this one's event."""
    lock = threading.Lock()

    class Runtime(Handler):
        def do_GET(self):
            if self.path != f"{PREFIX}/invocation/next":
                return self.reply(404)
            with lock:
                first = not inv.served
                if first:
                    inv.served = True
                    inv.next_at = time.perf_counter()
            if not first:
                # The process asks for its next event after answering: held, as Lambda holds it,
                # until the run ends (a 410 now would make the runtime fail while being measured).
                inv.ended.wait(60)
                return self.reply(410)
            deadline = str(int(time.time() * 1000) + 30_000)
            self.reply(200, inv.event, [
                ("Content-Type", "application/json"),
                ("Lambda-Runtime-Aws-Request-Id", inv.request_id),
                ("Lambda-Runtime-Deadline-Ms", deadline),
                ("Lambda-Runtime-Invoked-Function-Arn", "arn:aws:lambda:us-east-1:123456789012:function:bench"),
                ("Lambda-Runtime-Trace-Id", "Root=1-00000000-000000000000000000000000;Sampled=0"),
            ])

        def do_POST(self):
            now = time.perf_counter()
            body = self.body()
            self.reply(202, b'{"status":"OK"}', [("Content-Type", "application/json")])
            if not self.path.startswith(PREFIX):
                return
            with lock:
                if inv.done.is_set():
                    return
                inv.answered_at = now
                inv.kind = "error" if self.path.endswith("/error") else "response"
                inv.answer = body.decode(errors="replace")
                inv.done.set()
            inv.over.set()

    return serve(Runtime)


class Emulator:
    """The fake Slack Web API and options URL every run shares (the config names its URL), and the
    runs themselves, each with its own Runtime API."""

    def __init__(self, port=0):
        class Fakes(Handler):
            def do_GET(self):
                if self.path.startswith("/options"):
                    options = [{"value": f"INC-{i}", "label": f"INC-{i} outage"} for i in range(5)]
                    return self.reply(200, json.dumps(options).encode(), [("Content-Type", "application/json")])
                self.reply(404)

            def do_POST(self):
                self.body()
                # The Slack Web API: every method succeeds, answering the fields Airlock reads.
                ts = "1700000000.000100"
                answer = {"ok": True, "channel": "C0BENCH", "ts": ts,
                          "user": {"id": "U0CAROL", "name": "carol", "profile": {"email": "carol@example.com"}},
                          "view": {"id": "V0BENCH"}}
                method = self.path.rsplit("/", 1)[-1]
                if method == "conversations.open":
                    answer["channel"] = {"id": "D0BENCH"}
                elif method in ("chat.postMessage", "chat.update"):
                    answer["message"] = {"ts": ts, "text": "bench"}
                self.reply(200, json.dumps(answer).encode(), [("Content-Type", "application/json")])

        self.server = Server(("127.0.0.1", port), Fakes)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def run_once(self, cmd, env, event, cwd=None, timeout=30):
        inv = Invocation(event)
        runtime = runtime_api(inv)
        full_env = dict(env)
        full_env["AWS_LAMBDA_RUNTIME_API"] = f"127.0.0.1:{runtime.server_address[1]}"
        # What Lambda sets for every function (lambda_runtime requires them).
        for key, value in [("AWS_LAMBDA_FUNCTION_NAME", "bench"), ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST"),
                           ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256"), ("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/bench"),
                           ("AWS_LAMBDA_LOG_STREAM_NAME", "bench")]:
            full_env.setdefault(key, value)
        start = time.perf_counter()
        try:
            # Its own process group, so that whatever it starts (a wrapper's child) goes with it.
            proc = subprocess.Popen(cmd, env=full_env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                    start_new_session=True)
        except OSError as e:
            inv.ended.set()
            runtime.shutdown()
            runtime.server_close()
            raise RuntimeError(f"cannot start {cmd[0]}: {e}") from None
        out = []
        reader = threading.Thread(target=lambda: out.append(proc.stdout.read()), daemon=True)
        reader.start()
        # The run is over when the process answers or exits, whichever comes first (a waiter thread
        # reaps it, keeping its rusage), or at the timeout.
        exited = {}

        def reap():
            _, status, usage = os.wait4(proc.pid, 0)
            exited.update(status=status, usage=usage)
            inv.over.set()

        waiter = threading.Thread(target=reap, daemon=True)
        waiter.start()
        inv.over.wait(timeout)
        answered = inv.done.is_set()
        died = bool(exited) and not answered
        # The process's own peak RSS (the high-water mark of its memory after exec). wait4's
        # ru_maxrss is not that: it counts the forked emulator's pages from before the exec.
        peak_kib = peak_rss_kib(proc.pid) if answered and not exited else None
        faults = minor_faults(proc.pid) if answered and not exited else None
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        waiter.join()
        inv.ended.set()
        proc.returncode = exited["status"]
        reader.join(5)
        runtime.shutdown()
        runtime.server_close()
        log = out[0].decode(errors="replace") if out else ""
        if died:
            raise RuntimeError(f"{cmd[0]} exited ({describe(exited['status'])}) without answering; "
                               f"the end of its output:\n{log[-3000:]}")
        if not answered:
            raise RuntimeError(f"{cmd[0]} gave no answer within {timeout:g} s (killed); "
                               f"the end of its output:\n{log[-3000:]}")
        return {
            "total_ms": (inv.answered_at - start) * 1000,
            "init_ms": (inv.next_at - start) * 1000,
            "rss_kib": peak_kib if peak_kib is not None else exited["usage"].ru_maxrss,
            # CPU time (user + system) of the whole process, to the kill: on a loaded machine the
            # wall time waits for a core, this does not.
            "cpu_ms": (exited["usage"].ru_utime + exited["usage"].ru_stime) * 1000,
            "minor_faults": faults,
            "kind": inv.kind,
            "answer": inv.answer,
            "phases": phases(log),
        }


def peak_rss_kib(pid):
    """VmHWM of a live process, in KiB (None when it is gone)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def minor_faults(pid):
    """The page faults a live process took so far that needed no disk read (None when it is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return int(f.read().rsplit(")", 1)[1].split()[7])
    except (OSError, IndexError, ValueError):
        return None


def describe(status):
    """A wait status in words."""
    if os.WIFSIGNALED(status):
        return f"killed by signal {os.WTERMSIG(status)}"
    return f"exit status {os.WEXITSTATUS(status)}"


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


def load_event(spec, runs):
    """A function of the run's index giving its event: signed-help, inline JSON, a JSON file, or a
    JSON Lines file with one event per run (at least `runs` of them)."""
    if spec == "signed-help":
        return lambda i: signed_help_event()
    try:
        if spec.startswith("{"):
            value = json.loads(spec)
            return lambda i: value
        with open(spec) as f:
            if spec.endswith(".jsonl"):
                events = [json.loads(line) for line in f if line.strip()]
                if len(events) < runs:
                    raise RuntimeError(f"{spec} holds {len(events)} events for {runs} runs")
                return lambda i: events[i]
            value = json.load(f)
    except (OSError, ValueError) as e:
        raise RuntimeError(f"cannot read the event {spec}: {e}") from None
    return lambda i: value


def api_events(args):
    """JSON Lines of POST /api/v1/requests events, one new requester per line."""
    for i in range(args.count):
        body = {"requester": f"bench{args.tag}{i}@example.com", "flow": "aws-prod", "target": "prod-admin",
                "duration": "15m", "reason": "cold-start bench", "fields": {"urgency": args.urgency}}
        print(json.dumps(api_event("POST", "/api/v1/requests", args.token, body)))


def step_events(args):
    """JSON Lines of step calls for the requests created by the API answers in ANSWERS."""
    try:
        lines = [line for line in open(args.answers) if line.strip()]
    except OSError as e:
        raise RuntimeError(f"no answers to make {args.step} calls from: {e}") from None
    for number, line in enumerate(lines, 1):
        try:
            answer = json.loads(json.loads(line)["answer"])
            request_id = json.loads(answer["body"])["id"]
        except (ValueError, KeyError, TypeError):
            raise RuntimeError(f"{args.answers}:{number} is not a created request: {line.strip()[:300]}") from None
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
    results = []
    answers = open(args.answers, "w") if args.answers else None
    try:
        make_event = load_event(args.event, args.warmup + args.runs)
        for i in range(args.warmup + args.runs):
            try:
                result = emulator.run_once(args.cmd, env, make_event(i), cwd=args.cwd, timeout=args.timeout)
            except RuntimeError as e:
                raise RuntimeError(f"{args.name}: run {i + 1} of {args.warmup + args.runs}: {e}") from None
            if answers:
                answers.write(json.dumps({"kind": result["kind"], "answer": result["answer"]}) + "\n")
            if i >= args.warmup:
                results.append(result)
    except RuntimeError as e:
        print(json.dumps({"name": args.name, "note": args.note, "error": str(e)}), flush=True)
        raise
    finally:
        if answers:
            answers.close()
    totals = [r["total_ms"] for r in results]
    failed_answers = sum(1 for r in results if answered_failure(r))
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
        "cpu_median_ms": statistics.median(r["cpu_ms"] for r in results),
        "rss_mib_each": [round(r["rss_kib"] / 1024, 1) for r in results],
        "minor_faults_median": statistics.median(r["minor_faults"] or 0 for r in results),
        "peak_rss_mib": max(r["rss_kib"] for r in results) / 1024,
        "answer_kind": first["kind"],
        "answer": first["answer"][:300],
        "phases_median_ms": median_phases,
        "note": args.note,
        "failed_answers": failed_answers,
    }
    print(json.dumps(line), flush=True)


def answered_failure(result):
    """Whether a run's answer is a failure: an invocation error, or an HTTP answer of 5xx."""
    if result["kind"] == "error":
        return True
    try:
        answer = json.loads(result["answer"])
    except ValueError:
        return False
    return isinstance(answer, dict) and isinstance(answer.get("statusCode"), int) and answer["statusCode"] >= 500


def table(args):
    rows = [json.loads(l) for l in open(args.file) if l.strip()]
    floor = next((r for r in rows if r["name"] == "floor (lambda_http hello)"), None)
    print("| function | event | median ms | min ms | max ms | x floor | CPU ms | peak RSS MiB |")
    print("|---|---|---|---|---|---|---|---|")
    floor = floor if floor and "error" not in floor else None
    for r in rows:
        if "error" in r:
            reason = r["error"].splitlines()[0].replace("|", "/")
            print(f"| {r['name']} | {r['note']} | failed: {reason} | | | | | |")
            continue
        ratio = f"{r['median_ms'] / floor['median_ms']:.1f}" if floor else "-"
        note = r["note"]
        if r.get("failed_answers"):
            note += f" (**{r['failed_answers']} of {r['runs']} answers were errors**)"
        print(f"| {r['name']} | {note} | {r['median_ms']:.1f} | {r['min_ms']:.1f} | {r['max_ms']:.1f} | "
              f"{ratio} | {r['cpu_median_ms']:.1f} | {r['peak_rss_mib']:.1f} |")
    traced = [r for r in rows if r.get("phases_median_ms")]
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
    p.add_argument("--timeout", type=float, default=30, help="seconds a run may take before it is killed")
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
