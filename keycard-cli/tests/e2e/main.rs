//! End-to-end tests: the real `keycard` binary, driven over real HTTP and files.
//!
//! One test binary made of modules (each file in `tests/` would be a separate link).

// A test harness may unwrap and panic: that is how a test fails.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::result_large_err
)]

mod harness;
mod postgres;

mod boundary;
mod cli_users;
mod config;
mod differential;
mod fleet;
mod gateway;
mod grpc;
mod hostile;
mod keys;
mod lifecycle;
mod nginx;
mod node_interop;
mod openapi;
mod ops;
mod serve;
mod tls;
mod trusted;
mod websocket;
