//! Gate `posture`: `docs/release-posture.md` is generated from repository
//! facts (the `module.yaml` manifests, `specs/repo.yaml`, the extension
//! families under `plumego-x/src/` and `specs/extension-beta-evidence.yaml`)
//! by `cargo xtask posture`, and the gate fails when the committed file
//! differs or the evidence ledger is inconsistent.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;

use crate::manifest::ModuleManifest;
use crate::report::{CheckReport, Violation};
use crate::spec::{
    BETA_EVIDENCE, BetaEvidence, Blocker, FamilyEvidence, Layer, RepoSpec, RequiredEvidence, Status,
};

/// The generated support matrix.
pub const POSTURE_DOC: &str = "docs/release-posture.md";

/// The blockers a ledger entry has, computed from its evidence.
pub fn computed_blockers(root: &Path, req: &RequiredEvidence, f: &FamilyEvidence) -> Vec<Blocker> {
    let mut out = Vec::new();
    if f.release_refs.len() < req.release_refs {
        out.push(Blocker::ReleaseHistoryMissing);
    }
    if f.api_snapshots.len() < req.api_snapshots
        || f.api_snapshots.iter().any(|s| !root.join(s).is_file())
    {
        out.push(Blocker::ApiSnapshotMissing);
    }
    if !req.owner_signoff_values.contains(&f.owner_signoff) {
        out.push(Blocker::OwnerSignoffMissing);
    }
    out
}

/// Validates the evidence ledger. `families` are the family directories;
/// `features` the cargo features of `plumego-x` (when known);
/// `verify_refs` resolves release refs with git.
pub fn check_ledger(
    root: &Path,
    ledger: &BetaEvidence,
    families: &[String],
    features: Option<&BTreeSet<String>>,
    verify_refs: bool,
) -> CheckReport {
    let mut report = CheckReport::new("posture");
    let rule = BETA_EVIDENCE.to_owned();
    if ledger.promotion_target != Status::Beta {
        report.push(
            Violation::new(format!("{BETA_EVIDENCE}: promotion_target must be `beta`"))
                .rule(rule.clone()),
        );
    }
    if !root.join(&ledger.policy).is_file() {
        report.push(
            Violation::new(format!(
                "{BETA_EVIDENCE}: policy `{}` does not exist",
                ledger.policy
            ))
            .rule(rule.clone()),
        );
    }
    let mut seen = BTreeSet::new();
    for f in &ledger.families {
        let who = format!("{BETA_EVIDENCE}: family `{}`", f.family);
        if !seen.insert(f.family.clone()) {
            report.push(Violation::new(format!("{who} is listed twice")).rule(rule.clone()));
        }
        if !families.contains(&f.family) {
            report.push(
                Violation::new(format!(
                    "{who} has no directory plumego-x/src/{}/",
                    f.family
                ))
                .fix("remove the entry or create the family")
                .rule(rule.clone()),
            );
        }
        if let Some(features) = features {
            if !features.contains(&f.family) {
                report.push(
                    Violation::new(format!("{who} has no cargo feature in plumego-x"))
                        .rule(rule.clone()),
                );
            }
        }
        if f.current_status == Status::Ga {
            report.push(
                Violation::new(format!(
                    "{who} claims `ga`; families are experimental or beta (ga means moving into a stable crate)"
                ))
                .rule(rule.clone()),
            );
        }
        if let Some(doc) = &f.evidence_doc {
            if !root.join(doc).is_file() {
                report.push(
                    Violation::new(format!("{who}: evidence_doc `{doc}` does not exist"))
                        .rule(rule.clone()),
                );
            }
        }
        for s in &f.api_snapshots {
            if !root.join(s).is_file() {
                report.push(
                    Violation::new(format!("{who}: api snapshot `{s}` does not exist"))
                        .fix("commit the snapshot or remove the entry")
                        .rule(rule.clone()),
                );
            }
        }
        if verify_refs {
            for r in &f.release_refs {
                if !git_ref_exists(root, r) {
                    report.push(
                        Violation::new(format!(
                            "{who}: release ref `{r}` does not resolve to a commit"
                        ))
                        .fix("fetch tags (git fetch --tags) or fix the ref")
                        .rule(rule.clone()),
                    );
                }
            }
        }
        let computed = computed_blockers(root, &ledger.required_evidence, f);
        let mut declared = f.blockers.clone();
        declared.sort();
        declared.dedup();
        if declared != computed {
            let show = |b: &[Blocker]| {
                if b.is_empty() {
                    "[]".to_owned()
                } else {
                    format!(
                        "[{}]",
                        b.iter().map(|b| b.as_str()).collect::<Vec<_>>().join(", ")
                    )
                }
            };
            report.push(
                Violation::new(format!(
                    "{who}: blockers {} but the evidence gives {}",
                    show(&declared),
                    show(&computed)
                ))
                .fix(format!("set `blockers: {}`", show(&computed)))
                .rule(rule.clone()),
            );
        }
        if f.current_status == Status::Beta && !computed.is_empty() {
            report.push(
                Violation::new(format!("{who} claims `beta` with open blockers"))
                    .fix("complete the evidence or set `current_status: experimental`")
                    .rule(rule.clone()),
            );
        }
    }
    report
}

