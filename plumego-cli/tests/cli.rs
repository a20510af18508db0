//! The fast end-to-end tests: `new` refusals, `check`, `doctor`,
//! `version`, `agents route|validate-diff`, usage errors and output formats.

mod common;

use std::process::Command;

use common::{TempDir, control_plane_fixture, plumego, plumego_raw, write};

#[test]
fn new_refuses_unknown_families_taken_dirs_and_bad_names() {
    let tmp = TempDir::new("new-refuse");
    for t in ["rest", "gateway", "realtime"] {
        let run = plumego(tmp.path(), &["new", "svc", "--template", t]);
        assert_eq!(run.code, 1, "{t}: {}", run.stdout);
        assert!(
            run.message().contains("extension family") && run.message().contains("does not exist"),
            "{}",
            run.message()
        );
        assert!(!tmp.path().join("svc").exists(), "nothing written for {t}");
    }

    write(&tmp.path().join("taken/file.txt"), "x");
    let run = plumego(tmp.path(), &["new", "svc", "--dir", "taken"]);
    assert_eq!(run.code, 3, "{}", run.stdout);
    assert!(
        run.message().contains("already exists"),
        "{}",
        run.message()
    );

    // An existing empty directory is fine (dry run: nothing written).
    std::fs::create_dir_all(tmp.path().join("empty")).unwrap();
    let run = plumego(tmp.path(), &["new", "svc", "--dir", "empty", "--dry-run"]);
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert_eq!(
        run.json["data"]["files_created"].as_array().unwrap().len(),
        0
    );
    assert!(run.json["data"]["files_planned"].as_array().unwrap().len() >= 11);
    assert_eq!(
        std::fs::read_dir(tmp.path().join("empty")).unwrap().count(),
        0
    );

    for bad in ["Svc", "1svc", "my svc", "plumego", "fn"] {
        let run = plumego(tmp.path(), &["new", bad]);
        assert_eq!(run.code, 1, "{bad}: {}", run.stdout);
        assert!(
            run.message().contains("invalid project name"),
            "{}",
            run.message()
        );
    }

    // A --plumego-path that is not the plumego crate still scaffolds, with a warning.
    let run = plumego(
        tmp.path(),
        &["new", "svc", "--plumego-path", tmp.path().to_str().unwrap()],
    );
    assert_eq!(run.code, 2, "{}", run.stdout);
    assert!(tmp.path().join("svc/Cargo.toml").is_file());
    let manifest = std::fs::read_to_string(tmp.path().join("svc/Cargo.toml")).unwrap();
    assert!(
        manifest.contains(&format!(
            "plumego = {{ path = \"{}\" }}",
            tmp.path().display()
        )),
        "{manifest}"
    );
}

#[test]
fn generate_refuses_outside_a_project_and_bad_names() {
    let tmp = TempDir::new("gen-refuse");
    let run = plumego(tmp.path(), &["generate", "handler", "Report"]);
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert!(
        run.message().contains("Cargo.toml is missing"),
        "{}",
        run.message()
    );
    let run = plumego(tmp.path(), &["generate", "handler", "bad/name"]);
    assert_eq!(run.code, 1);
    assert!(run.message().contains("invalid name"), "{}", run.message());
    let run = plumego(tmp.path(), &["generate", "resource", "Api"]);
    assert_eq!(run.code, 1);
    assert!(
        run.message().contains("`ApiError` would clash"),
        "{}",
        run.message()
    );
    let run = plumego(tmp.path(), &["generate", "widget", "X"]);
    assert_eq!(run.code, 1, "usage error: {}", run.stdout);
}

#[test]
fn check_reports_layout_and_secrets() {
    let tmp = TempDir::new("check");
    // Not a project at all: errors.
    let run = plumego(tmp.path(), &["check"]);
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert_eq!(run.json["data"]["status"], "unhealthy");

    // A fresh canonical project is healthy.
    assert_eq!(plumego(tmp.path(), &["new", "svc"]).code, 0);
    let svc = tmp.path().join("svc");
    let run = plumego(&svc, &["check"]);
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert_eq!(run.json["data"]["status"], "healthy");

    // A secret in a git-ignored .env is only info.
    write(&svc.join(".env"), "APP_ADDR=:9000\nAPI_TOKEN=abc123\n");
    let run = plumego(&svc, &["check"]);
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert_eq!(run.json["data"]["infos"], 1);

    // A secret in a committed file is a warning, and the value is never shown.
    write(
        &svc.join(".env.example"),
        "APP_ADDR=:8080\nJWT_SECRET=hunter2\nAPP_WRITE_KEY=\n",
    );
    let run = plumego(&svc, &["check"]);
    assert_eq!(run.code, 2, "{}", run.stdout);
    assert!(!run.stdout.contains("hunter2"));
    let findings = run.json["data"]["findings"].as_array().unwrap();
    assert!(
        findings
            .iter()
            .any(|f| f["severity"] == "warning" && f["file"] == ".env.example" && f["line"] == 2),
        "{}",
        run.stdout
    );

    // .env not ignored: warning for the file itself too.
    write(&svc.join(".env.example"), "APP_ADDR=:8080\n");
    std::fs::remove_file(svc.join(".gitignore")).unwrap();
    let run = plumego(&svc, &["check"]);
    assert_eq!(run.code, 2, "{}", run.stdout);
    let messages = run.json["data"]["findings"].to_string();
    assert!(
        messages.contains(".env is present but not git-ignored"),
        "{messages}"
    );
    assert!(messages.contains("API_TOKEN looks secret"), "{messages}");

    // Missing canonical files are warnings.
    std::fs::remove_file(svc.join("src/app.rs")).unwrap();
    write(&svc.join(".gitignore"), ".env\n");
    std::fs::remove_file(svc.join(".env")).unwrap();
    let run = plumego(&svc, &["check", "--dir", "."]);
    assert_eq!(run.code, 2, "{}", run.stdout);
    assert!(
        run.json["data"]["findings"]
            .to_string()
            .contains("src/app.rs is missing"),
        "{}",
        run.stdout
    );
}

