//! Configuration errors: every one names the file, the YAML path and the line.

use std::fmt;
use std::path::PathBuf;

/// One problem with the configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    /// The YAML file.
    pub file: PathBuf,
    /// The YAML path, e.g. `apis[2].auth.jwt.public_key` (empty for the whole document).
    pub path: String,
    /// 1-based line of that path in the file, when known.
    pub line: Option<usize>,
    /// What sort of problem it is: what tests and tools match on.
    pub kind: ConfigErrorKind,
    /// What is wrong, lower case, no trailing period.
    pub message: String,
}

/// The sort of a [`ConfigError`]. The message says the details; the kind is stable.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ConfigErrorKind {
    /// The config file itself cannot be read.
    Unreadable,
    /// Not YAML, or YAML certgate refuses: a key given twice, an alias bomb.
    Syntax,
    /// A key certgate does not know, a required key left out, or a value of the wrong type.
    Schema,
    /// A value of the right type that is not allowed here (an address, a range, a name form).
    Invalid,
    /// A key or section this setting needs is absent.
    Missing,
    /// Settings that exclude each other.
    Conflict,
    /// Two entries that must differ (API names, routes, tokens, listener ports, SNI hosts).
    Duplicate,
    /// A name that refers to nothing certgate knows (an API, a stored certificate, a group).
    UnknownName,
    /// A file or directory the config refers to cannot be read.
    File,
    /// A certificate, key, CA bundle or JWT key whose content is wrong.
    Certificate,
    /// The environment does not hold what the config names (an unset or weak secret).
    Environment,
    /// The control plane's state directory or database cannot be used.
    DataDir,
}

/// Every problem found in one load; never empty when returned as an error.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ConfigErrors(pub Vec<ConfigError>);

// === impl ConfigError ===

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            write!(f, "{}", self.message)?;
        } else {
            write!(f, "{}: {}", self.path, self.message)?;
        }
        match self.line {
            Some(line) => write!(f, " ({} line {})", self.file.display(), line),
            None => write!(f, " ({})", self.file.display()),
        }
    }
}

impl std::error::Error for ConfigError {}

// === impl ConfigErrors ===

impl ConfigErrors {
    /// Whether there are no errors.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Number of errors.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// The errors.
    pub fn iter(&self) -> impl Iterator<Item = &ConfigError> {
        self.0.iter()
    }
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}
