//! Where the CPU goes: on-CPU time of this process's threads grouped by thread name (server
//! workers, the log writer, client workers), and the machine's busy time, from Linux `/proc`.
//! Elsewhere every reading is zero and the report says nothing about CPU.

use std::fs;
use std::ops::Sub;
use std::time::{Duration, Instant};

use super::client::CLIENT_THREAD;
use super::server::SERVER_THREAD;

/// The log writer thread's name as the kernel keeps it (15 bytes of `sluice-log-writer`).
const WRITER_THREAD: &str = "sluice-log-writ";

/// CPU seconds consumed so far.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct CpuTimes {
    /// The collector's runtime workers (HTTP, JSON parsing, validation, serialisation).
    pub(crate) server: f64,
    /// The event log's writer thread (framing, write, fdatasync).
    pub(crate) writer: f64,
    /// The load generator's runtime workers.
    pub(crate) client: f64,
    /// Everything else in this process.
    pub(crate) other: f64,
    /// Busy time of the whole machine (all processes, all cores).
    pub(crate) machine: f64,
}

impl Sub for CpuTimes {
    type Output = CpuTimes;

    fn sub(self, rhs: CpuTimes) -> CpuTimes {
        CpuTimes {
            server: self.server - rhs.server,
            writer: self.writer - rhs.writer,
            client: self.client - rhs.client,
            other: self.other - rhs.other,
            machine: self.machine - rhs.machine,
        }
    }
}

impl CpuTimes {
    /// Reads the current totals.
    pub(crate) fn now() -> CpuTimes {
        let mut times = CpuTimes {
            machine: machine_busy_seconds().unwrap_or(0.0),
            ..CpuTimes::default()
        };
        let Ok(tasks) = fs::read_dir("/proc/self/task") else {
            return times;
        };
        for task in tasks.flatten() {
            let path = task.path();
            let (Ok(name), Ok(schedstat)) = (
                fs::read_to_string(path.join("comm")),
                fs::read_to_string(path.join("schedstat")),
            ) else {
                continue;
            };
            // First field: nanoseconds spent on a CPU.
            let seconds = schedstat
                .split_whitespace()
                .next()
                .and_then(|ns| ns.parse::<u64>().ok())
                .unwrap_or(0) as f64
                / 1e9;
            let slot = match name.trim_end() {
                n if n.starts_with(SERVER_THREAD) => &mut times.server,
                n if n.starts_with(CLIENT_THREAD) => &mut times.client,
                WRITER_THREAD => &mut times.writer,
                _ => &mut times.other,
            };
            *slot += seconds;
        }
        times
    }

    /// This process's total.
    pub(crate) fn process(&self) -> f64 {
        self.server + self.writer + self.client + self.other
    }

    /// Cores other processes kept busy on average over `seconds` (a compiler beside the benchmark
    /// takes cores from both client and server).
    pub(crate) fn interference_cores(&self, seconds: f64) -> f64 {
        (self.machine - self.process()).max(0.0) / seconds
    }
}

/// Non-idle time of all cores, from the `cpu` line of `/proc/stat` (in USER_HZ ticks).
fn machine_busy_seconds() -> Option<f64> {
    let stat = fs::read_to_string("/proc/stat").ok()?;
    let line = stat.lines().find(|l| l.starts_with("cpu "))?;
    let ticks: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .map(|v| v.parse().unwrap_or(0))
        .collect();
    // user nice system idle iowait irq softirq steal …: busy is user + nice + system + irq + softirq.
    let busy: u64 = [0, 1, 2, 5, 6]
        .iter()
        .map(|&i| ticks.get(i).copied())
        .sum::<Option<u64>>()?;
    // USER_HZ is 100 on every Linux ABI.
    Some(busy as f64 / 100.0)
}

/// Waits until the machine has been nearly idle (below `max_busy_cores`) for a whole second, or
/// `timeout` passes; returns whether it became idle. The machine is shared: a compiler running
/// beside the benchmark would take cores from both client and server.
pub(crate) fn wait_until_idle(max_busy_cores: f64, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    let Some(mut busy) = machine_busy_seconds() else {
        return true;
    };
    let mut at = Instant::now();
    loop {
        std::thread::sleep(Duration::from_secs(1));
        let (now_busy, now) = (machine_busy_seconds().unwrap_or(busy), Instant::now());
        if (now_busy - busy) / (now - at).as_secs_f64() < max_busy_cores {
            return true;
        }
        if now >= deadline {
            return false;
        }
        (busy, at) = (now_busy, now);
    }
}
