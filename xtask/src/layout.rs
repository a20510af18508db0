//! Gate `layout`: the reference service follows the canonical layout listed
//! in `specs/repo.yaml` (`reference_layout.required_paths`).
//!
//! The layout is enforced unless the reference crate's `module.yaml` status
//! is one of `reference_layout.exempt_statuses` (today: `experimental`, while
//! reference-service is a skeleton). Exempt crates still get a note listing
//! what is missing, so the gap stays visible.

use std::path::Path;

use crate::deps::manifest_file;
use crate::manifest::ModuleManifest;
use crate::report::{CheckReport, Violation};
use crate::spec::{REPO_SPEC, RepoSpec};

/// Checks the reference crate's layout under `root`.
pub fn check_reference_layout(root: &Path, repo: &RepoSpec) -> CheckReport {
    let mut report = CheckReport::new("layout");
    let layout = &repo.reference_layout;
    let Some((_, krate)) = repo
        .crates()
        .into_iter()
        .find(|(_, c)| c.name == layout.crate_name)
    else {
        report.push(
            Violation::new(format!(
                "{REPO_SPEC}: reference_layout.crate `{}` is not listed in layers",
                layout.crate_name
            ))
            .rule(format!("{REPO_SPEC} reference_layout")),
        );
        return report;
    };
    let dir = root.join(&krate.path);
    let file = manifest_file(&krate.path);
    let manifest = match ModuleManifest::load(&dir, &file) {
        Ok(m) => m,
        Err(e) => {
            report.push(
                Violation::new(format!(
                    "{e} (needed to know whether the layout is enforced)"
                ))
                .fix(format!("add a valid {file}")),
            );
            return report;
        }
    };
    let missing: Vec<&str> = layout
        .required_paths
        .iter()
        .map(String::as_str)
        .filter(|p| {
            let full = dir.join(p.trim_end_matches('/'));
            if p.ends_with('/') {
                !full.is_dir()
            } else {
                !full.is_file()
            }
        })
        .collect();
    if missing.is_empty() {
        return report;
    }
    if layout.exempt_statuses.contains(&manifest.status) {
        report.note(format!(
            "{} is `{}`: canonical layout not enforced yet; missing: {}",
            layout.crate_name,
            manifest.status,
            missing.join(", ")
        ));
        return report;
    }
    for p in missing {
        report.push(
            Violation::new(format!(
                "{}: `{}/{p}` is missing from the canonical layout",
                layout.crate_name, krate.path
            ))
            .fix(format!(
                "create it (see {REPO_SPEC} reference_layout), or set `status: experimental` in {file} while the service is a skeleton"
            ))
            .rule(format!("{REPO_SPEC} reference_layout.required_paths")),
        );
    }
    report
}
