//! One batch tried until it is delivered or the retry policy gives up: exponential backoff after
//! a failure the destination may recover from (a 5xx, a timeout, a refused connection); after a
//! 429, a wait until the destination's reset time (`X-RateLimit-Reset`, epoch seconds; or
//! `Retry-After`); a pause before the next request when a success says no requests are left
//! in the window. A refusal (another 4xx) is not tried again.

use std::time::{Duration, SystemTime};

use super::config::RetryPolicy;

/// How one try went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Attempt {
    /// Accepted.
    Delivered {
        /// The HTTP status, for HTTP destinations.
        status: Option<u16>,
        /// What the destination said beyond yes (objects it rejected).
        detail: Option<String>,
        /// No request may be sent before this (the rate-limit window is used up).
        pause_until: Option<SystemTime>,
    },
    /// Failed in a way that may pass.
    Retry {
        /// The HTTP status, if an answer came.
        status: Option<u16>,
        /// What happened.
        reason: String,
        /// Try again no sooner than this (a rate limit's reset); the backoff when absent.
        not_before: Option<SystemTime>,
    },
    /// Refused: trying again would not help.
    Refused {
        /// The HTTP status, if an answer came.
        status: Option<u16>,
        /// What the destination said.
        reason: String,
    },
}

/// How a batch ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Outcome {
    /// Tries made.
    pub(crate) attempts: u32,
    /// Delivered or not.
    pub(crate) delivered: bool,
    /// The last answer's status.
    pub(crate) status: Option<u16>,
    /// Why it failed, or what the destination said.
    pub(crate) detail: Option<String>,
}

/// The shortest wait after a 429: a reset time already past still waits this long.
const MIN_RATE_LIMIT_WAIT: Duration = Duration::from_secs(1);

/// Paces a sync's requests: the pause a rate limit asked for carries to the next batch.
#[derive(Debug, Default)]
pub(crate) struct Pacer {
    pause_until: Option<SystemTime>,
}

impl Pacer {
    /// A pacer that sends nothing before `pause_until` (a pause an earlier sync was asked for).
    pub(crate) fn paused_until(pause_until: Option<SystemTime>) -> Pacer {
        Pacer { pause_until }
    }

    /// The pause the last answer asked for, if it is still ahead.
    pub(crate) fn pause(&self) -> Option<SystemTime> {
        self.pause_until.filter(|until| *until > SystemTime::now())
    }

    /// Tries `send` until it is delivered, refused, or `policy` gives up.
    pub(crate) async fn deliver<F, Fut>(&mut self, policy: &RetryPolicy, mut send: F) -> Outcome
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Attempt>,
    {
        let mut attempt = 0;
        loop {
            attempt += 1;
            if let Some(until) = self.pause_until.take() {
                sleep_until(until).await;
            }
            let timeout = Duration::from_millis(policy.timeout_ms);
            let tried = match tokio::time::timeout(timeout, send()).await {
                Ok(tried) => tried,
                Err(_) => Attempt::Retry {
                    status: None,
                    reason: format!("no answer within {} ms", policy.timeout_ms),
                    not_before: None,
                },
            };
            match tried {
                Attempt::Delivered {
                    status,
                    detail,
                    pause_until,
                } => {
                    self.pause_until = pause_until;
                    return Outcome {
                        attempts: attempt,
                        delivered: true,
                        status,
                        detail,
                    };
                }
                Attempt::Refused { status, reason } => {
                    return Outcome {
                        attempts: attempt,
                        delivered: false,
                        status,
                        detail: Some(reason),
                    };
                }
                Attempt::Retry {
                    status,
                    reason,
                    not_before,
                } => {
                    if attempt >= policy.max_attempts {
                        return Outcome {
                            attempts: attempt,
                            delivered: false,
                            status,
                            detail: Some(format!("gave up after {attempt} tries: {reason}")),
                        };
                    }
                    match not_before {
                        Some(reset) => {
                            let earliest = SystemTime::now() + MIN_RATE_LIMIT_WAIT;
                            sleep_until(reset.max(earliest)).await;
                        }
                        None => tokio::time::sleep(policy.backoff(attempt)).await,
                    }
                }
            }
        }
    }
}

async fn sleep_until(until: SystemTime) {
    if let Ok(wait) = until.duration_since(SystemTime::now()) {
        tokio::time::sleep(wait).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    fn policy(max_attempts: u32) -> RetryPolicy {
        RetryPolicy {
            max_attempts,
            base_ms: 10,
            max_ms: 40,
            timeout_ms: 200,
        }
    }

    fn retry() -> Attempt {
        Attempt::Retry {
            status: Some(500),
            reason: "500".to_owned(),
            not_before: None,
        }
    }

    fn delivered() -> Attempt {
        Attempt::Delivered {
            status: Some(200),
            detail: None,
            pause_until: None,
        }
    }

    /// Answers the scripted tries in order.
    async fn run(script: Vec<Attempt>, max_attempts: u32) -> (Outcome, usize) {
        let script = Mutex::new(script.into_iter());
        let tries = Mutex::new(0);
        let outcome = Pacer::default()
            .deliver(&policy(max_attempts), || {
                *tries.lock().unwrap() += 1;
                let next = script.lock().unwrap().next().unwrap();
                async move { next }
            })
            .await;
        let tries = *tries.lock().unwrap();
        (outcome, tries)
    }

    #[tokio::test]
    async fn failures_are_retried_until_delivered() {
        let (outcome, tries) = run(vec![retry(), retry(), delivered()], 5).await;
        assert_eq!((outcome.attempts, outcome.delivered, tries), (3, true, 3));
    }

    #[tokio::test]
    async fn the_policy_gives_up_after_its_last_try() {
        let (outcome, tries) = run(vec![retry(), retry(), retry()], 3).await;
        assert_eq!((outcome.attempts, outcome.delivered, tries), (3, false, 3));
        assert!(outcome.detail.unwrap().contains("gave up after 3 tries"));
    }

    #[tokio::test]
    async fn a_refusal_is_not_retried() {
        let refused = Attempt::Refused {
            status: Some(401),
            reason: "bad key".to_owned(),
        };
        let (outcome, tries) = run(vec![refused, delivered()], 5).await;
        assert_eq!(
            (outcome.delivered, outcome.status, tries),
            (false, Some(401), 1)
        );
    }

    #[tokio::test]
    async fn a_try_that_hangs_times_out_and_is_retried() {
        let hang = std::sync::atomic::AtomicBool::new(true);
        let outcome = Pacer::default()
            .deliver(&policy(3), || {
                let first = hang.swap(false, std::sync::atomic::Ordering::SeqCst);
                async move {
                    if first {
                        tokio::time::sleep(Duration::from_secs(5)).await;
                    }
                    delivered()
                }
            })
            .await;
        assert_eq!((outcome.attempts, outcome.delivered), (2, true));
    }

    #[tokio::test]
    async fn a_rate_limit_waits_until_its_reset() {
        let reset = SystemTime::now() + Duration::from_millis(1_300);
        let limited = Attempt::Retry {
            status: Some(429),
            reason: "429".to_owned(),
            not_before: Some(reset),
        };
        let start = std::time::Instant::now();
        let (outcome, _) = run(vec![limited, delivered()], 2).await;
        assert!(outcome.delivered);
        assert!(
            start.elapsed() >= Duration::from_millis(1_250),
            "{:?}",
            start.elapsed()
        );
    }
}
