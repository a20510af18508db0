//! `plumego check [--dir PROJECT]`: project sanity and a secret scan.
//!
//! Layout: `Cargo.toml` and `src/main.rs` are required (error), the rest of
//! the canonical layout is expected (warning). Secrets: a `.env` that git
//! would commit is a warning, and so is any `.env*` file that git would
//! commit holding a value for a key that looks secret (KEY, SECRET, TOKEN,
//! PASSWORD). Secret values in git-ignored files are listed as info. Values
//! are never printed.

use std::path::{Path, PathBuf};

use clap::Args;
use serde::Serialize;
use serde_json::json;

use crate::output::{CmdResult, Exit, Failure, Outcome};
use crate::util;

/// `plumego check` arguments.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// The project directory (default: the current directory).
    #[arg(long, default_value = ".")]
    pub dir: PathBuf,
}

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// For the record.
    Info,
    /// Worth fixing.
    Warning,
    /// Broken.
    Error,
}

/// One finding.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    /// How bad.
    pub severity: Severity,
    /// `layout` or `secrets`.
    pub check: &'static str,
    /// What was found.
    pub message: String,
    /// The file, relative to the project.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// 1-based line.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    /// What to do.
    pub fix: String,
}

/// Required files: without them it is not a Rust service.
const REQUIRED: &[&str] = &["Cargo.toml", "src/main.rs"];
/// The rest of the canonical layout.
const CANONICAL: &[&str] = &[
    "src/lib.rs",
    "src/config.rs",
    "src/app.rs",
    "src/handler/mod.rs",
    "src/handler/api.rs",
    "src/handler/health.rs",
    "src/domain/mod.rs",
    "tests",
    ".env.example",
    "README.md",
    ".gitignore",
];

/// Key fragments that mark a value as secret.
const SECRET_MARKERS: &[&str] = &["KEY", "SECRET", "TOKEN", "PASSWORD", "PASSWD"];

fn looks_secret(key: &str) -> bool {
    let key = key.to_ascii_uppercase();
    SECRET_MARKERS.iter().any(|m| key.contains(m))
}

/// Whether git (or, outside a repository, the project's `.gitignore`)
/// ignores `name`.
fn ignored(project: &Path, name: &str) -> bool {
    let out = std::process::Command::new("git")
        .args(["check-ignore", "-q", "--", name])
        .current_dir(project)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status();
    match out.map(|s| s.code()) {
        Ok(Some(0)) => true,
        Ok(Some(1)) => false,
        // Not a repository, or no git: read .gitignore ourselves.
        _ => gitignore_matches(project, name),
    }
}

/// A small `.gitignore` reader: exact names, `/name`, `*` globs and `!`
/// negations, last match wins.
fn gitignore_matches(project: &Path, name: &str) -> bool {
    let Ok(text) = std::fs::read_to_string(project.join(".gitignore")) else {
        return false;
    };
    let mut ignored = false;
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (negate, pattern) = match line.strip_prefix('!') {
            Some(p) => (true, p),
            None => (false, line),
        };
        let pattern = pattern.trim_start_matches('/').trim_end_matches('/');
        if glob(pattern, name) {
            ignored = !negate;
        }
    }
    ignored
}

fn glob(pattern: &str, name: &str) -> bool {
    fn go(p: &[u8], n: &[u8]) -> bool {
        match p.split_first() {
            None => n.is_empty(),
            Some((b'*', rest)) => (0..=n.len()).any(|i| go(rest, &n[i..])),
            Some((b'?', rest)) => !n.is_empty() && go(rest, &n[1..]),
            Some((c, rest)) => n.first() == Some(c) && go(rest, &n[1..]),
        }
    }
    go(pattern.as_bytes(), name.as_bytes())
}

/// `(line, key)` of every secret-looking key with a non-empty value.
fn secret_keys(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").unwrap_or(line);
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let value = value
            .split(" #")
            .next()
            .unwrap_or("")
            .trim()
            .trim_matches(|c| c == '"' || c == '\'');
        if looks_secret(key.trim()) && !value.is_empty() {
            out.push((n + 1, key.trim().to_owned()));
        }
    }
    out
}

