//! Each gate check against a fixture that must fail it (and, where useful, a
//! variant that must pass). Fixtures live in `tests/fixtures/` and are copied
//! to temp dirs before use, so nothing is written inside the repository.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use xtask::api;
use xtask::families::check_family_imports;
use xtask::layout::check_reference_layout;
use xtask::manifests::check_manifests;
use xtask::posture;
use xtask::report::CheckReport;
use xtask::spec::{self, BetaEvidence, DependencyRules, FamilyRules, RepoSpec};
use xtask::util::{copy_dir, repo_root, temp_dir};
use xtask::workspace::Workspace;
use xtask::{deps, gates};

fn fixture(name: &str) -> PathBuf {
    let src = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    let dst = temp_dir(name);
    copy_dir(&src, &dst).expect("copy fixture");
    dst
}

fn real_spec<T: serde::de::DeserializeOwned>(rel: &str) -> T {
    spec::load_yaml(&repo_root(), rel).unwrap()
}

fn assert_mentions(report: &CheckReport, needles: &[&str]) {
    for n in needles {
        assert!(
            report.mentions(n),
            "expected a violation mentioning {n:?}, got:\n{report}"
        );
    }
}

// (c) deps: crate level -------------------------------------------------------

#[test]
fn deps_fails_when_a_stable_crate_depends_on_plumego_x() {
    let root = fixture("deps-workspace");
    let ws = Workspace::load(&root).unwrap();
    let repo: RepoSpec = real_spec(spec::REPO_SPEC);
    let rules: DependencyRules = real_spec(spec::DEPENDENCY_RULES);
    let report = deps::check_crate_dependencies(&ws, &repo, &rules, &BTreeMap::new());
    assert!(!report.is_ok());
    assert_mentions(
        &report,
        &[
            // The layer DAG and the forbidden list both catch it.
            "plumego-core (stable) depends on plumego-x (extension) in [dependencies]",
            "plumego-core (stable) depends on forbidden crate plumego-x in [dependencies]",
            // axum reached through a helper crate.
            "plumego-layers (stable) depends on forbidden crate axum through plumego-layers → helper → axum",
        ],
    );
    // plumego-router reaches plumego-x through plumego-core...
    assert_mentions(
        &report,
        &[
            "plumego-router (stable) depends on forbidden crate plumego-x through plumego-router → plumego-core → plumego-x",
        ],
    );
    // ...but its axum dev-dependency is fine.
    assert!(
        !report.mentions("plumego-router (stable) depends on forbidden crate axum"),
        "dev-dependencies must be exempt:\n{report}"
    );
    assert_eq!(report.violations.len(), 4, "{report}");
    let text = report.to_string();
    assert!(text.starts_with("deps check failed: "), "{text}");
    assert!(text.contains("   FIX: ") && text.contains("   RULE: specs/dependency-rules.yaml"));
}

#[test]
fn deps_enforces_manifest_import_lists() {
    let root = fixture("deps-workspace");
    let ws = Workspace::load(&root).unwrap();
    let repo: RepoSpec = real_spec(spec::REPO_SPEC);
    let rules: DependencyRules = real_spec(spec::DEPENDENCY_RULES);
    let router: xtask::manifest::ModuleManifest = spec::parse_yaml(
        "plumego-router/module.yaml",
        &std::fs::read_to_string(repo_root().join("plumego-router/module.yaml"))
            .unwrap()
            .replace(
                "  - plumego-core\nforbidden_imports:",
                "  - plumego-x\nforbidden_imports:\n  - plumego-c*",
            ),
    )
    .unwrap();
    let manifests = BTreeMap::from([("plumego-router".to_owned(), router)]);
    let report = deps::check_crate_dependencies(&ws, &repo, &rules, &manifests);
    assert_mentions(
        &report,
        &[
            "plumego-router depends on workspace crate plumego-core but plumego-router/module.yaml does not allow it",
            "plumego-router depends on plumego-core in [dependencies], forbidden by `plumego-c*`",
        ],
    );
}

// (c) deps: family level ------------------------------------------------------

