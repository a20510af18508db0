//! `plumego agents route|validate-diff`: the agent workflow over the
//! control plane.
//!
//! A file belongs to the deepest workspace crate whose directory holds it
//! (the root package owns only `Cargo.toml`, `build.rs`, `src/`, `tests/`,
//! `examples/` and `benches/`); the crate's `module.yaml` gives its rules
//! and test commands, and `specs/task-routing.yaml` plus
//! `specs/change-recipes/` give the matching task and recipe.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use clap::Args;
use serde_json::{Value, json};

use crate::control::{self, Member, ModuleManifest, TASK_ROUTING, TaskRoute, TaskRouting};
use crate::output::{CmdResult, Exit, Failure, Outcome};
use crate::util;

/// `plumego agents route` arguments.
#[derive(Debug, Args)]
pub struct RouteArgs {
    /// A file (existing or to be created), relative to the current directory or absolute.
    #[arg(long)]
    pub path: PathBuf,
    /// Use this task of specs/task-routing.yaml instead of matching one by path.
    #[arg(long)]
    pub task: Option<String>,
    /// The repository root (default: the nearest Cargo workspace above the current directory).
    #[arg(long)]
    pub root: Option<PathBuf>,
}

/// `plumego agents validate-diff` arguments.
#[derive(Debug, Args)]
pub struct ValidateDiffArgs {
    /// The revision to diff against (working tree and index vs BASE, plus untracked files).
    #[arg(long, default_value = "HEAD")]
    pub base: String,
    /// List the commands without running them.
    #[arg(long)]
    pub dry_run: bool,
    /// Seconds each command may run.
    #[arg(long, default_value_t = 900)]
    pub timeout: u64,
    /// The repository root (default: the nearest Cargo workspace above the current directory).
    #[arg(long)]
    pub root: Option<PathBuf>,
}

/// The root-relative, `/`-separated form of `path`.
fn repo_relative(root: &Path, path: &Path) -> Result<String, Failure> {
    let abs = util::absolute(path);
    // Resolve symlinks in the part that exists so it compares with the canonical root.
    let abs = match (abs.parent().map(util::canonical), abs.file_name()) {
        (Some(parent), Some(name)) if parent.exists() => parent.join(name),
        _ => abs,
    };
    util::rel_to(&abs, root)
        .filter(|r| !r.is_empty())
        .ok_or_else(|| {
            Failure::error(format!(
                "{} is not a file inside the repository {}",
                path.display(),
                root.display()
            ))
        })
}

/// A matched task with the reason it matched.
struct TaskMatch<'a> {
    key: &'a str,
    route: &'a TaskRoute,
    /// (how closely `start_with` holds the file, how focused the task is on its area).
    score: (usize, usize),
    reason: String,
}

/// Tasks whose `start_with` holds the file (best: the longest entry), then
/// tasks whose `start_with` lies inside the file's crate. Ties go to the
/// task most focused on the file's area: the larger share of its
/// `start_with` entries under the file's crate directory (or top-level
/// folder).
fn match_tasks<'a>(
    routing: &'a TaskRouting,
    rel: &str,
    crate_dir: Option<&str>,
) -> Vec<TaskMatch<'a>> {
    let area = match crate_dir.filter(|d| *d != ".") {
        Some(dir) => dir.to_owned(),
        None => rel.split('/').next().unwrap_or(rel).to_owned(),
    };
    let focus = |route: &TaskRoute| -> usize {
        let total = route.start_with.len().max(1);
        let inside = route
            .start_with
            .iter()
            .filter(|s| control::under(s.trim_end_matches('/'), &area))
            .count();
        inside * 100 / total
    };
    let mut out = Vec::new();
    for (key, route) in &routing.tasks {
        let direct = route
            .start_with
            .iter()
            .filter(|s| {
                control::under(rel, s.trim_end_matches('/'))
                    && !s.trim().is_empty()
                    && s.trim() != "."
            })
            .max_by_key(|s| s.len());
        if let Some(s) = direct {
            out.push(TaskMatch {
                key,
                route,
                score: (1000 + s.len(), focus(route)),
                reason: format!("start_with {s:?} contains the file"),
            });
            continue;
        }
        if let Some(dir) = crate_dir.filter(|d| *d != ".") {
            if let Some(s) = route
                .start_with
                .iter()
                .find(|s| control::under(s.trim_end_matches('/'), dir))
            {
                out.push(TaskMatch {
                    key,
                    route,
                    score: (1, focus(route)),
                    reason: format!("start_with {s:?} is in the same crate"),
                });
            }
        }
    }
    out.sort_by(|a, b| b.score.cmp(&a.score).then(a.key.cmp(b.key)));
    out
}

