//! Small helpers: names, files, sub-processes, repository roots.

use std::io::Read;
use std::path::{Component, Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::output::Failure;

/// Rust keywords (strict and reserved): never valid module or crate names.
const KEYWORDS: &[&str] = &[
    "as", "break", "const", "continue", "crate", "else", "enum", "extern", "false", "fn", "for",
    "if", "impl", "in", "let", "loop", "match", "mod", "move", "mut", "pub", "ref", "return",
    "self", "static", "struct", "super", "trait", "true", "type", "unsafe", "use", "where",
    "while", "async", "await", "dyn", "abstract", "become", "box", "do", "final", "macro",
    "override", "priv", "typeof", "unsized", "virtual", "yield", "try", "gen",
];

/// One name in the spellings generated code needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Names {
    /// `user_profile`: modules and functions.
    pub snake: String,
    /// `UserProfile`: types.
    pub pascal: String,
    /// `user-profile`: URL segments.
    pub kebab: String,
}

impl Names {
    /// Splits `raw` (`UserProfile`, `user-profile`, `user_profile`) into
    /// words and checks it makes a valid Rust identifier.
    pub fn parse(raw: &str) -> Result<Self, Failure> {
        let raw = raw.trim();
        let invalid = |why: &str| {
            Failure::error(format!(
                "invalid name {raw:?}: {why} (use letters, digits, `-` or `_`, starting with a letter, e.g. `UserProfile` or `user-profile`)"
            ))
        };
        if raw.is_empty() {
            return Err(invalid("it is empty"));
        }
        if !raw.starts_with(|c: char| c.is_ascii_alphabetic()) {
            return Err(invalid("it must start with a letter"));
        }
        if let Some(c) = raw
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || *c == '-' || *c == '_'))
        {
            return Err(invalid(&format!("{c:?} is not allowed")));
        }
        if raw.len() > 64 {
            return Err(invalid("it is longer than 64 characters"));
        }
        let mut words: Vec<String> = Vec::new();
        for part in raw.split(['-', '_']).filter(|p| !p.is_empty()) {
            let chars: Vec<char> = part.chars().collect();
            let mut word = String::new();
            for (i, &c) in chars.iter().enumerate() {
                let boundary = i > 0
                    && c.is_ascii_uppercase()
                    && (chars[i - 1].is_ascii_lowercase()
                        || chars[i - 1].is_ascii_digit()
                        || chars.get(i + 1).is_some_and(|n| n.is_ascii_lowercase())
                            && chars[i - 1].is_ascii_uppercase());
                if boundary && !word.is_empty() {
                    words.push(std::mem::take(&mut word));
                }
                word.push(c.to_ascii_lowercase());
            }
            if !word.is_empty() {
                words.push(word);
            }
        }
        let snake = words.join("_");
        let kebab = words.join("-");
        let pascal: String = words
            .iter()
            .map(|w| {
                let mut cs = w.chars();
                match cs.next() {
                    Some(f) => f.to_ascii_uppercase().to_string() + cs.as_str(),
                    None => String::new(),
                }
            })
            .collect();
        if KEYWORDS.contains(&snake.as_str()) {
            return Err(invalid("it is a Rust keyword"));
        }
        Ok(Self {
            snake,
            pascal,
            kebab,
        })
    }
}

/// A naive English plural for route and module names (`item` → `items`,
/// `category` → `categories`, `box` → `boxes`).
pub fn plural(word: &str) -> String {
    let vowel = |c: char| "aeiou".contains(c);
    if word.ends_with('s')
        || word.ends_with('x')
        || word.ends_with('z')
        || word.ends_with("ch")
        || word.ends_with("sh")
    {
        format!("{word}es")
    } else if word.len() > 1 && word.ends_with('y') && !word[..word.len() - 1].ends_with(vowel) {
        format!("{}ies", &word[..word.len() - 1])
    } else {
        format!("{word}s")
    }
}

/// `path` relative to `base`, with `/` separators, when it lies under it.
pub fn rel_to(path: &Path, base: &Path) -> Option<String> {
    let rel = path.strip_prefix(base).ok()?;
    let parts: Vec<String> = rel
        .components()
        .filter_map(|c| match c {
            Component::Normal(s) => Some(s.to_string_lossy().into_owned()),
            _ => None,
        })
        .collect();
    Some(parts.join("/"))
}

/// `path` made absolute against the current directory, with `.` and `..`
/// resolved lexically (the file need not exist).
pub fn absolute(path: &Path) -> PathBuf {
    let joined = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir().unwrap_or_default().join(path)
    };
    let mut out = PathBuf::new();
    for c in joined.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

/// Canonical path when it exists, else the lexically absolute one.
pub fn canonical(path: &Path) -> PathBuf {
    std::fs::canonicalize(path).unwrap_or_else(|_| absolute(path))
}

/// The nearest ancestor of `start` (itself included) holding a `Cargo.toml`
/// with a `[workspace]` table.
pub fn find_workspace_root(start: &Path) -> Option<PathBuf> {
    let start = canonical(start);
    start.ancestors().find_map(|dir| {
        let text = std::fs::read_to_string(dir.join("Cargo.toml")).ok()?;
        text.lines()
            .any(|l| l.trim() == "[workspace]")
            .then(|| dir.to_path_buf())
    })
}

