//! The one integration-test binary. Tests drive the real `mlsteward` binary, real git
//! repositories built with the `git` CLI, a real SQLite file and a real Prometheus.

mod support;

mod architecture;
mod cli;
mod deploy;
mod discovery;
mod fake_forge;
mod forges;
mod git_source;
mod golden;
mod hardening;
mod http_client;
mod persistence;
mod probes;
mod prometheus;
mod registries;
mod security;
mod trust;
mod web;