#[test]
fn deps_fails_when_a_family_imports_another() {
    let root = fixture("families");
    let src = root.join("plumego-x/src");
    let report = check_family_imports(&src, &root, &FamilyRules::default(), None);
    assert_mentions(
        &report,
        &[
            "plumego-x/src/auth/mod.rs:3: family `auth` imports family `cache`",
            "plumego-x/src/auth/jwt.rs:2: family `auth` imports family `cache`",
        ],
    );
    // Comments, strings, self-references and shared modules are not imports.
    assert!(!report.mentions("imports family `metrics`"), "{report}");
    assert!(!report.mentions("family `metrics` imports"), "{report}");
    assert_eq!(report.violations.len(), 2, "{report}");

    // Allowed in dependency-rules.yaml: passes.
    let rules: FamilyRules =
        spec::parse_yaml("rules", "allowed_imports:\n  auth:\n    - cache\n").unwrap();
    assert!(check_family_imports(&src, &root, &rules, None).is_ok());

    // Every family needs a cargo feature; stale rule entries are reported.
    let features = BTreeSet::from(["auth".to_owned(), "cache".to_owned()]);
    let stale: FamilyRules = spec::parse_yaml(
        "rules",
        "allowed_imports:\n  auth:\n    - cache\n    - gone\n",
    )
    .unwrap();
    let report = check_family_imports(&src, &root, &stale, Some(&features));
    assert_mentions(
        &report,
        &[
            "plumego-x family `metrics` has no cargo feature `metrics`",
            "extension_families names unknown family `gone`",
        ],
    );
}

#[test]
fn real_dependency_rules_allow_no_family_import() {
    let rules: DependencyRules = real_spec(spec::DEPENDENCY_RULES);
    let root = fixture("families");
    let report = check_family_imports(
        &root.join("plumego-x/src"),
        &root,
        &rules.extension_families,
        None,
    );
    assert!(
        report.mentions("family `auth` imports family `cache`"),
        "{report}"
    );
}

// (d) manifests ------------------------------------------------------------------

#[test]
fn manifests_fail_on_missing_entrypoint_missing_manifest_and_orphan() {
    let root = fixture("manifests-workspace");
    let ws = Workspace::load(&root).unwrap();
    let repo: RepoSpec = spec::load_yaml(&root, spec::REPO_SPEC).unwrap();
    let report = check_manifests(&root, &ws, &repo);
    assert_mentions(
        &report,
        &[
            "plumego-core/module.yaml: public entrypoint `plumego_core::server::Missing` does not exist",
            "crate plumego-router has no manifest: plumego-router/module.yaml is missing",
            "ghost/module.yaml: describes no workspace crate",
        ],
    );
    // Re-exported, nested and associated entrypoints resolve.
    for ok in [
        "`plumego_core::Body`",
        "`plumego_core::server::Server`",
        "`plumego_core::server::Server::run`",
    ] {
        assert!(!report.mentions(ok), "{ok} should resolve:\n{report}");
    }
    assert_eq!(report.violations.len(), 3, "{report}");
}

#[test]
fn manifests_fail_on_schema_and_fact_mismatches() {
    let root = fixture("manifests-workspace");
    let ws = Workspace::load(&root).unwrap();
    let repo: RepoSpec = spec::load_yaml(&root, spec::REPO_SPEC).unwrap();
    let path = root.join("plumego-core/module.yaml");
    let text = std::fs::read_to_string(&path).unwrap();
    let broken = text
        .replace("status: ga", "status: beta")
        .replace("path: plumego-core", "path: core")
        .replace(
            "test_commands:\n  - cargo test -p plumego-core",
            "test_commands: []",
        );
    std::fs::write(&path, broken).unwrap();
    let report = check_manifests(&root, &ws, &repo);
    assert_mentions(
        &report,
        &[
            "stable crate plumego-core has status `beta`",
            "path `core` differs from the crate directory `plumego-core`",
            "`test_commands` has 0 entries",
        ],
    );

    // Unknown keys are parse errors, not silently ignored.
    std::fs::write(&path, format!("{text}colour: blue\n")).unwrap();
    let report = check_manifests(&root, &ws, &repo);
    assert_mentions(&report, &["unknown field `colour`"]);
}

// (e) reference layout -----------------------------------------------------------------

