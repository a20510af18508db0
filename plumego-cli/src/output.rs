//! The command-result envelope, exit codes and the three output formats.
//!
//! Every command ends in an [`Outcome`]. In `json` and `yaml` it is printed
//! to stdout as `{status, message, exit_code, data}`; in `text` the message
//! (stderr for warnings and errors) and a human rendering of the data are
//! printed instead.

use std::io::Write;

use serde::Serialize;
use serde_json::Value;

/// Output format (`--format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Format {
    /// Human-readable text.
    #[default]
    Text,
    /// The JSON envelope.
    Json,
    /// The YAML envelope.
    Yaml,
}

/// Process exit codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Everything worked.
    Ok = 0,
    /// The command failed.
    Error = 1,
    /// It worked, with findings worth a look.
    Warning = 2,
    /// Refused: it would overwrite or clash with something that exists.
    Conflict = 3,
}

impl Exit {
    /// The numeric code.
    pub fn code(self) -> i32 {
        self as i32
    }

    fn status(self) -> &'static str {
        match self {
            Exit::Ok => "success",
            Exit::Warning => "warning",
            Exit::Error | Exit::Conflict => "error",
        }
    }
}

/// What a command produced.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// Decides `status` and the process exit code.
    pub exit: Exit,
    /// One line.
    pub message: String,
    /// Structured result (`null` when there is none).
    pub data: Value,
    /// The human rendering of `data` for `--format text`; when `None`, the
    /// data is printed as YAML.
    pub text: Option<String>,
}

impl Outcome {
    /// A successful outcome.
    pub fn ok(message: impl Into<String>, data: Value) -> Self {
        Self::new(Exit::Ok, message, data)
    }

    /// An outcome with any exit code.
    pub fn new(exit: Exit, message: impl Into<String>, data: Value) -> Self {
        Self {
            exit,
            message: message.into(),
            data,
            text: None,
        }
    }

    /// Sets the human rendering.
    pub fn text(mut self, text: impl Into<String>) -> Self {
        self.text = Some(text.into());
        self
    }
}

/// A failed command: exit 1 (error) or 3 (conflict), with optional data.
#[derive(Debug, Clone)]
pub struct Failure {
    /// [`Exit::Error`] or [`Exit::Conflict`].
    pub exit: Exit,
    /// What went wrong and, where possible, what to do.
    pub message: String,
    /// Context for machines.
    pub data: Value,
}

impl Failure {
    /// Exit 1.
    pub fn error(message: impl Into<String>) -> Self {
        Self {
            exit: Exit::Error,
            message: message.into(),
            data: Value::Null,
        }
    }

    /// Exit 3.
    pub fn conflict(message: impl Into<String>) -> Self {
        Self {
            exit: Exit::Conflict,
            message: message.into(),
            data: Value::Null,
        }
    }

    /// Attaches data.
    pub fn data(mut self, data: Value) -> Self {
        self.data = data;
        self
    }
}

impl From<Failure> for Outcome {
    fn from(f: Failure) -> Self {
        Outcome::new(f.exit, f.message, f.data)
    }
}

/// The result type of every command.
pub type CmdResult = Result<Outcome, Failure>;

#[derive(Serialize)]
struct Envelope<'a> {
    status: &'static str,
    message: &'a str,
    exit_code: i32,
    data: &'a Value,
}

/// Prints `outcome` in `format` and returns the exit code.
pub fn emit(outcome: &Outcome, format: Format) -> i32 {
    let envelope = Envelope {
        status: outcome.exit.status(),
        message: &outcome.message,
        exit_code: outcome.exit.code(),
        data: &outcome.data,
    };
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    // Printing can only fail on a closed pipe; there is nobody left to tell.
    match format {
        Format::Json => {
            let text = serde_json::to_string_pretty(&envelope)
                .unwrap_or_else(|e| format!("{{\"status\":\"error\",\"message\":\"cannot encode result: {e}\",\"exit_code\":1,\"data\":null}}"));
            let _ = writeln!(out, "{text}");
        }
        Format::Yaml => {
            let text = serde_yaml_ng::to_string(&envelope).unwrap_or_else(|e| {
                format!("status: error\nmessage: 'cannot encode result: {e}'\nexit_code: 1\n")
            });
            let _ = write!(out, "{text}");
        }
        Format::Text => {
            let body = match &outcome.text {
                Some(t) => t.clone(),
                None if outcome.data.is_null()
                    || matches!(outcome.exit, Exit::Error | Exit::Conflict) =>
                {
                    String::new()
                }
                None => serde_yaml_ng::to_string(&outcome.data).unwrap_or_default(),
            };
            match outcome.exit {
                Exit::Ok => {
                    let _ = writeln!(out, "{}", outcome.message);
                }
                Exit::Warning => eprintln!("warning: {}", outcome.message),
                Exit::Error | Exit::Conflict => eprintln!("error: {}", outcome.message),
            }
            if !body.is_empty() {
                let _ = write!(out, "{body}");
                if !body.ends_with('\n') {
                    let _ = writeln!(out);
                }
            }
        }
    }
    let _ = out.flush();
    outcome.exit.code()
}
