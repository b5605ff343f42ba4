//! End-to-end tests: the real `keycard` binary, driven over real HTTP and files.
//!
//! One test binary made of modules (each file in `tests/` would be a separate link).

mod harness;

mod cli_users;
mod config;
mod hostile;
mod serve;
