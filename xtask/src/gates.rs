//! The release gates, in order, and the commands that maintain generated
//! files (`snapshot`, `posture`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;
use std::time::Instant;

use crate::report::{CheckReport, Violation};
use crate::spec::{
    self, BETA_EVIDENCE, BetaEvidence, DEPENDENCY_RULES, DependencyRules, Layer, REPO_SPEC,
    RepoSpec,
};
use crate::workspace::Workspace;
use crate::{api, deps, families, layout, manifests, posture};

/// One gate.
#[derive(Debug, Clone, Copy)]
pub struct Gate {
    /// Name used by `--skip` and `--only`.
    pub name: &'static str,
    /// What it checks (also printed in `docs/release-posture.md`).
    pub what: &'static str,
}

/// Every gate, in the order `cargo xtask gates` runs them.
pub const GATES: &[Gate] = &[
    Gate {
        name: "fmt",
        what: "`cargo fmt --all --check`.",
    },
    Gate {
        name: "clippy",
        what: "`cargo clippy --workspace --all-targets --all-features -- -D warnings`.",
    },
    Gate {
        name: "deps",
        what: "dependency rules from `cargo metadata` (layer DAG, forbidden crates such as \
               `plumego-x` and `axum` in stable crates, direct and transitive, dev-dependencies \
               exempt; manifests' allowed/forbidden imports) and no `crate::<family>` reference \
               between `plumego-x` families unless allowed.",
    },
    Gate {
        name: "manifests",
        what: "every workspace crate has a valid `module.yaml` matching the workspace and \
               `specs/repo.yaml`, every `public_entrypoints` path exists in the source, no \
               manifest describes a missing crate, and the specs parse and point at existing files.",
    },
    Gate {
        name: "layout",
        what: "the reference service has the canonical layout of `specs/repo.yaml` (reported, \
               not enforced, while its manifest says `experimental`).",
    },
    Gate {
        name: "api",
        what: "the public API of each stable crate (rustdoc JSON) matches \
               `docs/api-snapshots/<crate>.txt`: removed or changed items fail; \
               `cargo xtask snapshot` records a deliberate change.",
    },
    Gate {
        name: "posture",
        what: "`docs/release-posture.md` equals what `cargo xtask posture` generates, and the \
               extension evidence ledger is consistent.",
    },
    Gate {
        name: "tests",
        what: "`cargo test --workspace --all-features`.",
    },
];

/// `(name, what)` pairs for the posture document.
pub fn gate_descriptions() -> Vec<(&'static str, &'static str)> {
    GATES.iter().map(|g| (g.name, g.what)).collect()
}

fn violation_report(check: &str, e: String) -> CheckReport {
    let mut r = CheckReport::new(check);
    r.push(Violation::new(e));
    r
}

/// Gate `deps` on the repository at `root`.
pub fn gate_deps(root: &Path) -> CheckReport {
    let loaded = (|| -> Result<_, String> {
        let ws = Workspace::load(root)?;
        let repo: RepoSpec = spec::load_yaml(root, REPO_SPEC)?;
        let rules: DependencyRules = spec::load_yaml(root, DEPENDENCY_RULES)?;
        Ok((ws, repo, rules))
    })();
    let (ws, repo, rules) = match loaded {
        Ok(x) => x,
        Err(e) => return violation_report("deps", e),
    };
    deps_with(root, &ws, &repo, &rules)
}

/// Gate `deps` with its inputs already loaded (tests use fixtures here).
pub fn deps_with(
    root: &Path,
    ws: &Workspace,
    repo: &RepoSpec,
    rules: &DependencyRules,
) -> CheckReport {
    let (manifests, _) = manifests::load_manifests(ws);
    let mut report = deps::check_crate_dependencies(ws, repo, rules, &manifests);
    if let Some(fr) = repo.families_root() {
        let all_features = repo
            .crates_in(Layer::Extension)
            .first()
            .and_then(|c| ws.member(&c.name))
            .map(|p| p.features.clone());
        report.merge(families::check_family_imports(
            &root.join(fr),
            root,
            &rules.extension_families,
            all_features.as_ref(),
        ));
    }
    report
}