#[test]
fn doctor_checks_specs_and_manifests() {
    let tmp = TempDir::new("doctor");
    control_plane_fixture(tmp.path());
    let run = plumego(tmp.path(), &["doctor"]);
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert_eq!(run.json["data"]["status"], "ready");
    assert_eq!(run.json["data"]["warned"], 0);
    assert_eq!(run.json["data"]["crates"].as_array().unwrap().len(), 2);

    // From a subdirectory, the workspace root is found.
    let run = plumego(&tmp.path().join("alpha/src"), &["doctor"]);
    assert_eq!(run.code, 0, "{}", run.stdout);

    // A missing manifest, a broken spec and a task naming a missing recipe: warnings.
    std::fs::remove_file(tmp.path().join("beta/module.yaml")).unwrap();
    write(
        &tmp.path().join("specs/dependency-rules.yaml"),
        "version: 1\nlayer_dependencies: [oops\n",
    );
    let routing = std::fs::read_to_string(tmp.path().join("specs/task-routing.yaml")).unwrap();
    write(
        &tmp.path().join("specs/task-routing.yaml"),
        &format!(
            "{routing}  ghost:\n    intent: Nothing.\n    context_package: startup\n    start_with: [beta/]\n    recipe: no-such-recipe\n"
        ),
    );
    let run = plumego(
        tmp.path(),
        &["doctor", "--root", tmp.path().to_str().unwrap()],
    );
    assert_eq!(run.code, 2, "{}", run.stdout);
    assert_eq!(run.json["data"]["status"], "partial");
    let checks = run.json["data"]["checks"].to_string();
    assert!(checks.contains("beta/module.yaml is missing"), "{checks}");
    assert!(
        checks.contains("specs/dependency-rules.yaml: invalid"),
        "{checks}"
    );
    assert!(checks.contains("no-such-recipe"), "{checks}");

    // No specs at all.
    std::fs::remove_dir_all(tmp.path().join("specs")).unwrap();
    let run = plumego(tmp.path(), &["doctor"]);
    assert_eq!(run.code, 2, "{}", run.stdout);
    assert!(
        run.json["data"]["checks"]
            .to_string()
            .contains("specs/repo.yaml is missing")
    );
}

#[test]
fn doctor_on_this_repository_answers() {
    // The real control plane is still being written: only the contract is checked.
    let run = plumego(&common::workspace(), &["doctor"]);
    assert!(run.code == 0 || run.code == 2, "{}", run.stdout);
    assert!(
        run.json["data"]["crates"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["name"] == "plumego-cli")
    );
}

#[test]
fn agents_route_maps_a_file_to_its_module_task_and_recipe() {
    let tmp = TempDir::new("route");
    control_plane_fixture(tmp.path());
    let run = plumego(
        tmp.path(),
        &["agents", "route", "--path", "alpha/src/handlers.rs"],
    );
    assert_eq!(run.code, 0, "{}", run.stdout);
    let data = &run.json["data"];
    assert_eq!(data["path"], "alpha/src/handlers.rs");
    assert_eq!(data["module"]["name"], "alpha");
    assert_eq!(data["module"]["risk"], "high");
    assert_eq!(data["test_commands"][0], "true");
    assert_eq!(data["rules"]["forbidden_imports"][0], "axum");
    assert_eq!(data["landing_zones"]["handlers"], "src/");
    assert_eq!(data["task"]["task"], "http_endpoint");
    assert_eq!(data["recipe"]["name"], "add-http-endpoint");
    assert_eq!(data["recipe"]["steps"].as_array().unwrap().len(), 2);

    // Absolute paths and --task work; beta has no matching task: still its module.
    let abs = tmp.path().join("beta/src/lib.rs");
    let run = plumego(
        tmp.path(),
        &[
            "agents",
            "route",
            "--path",
            abs.to_str().unwrap(),
            "--task",
            "http_endpoint",
        ],
    );
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert_eq!(run.json["data"]["module"]["name"], "beta");
    assert_eq!(run.json["data"]["recipe"]["name"], "add-http-endpoint");

    // Spec files belong to no crate: a warning, with the control-plane task.
    let run = plumego(
        tmp.path(),
        &["agents", "route", "--path", "specs/repo.yaml"],
    );
    assert_eq!(run.code, 2, "{}", run.stdout);
    assert_eq!(run.json["data"]["task"]["task"], "control_plane");
    assert!(run.json["data"]["module"].is_null());

    let run = plumego(
        tmp.path(),
        &[
            "agents",
            "route",
            "--path",
            "alpha/src/lib.rs",
            "--task",
            "nope",
        ],
    );
    assert_eq!(run.code, 1);
    assert!(run.message().contains("unknown task"), "{}", run.message());

    let run = plumego(tmp.path(), &["agents", "route", "--path", "/etc/passwd"]);
    assert_eq!(run.code, 1);
    assert!(
        run.message().contains("not a file inside the repository"),
        "{}",
        run.message()
    );
}

