//! The real repository passes the cheap gates. These run in `cargo test`,
//! so a change that breaks a manifest, a dependency rule or the generated
//! posture document fails CI even without `cargo xtask gates`.

use xtask::gates;
use xtask::util::repo_root;

#[test]
fn real_repository_passes_the_deps_gate() {
    let report = gates::gate_deps(&repo_root());
    assert!(report.is_ok(), "{report}");
}

#[test]
fn real_repository_passes_the_manifests_gate() {
    let report = gates::gate_manifests(&repo_root());
    assert!(report.is_ok(), "{report}");
}

#[test]
fn real_repository_passes_the_posture_gate() {
    let report = gates::gate_posture(&repo_root());
    assert!(
        report.is_ok(),
        "{report}\nrun `cargo xtask posture` after changing a module.yaml, specs/repo.yaml or the ledger"
    );
}

#[test]
fn real_repository_passes_the_layout_gate() {
    let report = gates::gate_layout(&repo_root());
    assert!(report.is_ok(), "{report}");
}

#[test]
fn every_stable_crate_has_a_committed_api_snapshot() {
    let root = repo_root();
    let repo: xtask::spec::RepoSpec =
        xtask::spec::load_yaml(&root, xtask::spec::REPO_SPEC).unwrap();
    for c in repo.crates_in(xtask::spec::Layer::Stable) {
        let path = root.join(xtask::api::snapshot_path(&c.name));
        assert!(
            path.is_file(),
            "{} is missing: run `cargo xtask snapshot`",
            path.display()
        );
    }
}