fn git_ref_exists(root: &Path, r: &str) -> bool {
    Command::new("git")
        .current_dir(root)
        .args([
            "rev-parse",
            "--verify",
            "--quiet",
            &format!("{r}^{{commit}}"),
        ])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

fn area(layer: Layer) -> &'static str {
    match layer {
        Layer::Stable => "Stable library crates",
        Layer::Extension => "Extension crate",
        Layer::Reference => "Reference service",
        Layer::Tooling => "Tooling",
    }
}

fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

fn ticks(names: &[&str]) -> String {
    names
        .iter()
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Renders `docs/release-posture.md`. `families` are the family directories
/// under `plumego-x/src/`; `gates` is `(name, what it checks)`.
pub fn render_posture(
    repo: &RepoSpec,
    manifests: &BTreeMap<String, ModuleManifest>,
    ledger: &BetaEvidence,
    families: &[String],
    gates: &[(&str, &str)],
) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "<!-- Generated by `cargo xtask posture` from the module.yaml manifests, specs/repo.yaml,\n     \
         plumego-x/src/ and specs/extension-beta-evidence.yaml. Do not edit by hand: change the\n     \
         sources and regenerate. The `posture` gate fails when this file is stale. -->\n"
    );
    let _ = writeln!(s, "# Release posture\n");
    let _ = writeln!(
        s,
        "Plumego-rs ships crates at several maturity levels at once. This support matrix is\n\
         synced from repository facts; read it as an adoption aid. Start from the stable crates\n\
         (through the `plumego` facade), read the reference service as a teaching tool, and\n\
         treat experimental surfaces as deliberate opt-in.\n"
    );

    // Rows of (layer, status) → crates.
    let mut groups: BTreeMap<(Layer, Status), Vec<&str>> = BTreeMap::new();
    let mut unknown: Vec<&str> = Vec::new();
    for (layer, c) in repo.crates() {
        match manifests.get(&c.name) {
            Some(m) => groups.entry((layer, m.status)).or_default().push(&c.name),
            None => unknown.push(&c.name),
        }
    }
    let _ = writeln!(s, "## Support matrix\n");
    let _ = writeln!(s, "| Area | Status | Compatibility promise | Crates |");
    let _ = writeln!(s, "|---|---|---|---|");
    for ((layer, status), names) in &groups {
        let promise = repo
            .layers
            .get(layer)
            .map(|l| l.compatibility.as_str())
            .unwrap_or("");
        let _ = writeln!(
            s,
            "| {} | {status} | {} | {} |",
            area(*layer),
            cell(promise),
            ticks(names)
        );
    }
    if !unknown.is_empty() {
        let _ = writeln!(s, "| Without manifest | ? | none | {} |", ticks(&unknown));
    }
    let by_family: BTreeMap<&str, &FamilyEvidence> = ledger
        .families
        .iter()
        .map(|f| (f.family.as_str(), f))
        .collect();
    let fam_status = |f: &str| {
        by_family
            .get(f)
            .map(|e| e.current_status)
            .unwrap_or(Status::Experimental)
    };
    for status in [Status::Beta, Status::Experimental] {
        let names: Vec<&str> = families
            .iter()
            .map(String::as_str)
            .filter(|f| fam_status(f) == status)
            .collect();
        if names.is_empty() {
            continue;
        }
        let promise = match status {
            Status::Beta => {
                "API frozen between release refs; promoted with release-backed snapshots and owner sign-off"
            }
            _ => "Inside the release gates, but API and configuration compatibility is not frozen",
        };
        let _ = writeln!(
            s,
            "| {} extension families (`plumego-x` features) | {status} | {promise} | {} |",
            if status == Status::Beta {
                "Beta"
            } else {
                "Experimental"
            },
            ticks(&names)
        );
    }
    s.push('\n');

    let _ = writeln!(s, "## Counts\n");
    let _ = writeln!(s, "| Layer | Crates | ga | beta | experimental |");
    let _ = writeln!(s, "|---|---|---|---|---|");
    let mut totals = [0usize; 4];
    for layer in Layer::ALL {
        let crates = repo.crates_in(layer);
        let count = |st: Status| {
            crates
                .iter()
                .filter(|c| manifests.get(&c.name).map(|m| m.status) == Some(st))
                .count()
        };
        let row = [
            crates.len(),
            count(Status::Ga),
            count(Status::Beta),
            count(Status::Experimental),
        ];
        for (t, r) in totals.iter_mut().zip(row) {
            *t += r;
        }
        let _ = writeln!(
            s,
            "| {layer} | {} | {} | {} | {} |",
            row[0], row[1], row[2], row[3]
        );
    }
    let _ = writeln!(
        s,
        "| **total** | {} | {} | {} | {} |",
        totals[0], totals[1], totals[2], totals[3]
    );
    let fam_count = |st: Status| families.iter().filter(|f| fam_status(f) == st).count();
    let _ = writeln!(
        s,
        "| extension families | {} | {} | {} | {} |\n",
        families.len(),
        fam_count(Status::Ga),
        fam_count(Status::Beta),
        fam_count(Status::Experimental)
    );

    let _ = writeln!(s, "## Crates\n");
    let _ = writeln!(
        s,
        "| Crate | Path | Layer | Status | Risk | Owner | Summary |"
    );
    let _ = writeln!(s, "|---|---|---|---|---|---|---|");
    for (layer, c) in repo.crates() {
        match manifests.get(&c.name) {
            Some(m) => {
                let _ = writeln!(
                    s,
                    "| `{}` | `{}` | {layer} | {} | {} | {} | {} |",
                    c.name,
                    c.path,
                    m.status,
                    m.risk,
                    cell(&m.owner),
                    cell(&m.summary)
                );
            }
            None => {
                let _ = writeln!(
                    s,
                    "| `{}` | `{}` | {layer} | ? | ? | ? | no module.yaml |",
                    c.name, c.path
                );
            }
        }
    }
    s.push('\n');

    let _ = writeln!(s, "## Extension families\n");
    let root = repo.families_root().unwrap_or("plumego-x/src");
    if families.is_empty() && ledger.families.is_empty() {
        let _ = writeln!(
            s,
            "No extension family exists yet. A family is a module `{root}/<family>/` behind the\n\
             `plumego-x` cargo feature of the same name; it starts experimental.\n"
        );
    } else {
        let _ = writeln!(
            s,
            "| Family | Status | Owner | Release refs | API snapshots | Owner sign-off | Blockers |"
        );
        let _ = writeln!(s, "|---|---|---|---|---|---|---|");
        let mut names: BTreeSet<&str> = families.iter().map(String::as_str).collect();
        names.extend(by_family.keys().copied());
        for f in names {
            match by_family.get(f) {
                Some(e) => {
                    let blockers = if e.blockers.is_empty() {
                        "none".to_owned()
                    } else {
                        e.blockers
                            .iter()
                            .map(|b| b.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    };
                    let _ = writeln!(
                        s,
                        "| `{f}` | {} | {} | {} | {} | {} | {blockers} |",
                        e.current_status,
                        cell(&e.owner),
                        e.release_refs.len(),
                        e.api_snapshots.len(),
                        cell(&e.owner_signoff)
                    );
                }
                None => {
                    let _ = writeln!(
                        s,
                        "| `{f}` | experimental | ? | 0 | 0 | missing | no ledger entry |"
                    );
                }
            }
        }
        s.push('\n');
    }
    let req = &ledger.required_evidence;
    let _ = writeln!(
        s,
        "A family becomes beta only with complete evidence in `{BETA_EVIDENCE}`: {} release\n\
         refs with an unchanged API, {} committed API snapshots and an owner sign-off\n\
         ({}). Policy: `{}`.\n",
        req.release_refs,
        req.api_snapshots,
        req.owner_signoff_values.join(", "),
        ledger.policy
    );

    let _ = writeln!(s, "## Release gates\n");
    let _ = writeln!(
        s,
        "`cargo xtask gates` runs, in order (skip with `--skip a,b`, run one with `--only a`):\n"
    );
    for (i, (name, what)) in gates.iter().enumerate() {
        let _ = writeln!(s, "{}. `{name}`: {what}", i + 1);
    }
    s
}

/// Compares the committed posture file with `expected`.
pub fn check_posture_file(root: &Path, expected: &str) -> CheckReport {
    let mut report = CheckReport::new("posture");
    match std::fs::read_to_string(root.join(POSTURE_DOC)) {
        Ok(actual) if actual == expected => {}
        Ok(actual) => {
            let first = actual
                .lines()
                .zip(expected.lines())
                .position(|(a, b)| a != b)
                .unwrap_or_else(|| actual.lines().count().min(expected.lines().count()));
            report.push(
                Violation::new(format!(
                    "{POSTURE_DOC} is stale (first difference at line {})",
                    first + 1
                ))
                .fix("run `cargo xtask posture` and commit the result")
                .rule("the support matrix is generated from manifests and the evidence ledger"),
            );
        }
        Err(_) => report.push(
            Violation::new(format!("{POSTURE_DOC} is missing"))
                .fix("run `cargo xtask posture` and commit the result"),
        ),
    }
    report
}