fn scan(project: &Path) -> Vec<Finding> {
    let mut findings = Vec::new();
    for rel in REQUIRED {
        if !project.join(rel).exists() {
            findings.push(Finding {
                severity: Severity::Error,
                check: "layout",
                message: format!("{rel} is missing"),
                file: Some((*rel).to_owned()),
                line: None,
                fix: "run check in a service directory, or create one with `plumego new <name>`"
                    .into(),
            });
        }
    }
    for rel in CANONICAL {
        if !project.join(rel).exists() {
            findings.push(Finding {
                severity: Severity::Warning,
                check: "layout",
                message: format!("{rel} is missing from the canonical layout"),
                file: Some((*rel).to_owned()),
                line: None,
                fix: "compare with a fresh `plumego new <name>` (api template)".into(),
            });
        }
    }

    let mut env_files: Vec<String> = std::fs::read_dir(project)
        .map(|d| {
            d.flatten()
                .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n == ".env" || n.starts_with(".env.") || n.ends_with(".env"))
                .collect()
        })
        .unwrap_or_default();
    env_files.sort();
    for name in &env_files {
        let is_ignored = ignored(project, name);
        if name == ".env" && !is_ignored {
            findings.push(Finding {
                severity: Severity::Warning,
                check: "secrets",
                message: ".env is present but not git-ignored: it would be committed".into(),
                file: Some(name.clone()),
                line: None,
                fix: "add `.env` to .gitignore".into(),
            });
        }
        let Ok(text) = std::fs::read_to_string(project.join(name)) else {
            continue;
        };
        for (line, key) in secret_keys(&text) {
            findings.push(if is_ignored {
                Finding {
                    severity: Severity::Info,
                    check: "secrets",
                    message: format!("{key} has a value in {name} (git-ignored, kept local)"),
                    file: Some(name.clone()),
                    line: Some(line),
                    fix: "nothing to do while the file stays ignored".into(),
                }
            } else {
                Finding {
                    severity: Severity::Warning,
                    check: "secrets",
                    message: format!("{key} looks secret and has a value in {name}, which git would commit"),
                    file: Some(name.clone()),
                    line: Some(line),
                    fix: format!("leave {key} empty in {name} and set it in the environment or a git-ignored .env"),
                }
            });
        }
    }
    findings
}

/// Runs `plumego check`.
pub fn run(args: CheckArgs) -> CmdResult {
    let project = util::canonical(&args.dir);
    if !project.is_dir() {
        return Err(Failure::error(format!(
            "{} is not a directory",
            project.display()
        )));
    }
    let findings = scan(&project);
    let count = |s: Severity| findings.iter().filter(|f| f.severity == s).count();
    let (errors, warnings, infos) = (
        count(Severity::Error),
        count(Severity::Warning),
        count(Severity::Info),
    );
    let (exit, status, message) = if errors > 0 {
        (
            Exit::Error,
            "unhealthy",
            format!(
                "{errors} error(s), {warnings} warning(s) in {}",
                project.display()
            ),
        )
    } else if warnings > 0 {
        (
            Exit::Warning,
            "degraded",
            format!("{warnings} warning(s) in {}", project.display()),
        )
    } else {
        (
            Exit::Ok,
            "healthy",
            format!("{} looks fine", project.display()),
        )
    };
    let mut text = String::new();
    for f in &findings {
        let at = match (&f.file, f.line) {
            (Some(file), Some(line)) => format!(" [{file}:{line}]"),
            (Some(file), None) => format!(" [{file}]"),
            _ => String::new(),
        };
        let sev = match f.severity {
            Severity::Info => "info",
            Severity::Warning => "warn",
            Severity::Error => "error",
        };
        text.push_str(&format!(
            "  {sev:5} {}: {}{at}\n        fix: {}\n",
            f.check, f.message, f.fix
        ));
    }
    Ok(Outcome::new(
        exit,
        message,
        json!({
            "status": status,
            "project": project.display().to_string(),
            "errors": errors,
            "warnings": warnings,
            "infos": infos,
            "findings": findings,
        }),
    )
    .text(text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_keys_need_a_value() {
        let text = "# c\nAPP_ADDR=:8080\nAPP_WRITE_KEY=\nJWT_SECRET=abc\nexport DB_PASSWORD=\"pw\" # note\nAPI_TOKEN=''\n";
        assert_eq!(
            secret_keys(text),
            vec![(4, "JWT_SECRET".to_owned()), (5, "DB_PASSWORD".to_owned())]
        );
    }

    #[test]
    fn globs() {
        assert!(glob(".env", ".env"));
        assert!(glob(".env*", ".env.local"));
        assert!(!glob(".env", ".env.local"));
        assert!(glob("*.env", "prod.env"));
    }
}
