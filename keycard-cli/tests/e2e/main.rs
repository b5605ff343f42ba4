//! End-to-end tests: the real `keycard` binary, driven over real HTTP and files.
