//! Crash safety: `kill -9` while clients are posting; every acknowledged event must be in Parquet
//! exactly once after a restart, and the recovered server goes on accepting.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};

use crate::support::{Server, assert_stored_once, eventually, stored_insert_ids};

const CLIENTS: usize = 4;
const BATCH: usize = 50;

/// One request body as a browser SDK sends it, one event per insert id.
fn request_body(client: usize, n: i64, ids: &[String]) -> Value {
    let events: Vec<_> = ids
        .iter()
        .map(|id| {
            json!({"event_type": "Service Viewed", "device_id": format!("device-{client}"),
                "time": 1_767_225_600_000_i64 + n, "insert_id": id, "library": "amplitude-ts/2.45.6",
                "event_properties": {"category": "design"}})
        })
        .collect();
    json!({"api_key": "crash-key", "events": events, "options": {}})
}

fn insert_ids(client: usize, n: i64) -> Vec<String> {
    (0..BATCH).map(|i| format!("c{client}-b{n}-e{i}")).collect()
}

/// Posts batches until the server dies; returns how many were acknowledged, adding their ids to
/// `acked`.
async fn post_until_dead(url: String, client: usize, acked: Arc<Mutex<Vec<String>>>) -> usize {
    let http = reqwest::Client::new();
    let mut batches = 0;
    for n in 0.. {
        let ids = insert_ids(client, n);
        let body = request_body(client, n, &ids);
        let Ok(response) = http
            .post(format!("{url}/2/httpapi"))
            .json(&body)
            .send()
            .await
        else {
            break;
        };
        // Only a 200 with a full JSON body counts as acknowledged.
        let ok = response.status().is_success();
        let Ok(answer) = response.json::<Value>().await else {
            break;
        };
        if ok && answer["code"] == 200 {
            acked.lock().unwrap().extend(ids);
            batches += 1;
        }
    }
    batches
}

/// Posts `count` batches as `client`, each of which must be acknowledged; returns their ids.
async fn post_batches(url: &str, client: usize, count: i64) -> Vec<String> {
    let http = reqwest::Client::new();
    let mut acked = Vec::new();
    for n in 0..count {
        let ids = insert_ids(client, n);
        let body = request_body(client, n, &ids);
        let response = http
            .post(format!("{url}/2/httpapi"))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        acked.extend(ids);
    }
    acked
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_acknowledged_event_survives_kill_9_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &["--api-key", "crash-key"]);
    let acked = Arc::new(Mutex::new(Vec::new()));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|c| {
            tokio::spawn(post_until_dead(
                server.base_url.clone(),
                c,
                Arc::clone(&acked),
            ))
        })
        .collect();
    // Let the clients and the loader get going, then pull the plug mid-stream.
    eventually(
        Duration::from_secs(30),
        "acknowledged events and some Parquet",
        async || {
            let enough = acked.lock().unwrap().len() >= 4_000;
            (enough && !stored_insert_ids(dir.path()).is_empty()).then_some(())
        },
    )
    .await;
    server.kill_hard();
    let mut batches = 0;
    for client in clients {
        batches += client.await.unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    assert!(batches > 0 && acked.len() == batches * BATCH);

    // Restart on the same data: the loader recovers and writes what the log still holds.
    let server = Server::start(dir.path(), &["--api-key", "crash-key"]);
    let stored = eventually(
        Duration::from_secs(60),
        "every acknowledged event in Parquet",
        async || {
            let stored = stored_insert_ids(dir.path());
            acked
                .iter()
                .all(|id| stored.contains_key(id))
                .then_some(stored)
        },
    )
    .await;
    let duplicated: Vec<_> = stored.iter().filter(|(_, n)| **n > 1).collect();
    assert!(
        duplicated.is_empty(),
        "stored twice: {:?}",
        &duplicated[..duplicated.len().min(10)]
    );

    // The recovered log goes on accepting: new events land after the old ones, overwriting none.
    let after_restart = post_batches(&server.base_url, CLIENTS, 5).await;
    // A clean stop drains the loader.
    server.stop();
    let after = stored_insert_ids(dir.path());
    assert_stored_once(&after, acked.iter().chain(&after_restart));
}
