//! `plumego new <name>`: a service in the canonical layout.

use std::path::{Path, PathBuf};

use clap::{Args, ValueEnum};
use serde_json::json;

use crate::output::{CmdResult, Exit, Failure, Outcome};
use crate::templates::{self, FileTemplate};
use crate::util;

/// Project templates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Template {
    /// The canonical layout (config, app, handler/, domain/, tests) with a small resource.
    #[value(alias = "canonical")]
    Api,
    /// A single-file hello service.
    Minimal,
    /// Not available: needs the REST extension family.
    Rest,
    /// Not available: needs the gateway extension family.
    Gateway,
    /// Not available: needs the realtime (WebSocket) extension family.
    Realtime,
}

impl Template {
    fn as_str(self) -> &'static str {
        match self {
            Template::Api => "api",
            Template::Minimal => "minimal",
            Template::Rest => "rest",
            Template::Gateway => "gateway",
            Template::Realtime => "realtime",
        }
    }
}

/// `plumego new` arguments.
#[derive(Debug, Args)]
pub struct NewArgs {
    /// Package name: lowercase letters, digits, `-` and `_`, starting with a letter.
    pub name: String,
    /// Directory to create (default `./<name>`); it must not exist or be empty.
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// Project template.
    #[arg(long, value_enum, default_value_t = Template::Api)]
    pub template: Template,
    /// Path of the `plumego` crate the service depends on (default: the
    /// workspace this CLI was built from).
    #[arg(long)]
    pub plumego_path: Option<PathBuf>,
    /// List the files without writing anything.
    #[arg(long)]
    pub dry_run: bool,
}

/// Names Cargo or the generated code cannot take.
const RESERVED: &[&str] = &[
    "plumego",
    "test",
    "std",
    "core",
    "alloc",
    "proc_macro",
    "build",
    "deps",
    "examples",
    "incremental",
];

fn validate_name(name: &str) -> Result<String, Failure> {
    let bad = |why: &str| {
        Failure::error(format!(
            "invalid project name {name:?}: {why} (use lowercase letters, digits, `-` or `_`, starting with a letter, e.g. `orders-service`)"
        ))
    };
    if name.is_empty() || name.len() > 64 {
        return Err(bad("it must have 1 to 64 characters"));
    }
    if !name.starts_with(|c: char| c.is_ascii_lowercase()) {
        return Err(bad("it must start with a lowercase letter"));
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-' || *c == '_'))
    {
        return Err(bad(&format!("{c:?} is not allowed")));
    }
    let crate_name = name.replace('-', "_");
    if RESERVED.contains(&crate_name.as_str()) || util::Names::parse(&crate_name).is_err() {
        return Err(bad("it is reserved by Cargo, Rust or Plumego"));
    }
    Ok(crate_name)
}

fn is_empty_dir(dir: &Path) -> bool {
    std::fs::read_dir(dir)
        .map(|mut d| d.next().is_none())
        .unwrap_or(false)
}

/// Runs `plumego new`.
pub fn run(args: NewArgs) -> CmdResult {
    let files: &[FileTemplate] = match args.template {
        Template::Api => templates::API,
        Template::Minimal => templates::MINIMAL,
        t @ (Template::Rest | Template::Gateway | Template::Realtime) => {
            return Err(Failure::error(format!(
                "template {:?} needs the {} extension family, which does not exist in plumego-rs yet; use --template api (canonical) or minimal",
                t.as_str(),
                t.as_str()
            ))
            .data(json!({ "template": t.as_str(), "available": ["api", "minimal"] })));
        }
    };
    let crate_name = validate_name(&args.name)?;
    let dir = util::absolute(
        &args
            .dir
            .clone()
            .unwrap_or_else(|| PathBuf::from(&args.name)),
    );
    if dir.exists() && !(dir.is_dir() && is_empty_dir(&dir)) {
        return Err(Failure::conflict(format!(
            "{} already exists and is not an empty directory: choose another --dir or remove it",
            dir.display()
        ))
        .data(json!({ "path": dir.display().to_string() })));
    }

    let plumego_path = util::canonical(
        &args
            .plumego_path
            .clone()
            .unwrap_or_else(crate::default_plumego_path),
    );
    let plumego_ok = std::fs::read_to_string(plumego_path.join("Cargo.toml"))
        .map(|t| {
            t.lines()
                .any(|l| l.trim().replace(' ', "") == "name=\"plumego\"")
        })
        .unwrap_or(false);
    let plumego_dep = format!(
        "plumego = {{ path = {} }}",
        templates::toml_string(&plumego_path.display().to_string())
    );
    let vars = [
        ("name", args.name.as_str()),
        ("crate", crate_name.as_str()),
        ("plumego_dep", plumego_dep.as_str()),
    ];

    let created: Vec<&str> = files.iter().map(|(p, _)| *p).collect();
    if !args.dry_run {
        for (rel, template) in files {
            util::write(&dir.join(rel), &templates::render(template, &vars))?;
        }
    }

    let formatted = !args.dry_run && util::rustfmt(&dir, &created);
    let shown_dir = dir.display().to_string();
    let next_steps = vec![
        format!("cd {shown_dir}"),
        "cargo test".to_owned(),
        "cargo run".to_owned(),
        "plumego inspect health --url http://127.0.0.1:8080".to_owned(),
    ];
    let data = json!({
        "project": args.name,
        "crate": crate_name,
        "path": shown_dir,
        "template": args.template.as_str(),
        "plumego_path": plumego_path.display().to_string(),
        "dry_run": args.dry_run,
        "formatted": formatted,
        "files_created": if args.dry_run { Vec::new() } else { created.clone() },
        "files_planned": created,
        "next_steps": next_steps,
    });
    let mut text = String::new();
    for f in files {
        text.push_str(&format!(
            "  {}{}\n",
            if args.dry_run {
                "would create "
            } else {
                "created "
            },
            f.0
        ));
    }
    text.push_str("\nNext:\n");
    for s in &next_steps {
        text.push_str(&format!("  {s}\n"));
    }
    let verb = if args.dry_run {
        "would create"
    } else {
        "created"
    };
    if !plumego_ok {
        return Ok(Outcome::new(
            Exit::Warning,
            format!(
                "{verb} {} at {shown_dir}, but {} is not the plumego crate: fix the `plumego` path in Cargo.toml or pass --plumego-path",
                args.name,
                plumego_path.display()
            ),
            data,
        )
        .text(text));
    }
    Ok(Outcome::ok(
        format!(
            "{verb} {} ({} template) at {shown_dir}",
            args.name,
            args.template.as_str()
        ),
        data,
    )
    .text(text))
}

#[cfg(test)]
mod tests {
    use super::validate_name;

    #[test]
    fn names() {
        assert_eq!(validate_name("orders-service").unwrap(), "orders_service");
        for bad in ["", "Orders", "1x", "a b", "plumego", "test", "fn", "a/b"] {
            assert!(validate_name(bad).is_err(), "{bad}");
        }
    }
}