fn manifest_json(m: &ModuleManifest) -> Value {
    json!({
        "name": m.name,
        "path": m.path,
        "layer": m.layer,
        "status": m.status,
        "owner": m.owner,
        "risk": m.risk,
        "summary": m.summary,
    })
}

/// Runs `plumego agents route`.
pub fn route(args: RouteArgs) -> CmdResult {
    let root = control::repo_root(args.root.as_deref())?;
    let rel = repo_relative(&root, &args.path)?;
    let members = control::workspace_members(&root)?;
    let owner = control::owner_of(&members, &rel);
    let mut warnings: Vec<String> = Vec::new();

    let manifest = match owner {
        Some(m) => match control::load_manifest(m) {
            Ok(man) => Some(man),
            Err(e) => {
                warnings.push(e);
                None
            }
        },
        None => {
            warnings.push(format!(
                "{rel} lies outside every crate directory (control-plane, docs or repository file)"
            ));
            None
        }
    };

    let routing: Option<TaskRouting> = match control::load_yaml(&root, TASK_ROUTING) {
        Ok(r) => Some(r),
        Err(e) => {
            warnings.push(e);
            None
        }
    };
    let mut tasks: Vec<Value> = Vec::new();
    let mut chosen: Option<(String, &TaskRoute)> = None;
    if let Some(routing) = &routing {
        if let Some(key) = &args.task {
            let route = routing.tasks.get(key).ok_or_else(|| {
                Failure::error(format!(
                    "unknown task {key:?}; {TASK_ROUTING} has: {}",
                    routing.tasks.keys().cloned().collect::<Vec<_>>().join(", ")
                ))
            })?;
            chosen = Some((key.clone(), route));
            tasks.push(json!({ "task": key, "intent": route.intent, "reason": "--task", "recipe": route.recipe }));
        } else {
            let matches = match_tasks(routing, &rel, owner.map(|m| m.rel_dir.as_str()));
            chosen = matches.first().map(|m| (m.key.to_owned(), m.route));
            tasks = matches
                .iter()
                .map(|m| json!({ "task": m.key, "intent": m.route.intent, "reason": m.reason, "recipe": m.route.recipe }))
                .collect();
            if matches.is_empty() {
                warnings.push(format!(
                    "no task in {TASK_ROUTING} starts with {rel} or its crate"
                ));
            }
            let tied: Vec<&str> = matches
                .iter()
                .take_while(|m| matches.first().is_some_and(|f| f.score == m.score))
                .map(|m| m.key)
                .collect();
            if tied.len() > 1 {
                warnings.push(format!(
                    "tasks {} match {rel} equally; picked {}, pass --task to choose",
                    tied.join(", "),
                    tied[0]
                ));
            }
        }
    }
    let recipe = chosen.as_ref().and_then(|(key, route)| {
        let name = route.recipe.as_ref()?;
        match control::load_recipe(&root, name) {
            Ok((file, r)) => Some(json!({
                "file": file,
                "name": r.name,
                "scope": r.scope,
                "steps": r.steps,
                "stop_conditions": r.stop_conditions,
                "validation": r.validation,
            })),
            Err(e) => {
                warnings.push(format!("task {key}: {e}"));
                None
            }
        }
    });
    let landing_zones: BTreeMap<String, String> = match (owner, &manifest) {
        (Some(m), Some(man)) => man
            .landing_zones
            .iter()
            .filter(|(_, zone)| {
                let full = if m.rel_dir == "." {
                    zone.to_string()
                } else {
                    format!("{}/{}", m.rel_dir, zone)
                };
                control::under(&rel, full.trim_end_matches('/'))
            })
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        _ => BTreeMap::new(),
    };

    let data = json!({
        "path": rel,
        "module": manifest.as_ref().map(manifest_json).or_else(|| owner.map(|m| json!({ "name": m.name, "path": m.rel_dir }))),
        "rules": manifest.as_ref().map(|m| json!({
            "allowed_imports": m.allowed_imports,
            "forbidden_imports": m.forbidden_imports,
            "agent_hints": m.agent_hints,
            "review_checklist": m.review_checklist,
            "change_risks": m.change_risks,
            "doc_paths": m.doc_paths,
        })),
        "landing_zones": landing_zones,
        "test_commands": manifest.as_ref().map(|m| m.test_commands.clone()).unwrap_or_default(),
        "task": chosen.as_ref().map(|(key, r)| json!({
            "task": key,
            "intent": r.intent,
            "context_package": r.context_package,
            "start_with": r.start_with,
            "avoid": r.avoid,
        })),
        "matching_tasks": tasks,
        "recipe": recipe,
        "warnings": warnings,
    });

    let mut text = format!("file:   {rel}\n");
    match (&manifest, owner) {
        (Some(m), _) => text.push_str(&format!(
            "module: {} ({}, {}, risk {}, owner {})\n        {}\n",
            m.name, m.layer, m.status, m.risk, m.owner, m.summary
        )),
        (None, Some(m)) => {
            text.push_str(&format!("module: {} (no readable module.yaml)\n", m.name))
        }
        (None, None) => text.push_str("module: none\n"),
    }
    if let Some(m) = &manifest {
        let list = |title: &str, items: &[String], text: &mut String| {
            if !items.is_empty() {
                text.push_str(&format!("{title}:\n"));
                for i in items {
                    text.push_str(&format!("  - {i}\n"));
                }
            }
        };
        list("test commands", &m.test_commands, &mut text);
        list("allowed imports", &m.allowed_imports, &mut text);
        list("forbidden imports", &m.forbidden_imports, &mut text);
        list("agent hints", &m.agent_hints, &mut text);
        list("review checklist", &m.review_checklist, &mut text);
    }
    if let Some((key, r)) = &chosen {
        text.push_str(&format!("task:   {key}: {}\n", r.intent));
    }
    if let Some(r) = &recipe {
        text.push_str(&format!(
            "recipe: {} ({})\n",
            r["name"].as_str().unwrap_or(""),
            r["file"].as_str().unwrap_or("")
        ));
        if let Some(steps) = r["steps"].as_array() {
            for (i, s) in steps.iter().enumerate() {
                text.push_str(&format!("  {}. {}\n", i + 1, s.as_str().unwrap_or("")));
            }
        }
    }

    let module_name = manifest
        .as_ref()
        .map(|m| m.name.clone())
        .or(owner.map(|m| m.name.clone()));
    if warnings.is_empty() {
        Ok(Outcome::ok(
            format!("{rel} belongs to {}", module_name.unwrap_or_default()),
            data,
        )
        .text(text))
    } else {
        let subject = match module_name {
            Some(m) => format!("{rel} belongs to {m}"),
            None => format!("{rel} belongs to no crate"),
        };
        // The first warning of an unowned file only repeats the subject.
        let rest: Vec<&str> = warnings
            .iter()
            .skip(usize::from(owner.is_none()))
            .map(String::as_str)
            .collect();
        let message = if rest.is_empty() {
            subject
        } else {
            format!("{subject}; {}", rest.join("; "))
        };
        Ok(Outcome::new(Exit::Warning, message, data).text(text))
    }
}

