//! The process's one HTTP client, shared by the webhook escalator and the URL prefetch. It is made
//! on first use (a cold start that calls no URL builds none); its TLS roots are compiled in
//! (reqwest's `rustls-tls` means the Mozilla roots of webpki-roots: no certificate files read).

use std::sync::LazyLock;

static CLIENT: LazyLock<reqwest::Client> = LazyLock::new(reqwest::Client::new);

/// The shared client; callers set each request's timeout.
pub(crate) fn client() -> &'static reqwest::Client {
    &CLIENT
}
