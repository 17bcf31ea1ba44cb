//! The Slack endpoints at their edges: `/access whoami` for everyone, and a replayed form
//! submission that creates nothing.

mod support;

use airlock_core::Status;
use airlock_testkit::slack::{Input, SlackSigner, deny_reason_submission_body, request_form_submission_body};
use axum::body::Body;
use axum::http::{Request, header};
use support::*;

async fn whoami(h: &Harness, user: &str) -> String {
    let body = format!("command=%2Faccess&text=whoami&user_id={user}&trigger_id=t-{user}");
    let (status, answer) = json_of(h.slack("/slack/commands", body.as_bytes()).await).await;
    assert_eq!(status, 200);
    assert_eq!(answer["response_type"], "ephemeral", "{answer}");
    answer["text"].as_str().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn whoami_tells_everyone_their_role_and_why() {
    let h = Harness::start("").await;
    let guest = whoami(&h, "U0GINA").await;
    assert!(guest.contains("gina@outside.org") && guest.contains("*guest*"), "{guest}");
    assert!(guest.contains("your email domain outside.org is not a member domain"), "{guest}");
    assert!(!guest.contains("only members"), "{guest}");
    let member = whoami(&h, "U0CAROL").await;
    assert!(member.contains("*member*") && member.contains("example.com is the organization's primary domain"));
    assert!(member.contains("`prod`"), "{member}");
    let admin = whoami(&h, "U0ALICE").await;
    assert!(admin.contains("*admin*") && admin.contains("organization.admins"), "{admin}");
    assert!(h.slack.calls_to("views.open").is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_replayed_form_submission_creates_nothing() {
    let h = Harness::start("").await;
    let form = request_form_submission_body(
        "U0CAROL",
        "prod",
        &[
            ("target", Input::Select("prod-admin".into())),
            ("duration", Input::Select("1h".into())),
            ("reason", Input::Text("deploy".into())),
            ("field:urgency", Input::Select("Normal".into())),
        ],
    );
    // The very bytes and headers Slack sent, captured once and sent again within the 5 minutes.
    let signed = SlackSigner::new(SIGNING_SECRET).headers(form.as_bytes());
    let send = || {
        let mut request =
            Request::post("/slack/interactions").header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
        for (name, value) in &signed {
            request = request.header(*name, value);
        }
        h.send(request.body(Body::from(form.clone())).unwrap())
    };
    let (_, first) = json_of(send().await).await;
    assert_eq!(first["response_action"], "clear", "{first}");
    let mine = h.airlock.list_requests("carol@example.com", None, 10).await.unwrap();
    assert_eq!(mine.len(), 1);

    // Bob denies it, so the open-request check no longer stands in the way of a second one.
    let deny = deny_reason_submission_body("U0BOB", mine[0].id().as_str(), "not now");
    let (_, denied) = json_of(h.slack("/slack/interactions", deny.as_bytes()).await).await;
    assert_eq!(denied["response_action"], "clear", "{denied}");
    h.wait_status(mine[0].id(), Status::Denied).await;

    let (status, replayed) = json_of(send().await).await;
    assert_eq!((status, &replayed["response_action"]), (200, &serde_json::json!("clear")), "{replayed}");
    assert_eq!(
        h.airlock.list_requests("carol@example.com", None, 10).await.unwrap().len(),
        1,
        "the replay created nothing"
    );

    let again = request_form_submission_body(
        "U0CAROL",
        "prod",
        &[
            ("target", Input::Select("prod-admin".into())),
            ("duration", Input::Select("1h".into())),
            ("reason", Input::Text("deploy, take two".into())),
            ("field:urgency", Input::Select("Normal".into())),
        ],
    );
    let (_, answer) = json_of(h.slack("/slack/interactions", again.as_bytes()).await).await;
    assert_eq!(answer["response_action"], "clear", "{answer}");
    assert_eq!(
        h.airlock.list_requests("carol@example.com", None, 10).await.unwrap().len(),
        2,
        "a new submission works"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_durations_on_the_form_are_errors_on_their_block() {
    let h = Harness::start("").await;
    for duration in ["1é", "🔥", "5🔥", "0", "+60", "00"] {
        let form = request_form_submission_body(
            "U0CAROL",
            "prod",
            &[
                ("target", Input::Select("prod-admin".into())),
                ("duration", Input::Select(duration.into())),
                ("reason", Input::Text(format!("try {duration}"))),
            ],
        );
        let (status, answer) = json_of(h.slack("/slack/interactions", form.as_bytes()).await).await;
        assert_eq!(status, 200, "{duration}");
        assert_eq!(answer["response_action"], "errors", "{duration}: {answer}");
        assert!(answer["errors"]["duration"].is_string(), "{duration}: {answer}");
    }
    assert!(h.airlock.list_requests("carol@example.com", None, 10).await.unwrap().is_empty());
}
