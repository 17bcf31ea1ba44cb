"""The Bolt-for-Python peer of slack-ingress: `/access help` answered in the ack, as Bolt's AWS
Lambda guide writes it (process_before_response, SlackRequestHandler), run by awslambdaric."""

import os

from slack_bolt import App
from slack_bolt.adapter.aws_lambda import SlackRequestHandler
from slack_sdk import WebClient

HELP = (
    "*Airlock: temporary access, approved in Slack*\n"
    "• `/access`: choose what to request\n"
    "• `/access <flow> [target]`: open the request form of a flow\n"
    "• `/access whoami`: your email and role\n"
    "• `/access help`: this help\n"
    "Approvers decide with the Approve and Deny buttons on the request card."
)

app = App(
    signing_secret=os.environ["SLACK_SIGNING_SECRET"],
    # The same fake Slack Web API as Airlock's run (Bolt calls auth.test once per process).
    client=WebClient(token=os.environ["SLACK_BOT_TOKEN"], base_url=os.environ["SLACK_API_URL"]),
    process_before_response=True,
    token_verification_enabled=False,
)


@app.command("/access")
def access(ack, command):
    if command.get("text", "").strip().lower() == "help":
        ack(response_type="ephemeral", text=HELP)
    else:
        ack(response_type="ephemeral", text="Only help is served by this peer.")


def handler(event, context):
    return SlackRequestHandler(app=app).handle(event, context)
