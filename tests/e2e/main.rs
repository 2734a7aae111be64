//! End-to-end tests: they start the real `sluice` binary on a free loopback port and talk to it
//! over HTTP, exactly as SDKs and dashboards do.

mod access;
mod boards;
mod browser;
mod cohort;
mod crash;
mod demo;
mod funnel;
mod kafka;
mod quarantine;
mod sdk;
mod support;
