//! Durable timers: grants outlive a restart of the server, and overdue ones are removed at once.

use airlock_core::Status;
use airlock_e2e::*;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread")]
async fn an_active_grant_expires_after_a_restart() {
    let mut t = TestApp::spawn().await;
    let id = t.request_prod(CAROL, "billing", "2s", "Emergency").await;
    t.wait_status(&id, Status::Active, SOON).await;
    t.restart().await;
    assert_eq!(t.status_of(&id).await, Status::Active, "a restart does not end the grant");
    t.wait_status(&id, Status::Expired, Duration::from_secs(8)).await;
    assert_eq!(t.hooks.count("deescalate", id.as_str()), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_overdue_grant_is_removed_as_soon_as_the_server_is_back() {
    let mut t = TestApp::spawn().await;
    let id = t.request_prod(CAROL, "billing", "2s", "Emergency").await;
    t.wait_status(&id, Status::Active, SOON).await;
    t.stop().await;
    // Stay down just past the expiry.
    let expires_at = t.app.get_request(&id).await.unwrap().expires_at().unwrap();
    let down = (expires_at - chrono::Utc::now()).to_std().unwrap_or_default() + Duration::from_millis(100);
    tokio::time::sleep(down).await;
    assert_eq!(t.hooks.count("deescalate", id.as_str()), 0, "nobody removed it while the server was down");
    t.restart().await;
    t.wait_status(&id, Status::Expired, SOON).await;
    assert_eq!(t.hooks.count("deescalate", id.as_str()), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_pending_request_can_still_be_approved_after_a_restart() {
    let mut t = TestApp::spawn().await;
    let id = t.request_prod(CAROL, "billing", "1h", "Normal").await;
    t.restart().await;
    t.click(BOB, "approve", &id).await;
    t.wait_status(&id, Status::Active, SOON).await;
    assert_eq!(t.hooks.count("escalate", id.as_str()), 1);
}