fn layout_root(status: &str) -> PathBuf {
    let root = fixture("layout");
    std::fs::create_dir_all(root.join("specs")).unwrap();
    std::fs::copy(
        repo_root().join(spec::REPO_SPEC),
        root.join(spec::REPO_SPEC),
    )
    .unwrap();
    let m = root.join("reference-service/module.yaml");
    let text = std::fs::read_to_string(&m).unwrap();
    std::fs::write(
        &m,
        text.replace("status: beta", &format!("status: {status}")),
    )
    .unwrap();
    root
}

#[test]
fn layout_fails_for_a_non_experimental_reference_missing_paths() {
    let root = layout_root("beta");
    let repo: RepoSpec = spec::load_yaml(&root, spec::REPO_SPEC).unwrap();
    let report = check_reference_layout(&root, &repo);
    assert_mentions(
        &report,
        &[
            "`reference-service/src/config.rs` is missing",
            "`reference-service/src/app.rs` is missing",
            "`reference-service/src/handler/` is missing",
            "`reference-service/src/domain/` is missing",
        ],
    );
    assert!(!report.mentions("src/main.rs"), "{report}");

    // A directory where a file is required (or the reverse) does not count.
    std::fs::create_dir_all(root.join("reference-service/src/config.rs")).unwrap();
    let report = check_reference_layout(&root, &repo);
    assert!(report.mentions("src/config.rs"), "{report}");
}

#[test]
fn layout_is_reported_not_enforced_while_experimental() {
    let root = layout_root("experimental");
    let repo: RepoSpec = spec::load_yaml(&root, spec::REPO_SPEC).unwrap();
    let report = check_reference_layout(&root, &repo);
    assert!(report.is_ok(), "{report}");
    assert!(
        report
            .notes
            .iter()
            .any(|n| n.contains("not enforced") && n.contains("src/app.rs")),
        "{:?}",
        report.notes
    );
    // Complete layout: passes with no note, whatever the status.
    let root = layout_root("ga");
    for d in ["src/handler", "src/domain"] {
        std::fs::create_dir_all(root.join("reference-service").join(d)).unwrap();
    }
    for f in ["src/config.rs", "src/app.rs"] {
        std::fs::write(root.join("reference-service").join(f), "").unwrap();
    }
    let report = check_reference_layout(&root, &repo);
    assert!(report.is_ok() && report.notes.is_empty(), "{report}");
}

// (f) API snapshots -----------------------------------------------------------------

/// Runs rustdoc's JSON backend on a fixture file (no cargo involved).
fn rustdoc_lines(version: &str) -> Vec<String> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/api")
        .join(version)
        .join("lib.rs");
    let out = temp_dir(&format!("rustdoc-{version}"));
    let rustdoc = std::env::var("RUSTDOC").unwrap_or_else(|_| "rustdoc".to_owned());
    let status = Command::new(rustdoc)
        .env("RUSTC_BOOTSTRAP", "1")
        .args([
            "--edition",
            "2024",
            "--crate-type",
            "lib",
            "--crate-name",
            "demo",
        ])
        .args(["-Z", "unstable-options", "--output-format", "json", "-o"])
        .arg(&out)
        .arg(&src)
        .status()
        .expect("run rustdoc");
    assert!(status.success());
    let text = std::fs::read_to_string(out.join("demo.json")).unwrap();
    api::snapshot_lines(&api::parse_rustdoc_json(&text).unwrap())
}

#[test]
fn snapshot_lines_follow_public_paths_and_signatures() {
    let lines = rustdoc_lines("v1");
    for expected in [
        "mod demo",
        "mod demo::server",
        "struct demo::server::Server { .. }",
        "field demo::server::Server::port : u16",
        "method demo::server::Server::new fn(u16) -> Self",
        "method demo::server::Server::bind fn(&self) -> Result<(), String>",
        "fn demo::server::shutdown_signal fn()",
        // Re-exported from a private module: listed at its public path only.
        "enum demo::Mode",
        "variant demo::Mode::Safe (u8)",
        "impl demo::Mode impl Clone for demo::Mode",
        "impl demo::Mode Send",
        "re-export demo::Shared = alloc::sync::Arc",
        "trait_fn demo::Handler::handle fn(&self, &str) -> String",
    ] {
        assert!(
            lines.iter().any(|l| l == expected),
            "missing {expected:?} in:\n{}",
            lines.join("\n")
        );
    }
    assert!(
        !lines.iter().any(|l| l.contains("private")),
        "{}",
        lines.join("\n")
    );
    assert!(
        !lines.iter().any(|l| l.contains("secret")),
        "{}",
        lines.join("\n")
    );
}

