"""Writes N signed `/access aws-prod` slash commands, one a line: timestamp, signature, body (tab-separated).

Each has its own trigger id; user ids cycle through USERS people (a workspace's worth). Signed now with
Slack's v0 scheme, so the file is good for Slack's 5-minute window.
"""

import hashlib
import hmac
import sys
import time
from urllib.parse import urlencode


def main() -> None:
    secret, count, users, out = sys.argv[1].encode(), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    ts = str(int(time.time()))
    with open(out, "w") as f:
        for i in range(count):
            body = urlencode(
                {
                    "token": "deprecated-verification-token",
                    "team_id": "T0FAKE",
                    "team_domain": "fake",
                    "channel_id": "C0GENERAL",
                    "channel_name": "general",
                    "user_id": f"U{i % users:07d}",
                    "user_name": f"u{i % users}",
                    "command": "/access",
                    "text": "aws-prod",
                    "api_app_id": "A0AIRLOCK",
                    "response_url": "https://hooks.slack.com/commands/T0FAKE/1/fake",
                    "trigger_id": f"{i}.{ts}.bench",
                }
            )
            sig = hmac.new(secret, f"v0:{ts}:{body}".encode(), hashlib.sha256).hexdigest()
            f.write(f"{ts}\tv0={sig}\t{body}\n")


if __name__ == "__main__":
    main()