/// Gate `manifests` on the repository at `root`.
pub fn gate_manifests(root: &Path) -> CheckReport {
    let repo: RepoSpec = match spec::load_yaml(root, REPO_SPEC) {
        Ok(r) => r,
        Err(e) => return violation_report("manifests", e),
    };
    let mut report = match Workspace::load(root) {
        Ok(ws) => manifests::check_manifests(root, &ws, &repo),
        Err(e) => violation_report("manifests", e),
    };
    report.merge(manifests::check_specs(root, &repo));
    report
}

/// Gate `layout` on the repository at `root`.
pub fn gate_layout(root: &Path) -> CheckReport {
    match spec::load_yaml::<RepoSpec>(root, REPO_SPEC) {
        Ok(repo) => layout::check_reference_layout(root, &repo),
        Err(e) => violation_report("layout", e),
    }
}

/// Everything the posture document is generated from.
pub struct PostureInputs {
    /// `specs/repo.yaml`.
    pub repo: RepoSpec,
    /// Parsed manifests by package name.
    pub manifests: BTreeMap<String, crate::manifest::ModuleManifest>,
    /// The evidence ledger.
    pub ledger: BetaEvidence,
    /// Family directories.
    pub families: Vec<String>,
    /// Cargo features of `plumego-x`, if it exists.
    pub features: Option<BTreeSet<String>>,
}

/// Loads the posture inputs from the repository at `root`. Manifests are
/// read from the crate directories listed in `specs/repo.yaml`, so no
/// `cargo metadata` run is needed.
pub fn load_posture_inputs(root: &Path) -> Result<PostureInputs, String> {
    let repo: RepoSpec = spec::load_yaml(root, REPO_SPEC)?;
    let ledger: BetaEvidence = spec::load_yaml(root, BETA_EVIDENCE)?;
    let mut manifests = BTreeMap::new();
    for (_, c) in repo.crates() {
        let file = deps::manifest_file(&c.path);
        if let Ok(m) = crate::manifest::ModuleManifest::load(&root.join(&c.path), &file) {
            manifests.insert(c.name.clone(), m);
        }
    }
    let fams = repo
        .families_root()
        .map(|fr| families::families(&root.join(fr)))
        .unwrap_or_default();
    let features = repo
        .crates_in(Layer::Extension)
        .first()
        .and_then(|c| std::fs::read_to_string(root.join(&c.path).join("Cargo.toml")).ok())
        .map(|t| cargo_features(&t));
    Ok(PostureInputs {
        repo,
        manifests,
        ledger,
        families: fams,
        features,
    })
}

/// Feature names of a Cargo.toml (the keys of its `[features]` table).
fn cargo_features(toml: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut inside = false;
    for line in toml.lines() {
        let t = line.trim();
        if t.starts_with('[') {
            inside = t == "[features]";
            continue;
        }
        if inside {
            if let Some((k, _)) = t.split_once('=') {
                let k = k.trim();
                if !k.is_empty() && !k.starts_with('#') {
                    out.insert(k.trim_matches('"').to_owned());
                }
            }
        }
    }
    out
}

/// Renders the posture document from loaded inputs.
pub fn render_posture(inputs: &PostureInputs) -> String {
    posture::render_posture(
        &inputs.repo,
        &inputs.manifests,
        &inputs.ledger,
        &inputs.families,
        &gate_descriptions(),
    )
}

/// Gate `posture` on the repository at `root`.
pub fn gate_posture(root: &Path) -> CheckReport {
    let inputs = match load_posture_inputs(root) {
        Ok(i) => i,
        Err(e) => return violation_report("posture", e),
    };
    let mut report = posture::check_ledger(
        root,
        &inputs.ledger,
        &inputs.families,
        inputs.features.as_ref(),
        true,
    );
    report.merge(posture::check_posture_file(root, &render_posture(&inputs)));
    report
}