/// The git object of the empty tree: the base when there is no commit yet.
const EMPTY_TREE: &str = "4b825dc642cb6eb9a060e54bf8d69288fbee4904";

fn git_lines(root: &Path, args: &[&str]) -> Result<Vec<String>, Failure> {
    let out = Command::new("git")
        .args(args)
        .current_dir(root)
        .output()
        .map_err(|e| Failure::error(format!("cannot run git: {e}")))?;
    if !out.status.success() {
        return Err(Failure::error(format!(
            "`git {}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect())
}

/// Changed files relative to the repository root: `git diff --name-only
/// BASE` (working tree and index) plus untracked files.
fn changed_files(root: &Path, base: &str) -> Result<(Vec<String>, String), Failure> {
    let top = git_lines(root, &["rev-parse", "--show-toplevel"])?;
    let top = util::canonical(Path::new(top.first().map(String::as_str).unwrap_or(".")));
    let base = if base == "HEAD"
        && git_lines(root, &["rev-parse", "--verify", "--quiet", "HEAD"]).is_err()
    {
        EMPTY_TREE.to_owned()
    } else {
        base.to_owned()
    };
    let mut files = git_lines(root, &["diff", "--name-only", &base, "--"])?;
    files.extend(
        git_lines(root, &["ls-files", "--others", "--exclude-standard"])?
            .into_iter()
            .map(|f| {
                // ls-files answers relative to the current directory (the root); diff relative to the top.
                match util::rel_to(&root.join(&f), &top) {
                    Some(r) => r,
                    None => f,
                }
            }),
    );
    // Make everything relative to the workspace root (it may sit below the git top level).
    let prefix = util::rel_to(root, &top).unwrap_or_default();
    let mut out: Vec<String> = files
        .into_iter()
        .filter_map(|f| {
            if prefix.is_empty() {
                Some(f)
            } else {
                f.strip_prefix(&format!("{prefix}/")).map(str::to_owned)
            }
        })
        .collect();
    out.sort();
    out.dedup();
    Ok((out, base))
}

/// Runs `plumego agents validate-diff`.
pub fn validate_diff(args: ValidateDiffArgs) -> CmdResult {
    let root = control::repo_root(args.root.as_deref())?;
    let (files, base) = changed_files(&root, &args.base)?;
    let members = control::workspace_members(&root)?;

    let mut touched: BTreeMap<String, (&Member, Vec<String>)> = BTreeMap::new();
    let mut unowned = Vec::new();
    for f in &files {
        match control::owner_of(&members, f) {
            Some(m) => touched
                .entry(m.name.clone())
                .or_insert_with(|| (m, Vec::new()))
                .1
                .push(f.clone()),
            None => unowned.push(f.clone()),
        }
    }

    let mut warnings = Vec::new();
    let mut planned: Vec<(String, String)> = Vec::new();
    let mut modules = Vec::new();
    for (name, (member, files)) in &touched {
        match control::load_manifest(member) {
            Ok(man) => {
                if man.test_commands.is_empty() {
                    warnings.push(format!("{name}: module.yaml lists no test_commands"));
                }
                for c in &man.test_commands {
                    planned.push((name.clone(), c.clone()));
                }
                modules.push(json!({ "name": name, "path": member.rel_dir, "files": files, "test_commands": man.test_commands }));
            }
            Err(e) => {
                warnings.push(format!("{name}: {e}"));
                modules.push(json!({ "name": name, "path": member.rel_dir, "files": files, "test_commands": [] }));
            }
        }
    }

    let mut results = Vec::new();
    let mut failed = 0;
    let mut text = String::new();
    for (module, command) in &planned {
        let argv: Vec<&str> = command.split_whitespace().collect();
        let Some((program, rest)) = argv.split_first() else {
            continue;
        };
        if args.dry_run {
            text.push_str(&format!("  plan {module}: {command}\n"));
            results.push(json!({ "module": module, "command": command, "status": "planned" }));
            continue;
        }
        let mut cmd = Command::new(program);
        cmd.args(rest).current_dir(&root);
        let (status, code, duration_ms, tail) =
            match util::run_with_timeout(&mut cmd, Duration::from_secs(args.timeout.max(1))) {
                Ok(out) if out.success() => {
                    ("pass", out.code, out.duration.as_millis() as u64, None)
                }
                Ok(out) => {
                    let why = if out.timed_out {
                        format!("timed out after {}s\n", args.timeout)
                    } else {
                        String::new()
                    };
                    (
                        "fail",
                        out.code,
                        out.duration.as_millis() as u64,
                        Some(format!("{why}{}", out.tail(40))),
                    )
                }
                Err(e) => ("fail", None, 0, Some(format!("cannot run {program}: {e}"))),
            };
        if status == "fail" {
            failed += 1;
        }
        text.push_str(&format!(
            "  {status} {module}: {command} ({duration_ms} ms)\n"
        ));
        if let Some(t) = &tail {
            for l in t.lines() {
                text.push_str(&format!("       | {l}\n"));
            }
        }
        results.push(json!({
            "module": module,
            "command": command,
            "status": status,
            "exit_code": code,
            "duration_ms": duration_ms,
            "output_tail": tail,
        }));
    }
    if !unowned.is_empty() {
        text.push_str(&format!(
            "  files outside any crate (no tests run): {}\n",
            unowned.join(", ")
        ));
    }

    let data = json!({
        "base": base,
        "root": root.display().to_string(),
        "dry_run": args.dry_run,
        "changed_files": files,
        "unowned_files": unowned,
        "modules": modules,
        "commands": results,
        "passed": results.iter().filter(|r| r["status"] == "pass").count(),
        "failed": failed,
        "warnings": warnings,
    });
    let n_cmds = planned.len();
    let outcome = if files.is_empty() {
        Outcome::ok(format!("no changes against {base}"), data)
    } else if failed > 0 {
        Outcome::new(
            Exit::Error,
            format!(
                "{failed} of {n_cmds} test command(s) failed for {} module(s)",
                touched.len()
            ),
            data,
        )
    } else if !warnings.is_empty() {
        Outcome::new(Exit::Warning, warnings.join("; "), data)
    } else if args.dry_run {
        Outcome::ok(
            format!(
                "{n_cmds} test command(s) would run for {} module(s)",
                touched.len()
            ),
            data,
        )
    } else {
        Outcome::ok(
            format!(
                "{n_cmds} test command(s) passed for {} module(s)",
                touched.len()
            ),
            data,
        )
    };
    Ok(outcome.text(text))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn routing() -> TaskRouting {
        control::parse_yaml(
            "t",
            "version: 1\ntasks:\n  http_endpoint:\n    intent: add an endpoint\n    start_with: [reference-service/src/app.rs, reference-service/src/handler/]\n    recipe: add-http-endpoint\n  middleware:\n    intent: add a layer\n    start_with: [plumego-layers/src/]\n  control_plane:\n    intent: specs\n    start_with: [specs/]\n  bugfix:\n    intent: fix\n    start_with: [specs/, docs/bugs.md]\n    recipe: fix-bug\n",
        )
        .unwrap()
    }

    #[test]
    fn tasks_match_by_start_with_then_by_crate() {
        let r = routing();
        let m = match_tasks(
            &r,
            "reference-service/src/handler/items.rs",
            Some("reference-service"),
        );
        assert_eq!(m[0].key, "http_endpoint");
        assert!(m[0].score.0 > 1000);
        let m = match_tasks(
            &r,
            "reference-service/src/config.rs",
            Some("reference-service"),
        );
        assert_eq!(m[0].key, "http_endpoint");
        assert_eq!(m[0].score.0, 1);
        let m = match_tasks(&r, "specs/repo.yaml", None);
        assert_eq!(m[0].key, "control_plane");
        assert_eq!(
            m[1].key, "bugfix",
            "a tie goes to the task focused on specs/"
        );
        assert!(match_tasks(&r, "README.md", None).is_empty());
    }
}