fn git(dir: &std::path::Path, args: &[&str]) {
    let status = Command::new("git")
        .args(args)
        .current_dir(dir)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .expect("git");
    assert!(status.success(), "git {args:?}");
}

#[test]
fn agents_validate_diff_runs_the_touched_modules_tests() {
    let tmp = TempDir::new("validate-diff");
    control_plane_fixture(tmp.path());
    git(tmp.path(), &["init", "-q"]);
    // Staged (diff against the empty tree: no commit yet) and untracked files both count.
    git(tmp.path(), &["add", "alpha"]);

    let run = plumego(tmp.path(), &["agents", "validate-diff", "--dry-run"]);
    assert_eq!(run.code, 0, "{}", run.stdout);
    let data = &run.json["data"];
    let commands = data["commands"].as_array().unwrap();
    assert_eq!(commands.len(), 2, "{}", run.stdout);
    assert!(commands.iter().all(|c| c["status"] == "planned"));
    assert!(
        data["changed_files"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f == "alpha/src/lib.rs")
    );
    assert!(
        data["changed_files"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f == "beta/module.yaml")
    );
    assert!(
        data["unowned_files"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f == "specs/repo.yaml")
    );

    // alpha's `true` passes, beta's `false` fails: exit 1.
    let run = plumego(tmp.path(), &["agents", "validate-diff"]);
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert_eq!(run.json["data"]["passed"], 1);
    assert_eq!(run.json["data"]["failed"], 1);
    let commands = run.json["data"]["commands"].as_array().unwrap();
    assert!(
        commands
            .iter()
            .any(|c| c["module"] == "alpha" && c["status"] == "pass")
    );
    assert!(
        commands
            .iter()
            .any(|c| c["module"] == "beta" && c["status"] == "fail")
    );

    // Only alpha touched: all green.
    std::fs::remove_dir_all(tmp.path().join("beta")).unwrap();
    write(
        &tmp.path().join("Cargo.toml"),
        "[workspace]\nmembers = [\"alpha\"]\nresolver = \"3\"\n",
    );
    let run = plumego(
        tmp.path(),
        &[
            "agents",
            "validate-diff",
            "--base",
            "4b825dc642cb6eb9a060e54bf8d69288fbee4904",
        ],
    );
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert_eq!(run.json["data"]["passed"], 1);

    let run = plumego(
        tmp.path(),
        &["agents", "validate-diff", "--base", "no-such-rev"],
    );
    assert_eq!(run.code, 1);
    assert!(run.message().contains("git diff"), "{}", run.message());
}

#[test]
fn version_reports_the_build() {
    let tmp = TempDir::new("version");
    let run = plumego(tmp.path(), &["version"]);
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert_eq!(run.json["data"]["version"], env!("CARGO_PKG_VERSION"));
    assert!(
        run.json["data"]["rustc"]
            .as_str()
            .is_some_and(|r| r.starts_with("rustc ")),
        "{}",
        run.stdout
    );
    assert!(run.json["data"].get("git_commit").is_some());
}

#[test]
fn formats_and_usage_errors() {
    let tmp = TempDir::new("formats");
    // YAML envelope.
    let (code, stdout, _) = plumego_raw(tmp.path(), &["version", "--format", "yaml"]);
    assert_eq!(code, 0);
    let yaml: serde_json::Value = serde_yaml_ng::from_str(&stdout).expect("YAML envelope");
    assert_eq!(yaml["status"], "success");
    // Text by default.
    let (code, stdout, _) = plumego_raw(tmp.path(), &["version"]);
    assert_eq!(code, 0);
    assert!(stdout.starts_with("plumego "), "{stdout}");
    // Usage errors are exit 1, as an envelope when JSON was asked for.
    let run = plumego(tmp.path(), &["inspect", "nothing"]);
    assert_eq!(run.code, 1, "{}", run.stdout);
    let (code, _, stderr) = plumego_raw(tmp.path(), &["frobnicate"]);
    assert_eq!(code, 1);
    assert!(stderr.contains("frobnicate"), "{stderr}");
    let (code, stdout, _) = plumego_raw(tmp.path(), &["--help"]);
    assert_eq!(code, 0);
    assert!(stdout.contains("Exit codes"), "{stdout}");
}
