//! The floor of `bench/coldstart`: the smallest `lambda_http` function, answering every request
//! with `hello`. What any Rust HTTP Lambda pays to start, with nothing of Airlock in it.

use lambda_http::{Body, Error, Request, Response, run, service_fn};

async fn hello(_request: Request) -> Result<Response<Body>, Error> {
    Ok(Response::new(Body::from("hello")))
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    run(service_fn(hello)).await
}
