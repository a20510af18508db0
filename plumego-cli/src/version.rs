//! `plumego version`.

use serde_json::json;

use crate::output::{CmdResult, Outcome};
use crate::util;

/// Runs `plumego version`: the crate version, the git commit of the
/// workspace it was built from (when that checkout is still there) and the
/// rustc on PATH.
pub fn run() -> CmdResult {
    let version = env!("CARGO_PKG_VERSION");
    let workspace = util::build_workspace();
    let git_commit = workspace
        .is_dir()
        .then(|| util::capture("git", &["rev-parse", "--short", "HEAD"], Some(&workspace)))
        .flatten()
        .filter(|s| !s.is_empty());
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".to_owned());
    let rustc_version = util::capture(&rustc, &["--version"], None);
    let platform = format!("{}-{}", std::env::consts::OS, std::env::consts::ARCH);
    let text = format!(
        "version:    {version}\ngit commit: {}\nrustc:      {}\nplatform:   {platform}\n",
        git_commit.as_deref().unwrap_or("unknown"),
        rustc_version.as_deref().unwrap_or("unknown"),
    );
    Ok(Outcome::ok(
        format!("plumego {version}"),
        json!({
            "version": version,
            "git_commit": git_commit,
            "rustc": rustc_version,
            "platform": platform,
        }),
    )
    .text(text))
}