/// The workspace this binary was built from (`plumego-cli/..`).
pub fn build_workspace() -> PathBuf {
    canonical(&Path::new(env!("CARGO_MANIFEST_DIR")).join(".."))
}

/// Reads a file, naming it in the error.
pub fn read(path: &Path) -> Result<String, Failure> {
    std::fs::read_to_string(path)
        .map_err(|e| Failure::error(format!("cannot read {}: {e}", path.display())))
}

/// Writes a file (creating its parent directories), naming it in the error.
pub fn write(path: &Path, text: &str) -> Result<(), Failure> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .map_err(|e| Failure::error(format!("cannot create {}: {e}", parent.display())))?;
    }
    std::fs::write(path, text)
        .map_err(|e| Failure::error(format!("cannot write {}: {e}", path.display())))
}

/// Formats the `.rs` files among `files` (relative to `dir`) with
/// `rustfmt --edition 2024`, best effort: false when rustfmt is missing or
/// fails (the templates are already formatted for typical names).
pub fn rustfmt<S: AsRef<str>>(dir: &Path, files: &[S]) -> bool {
    let rs: Vec<PathBuf> = files
        .iter()
        .map(AsRef::as_ref)
        .filter(|f| f.ends_with(".rs"))
        .map(|f| dir.join(f))
        .collect();
    if rs.is_empty() {
        return true;
    }
    Command::new("rustfmt")
        .args(["--edition", "2024"])
        .args(&rs)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Output kept from a sub-process stream.
const OUTPUT_CAP: usize = 128 * 1024;

/// What a finished sub-process left.
#[derive(Debug, Clone)]
pub struct RunOutput {
    /// The exit code; `None` when killed (timeout or signal).
    pub code: Option<i32>,
    /// Standard output (the last 128 KiB).
    pub stdout: String,
    /// Standard error (the last 128 KiB).
    pub stderr: String,
    /// Killed at the deadline.
    pub timed_out: bool,
    /// Wall time.
    pub duration: Duration,
}

impl RunOutput {
    /// Exited with 0.
    pub fn success(&self) -> bool {
        self.code == Some(0) && !self.timed_out
    }

    /// The last `lines` lines of stderr then stdout, for reports.
    pub fn tail(&self, lines: usize) -> String {
        let all = format!("{}{}", self.stdout, self.stderr);
        let v: Vec<&str> = all.lines().collect();
        v[v.len().saturating_sub(lines)..].join("\n")
    }
}

fn drain(mut r: impl Read + Send + 'static) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        let mut chunk = [0u8; 8192];
        while let Ok(n) = r.read(&mut chunk) {
            if n == 0 {
                break;
            }
            buf.extend_from_slice(&chunk[..n]);
            if buf.len() > 2 * OUTPUT_CAP {
                buf.drain(..buf.len() - OUTPUT_CAP);
            }
        }
        if buf.len() > OUTPUT_CAP {
            buf.drain(..buf.len() - OUTPUT_CAP);
        }
        String::from_utf8_lossy(&buf).into_owned()
    })
}

/// Runs `cmd` to completion or until `timeout`, capturing its output.
pub fn run_with_timeout(cmd: &mut Command, timeout: Duration) -> std::io::Result<RunOutput> {
    let started = Instant::now();
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let out = child.stdout.take().map(drain);
    let err = child.stderr.take().map(drain);
    let mut timed_out = false;
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break Some(status);
        }
        if started.elapsed() >= timeout {
            timed_out = true;
            let _ = child.kill();
            break child.wait().ok();
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let stdout = out.and_then(|h| h.join().ok()).unwrap_or_default();
    let stderr = err.and_then(|h| h.join().ok()).unwrap_or_default();
    Ok(RunOutput {
        code: status.and_then(|s| s.code()),
        stdout,
        stderr,
        timed_out,
        duration: started.elapsed(),
    })
}

/// Runs a quick command and returns its trimmed stdout when it succeeds.
pub fn capture(program: &str, args: &[&str], dir: Option<&Path>) -> Option<String> {
    let mut cmd = Command::new(program);
    cmd.args(args).stdin(Stdio::null()).stderr(Stdio::null());
    if let Some(dir) = dir {
        cmd.current_dir(dir);
    }
    let out = cmd.output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_split_every_spelling() {
        for raw in ["UserProfile", "user-profile", "user_profile", "userProfile"] {
            let n = Names::parse(raw).unwrap();
            assert_eq!(
                (n.snake.as_str(), n.pascal.as_str(), n.kebab.as_str()),
                ("user_profile", "UserProfile", "user-profile"),
                "{raw}"
            );
        }
        assert_eq!(Names::parse("HTTPServer").unwrap().snake, "http_server");
        assert_eq!(Names::parse("v2Api").unwrap().snake, "v2_api");
        assert!(Names::parse("type").is_err());
        assert!(Names::parse("1abc").is_err());
        assert!(Names::parse("a/b").is_err());
        assert!(Names::parse("").is_err());
    }

    #[test]
    fn plurals() {
        assert_eq!(plural("item"), "items");
        assert_eq!(plural("category"), "categories");
        assert_eq!(plural("key"), "keys");
        assert_eq!(plural("box"), "boxes");
        assert_eq!(plural("status"), "statuses");
    }

    #[test]
    fn absolute_resolves_dots() {
        assert_eq!(
            absolute(Path::new("/a/b/../c/./d")),
            PathBuf::from("/a/c/d")
        );
    }
}
