//! Starting and stopping the real `sluice` binary, and reading what it stored.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use arrow::array::AsArray;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

/// A running `sluice serve`.
pub(crate) struct Server {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub base_url: String,
    /// An admin API token of its data directory (the query and admin APIs need one).
    pub token: String,
}

impl Server {
    /// Starts `sluice serve` on a free port with `data_dir`, and waits until it listens.
    pub(crate) fn start(data_dir: &Path, extra: &[&str]) -> Server {
        let token = admin_token(data_dir);
        let mut child = Command::new(env!("CARGO_BIN_EXE_sluice"))
            .arg("serve")
            .arg("--data-dir")
            .arg(data_dir)
            .args(["--listen", "127.0.0.1:0", "--flush-interval-ms", "200"])
            .args(extra)
            .env("SLUICE_LOG", "warn")
            .stdout(Stdio::piped())
            .spawn()
            .expect("starting sluice");
        let stdout = child.stdout.take().expect("piped stdout");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("reading sluice's stdout");
        let base_url = line
            .trim()
            .strip_prefix("sluice listening on ")
            .unwrap_or_else(|| panic!("unexpected first line from sluice: {line:?}"))
            .to_owned();
        Server {
            child,
            base_url,
            token,
        }
    }

    /// An HTTP client that sends the server's admin token with every request.
    pub(crate) fn client(&self) -> reqwest::Client {
        let mut headers = reqwest::header::HeaderMap::new();
        let value = format!("Bearer {}", self.token);
        headers.insert(
            reqwest::header::AUTHORIZATION,
            value.parse().expect("a header value"),
        );
        reqwest::Client::builder()
            .default_headers(headers)
            .build()
            .expect("an HTTP client")
    }

    /// SIGKILL: no chance to flush or clean up.
    pub(crate) fn kill_hard(mut self) {
        self.child.kill().expect("kill -9");
        self.child.wait().expect("reaping sluice");
    }

    /// SIGTERM, then wait for a clean exit.
    pub(crate) fn stop(mut self) {
        let pid = self.child.id().to_string();
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill -TERM");
        let status = self.child.wait().expect("waiting for sluice");
        assert!(status.success(), "sluice exited with {status}");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Makes an admin API token in `data_dir` with `sluice user token`.
pub(crate) fn admin_token(data_dir: &Path) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(["user", "token", "e2e", "--role", "admin", "--data-dir"])
        .arg(data_dir)
        .output()
        .expect("running sluice user token");
    assert!(
        output.status.success(),
        "sluice user token failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout)
        .expect("a token")
        .trim()
        .to_owned()
}

/// Runs `sluice query FORMAT --data-dir DATA_DIR SPEC_FILE` (`--json`, `--csv` or `--table`)
/// and returns what it printed; a failure panics with its error output.
pub(crate) fn query_cli(data_dir: &Path, spec_file: &Path, format: &str) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(["query", format, "--data-dir"])
        .arg(data_dir)
        .arg(spec_file)
        .output()
        .expect("running sluice query");
    assert!(
        output.status.success(),
        "sluice query failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("sluice query prints UTF-8")
}

/// Every `insert_id` stored in the Parquet dataset, with how many times it is stored. Reads the
/// way the query engine does: again unless the compaction counter was the same even number before
/// and after (ARCHITECTURE.md, compaction).
pub(crate) fn stored_insert_ids(data_dir: &Path) -> BTreeMap<String, usize> {
    let epoch_file = data_dir.join("events").join(".compaction-epoch");
    let epoch = || std::fs::read_to_string(&epoch_file).unwrap_or_default();
    loop {
        let before = epoch();
        if before.trim().parse::<u64>().is_ok_and(|e| e % 2 == 1) {
            std::thread::sleep(Duration::from_millis(5));
            continue;
        }
        if let Some(ids) = read_insert_ids(data_dir)
            && epoch() == before
        {
            return ids;
        }
    }
}

/// `None` if a listed file vanished before it was read (a compaction swapped it).
fn read_insert_ids(data_dir: &Path) -> Option<BTreeMap<String, usize>> {
    let mut out = BTreeMap::new();
    let Ok(partitions) = std::fs::read_dir(data_dir.join("events")) else {
        return Some(out);
    };
    for partition in partitions {
        let partition = partition.unwrap().path();
        if !partition.is_dir() {
            continue;
        }
        for file in std::fs::read_dir(&partition).ok()? {
            let path = file.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy();
            if !name.ends_with(".parquet") || name.starts_with('.') {
                continue;
            }
            let file = std::fs::File::open(&path).ok()?;
            let reader = ParquetRecordBatchReaderBuilder::try_new(file)
                .unwrap()
                .build()
                .unwrap();
            for batch in reader {
                let batch = batch.unwrap();
                let ids = batch
                    .column_by_name("insert_id")
                    .unwrap()
                    .as_string::<i32>();
                for id in ids.iter().flatten() {
                    *out.entry(id.to_owned()).or_insert(0) += 1;
                }
            }
        }
    }
    Some(out)
}

/// Every id of `acked` is stored, and nothing is stored twice.
pub(crate) fn assert_stored_once<'a>(
    stored: &BTreeMap<String, usize>,
    acked: impl IntoIterator<Item = &'a String>,
) {
    let missing: Vec<_> = acked
        .into_iter()
        .filter(|id| !stored.contains_key(*id))
        .collect();
    assert!(
        missing.is_empty(),
        "{} acknowledged events lost, e.g. {:?}",
        missing.len(),
        missing.first()
    );
    let twice: Vec<_> = stored.iter().filter(|(_, n)| **n > 1).collect();
    assert!(
        twice.is_empty(),
        "{} events stored twice, e.g. {:?}",
        twice.len(),
        &twice[..twice.len().min(10)]
    );
}

/// Polls `check` every 100 ms until it returns `Some`, or panics after `timeout`.
pub(crate) async fn eventually<T>(
    timeout: Duration,
    what: &str,
    mut check: impl AsyncFnMut() -> Option<T>,
) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Posts `body` as JSON to `url`; the status and the JSON answer (null when the body is not JSON).
pub(crate) async fn post_json(
    http: &reqwest::Client,
    url: &str,
    body: &serde_json::Value,
) -> (reqwest::StatusCode, serde_json::Value) {
    let response = http.post(url).json(body).send().await.unwrap();
    let status = response.status();
    let answer = response.json().await.unwrap_or(serde_json::Value::Null);
    (status, answer)
}

/// Uploads SDK-shaped `events` to the collector at `base` with `key` (ids of two characters
/// and more), and asserts the 200.
pub(crate) async fn upload(
    http: &reqwest::Client,
    base: &str,
    key: &str,
    events: Vec<serde_json::Value>,
) {
    let body = serde_json::json!({"api_key": key, "events": events,
                                  "options": {"min_id_length": 2}});
    let (status, answer) = post_json(http, &format!("{base}/2/httpapi"), &body).await;
    assert_eq!(status, 200, "{answer}");
}
