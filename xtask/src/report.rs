//! Violations and check reports, printed in one stable format.
//!
//! Agents and people pattern-match on this text, so it stays fixed: a header
//! `<check> check failed: N violation(s)`, then one `❌ <message>` line per
//! violation, each optionally followed by indented `FIX:` and `RULE:` lines.

use std::fmt;

/// One broken rule.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Violation {
    /// What is wrong, starting with the file, crate or item concerned.
    pub message: String,
    /// The smallest change that fixes it.
    pub fix: Option<String>,
    /// Where the rule is written down.
    pub rule: Option<String>,
}

impl Violation {
    /// A violation with only a message.
    pub fn new(message: impl Into<String>) -> Self {
        Violation {
            message: message.into(),
            fix: None,
            rule: None,
        }
    }

    /// Adds the `FIX:` line.
    pub fn fix(mut self, fix: impl Into<String>) -> Self {
        self.fix = Some(fix.into());
        self
    }

    /// Adds the `RULE:` line.
    pub fn rule(mut self, rule: impl Into<String>) -> Self {
        self.rule = Some(rule.into());
        self
    }
}

/// The outcome of one check: its violations (sorted when rendered) and
/// informational notes that never fail the check.
#[derive(Debug, Clone, Default)]
pub struct CheckReport {
    /// The check's name, as used by `--only`.
    pub check: String,
    /// Broken rules; the check passes when this is empty.
    pub violations: Vec<Violation>,
    /// Informational lines (skipped enforcement, additive API changes...).
    pub notes: Vec<String>,
}

impl CheckReport {
    /// An empty (passing) report for `check`.
    pub fn new(check: impl Into<String>) -> Self {
        CheckReport {
            check: check.into(),
            ..CheckReport::default()
        }
    }

    /// True when there is no violation.
    pub fn is_ok(&self) -> bool {
        self.violations.is_empty()
    }

    /// Records a violation.
    pub fn push(&mut self, v: Violation) {
        self.violations.push(v);
    }

    /// Records a note.
    pub fn note(&mut self, note: impl Into<String>) {
        self.notes.push(note.into());
    }

    /// Appends another report's violations and notes.
    pub fn merge(&mut self, other: CheckReport) {
        self.violations.extend(other.violations);
        self.notes.extend(other.notes);
    }

    /// True when some violation message contains `needle`.
    pub fn mentions(&self, needle: &str) -> bool {
        self.violations.iter().any(|v| v.message.contains(needle))
    }
}

impl fmt::Display for CheckReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for n in &self.notes {
            writeln!(f, "note: {n}")?;
        }
        if self.violations.is_empty() {
            return Ok(());
        }
        let mut vs = self.violations.clone();
        vs.sort();
        vs.dedup();
        writeln!(f, "{} check failed: {} violation(s)", self.check, vs.len())?;
        for v in vs {
            writeln!(f, "❌ {}", v.message)?;
            if let Some(fix) = &v.fix {
                writeln!(f, "   FIX: {fix}")?;
            }
            if let Some(rule) = &v.rule {
                writeln!(f, "   RULE: {rule}")?;
            }
        }
        Ok(())
    }
}
