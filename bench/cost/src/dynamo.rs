//! A counting proxy in front of moto: every AWS call the adapters make goes through it, and each
//! DynamoDB call is priced in request units the way DynamoDB on-demand bills them, from the sizes
//! of the items it reads and writes (moto's own `ConsumedCapacity` is a constant, not a size).
//!
//! Reads: one unit per 4 KB read (half for an eventually consistent read), at least one per call;
//! a query pays for the items it returns (a filter's discarded items are not seen here). Writes:
//! one unit per 1 KB of the larger of the item before and after, plus the same again for each
//! global secondary index whose key the item has (twice when that key changes: the index deletes
//! the old entry and puts the new one). Transactions pay every unit twice. Item sizes follow
//! DynamoDB's rules: attribute names plus values (numbers about one byte per two digits).

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::{Map, Value, json};
use std::sync::{Arc, Mutex};

/// The table's global secondary indexes (template.yaml), each keyed `<name>pk` / `<name>sk`.
const INDEXES: [&str; 3] = ["gsi1", "gsi2", "gsi3"];

/// What one caller (a Lambda function) spent.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct Spent {
    pub read_units: f64,
    pub write_units: f64,
    pub dynamodb_calls: u32,
    pub events: u32,
}

impl std::ops::AddAssign for Spent {
    fn add_assign(&mut self, other: Spent) {
        self.read_units += other.read_units;
        self.write_units += other.write_units;
        self.dynamodb_calls += other.dynamodb_calls;
        self.events += other.events;
    }
}

struct Shared {
    upstream: String,
    http: reqwest::Client,
    spent: Mutex<Spent>,
}

/// The proxy; point `AWS_ENDPOINT_URL` at [`Proxy::endpoint`].
pub struct Proxy {
    shared: Arc<Shared>,
    endpoint: String,
}

impl Proxy {
    pub async fn start(upstream: &str) -> anyhow::Result<Proxy> {
        let shared =
            Arc::new(Shared { upstream: upstream.into(), http: reqwest::Client::new(), spent: Default::default() });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let endpoint = format!("http://{}", listener.local_addr()?);
        let app = axum::Router::new().fallback(forward).with_state(shared.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Ok(Proxy { shared, endpoint })
    }

    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// What was spent since the last call, and starts counting afresh.
    pub fn take(&self) -> Spent {
        std::mem::take(&mut *self.shared.spent.lock().expect("the proxy's counter"))
    }
}

async fn forward(State(shared): State<Arc<Shared>>, request: Request) -> Result<Response, StatusCode> {
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, 64 << 20).await.map_err(|_| StatusCode::BAD_REQUEST)?;
    let target = parts.headers.get("x-amz-target").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
    let operation = target.rsplit('.').next().unwrap_or_default().to_string();
    let dynamodb = target.starts_with("DynamoDB_");
    let input: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let before = if dynamodb { written_items(&shared, &parts.headers, &operation, &input).await } else { vec![] };