/// The stable crates (package name, library name) and the workspace.
fn stable_libs(root: &Path) -> Result<(Workspace, Vec<(String, String)>), String> {
    let repo: RepoSpec = spec::load_yaml(root, REPO_SPEC)?;
    let ws = Workspace::load(root)?;
    let mut out = Vec::new();
    for c in repo.crates_in(Layer::Stable) {
        let pkg = ws
            .member(&c.name)
            .ok_or_else(|| format!("stable crate {} is not a workspace member", c.name))?;
        let lib = pkg
            .lib()
            .ok_or_else(|| format!("stable crate {} has no library target", c.name))?;
        out.push((c.name.clone(), lib.name.clone()));
    }
    Ok((ws, out))
}

/// The current API lines of every stable crate (runs `cargo rustdoc`).
pub fn current_apis(root: &Path) -> Result<BTreeMap<String, Vec<String>>, String> {
    let (ws, libs) = stable_libs(root)?;
    let target = ws.target_dir.join("xtask-rustdoc");
    let mut crates = Vec::new();
    for (pkg, lib) in libs {
        let json = api::generate_rustdoc_json(root, &target, &pkg, &lib)?;
        let text =
            std::fs::read_to_string(&json).map_err(|e| format!("{}: {e}", json.display()))?;
        crates.push((pkg, api::parse_rustdoc_json(&text)?));
    }
    // Name items of sibling stable crates by their public paths, so moving an
    // item between private modules of plumego-core does not touch the facade.
    let mut external = std::collections::HashMap::new();
    for (_, krate) in &crates {
        external.extend(api::public_paths(krate));
    }
    Ok(crates
        .into_iter()
        .map(|(pkg, krate)| {
            let lines = api::snapshot_lines_with(&krate, &external);
            (pkg, lines)
        })
        .collect())
}

/// Gate `api` on the repository at `root`.
pub fn gate_api(root: &Path) -> CheckReport {
    match current_apis(root) {
        Ok(cur) => api::check_snapshots(root, &cur),
        Err(e) => violation_report("api", e),
    }
}

/// `cargo xtask snapshot`: records the current API of the stable crates.
pub fn write_snapshots(root: &Path) -> Result<(), String> {
    let cur = current_apis(root)?;
    std::fs::create_dir_all(root.join(api::SNAPSHOT_DIR)).map_err(|e| e.to_string())?;
    for (krate, lines) in &cur {
        let rel = api::snapshot_path(krate);
        let old = std::fs::read_to_string(root.join(&rel))
            .map(|t| api::parse_snapshot(&t))
            .unwrap_or_default();
        let d = api::diff(&old, lines);
        std::fs::write(root.join(&rel), api::render_snapshot(krate, lines))
            .map_err(|e| format!("{rel}: {e}"))?;
        println!(
            "wrote {rel}: {} items ({} added, {} removed, {} changed)",
            lines.len(),
            d.added.len(),
            d.removed.len(),
            d.changed.len()
        );
    }
    Ok(())
}

/// `cargo xtask posture`: regenerates `docs/release-posture.md`.
pub fn write_posture(root: &Path) -> Result<(), String> {
    let inputs = load_posture_inputs(root)?;
    let text = render_posture(&inputs);
    let path = root.join(posture::POSTURE_DOC);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    }
    std::fs::write(&path, text).map_err(|e| format!("{}: {e}", posture::POSTURE_DOC))?;
    println!("wrote {}", posture::POSTURE_DOC);
    Ok(())
}

/// Which gates to run.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    /// Gates not to run.
    pub skip: BTreeSet<String>,
    /// When set, only these gates run.
    pub only: Option<BTreeSet<String>>,
    /// Run the remaining gates after a failure.
    pub keep_going: bool,
}

