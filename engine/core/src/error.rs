//! The engine's error type: every error says what went wrong, where (file,
//! line, field) and, where there is one, what to do about it.

use std::path::PathBuf;

/// Errors surfaced to the user by the engine.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// One or more configuration fields are invalid.
    #[error("invalid configuration:\n{}", format_field_errors(.0))]
    Config(Vec<FieldError>),

    /// A file could not be read or written.
    #[error("{path}: {message}")]
    File { path: PathBuf, message: String },

    /// A line of a data file is malformed.
    #[error("{path}:{line}: {message}")]
    DataLine { path: PathBuf, line: usize, message: String },

    /// Lines of a data file are malformed: every one is listed (the first
    /// [`BAD_LINES_SHOWN`] of them in the message, with a count of the rest).
    #[error("{}", format_bad_lines(path, *lines, bad))]
    DataLines {
        /// The file.
        path: PathBuf,
        /// Its non-blank lines.
        lines: usize,
        /// `(line number in the file, problem)` of each malformed line.
        bad: Vec<(usize, String)>,
    },

    /// The model directory or its weights are unusable.
    #[error("model {path}: {message}")]
    Model { path: PathBuf, message: String },

    /// A run directory is missing or inconsistent.
    #[error("run {path}: {message}")]
    Run { path: PathBuf, message: String },

    /// A tensor operation failed.
    #[error("tensor error: {0}")]
    Tensor(#[from] candle_core::Error),

    /// The run was cancelled by the user.
    #[error("cancelled")]
    Cancelled,

    /// Anything else, with its message.
    #[error("{0}")]
    Other(String),
}

/// A problem with one configuration field.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct FieldError {
    /// Dotted path of the field, e.g. `lora.rank`.
    pub field: String,
    /// What is wrong and what to do.
    pub message: String,
}

/// How many malformed lines an error message lists before it counts the rest.
pub const BAD_LINES_SHOWN: usize = 50;

fn format_bad_lines(path: &std::path::Path, lines: usize, bad: &[(usize, String)]) -> String {
    let mut out = format!("{}: {} of {lines} lines are malformed:\n", path.display(), bad.len());
    for (line, message) in bad.iter().take(BAD_LINES_SHOWN) {
        out += &format!("  {}:{line}: {message}\n", path.display());
    }
    if bad.len() > BAD_LINES_SHOWN {
        out += &format!("  ... and {} more\n", bad.len() - BAD_LINES_SHOWN);
    }
    out + "fix these lines, or skip them (data.skip_bad_lines = true in the config, --skip-bad-lines on the command line)"
}

fn format_field_errors(errors: &[FieldError]) -> String {
    errors.iter().map(|e| format!("  {}: {}", e.field, e.message)).collect::<Vec<_>>().join("\n")
}

impl Error {
    /// An I/O error on `path`, with the OS message.
    pub fn io(path: impl Into<PathBuf>, err: std::io::Error) -> Self {
        Error::File { path: path.into(), message: err.to_string() }
    }

    /// A model-directory error on `path`.
    pub fn model(path: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        Error::Model { path: path.into(), message: message.into() }
    }

    /// A run-directory error on `path`.
    pub fn run(path: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        Error::Run { path: path.into(), message: message.into() }
    }
}

/// The engine's result type.
pub type Result<T> = std::result::Result<T, Error>;