    let url = format!("{}{}", shared.upstream, parts.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/"));
    let mut headers = parts.headers.clone();
    headers.remove(axum::http::header::HOST);
    let answer = shared
        .http
        .request(parts.method.clone(), url)
        .headers(headers)
        .body(body)
        .send()
        .await
        .map_err(|_| StatusCode::BAD_GATEWAY)?;
    let status = answer.status();
    let answer_headers = answer.headers().clone();
    let answer_body = answer.bytes().await.map_err(|_| StatusCode::BAD_GATEWAY)?;

    let mut spent = Spent::default();
    if dynamodb {
        let output: Value = serde_json::from_slice(&answer_body).unwrap_or(Value::Null);
        let after = written_items(&shared, &parts.headers, &operation, &input).await;
        spent = dynamodb_units(&operation, &input, &output, &before, &after);
        spent.dynamodb_calls = 1;
    } else if operation == "PutEvents" && status.is_success() {
        spent.events = input["Entries"].as_array().map_or(0, |e| e.len() as u32);
    }
    *shared.spent.lock().expect("the proxy's counter") += spent;

    let mut response = Response::builder().status(status.as_u16());
    for (name, value) in &answer_headers {
        if name != axum::http::header::TRANSFER_ENCODING && name != axum::http::header::CONNECTION {
            response = response.header(name, value);
        }
    }
    response.body(Body::from(answer_body)).map_err(|_| StatusCode::BAD_GATEWAY)
}

/// One write of a call: its table, whether it is transactional, and the item (read straight from
/// moto, uncounted) at that moment.
struct Written {
    transactional: bool,
    item: Option<Map<String, Value>>,
}

/// The items a write call touches, as they are now (`Null` for a call that writes nothing).
async fn written_items(shared: &Shared, headers: &HeaderMap, operation: &str, input: &Value) -> Vec<Written> {
    let mut keys: Vec<(String, Value, bool)> = Vec::new();
    let table = input["TableName"].as_str().unwrap_or_default().to_string();
    match operation {
        "PutItem" => keys.push((table, key_of(&input["Item"]), false)),
        "UpdateItem" | "DeleteItem" => keys.push((table, input["Key"].clone(), false)),
        "TransactWriteItems" => {
            for action in input["TransactItems"].as_array().into_iter().flatten() {
                for (kind, write) in action.as_object().into_iter().flatten() {
                    let key = if kind == "Put" { key_of(&write["Item"]) } else { write["Key"].clone() };
                    keys.push((write["TableName"].as_str().unwrap_or_default().into(), key, true));
                }
            }
        }
        "BatchWriteItem" => {
            for (table, writes) in input["RequestItems"].as_object().into_iter().flatten() {
                for write in writes.as_array().into_iter().flatten() {
                    let key = match (&write["PutRequest"], &write["DeleteRequest"]) {
                        (Value::Null, delete) => delete["Key"].clone(),
                        (put, _) => key_of(&put["Item"]),
                    };
                    keys.push((table.clone(), key, false));
                }
            }
        }
        _ => {}
    }
    let mut items = Vec::new();
    for (table, key, transactional) in keys {
        items.push(Written { transactional, item: current_item(shared, headers, &table, &key).await });
    }
    items
}

fn key_of(item: &Value) -> Value {
    json!({"pk": item["pk"], "sk": item["sk"]})
}

async fn current_item(shared: &Shared, headers: &HeaderMap, table: &str, key: &Value) -> Option<Map<String, Value>> {
    let body = json!({"TableName": table, "Key": key, "ConsistentRead": true});
    let mut request = shared
        .http
        .post(format!("{}/", shared.upstream))
        .header("x-amz-target", "DynamoDB_20120810.GetItem")
        .header("content-type", "application/x-amz-json-1.0")
        .body(body.to_string());
    if let Some(auth) = headers.get("authorization") {
        request = request.header("authorization", auth);
    }
    let answer: Value = request.send().await.ok()?.json().await.ok()?;
    answer["Item"].as_object().cloned()
}

/// The request units of one call, from its input, its output and the written items before and after.
fn dynamodb_units(operation: &str, input: &Value, output: &Value, before: &[Written], after: &[Written]) -> Spent {
    let consistent = input["ConsistentRead"].as_bool() == Some(true);
    let read = |bytes: usize, consistent: bool| {
        let units = bytes.div_ceil(4096).max(1) as f64;
        if consistent { units } else { units / 2.0 }
    };
    let items_size = |items: &Value| -> usize {
        items.as_array().into_iter().flatten().filter_map(Value::as_object).map(item_size).sum()
    };
    let mut spent = Spent::default();
    match operation {
        "GetItem" => spent.read_units = read(output["Item"].as_object().map_or(0, item_size), consistent),
        "Query" | "Scan" => spent.read_units = read(items_size(&output["Items"]), consistent),
        "BatchGetItem" => {
            for items in output["Responses"].as_object().into_iter().flat_map(|r| r.values()) {
                for item in items.as_array().into_iter().flatten().filter_map(Value::as_object) {
                    spent.read_units += read(item_size(item), consistent);
                }
            }
        }
        "TransactGetItems" => {
            for response in output["Responses"].as_array().into_iter().flatten() {
                spent.read_units += 2.0 * read(response["Item"].as_object().map_or(0, item_size), true);
            }
        }
        _ => {}
    }
    for (old, new) in before.iter().zip(after) {
        let factor = if old.transactional { 2.0 } else { 1.0 };
        spent.write_units += factor * write_units(old.item.as_ref(), new.item.as_ref());
    }
    spent
}

/// A write's units: the table's, then each index's.
fn write_units(old: Option<&Map<String, Value>>, new: Option<&Map<String, Value>>) -> f64 {
    let units = |item: Option<&Map<String, Value>>| item.map_or(0, item_size).div_ceil(1024).max(1) as f64;
    let mut total = units(old).max(units(new));
    for index in INDEXES {
        let key = |item: Option<&Map<String, Value>>| {
            item.and_then(|i| Some((i.get(&format!("{index}pk"))?.clone(), i.get(&format!("{index}sk")).cloned())))
        };
        total += match (key(old), key(new)) {
            (None, None) => 0.0,
            (Some(_), None) => units(old),
            (None, Some(_)) => units(new),
            (Some(a), Some(b)) if a == b => units(old).max(units(new)),
            (Some(_), Some(_)) => units(old) + units(new),
        };
    }
    total
}

/// An item's size as DynamoDB counts it.
pub fn item_size(item: &Map<String, Value>) -> usize {
    item.iter().map(|(name, value)| name.len() + value_size(value)).sum()
}

fn value_size(value: &Value) -> usize {
    let Some((kind, v)) = value.as_object().and_then(|o| o.iter().next()) else { return 0 };
    let number = |n: &str| n.trim_start_matches('-').replace('.', "").trim_start_matches('0').len().div_ceil(2) + 1;
    let strings = || v.as_array().into_iter().flatten().filter_map(Value::as_str);
    match kind.as_str() {
        "S" => v.as_str().map_or(0, str::len),
        "N" => v.as_str().map_or(1, number),
        "B" => v.as_str().map_or(0, |b| b.len() * 3 / 4),
        "BOOL" | "NULL" => 1,
        "SS" => strings().map(str::len).sum(),
        "NS" => strings().map(number).sum(),
        "BS" => strings().map(|b| b.len() * 3 / 4).sum(),
        "L" => 3 + v.as_array().into_iter().flatten().map(|e| 1 + value_size(e)).sum::<usize>(),
        "M" => 3 + v.as_object().into_iter().flatten().map(|(k, e)| 1 + k.len() + value_size(e)).sum::<usize>(),
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(value: Value) -> Map<String, Value> {
        value.as_object().unwrap().clone()
    }

    #[test]
    fn sizes_follow_dynamodbs_rules() {
        assert_eq!(item_size(&item(json!({"pk": {"S": "abc"}}))), 5);
        assert_eq!(item_size(&item(json!({"n": {"N": "12345"}}))), 1 + 4);
        assert_eq!(item_size(&item(json!({"m": {"M": {"a": {"BOOL": true}}}}))), 1 + 3 + 1 + 1 + 1);
    }

    #[test]
    fn a_write_pays_per_kilobyte_and_per_index_it_touches() {
        let small = item(json!({"pk": {"S": "a"}, "sk": {"S": "b"}}));
        assert_eq!(write_units(None, Some(&small)), 1.0);
        let big = item(json!({"pk": {"S": "x".repeat(1500)}, "gsi1pk": {"S": "u"}, "gsi1sk": {"S": "1"}}));
        assert_eq!(write_units(None, Some(&big)), 4.0, "2 KB in the table and in gsi1");
        let moved = item(json!({"pk": {"S": "x".repeat(1500)}, "gsi1pk": {"S": "u"}, "gsi1sk": {"S": "2"}}));
        assert_eq!(write_units(Some(&big), Some(&moved)), 6.0, "gsi1's key changed: delete and put");
    }

    #[test]
    fn reads_pay_per_four_kilobytes_and_half_when_eventually_consistent() {
        let output = json!({"Items": [{"pk": {"S": "x".repeat(5000)}}]});
        assert_eq!(dynamodb_units("Query", &json!({}), &output, &[], &[]).read_units, 1.0);
        assert_eq!(dynamodb_units("Query", &json!({"ConsistentRead": true}), &output, &[], &[]).read_units, 2.0);
        assert_eq!(dynamodb_units("GetItem", &json!({}), &json!({}), &[], &[]).read_units, 0.5);
    }
}
