//! The raw configuration layer: what the YAML file says, and where it says it.
//!
//! This layer reads text and deserialises it into plain data ([`RawConfig`]) plus a
//! [`SourceMap`] from YAML paths to line numbers. It must NOT read any other file, parse
//! certificates, or build runtime objects: that is [`crate::snapshot::compile`]'s job, and
//! [`crate::snapshot`] is the only validator beyond types and unknown keys.

mod error;
mod load;
mod raw;
mod raw_control;
mod source_map;

pub use error::{ConfigError, ConfigErrorKind, ConfigErrors};
pub use load::{load, parse_str, LoadedConfig};
pub use raw::*;
pub use source_map::SourceMap;