#[test]
fn api_gate_fails_on_a_changed_snapshot() {
    let (v1, v2) = (rustdoc_lines("v1"), rustdoc_lines("v2"));
    let root = temp_dir("api-root");
    std::fs::create_dir_all(root.join(api::SNAPSHOT_DIR)).unwrap();
    std::fs::write(
        root.join(api::snapshot_path("demo")),
        api::render_snapshot("demo", &v1),
    )
    .unwrap();

    // Unchanged API: passes.
    let same = BTreeMap::from([("demo".to_owned(), v1.clone())]);
    let report = api::check_snapshots(&root, &same);
    assert!(report.is_ok() && report.notes.is_empty(), "{report}");

    // v2 removes one item, changes one signature, adds two items.
    let changed = BTreeMap::from([("demo".to_owned(), v2.clone())]);
    let report = api::check_snapshots(&root, &changed);
    assert_mentions(
        &report,
        &[
            "demo: public item removed: fn demo::server::shutdown_signal fn()",
            "demo: public item changed:\n     - method demo::server::Server::bind fn(&self) -> Result<(), String>\n     + method demo::server::Server::bind fn(&self, u32) -> Result<(), String>",
        ],
    );
    assert_eq!(report.violations.len(), 2, "{report}");
    // Additions are compatible: reported, not failing.
    assert!(
        report
            .notes
            .iter()
            .any(|n| n.contains("method demo::server::Server::stop"))
    );
    assert!(
        report
            .notes
            .iter()
            .any(|n| n.contains("variant demo::Mode::Slow"))
    );

    // Additions alone pass.
    let d = api::diff(&v1, &v2);
    assert!(!d.is_compatible() && !d.is_empty());
    let added_only: Vec<String> = v1
        .iter()
        .cloned()
        .chain(["fn demo::extra fn()".to_owned()])
        .collect();
    assert!(api::diff(&v1, &added_only).is_compatible());

    // A missing committed snapshot fails.
    let other = BTreeMap::from([("other".to_owned(), v1)]);
    assert_mentions(
        &api::check_snapshots(&root, &other),
        &["other: no committed API snapshot at docs/api-snapshots/other.txt"],
    );
}

// (g) posture -------------------------------------------------------------------------

#[test]
fn posture_fails_when_the_committed_file_is_stale() {
    let real = repo_root();
    let inputs = gates::load_posture_inputs(&real).unwrap();
    let expected = gates::render_posture(&inputs);
    let root = temp_dir("posture");
    std::fs::create_dir_all(root.join("docs")).unwrap();

    assert!(
        posture::check_posture_file(&root, &expected).mentions("release-posture.md is missing")
    );

    std::fs::write(root.join(posture::POSTURE_DOC), &expected).unwrap();
    assert!(posture::check_posture_file(&root, &expected).is_ok());

    // A manifest status changed but the document was not regenerated.
    let stale = expected.replace(
        "| `plumego-x` | `plumego-x` | extension | experimental",
        "| `plumego-x` | `plumego-x` | extension | beta",
    );
    assert_ne!(stale, expected);
    std::fs::write(root.join(posture::POSTURE_DOC), &stale).unwrap();
    assert_mentions(
        &posture::check_posture_file(&root, &expected),
        &["docs/release-posture.md is stale"],
    );

    // The rendering follows the manifests: a status change moves the crate.
    let mut inputs = inputs;
    inputs.manifests.get_mut("plumego-x").unwrap().status = xtask::spec::Status::Beta;
    let moved = gates::render_posture(&inputs);
    assert_ne!(moved, expected);
    assert!(moved.contains("| Extension crate | beta |"));
}

