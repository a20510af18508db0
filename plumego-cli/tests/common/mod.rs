//! Helpers: run the built `plumego` binary, temporary directories, fixture
//! repositories.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::Value;

/// What one run of the binary produced.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub json: Value,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn message(&self) -> &str {
        self.json["message"].as_str().unwrap_or("")
    }
}

/// Runs `plumego --format json <args>` in `dir` and parses the envelope.
pub fn plumego(dir: &Path, args: &[&str]) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_plumego"))
        .arg("--format")
        .arg("json")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run plumego");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let json: Value = serde_json::from_str(&stdout).unwrap_or_else(|e| {
        panic!(
            "plumego {args:?}: stdout is not a JSON envelope ({e}):\n{stdout}\nstderr:\n{stderr}"
        )
    });
    let code = out.status.code().expect("exit code");
    assert_eq!(
        json["exit_code"], code,
        "envelope exit_code matches the process: {stdout}"
    );
    let status = json["status"].as_str().unwrap_or_default();
    let expected = match code {
        0 => "success",
        2 => "warning",
        _ => "error",
    };
    assert_eq!(
        status, expected,
        "status matches exit code {code}: {stdout}"
    );
    assert!(json.get("data").is_some(), "envelope has data: {stdout}");
    Run {
        code,
        json,
        stdout,
        stderr,
    }
}

/// Runs the binary with raw arguments (no `--format`).
pub fn plumego_raw(dir: &Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_plumego"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run plumego");
    (
        out.status.code().expect("exit code"),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A directory removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(name: &str) -> Self {
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "plumego-cli-{}-{}-{name}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create temp dir");
        Self(std::fs::canonicalize(&dir).expect("canonical temp dir"))
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub fn write(path: &Path, text: &str) {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).expect("mkdir");
    }
    std::fs::write(path, text).expect("write");
}

/// The workspace this test crate belongs to.
pub fn workspace() -> PathBuf {
    std::fs::canonicalize(Path::new(env!("CARGO_MANIFEST_DIR")).join("..")).expect("workspace")
}

/// A small repository with a control plane: a workspace of two crates,
/// `alpha` (test command `true`) and `beta` (test command `false`), specs,
/// one recipe and both manifests.
pub fn control_plane_fixture(dir: &Path) {
    write(
        &dir.join("Cargo.toml"),
        "[workspace]\nmembers = [\"alpha\", \"beta\"]\nresolver = \"3\"\n",
    );
    for name in ["alpha", "beta"] {
        write(
            &dir.join(name).join("Cargo.toml"),
            &format!("[package]\nname = \"{name}\"\nversion = \"0.1.0\"\nedition = \"2024\"\n"),
        );
        write(&dir.join(name).join("src/lib.rs"), "//! Fixture.\n");
        let test = if name == "alpha" { "true" } else { "false" };
        write(
            &dir.join(name).join("module.yaml"),
            &format!(
                "name: {name}\npath: {name}\nlayer: stable\nstatus: ga\nowner: runtime\nrisk: high\nsummary: The {name} crate.\nresponsibilities: [things]\nnon_goals: [other things]\npublic_entrypoints: [{name}::X]\nallowed_imports: []\nforbidden_imports: [axum]\ntest_commands: [{test}]\nagent_hints: [Keep {name} small.]\nreview_checklist: [Tests pass.]\nlanding_zones:\n  handlers: src/\n"
            ),
        );
    }
    write(
        &dir.join("specs/repo.yaml"),
        "version: 1\nrepo:\n  name: fixture\n  mode: agent-first\n  goals: [test]\ncanonical_authority: {}\nlayers:\n  stable:\n    description: Stable crates.\n    compatibility: semver\n    crates:\n      - name: alpha\n        path: alpha\n      - name: beta\n        path: beta\n",
    );
    write(
        &dir.join("specs/task-routing.yaml"),
        "version: 1\ncontext_policy:\n  initial_package: startup\n  packages:\n    startup: [specs/repo.yaml]\nsplit_before_implementation_when: [too big]\ntasks:\n  http_endpoint:\n    intent: Add an endpoint.\n    context_package: startup\n    start_with: [alpha/src/]\n    recipe: add-http-endpoint\n  control_plane:\n    intent: Change the specs.\n    context_package: startup\n    start_with: [specs/]\n",
    );
    write(
        &dir.join("specs/dependency-rules.yaml"),
        "version: 1\nlayer_dependencies:\n  stable: [stable]\nforbidden_dependencies: []\nextension_families: {}\n",
    );
    write(
        &dir.join("specs/change-recipes/add-http-endpoint.yaml"),
        "name: add-http-endpoint\nscope: One endpoint.\napplies_to: [stable]\nsteps:\n  - Add the handler.\n  - Add one route line.\nstop_conditions:\n  - Do not hide dependencies.\nvalidation:\n  - cargo test -p alpha\n",
    );
}
