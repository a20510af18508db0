//! `cargo xtask <command>`: see `cargo xtask help`.
#![forbid(unsafe_code)]

use std::collections::BTreeSet;
use std::process::ExitCode;

use xtask::gates::{self, GATES, Selection};
use xtask::util::repo_root;

const HELP: &str = "\
cargo xtask <command>

Commands:
  gates [--skip a,b] [--only a,b] [--keep-going]
                 run the release gates in order (fail fast unless --keep-going)
  gates --list   list the gates
  snapshot       record the public API of the stable crates in docs/api-snapshots/
  posture        regenerate docs/release-posture.md from manifests and the ledger
  help           this text
";

fn names(arg: Option<String>, flag: &str) -> Result<BTreeSet<String>, String> {
    let v = arg.ok_or_else(|| format!("{flag} needs a comma-separated list of gates"))?;
    Ok(v.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect())
}

fn parse_gates(mut args: impl Iterator<Item = String>) -> Result<Option<Selection>, String> {
    let mut sel = Selection::default();
    while let Some(a) = args.next() {
        let (flag, inline) = match a.split_once('=') {
            Some((f, v)) => (f.to_owned(), Some(v.to_owned())),
            None => (a.clone(), None),
        };
        match flag.as_str() {
            "--skip" => {
                let v = inline.or_else(|| args.next());
                sel.skip.extend(names(v, "--skip")?);
            }
            "--only" => {
                let v = inline.or_else(|| args.next());
                sel.only
                    .get_or_insert_with(BTreeSet::new)
                    .extend(names(v, "--only")?);
            }
            "--keep-going" => sel.keep_going = true,
            "--list" => {
                for g in GATES {
                    println!("{:<10} {}", g.name, g.what);
                }
                return Ok(None);
            }
            other => return Err(format!("unknown argument `{other}`\n\n{HELP}")),
        }
    }
    sel.validate()?;
    Ok(Some(sel))
}

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let root = repo_root();
    let result = match args.next().as_deref() {
        Some("gates") => match parse_gates(args) {
            Ok(Some(sel)) => {
                if gates::run_gates(&root, &sel) {
                    Ok(())
                } else {
                    Err(String::new())
                }
            }
            Ok(None) => Ok(()),
            Err(e) => Err(e),
        },
        Some("snapshot") => gates::write_snapshots(&root),
        Some("posture") => gates::write_posture(&root),
        None | Some("help" | "--help" | "-h") => {
            print!("{HELP}");
            Ok(())
        }
        Some(other) => Err(format!("unknown command `{other}`\n\n{HELP}")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            if !e.is_empty() {
                eprintln!("error: {e}");
            }
            ExitCode::FAILURE
        }
    }
}
