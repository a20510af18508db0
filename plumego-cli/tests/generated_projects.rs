//! `plumego new` + `plumego generate` end to end: the generated code must
//! build and its tests must pass (`cargo test --offline`, reusing the
//! workspace's target directory so compiled dependencies are shared).
//!
//! Two compilations in total: the api project with a handler, a layer and a
//! resource added, and the minimal project.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{TempDir, plumego, workspace};

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join("target"))
}

fn cargo_test(project: &Path) {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| env!("CARGO").to_owned());
    let out = Command::new(cargo)
        .args(["test", "--offline"])
        .current_dir(project)
        .env("CARGO_TARGET_DIR", target_dir())
        .output()
        .expect("run cargo");
    assert!(
        out.status.success(),
        "cargo test --offline failed in {}:\n{}\n{}",
        project.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("test smoke ... ok") || stdout.contains("hello_and_health ... ok"),
        "{stdout}"
    );
}

#[test]
fn api_project_with_generated_code_builds_and_passes_its_tests() {
    let tmp = TempDir::new("api");
    // A fixed package name: later runs reuse (and replace) its artifacts in the shared target directory.
    let name = "plumego-cli-gen-api";
    let run = plumego(tmp.path(), &["new", name]);
    assert_eq!(run.code, 0, "{}", run.stdout);
    let project = tmp.path().join(name);
    assert_eq!(run.json["data"]["template"], "api");
    assert_eq!(
        run.json["data"]["plumego_path"],
        workspace().display().to_string()
    );
    for file in [
        "Cargo.toml",
        "src/main.rs",
        "src/config.rs",
        "src/app.rs",
        "src/handler/mod.rs",
        "src/handler/api.rs",
        "src/handler/health.rs",
        "src/domain/mod.rs",
        "tests/smoke.rs",
        ".env.example",
        "README.md",
    ] {
        assert!(project.join(file).is_file(), "{file} generated");
        assert!(
            run.json["data"]["files_created"]
                .as_array()
                .unwrap()
                .iter()
                .any(|f| f == file),
            "{file} listed"
        );
    }

    let dir = project.to_str().unwrap();
    let run = plumego(
        tmp.path(),
        &["generate", "handler", "UserProfile", "--dir", dir],
    );
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert_eq!(
        run.json["data"]["files"]["created"][0],
        "src/handler/user_profile.rs"
    );
    assert_eq!(
        run.json["data"]["files"]["updated"][0],
        "src/handler/mod.rs"
    );

    let run = plumego(&project, &["generate", "layer", "RequestAudit"]);
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert!(project.join("src/layer/request_audit.rs").is_file());
    assert!(
        std::fs::read_to_string(project.join("src/lib.rs"))
            .unwrap()
            .contains("pub mod layer;")
    );

    let run = plumego(&project, &["generate", "resource", "Order"]);
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert!(project.join("src/domain/order.rs").is_file());
    assert!(project.join("src/handler/orders.rs").is_file());
    assert!(
        std::fs::read_to_string(project.join("src/domain/mod.rs"))
            .unwrap()
            .contains("pub mod order;")
    );

    // A second layer goes into the existing layer module.
    let run = plumego(&project, &["generate", "layer", "Timing"]);
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert_eq!(run.json["data"]["files"]["updated"][0], "src/layer/mod.rs");

    // Nothing is overwritten: exit 3, files untouched.
    let before = std::fs::read_to_string(project.join("src/handler/user_profile.rs")).unwrap();
    let run = plumego(&project, &["generate", "handler", "user-profile"]);
    assert_eq!(run.code, 3, "{}", run.stdout);
    assert!(
        run.message()
            .contains("src/handler/user_profile.rs already exists"),
        "{}",
        run.message()
    );
    assert_eq!(
        std::fs::read_to_string(project.join("src/handler/user_profile.rs")).unwrap(),
        before
    );
    let run = plumego(&project, &["generate", "resource", "item"]);
    assert_eq!(
        run.code, 3,
        "the template's own item resource: {}",
        run.stdout
    );

    // A fresh project passes `check`.
    let run = plumego(&project, &["check"]);
    assert_eq!(run.code, 0, "{}", run.stdout);

    cargo_test(&project);
}

#[test]
fn minimal_project_builds_and_passes_its_test() {
    let tmp = TempDir::new("minimal");
    let name = "plumego-cli-gen-minimal";
    let dir = tmp.path().join("svc");
    let run = plumego(
        tmp.path(),
        &[
            "new",
            name,
            "--template",
            "minimal",
            "--dir",
            dir.to_str().unwrap(),
        ],
    );
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert!(dir.join("src/main.rs").is_file());
    assert!(!dir.join("src/app.rs").exists(), "minimal is a single file");
    // generate needs the canonical layout.
    let run = plumego(&dir, &["generate", "handler", "Report"]);
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert!(
        run.message().contains("not a canonical Plumego service"),
        "{}",
        run.message()
    );
    cargo_test(&dir);
}