impl Selection {
    /// Rejects unknown gate names.
    pub fn validate(&self) -> Result<(), String> {
        let known: BTreeSet<&str> = GATES.iter().map(|g| g.name).collect();
        for name in self.skip.iter().chain(self.only.iter().flatten()) {
            if !known.contains(name.as_str()) {
                return Err(format!(
                    "unknown gate `{name}` (gates: {})",
                    GATES.iter().map(|g| g.name).collect::<Vec<_>>().join(", ")
                ));
            }
        }
        Ok(())
    }

    /// True when `gate` runs.
    pub fn runs(&self, gate: &str) -> bool {
        !self.skip.contains(gate) && self.only.as_ref().is_none_or(|o| o.contains(gate))
    }
}

fn cargo(root: &Path, args: &[&str]) -> CheckReport {
    let name = args.first().copied().unwrap_or("cargo");
    let bin = crate::util::cargo();
    let mut report = CheckReport::new(name);
    match Command::new(bin).current_dir(root).args(args).status() {
        Ok(s) if s.success() => {}
        Ok(s) => report.push(Violation::new(format!(
            "`cargo {}` failed ({s})",
            args.join(" ")
        ))),
        Err(e) => report.push(Violation::new(format!("cannot run cargo: {e}"))),
    }
    report
}

/// Runs one gate by name on the repository at `root`.
pub fn run_gate(root: &Path, name: &str) -> CheckReport {
    match name {
        "fmt" => cargo(root, &["fmt", "--all", "--check"]),
        "clippy" => cargo(
            root,
            &[
                "clippy",
                "--workspace",
                "--all-targets",
                "--all-features",
                "--",
                "-D",
                "warnings",
            ],
        ),
        "deps" => gate_deps(root),
        "manifests" => gate_manifests(root),
        "layout" => gate_layout(root),
        "api" => gate_api(root),
        "posture" => gate_posture(root),
        "tests" => cargo(root, &["test", "--workspace", "--all-features"]),
        other => violation_report(other, format!("unknown gate {other}")),
    }
}

/// Runs the selected gates in order; returns true when all passed.
pub fn run_gates(root: &Path, sel: &Selection) -> bool {
    let selected: Vec<&Gate> = GATES.iter().filter(|g| sel.runs(g.name)).collect();
    let total = selected.len();
    let mut results: Vec<(&str, &str, f64)> = Vec::new();
    let mut failed = false;
    for (i, gate) in selected.iter().enumerate() {
        if failed && !sel.keep_going {
            results.push((gate.name, "not run", 0.0));
            continue;
        }
        println!("==> gate {}/{total} {}: {}", i + 1, gate.name, gate.what);
        let start = Instant::now();
        let report = run_gate(root, gate.name);
        let secs = start.elapsed().as_secs_f64();
        print!("{report}");
        if report.is_ok() {
            println!("ok   {} ({secs:.1}s)", gate.name);
            results.push((gate.name, "ok", secs));
        } else {
            println!("FAIL {} ({secs:.1}s)", gate.name);
            results.push((gate.name, "FAIL", secs));
            failed = true;
        }
    }
    println!("\ngates summary:");
    for g in GATES {
        match results.iter().find(|r| r.0 == g.name) {
            Some((name, status, secs)) if *status != "not run" => {
                println!("  {status:<7} {name:<10} {secs:.1}s")
            }
            Some((name, status, _)) => {
                println!("  {status:<7} {name:<10} (after a failure; --keep-going runs it)")
            }
            None => println!("  {:<7} {:<10} (skipped)", "skip", g.name),
        }
    }
    let n_fail = results.iter().filter(|r| r.1 == "FAIL").count();
    let n_ok = results.iter().filter(|r| r.1 == "ok").count();
    println!(
        "{n_ok} passed, {n_fail} failed, {} skipped",
        GATES.len() - n_ok - n_fail
    );
    !failed
}
