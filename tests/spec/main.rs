//! In-process spec tests: no gateway process, tables in the SPEC's words.
//!
//! - `decision`: SPEC §3, every row of the shared table, through `policy::downstream`;
//! - `config_errors`: every config error names the file, the YAML path and the line;
//! - `cli`: `certgate check` and `certgate cert id`;
//! - `upstream_map`: (issue 3) the domain lookup table;
//! - `request_target`: (SPEC §3 step 0) the path and host a request is routed and forwarded with.

#![allow(missing_docs)]

#[path = "../support/mod.rs"]
mod support;

mod admin_openapi;
mod cli;
mod config_errors;
mod dashboard;
mod decision;
mod example_configs;
mod fuzz_seeds;
mod module_graph;
mod reload_state;
mod request_target;
mod upstream_map;