#[test]
fn ledger_fails_on_inconsistent_evidence() {
    let root = temp_dir("ledger");
    std::fs::create_dir_all(root.join("docs/api-snapshots/x")).unwrap();
    std::fs::write(root.join("docs/policy.md"), "policy").unwrap();
    std::fs::write(root.join("docs/api-snapshots/x/auth-1.txt"), "").unwrap();
    let ledger: BetaEvidence = spec::parse_yaml(
        "ledger",
        r#"
version: 1
promotion_target: beta
policy: docs/policy.md
required_evidence:
  release_refs: 2
  api_snapshots: 2
  owner_signoff_values: [signed, complete, approved]
families:
  - family: auth
    owner: security
    current_status: beta
    release_refs: [v0.1.0]
    api_snapshots:
      - docs/api-snapshots/x/auth-1.txt
      - docs/api-snapshots/x/auth-2.txt
    owner_signoff: pending
    blockers: [owner_signoff_missing]
  - family: ghost
    owner: nobody
    current_status: experimental
    owner_signoff: missing
    blockers: [release_history_missing, api_snapshot_missing, owner_signoff_missing]
"#,
    )
    .unwrap();
    let families = vec!["auth".to_owned()];
    let report = posture::check_ledger(&root, &ledger, &families, None, false);
    assert_mentions(
        &report,
        &[
            "family `auth`: blockers [owner_signoff_missing] but the evidence gives [release_history_missing, api_snapshot_missing, owner_signoff_missing]",
            "family `auth` claims `beta` with open blockers",
            "family `auth`: api snapshot `docs/api-snapshots/x/auth-2.txt` does not exist",
            "family `ghost` has no directory plumego-x/src/ghost/",
        ],
    );
    // The ghost entry's blockers are right: no blocker violation for it.
    assert!(!report.mentions("family `ghost`: blockers"), "{report}");

    // Unknown blockers or keys are schema errors.
    let bad = spec::parse_yaml::<BetaEvidence>(
        "ledger",
        "version: 1\npromotion_target: beta\npolicy: p\nrequired_evidence: {release_refs: 2, api_snapshots: 2, owner_signoff_values: []}\nfamilies:\n  - {family: a, owner: o, current_status: beta, owner_signoff: s, blockers: [bogus]}\n",
    );
    assert!(bad.is_err());
}

// (a) fmt: the command gates report a failing cargo command ------------------------------

#[test]
fn fmt_gate_fails_on_unformatted_code() {
    let root = temp_dir("fmt");
    std::fs::create_dir_all(root.join("src")).unwrap();
    std::fs::write(
        root.join("Cargo.toml"),
        "[package]\nname = \"fmt-fixture\"\nversion = \"0.1.0\"\nedition = \"2024\"\n\n[workspace]\n",
    )
    .unwrap();
    std::fs::write(root.join("src/lib.rs"), "pub fn f( )->u8{1}\n").unwrap();
    let report = gates::run_gate(&root, "fmt");
    assert_mentions(&report, &["`cargo fmt --all --check` failed"]);

    std::fs::write(root.join("src/lib.rs"), "pub fn f() -> u8 {\n    1\n}\n").unwrap();
    assert!(gates::run_gate(&root, "fmt").is_ok());
}

// selection -------------------------------------------------------------------------

#[test]
fn gate_selection_validates_names() {
    let mut sel = gates::Selection::default();
    assert!(gates::GATES.iter().all(|g| sel.runs(g.name)));
    sel.skip.extend(["fmt".to_owned(), "tests".to_owned()]);
    assert!(!sel.runs("fmt") && sel.runs("deps"));
    sel.only = Some(BTreeSet::from(["deps".to_owned()]));
    assert!(sel.runs("deps") && !sel.runs("manifests"));
    sel.skip.insert("nope".to_owned());
    assert!(sel.validate().unwrap_err().contains("unknown gate `nope`"));
    let names: Vec<&str> = gates::GATES.iter().map(|g| g.name).collect();
    assert_eq!(
        names,
        [
            "fmt",
            "clippy",
            "deps",
            "manifests",
            "layout",
            "api",
            "posture",
            "tests"
        ]
    );
}
