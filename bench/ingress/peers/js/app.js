// Bolt for JavaScript doing what `/access aws-prod` does in Airlock: verify the request (Bolt's
// built-in signature check), users.info for the requester, views.open with the request form, then
// the ack. Follows Bolt's documented App usage (the default HTTPReceiver).
const { App, LogLevel } = require('@slack/bolt');

const app = new App({
  token: process.env.SLACK_BOT_TOKEN,
  signingSecret: process.env.SLACK_SIGNING_SECRET,
  clientOptions: { slackApiUrl: process.env.SLACK_API_URL },
  endpoints: '/slack/commands',
  logLevel: LogLevel.ERROR,
});

const option = (text, value) => ({ text: { type: 'plain_text', text }, value });
const FORM = {
  type: 'modal',
  callback_id: 'request_form',
  title: { type: 'plain_text', text: 'AWS Production' },
  submit: { type: 'plain_text', text: 'Request' },
  close: { type: 'plain_text', text: 'Cancel' },
  blocks: [
    {
      type: 'input', block_id: 'target', label: { type: 'plain_text', text: 'Target' },
      element: { type: 'static_select', action_id: 'target', options: [option('Prod admin', 'prod-admin'), option('Prod read-only', 'prod-readonly')] },
    },
    {
      type: 'input', block_id: 'duration', label: { type: 'plain_text', text: 'Duration' },
      element: { type: 'static_select', action_id: 'duration', options: ['15m', '1h', '4h'].map((d) => option(d, d)) },
    },
    {
      type: 'input', block_id: 'reason', label: { type: 'plain_text', text: 'Reason' },
      element: { type: 'plain_text_input', action_id: 'reason', multiline: true },
    },
  ],
};

app.command('/access', async ({ command, ack, client }) => {
  const info = await client.users.info({ user: command.user_id });
  const email = info.user.profile.email;
  const view = { ...FORM, private_metadata: JSON.stringify({ flow: 'aws-prod', requester: email }) };
  await client.views.open({ trigger_id: command.trigger_id, view });
  await ack();
});

(async () => {
  await app.start(Number(process.env.PORT));
})();
