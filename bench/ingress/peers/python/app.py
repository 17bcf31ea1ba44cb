"""Bolt for Python (async, aiohttp) doing what `/access aws-prod` does in Airlock: verify the request
(Bolt's built-in signature check), users.info for the requester, views.open with the request form,
then the ack. Follows Bolt's documented AsyncApp usage; `app.start` serves through aiohttp."""

import os

from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

client = AsyncWebClient(token=os.environ["SLACK_BOT_TOKEN"], base_url=os.environ["SLACK_API_URL"])
app = AsyncApp(client=client, signing_secret=os.environ["SLACK_SIGNING_SECRET"])

FORM = {
    "type": "modal",
    "callback_id": "request_form",
    "title": {"type": "plain_text", "text": "AWS Production"},
    "submit": {"type": "plain_text", "text": "Request"},
    "close": {"type": "plain_text", "text": "Cancel"},
    "blocks": [
        {
            "type": "input",
            "block_id": "target",
            "label": {"type": "plain_text", "text": "Target"},
            "element": {
                "type": "static_select",
                "action_id": "target",
                "options": [
                    {"text": {"type": "plain_text", "text": "Prod admin"}, "value": "prod-admin"},
                    {"text": {"type": "plain_text", "text": "Prod read-only"}, "value": "prod-readonly"},
                ],
            },
        },
        {
            "type": "input",
            "block_id": "duration",
            "label": {"type": "plain_text", "text": "Duration"},
            "element": {
                "type": "static_select",
                "action_id": "duration",
                "options": [
                    {"text": {"type": "plain_text", "text": d}, "value": d} for d in ("15m", "1h", "4h")
                ],
            },
        },
        {
            "type": "input",
            "block_id": "reason",
            "label": {"type": "plain_text", "text": "Reason"},
            "element": {"type": "plain_text_input", "action_id": "reason", "multiline": True},
        },
    ],
}


@app.command("/access")
async def access(ack, body, client):
    info = await client.users_info(user=body["user_id"])
    email = info["user"]["profile"]["email"]
    view = dict(FORM, private_metadata=f'{{"flow":"aws-prod","requester":"{email}"}}')
    await client.views_open(trigger_id=body["trigger_id"], view=view)
    await ack()


if __name__ == "__main__":
    app.start(port=int(os.environ["PORT"]), path="/slack/commands")
