//! The load generator: a fixed number of keep-alive connections, each sending one upload at a
//! time (closed loop) for a fixed time, timing every request from send to the full response.
//!
//! Only 200 responses whose body says `code: 200` and the right `events_ingested` count as
//! accepted. Requests sent during the warm-up are not measured, but their accepted events are
//! counted for the final check against the log.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::bodies::BodyPool;
use super::cpu::CpuTimes;
use super::server::{Fsyncs, Server};

/// Thread name of the load generator's runtime workers.
pub(crate) const CLIENT_THREAD: &str = "bench-client";

/// One scenario run: what to send, how hard and for how long.
pub(crate) struct Load {
    pub(crate) url: String,
    pub(crate) bodies: Arc<BodyPool>,
    pub(crate) connections: usize,
    pub(crate) warmup: Duration,
    pub(crate) duration: Duration,
    /// The next unused `insert_id` number, shared by every run.
    pub(crate) next_id: Arc<AtomicU64>,
}

/// What one run measured.
#[derive(Debug, Clone, Default)]
pub(crate) struct Measured {
    /// Accepted requests sent in the measured window.
    pub(crate) requests: u64,
    /// Events of those requests.
    pub(crate) events: u64,
    /// From the window's start to the last measured response, in seconds.
    pub(crate) seconds: f64,
    /// Latency of every accepted measured request, in µs, sorted.
    pub(crate) latencies_us: Vec<u32>,
    /// Requests (warm-up included) that were not accepted.
    pub(crate) failures: u64,
    /// Why the first of them was not.
    pub(crate) first_failure: Option<String>,
    /// Accepted events including the warm-up: what the log must hold from this run.
    pub(crate) acked_events: u64,
    /// CPU used during the measured window.
    pub(crate) cpu: CpuTimes,
    /// Group commits during the measured window.
    pub(crate) fsyncs: Fsyncs,
}

impl Measured {
    /// Accepted events per second of the measured window.
    pub(crate) fn events_per_second(&self) -> f64 {
        self.events as f64 / self.seconds
    }

    /// Accepted requests per second of the measured window.
    pub(crate) fn requests_per_second(&self) -> f64 {
        self.requests as f64 / self.seconds
    }

    /// The latency at quantile `q` (nearest rank), in ms.
    pub(crate) fn latency_ms(&self, q: f64) -> f64 {
        let Some(last) = self.latencies_us.len().checked_sub(1) else {
            return f64::NAN;
        };
        let rank = ((q * self.latencies_us.len() as f64).ceil() as usize).clamp(1, last + 1);
        f64::from(self.latencies_us[rank - 1]) / 1e3
    }
}

/// Runs `load` against `server` and waits for every connection to finish.
pub(crate) async fn run(load: &Load, server: &Server) -> Measured {
    let start = Instant::now() + load.warmup;
    let stop = start + load.duration;
    let stride = load.bodies.len() / load.connections.max(1);
    let workers: Vec<_> = (0..load.connections)
        .map(|i| {
            let connection = Connection {
                url: load.url.clone(),
                bodies: Arc::clone(&load.bodies),
                next_id: Arc::clone(&load.next_id),
                first_body: i * stride,
            };
            tokio::spawn(connection.send_until(start, stop))
        })
        .collect();
    tokio::time::sleep_until(start.into()).await;
    let (cpu_before, fsyncs_before) = (CpuTimes::now(), server.fsyncs());
    let mut measured = Measured::default();
    let mut last_response = start;
    for worker in workers {
        let sent = worker.await.expect("a load connection panicked");
        measured.requests += sent.latencies_us.len() as u64;
        measured.events += sent.measured_events;
        measured.latencies_us.extend(sent.latencies_us);
        measured.failures += sent.failures;
        measured.first_failure = measured.first_failure.or(sent.first_failure);
        measured.acked_events += sent.acked_events;
        last_response = last_response.max(sent.last_response.unwrap_or(start));
    }
    let (cpu_after, fsyncs_after) = (CpuTimes::now(), server.fsyncs());
    measured.seconds = (last_response - start).as_secs_f64();
    measured.latencies_us.sort_unstable();
    measured.cpu = cpu_after - cpu_before;
    measured.fsyncs = Fsyncs {
        count: fsyncs_after.count - fsyncs_before.count,
        seconds: fsyncs_after.seconds - fsyncs_before.seconds,
    };
    measured
}

/// One keep-alive connection's closed loop.
struct Connection {
    url: String,
    bodies: Arc<BodyPool>,
    next_id: Arc<AtomicU64>,
    first_body: usize,
}

#[derive(Default)]
struct Sent {
    latencies_us: Vec<u32>,
    measured_events: u64,
    acked_events: u64,
    failures: u64,
    first_failure: Option<String>,
    last_response: Option<Instant>,
}

impl Connection {
    async fn send_until(self, start: Instant, stop: Instant) -> Sent {
        // One client per connection: its pool keeps exactly one keep-alive connection.
        let client = reqwest::Client::builder()
            .no_proxy()
            .tcp_nodelay(true)
            .pool_max_idle_per_host(1)
            .build()
            .expect("an HTTP client without TLS always builds");
        let events = self.bodies.events_per_body();
        let mut sent = Sent::default();
        for index in self.first_body.. {
            if Instant::now() >= stop {
                break;
            }
            let first_id = self.next_id.fetch_add(events as u64, Ordering::Relaxed);
            let body = self.bodies.stamped(index, first_id);
            let began = Instant::now();
            let result = upload(&client, &self.url, body, events).await;
            let done = Instant::now();
            match result {
                Ok(()) => {
                    sent.acked_events += events as u64;
                    if began >= start {
                        let micros = (done - began).as_micros();
                        sent.latencies_us
                            .push(u32::try_from(micros).unwrap_or(u32::MAX));
                        sent.measured_events += events as u64;
                        sent.last_response = Some(done);
                    }
                }
                Err(reason) => {
                    sent.failures += 1;
                    sent.first_failure.get_or_insert(reason);
                }
            }
        }
        sent
    }
}

/// Sends one upload and checks that all of its events were accepted.
async fn upload(
    client: &reqwest::Client,
    url: &str,
    body: Vec<u8>,
    events: usize,
) -> Result<(), String> {
    let response = client
        .post(url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(body)
        .send()
        .await
        .map_err(|e| format!("sending: {e}"))?;
    let status = response.status();
    let bytes = response
        .bytes()
        .await
        .map_err(|e| format!("reading the response: {e}"))?;
    let answer: Value = serde_json::from_slice(&bytes)
        .map_err(|e| format!("HTTP {status}: response is not JSON: {e}"))?;
    let accepted = status == reqwest::StatusCode::OK
        && answer["code"] == 200
        && answer["events_ingested"] == events;
    if accepted {
        Ok(())
    } else {
        Err(format!("HTTP {status}: {answer}"))
    }
}
