//! The plan: which lanes exist, what comes after what, and where the work will land.
//!
//! A plan is stored as a chain of commits at `refs/wtc/<plan>/plan` whose tree holds one file,
//! `plan.toml`. Every change is a new commit whose parent is the previous one (compare-and-swap
//! on the ref), so the chain doubles as the plan's operation log. This module owns the model,
//! its validation (names, duplicates, unknown lanes, cycles) and the DAG order; the plan is data
//! shared with other clones and never contains anything that could be executed.

pub mod lanes;
pub mod names;
pub mod refnames;
pub mod settings;
pub mod store;

pub use store::{check_name, list, load, load_from, read_plan_commit, store, StoredPlan};

use std::collections::{BTreeMap, BTreeSet};

use gix::bstr::ByteSlice;
use gix::ObjectId;
use serde::{Deserialize, Serialize};

/// The only `plan.toml` format version this build understands.
pub const VERSION: u32 = 1;
/// A plan.toml larger than this is refused before it is parsed.
pub const MAX_PLAN_BYTES: usize = 1024 * 1024;

/// The content of `plan.toml`.
///
/// Keys this build does not know (written by a newer wtc, within the same format version)
/// are kept as they are and written back unchanged, never interpreted: the plan is data, and
/// nothing read from it is ever executed. A new format version is refused instead.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    pub version: u32,
    pub name: String,
    /// The branch (short name, e.g. `main`) the integration commit lands on.
    pub target: String,
    /// The target's tip when the plan was created: new lanes start here.
    pub base: String,
    /// The integration commit, once `squash` has landed one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub integrated: Option<String>,
    #[serde(default, rename = "lane")]
    pub lanes: Vec<LaneSpec>,
    /// Keys of a newer wtc, kept for it.
    #[serde(flatten, default, skip_serializing_if = "toml::Table::is_empty")]
    pub unknown: toml::Table,
}

/// One lane as the plan knows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LaneSpec {
    pub name: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub after: Vec<String>,
    /// Keys of a newer wtc, kept for it (see [`Plan`]).
    #[serde(flatten, default, skip_serializing_if = "toml::Table::is_empty")]
    pub unknown: toml::Table,
}

impl Plan {
    pub fn new(name: &str, target: &str, base: ObjectId) -> Self {
        Plan {
            version: VERSION,
            name: name.into(),
            target: target.into(),
            base: base.to_string(),
            integrated: None,
            lanes: Vec::new(),
            unknown: toml::Table::new(),
        }
    }

    /// Parse and validate `plan.toml` text.
    pub fn parse(text: &[u8]) -> Result<Plan, Error> {
        if text.len() > MAX_PLAN_BYTES {
            return Err(Error::TooBig {
                what: "plan.toml".into(),
                bytes: text.len() as u64,
            });
        }
        let text = text.to_str().map_err(|_| Error::NotUtf8)?;
        // Read the version first so that a newer format gets a clear message, not a parse error.
        #[derive(Deserialize)]
        struct Versioned {
            version: Option<toml::Value>,
        }
        let versioned: Versioned = toml::from_str(text).map_err(|e| toml_error(&e, text))?;
        match versioned.version {
            Some(toml::Value::Integer(v)) if v == VERSION as i64 => {}
            Some(v) => {
                return Err(Error::Version {
                    found: v.to_string(),
                })
            }
            None => return Err(bad_plan("the 'version' key is missing")),
        }
        let plan: Plan = toml::from_str(text).map_err(|e| toml_error(&e, text))?;
        plan.validate()?;
        Ok(plan)
    }

    /// Render as `plan.toml` text.
    pub fn to_toml(&self) -> String {
        toml::to_string(self).expect("a validated plan always serializes")
    }

    /// Check every rule: names, base, duplicates, unknown upstreams, cycles.
    pub fn validate(&self) -> Result<(), Error> {
        // A name the user typed was checked before it got here: a bad one in a stored plan is
        // bad data (exit 1), and the message says where it came from.
        names::validate_plan(&self.name).map_err(|e| bad_plan(&e.to_string()))?;
        if gix::refs::FullName::try_from(refnames::branch(&self.target)).is_err()
            || self.target.is_empty()
        {
            return Err(bad_plan(&format!(
                "target '{}' is not a valid branch name",
                self.target
            )));
        }
        ObjectId::from_hex(self.base.as_bytes())
            .map_err(|_| bad_plan("'base' is not a full commit id"))?;
        if let Some(id) = &self.integrated {
            ObjectId::from_hex(id.as_bytes())
                .map_err(|_| bad_plan("'integrated' is not a full commit id"))?;
        }
        let mut seen = BTreeSet::new();
        for lane in &self.lanes {
            names::validate_lane(&lane.name).map_err(|e| bad_plan(&e.to_string()))?;
            if !seen.insert(lane.name.as_str()) {
                return Err(bad_plan(&format!("lane '{}' is listed twice", lane.name)));
            }
        }
        for lane in &self.lanes {
            for up in &lane.after {
                if !seen.contains(up.as_str()) {
                    return Err(bad_plan(&format!(
                        "lane '{}' comes after unknown lane '{up}'",
                        lane.name
                    )));
                }
            }
        }
        self.topo_order()?;
        Ok(())
    }

    pub fn base_id(&self) -> ObjectId {
        ObjectId::from_hex(self.base.as_bytes()).expect("validated")
    }

    pub fn lane(&self, name: &str) -> Option<&LaneSpec> {
        self.lanes.iter().find(|l| l.name == name)
    }

    /// The lane, or an error naming the lanes that do exist.
    pub fn require_lane(&self, name: &str) -> Result<&LaneSpec, Error> {
        self.lane(name).ok_or_else(|| Error::NoSuchLane {
            plan: self.name.clone(),
            lane: name.to_string(),
            known: self.lanes.iter().map(|l| l.name.clone()).collect(),
        })
    }

    /// Lanes in dependency order (upstreams first), ties broken by name so the order is stable
    /// on every machine. Errors on a cycle, naming the lanes in it.
    pub fn topo_order(&self) -> Result<Vec<&LaneSpec>, Error> {
        let mut indegree: BTreeMap<&str, usize> =
            self.lanes.iter().map(|l| (l.name.as_str(), 0)).collect();
        let mut downstream: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for lane in &self.lanes {
            let ups: BTreeSet<&str> = lane.after.iter().map(String::as_str).collect();
            for up in ups {
                *indegree
                    .get_mut(lane.name.as_str())
                    .expect("every lane is a key") += 1;
                downstream.entry(up).or_default().push(lane.name.as_str());
            }
        }
        let mut ready: BTreeSet<&str> = indegree
            .iter()
            .filter(|(_, d)| **d == 0)
            .map(|(n, _)| *n)
            .collect();
        let mut order = Vec::with_capacity(self.lanes.len());
        while let Some(next) = ready.pop_first() {
            order.push(self.lane(next).expect("known lane"));
            for down in downstream.get(next).into_iter().flatten() {
                let d = indegree.get_mut(down).expect("known lane");
                *d -= 1;
                if *d == 0 {
                    ready.insert(down);
                }
            }
        }
        if order.len() != self.lanes.len() {
            let stuck: Vec<_> = indegree
                .iter()
                .filter(|(_, d)| **d > 0)
                .map(|(n, _)| *n)
                .collect();
            return Err(bad_plan(&format!(
                "the lanes {} depend on each other in a cycle",
                stuck.join(", ")
            )));
        }
        Ok(order)
    }

    /// Every lane `lane` comes after, directly or not, in dependency order.
    pub fn upstream_closure(&self, lane: &str) -> Vec<&LaneSpec> {
        let order = self.topo_order().expect("stored plans are validated");
        self.upstream_closure_in(lane, &order)
    }

    /// [`Plan::upstream_closure`] given the plan's [`Plan::topo_order`] (computed once by a
    /// caller that asks for every lane's closure).
    pub fn upstream_closure_in<'p>(&self, lane: &str, order: &[&'p LaneSpec]) -> Vec<&'p LaneSpec> {
        let mut wanted = BTreeSet::new();
        let mut todo = vec![lane];
        while let Some(l) = todo.pop() {
            for up in self.lane(l).map(|s| s.after.as_slice()).unwrap_or_default() {
                if wanted.insert(up.as_str()) {
                    todo.push(up);
                }
            }
        }
        order
            .iter()
            .copied()
            .filter(|l| wanted.contains(l.name.as_str()))
            .collect()
    }

    /// Lanes that come after `lane` directly.
    pub fn direct_downstream(&self, lane: &str) -> Vec<&str> {
        self.lanes
            .iter()
            .filter(|l| l.after.iter().any(|a| a == lane))
            .map(|l| l.name.as_str())
            .collect()
    }
}

/// A TOML error as one short line: toml's own rendering quotes the offending source line,
/// which in a hostile plan.toml can be a megabyte long.
fn toml_error(e: &toml::de::Error, text: &str) -> Error {
    let mut message: String = e.message().trim().chars().take(200).collect();
    if e.message().trim().chars().count() > 200 {
        message.push_str("...");
    }
    let at = match e.span() {
        Some(span) => {
            let before = &text.as_bytes()[..span.start.min(text.len())];
            let line = before.iter().filter(|b| **b == b'\n').count() + 1;
            let column = before.iter().rev().take_while(|b| **b != b'\n').count() + 1;
            format!(" at line {line}, column {column}")
        }
        None => String::new(),
    };
    bad_plan(&format!("TOML parse error{at}: {message}"))
}

pub(crate) fn bad_plan(why: &str) -> Error {
    Error::Invalid {
        why: why.to_string(),
    }
}

/// What the plan layer refuses: bad names, bad plan data, unknown plans and lanes.
#[derive(Debug, Clone, thiserror::Error)]
pub enum Error {
    /// A name the user typed is malformed (exit 2).
    #[error("invalid {what} name {shown}: {why}")]
    InvalidName {
        what: &'static str,
        shown: String,
        why: &'static str,
    },
    #[error("'{name}' is reserved and cannot name a plan")]
    ReservedName { name: String },
    /// Stored plan data breaks a rule (it came from a ref, perhaps another clone's).
    #[error("invalid plan: {why}")]
    Invalid { why: String },
    #[error("{what} is {bytes} bytes, more than the {MAX_PLAN_BYTES} wtc accepts")]
    TooBig { what: String, bytes: u64 },
    #[error("plan.toml is not valid UTF-8")]
    NotUtf8,
    #[error("plan.toml has version {found}, this wtc understands version {VERSION}")]
    Version { found: String },
    #[error("plan commit {commit} has no plan.toml")]
    NoPlanToml { commit: String },
    #[error("plan '{plan}' has no lane '{lane}'")]
    NoSuchLane {
        plan: String,
        lane: String,
        known: Vec<String>,
    },
    #[error("there is no plan '{name}' in this repository")]
    NoSuchPlan { name: String, known: Vec<String> },
    #[error("there is no plan in this repository")]
    NoPlans,
    #[error("several plans exist: {}", plans.join(", "))]
    SeveralPlans { plans: Vec<String> },
}

impl crate::error::Diagnostic for Error {
    fn kind(&self) -> crate::error::Kind {
        match self {
            Error::InvalidName { .. } | Error::ReservedName { .. } => crate::error::Kind::Usage,
            _ => crate::error::Kind::User,
        }
    }
    fn hint(&self) -> Option<String> {
        Some(match self {
            Error::InvalidName { what, .. } => format!("{what} names are 1-63 characters of a-z, 0-9, '.', '_' and '-', starting with a letter or digit"),
            Error::ReservedName { .. } => "pick another plan name, e.g. 'feature-x'".into(),
            // Not `wtc log`: it reads the same broken plan. Plain git always works.
            Error::Invalid { .. } => "the plan is the commit chain at refs/wtc/<plan>/plan: `git log -p refs/wtc/<plan>/plan` shows its history, `git update-ref refs/wtc/<plan>/plan <good commit>` restores one".into(),
            Error::Version { found } => format!(
                "upgrade wtc to a version that reads plan format {found} (this one reads {VERSION}), then run the command again"
            ),
            Error::NoSuchLane { known, .. } if known.is_empty() => {
                "the plan has no lanes yet: add one with `wtc add LANE`".into()
            }
            Error::NoSuchLane { lane, known, .. } => names::suggest(lane, known, "its lanes"),
            Error::NoSuchPlan { name, known } if known.is_empty() => {
                format!("create it with `wtc init {name}`")
            }
            Error::NoSuchPlan { name, known } => format!(
                "{}; or create it with `wtc init {name}`",
                names::suggest(name, known, "the plans here")
            ),
            Error::NoPlans => "create one with `wtc init PLAN`".into(),
            Error::SeveralPlans { .. } => "say which with --plan NAME (or WTC_PLAN=NAME)".into(),
            Error::TooBig { .. } | Error::NotUtf8 | Error::NoPlanToml { .. } => return None,
        })
    }
}

/// The typed error `cause` is, if it is one of this layer's (or a lower one's).
pub fn diagnostic<'a>(
    cause: &'a (dyn std::error::Error + 'static),
) -> Option<&'a dyn crate::error::Diagnostic> {
    crate::error::diagnostic_of!(cause, crate::worktree::diagnostic; Error, settings::InvalidSetting)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(lanes: &[(&str, &[&str])]) -> Plan {
        Plan {
            lanes: lanes
                .iter()
                .map(|(n, a)| LaneSpec {
                    name: n.to_string(),
                    after: a.iter().map(|s| s.to_string()).collect(),
                    unknown: Default::default(),
                })
                .collect(),
            ..Plan::new("p", "main", ObjectId::null(gix::hash::Kind::Sha1))
        }
    }

    #[test]
    fn topo_order_is_dependency_then_name() {
        let p = plan(&[
            ("hooks", &["services"]),
            ("services", &["schema"]),
            ("schema", &[]),
            ("docs", &[]),
        ]);
        let order: Vec<_> = p
            .topo_order()
            .unwrap()
            .into_iter()
            .map(|l| l.name.as_str())
            .collect();
        assert_eq!(order, ["docs", "schema", "services", "hooks"]);
        let ups: Vec<_> = p
            .upstream_closure("hooks")
            .into_iter()
            .map(|l| l.name.as_str())
            .collect();
        assert_eq!(ups, ["schema", "services"]);
    }

    #[test]
    fn cycles_are_refused() {
        let p = plan(&[("a", &["b"]), ("b", &["a"]), ("c", &[])]);
        let err = p.validate().unwrap_err();
        assert!(err.to_string().contains("cycle"), "{err}");
        let p = plan(&[("a", &["a"])]);
        assert!(p.validate().is_err());
    }

    #[test]
    fn round_trip_and_bad_text() {
        let p = plan(&[("a", &[]), ("b", &["a"])]);
        assert_eq!(Plan::parse(p.to_toml().as_bytes()).unwrap(), p);
        for bad in [
            "",
            "version = 2\nname='p'\ntarget='main'\nbase='x'",
            "not toml at all [",
            "version = 1\nname='p'\ntarget='main'\nbase='0000000000000000000000000000000000000000'\n[[lane]]\nname='a'\n[[lane]]\nname='a'",
            "version = 1\nname='p'\ntarget='main'\nbase='0000000000000000000000000000000000000000'\n[[lane]]\nname='a'\nafter=['zz']",
        ] {
            assert!(Plan::parse(bad.as_bytes()).is_err(), "{bad}");
        }
        let huge = "#".repeat(MAX_PLAN_BYTES + 1);
        assert!(Plan::parse(huge.as_bytes()).is_err());
    }

    /// A plan written by a newer wtc (a new optional key, within format version 1) is read,
    /// and its keys survive a change made by this wtc; a higher version is refused.
    #[test]
    fn keys_of_a_newer_wtc_are_kept_not_interpreted() {
        let base = "0".repeat(40);
        let text = format!(
            "version = 1\nname = 'p'\ntarget = 'main'\nbase = '{base}'\nfuture = 'x'\n\
             [future_table]\nk = 1\n[[lane]]\nname = 'a'\nrun = 'touch pwned'\n"
        );
        let mut p = Plan::parse(text.as_bytes()).expect("a newer plan is read");
        assert_eq!(p.lanes[0].name, "a");
        p.lanes.push(LaneSpec {
            name: "b".into(),
            after: vec!["a".into()],
            unknown: Default::default(),
        });
        let again = Plan::parse(p.to_toml().as_bytes()).expect("written back");
        assert_eq!(again, p);
        assert_eq!(again.unknown["future"].as_str(), Some("x"));
        assert_eq!(again.lanes[0].unknown["run"].as_str(), Some("touch pwned"));
        let newer = text.replace("version = 1", "version = 2");
        let err = Plan::parse(newer.as_bytes()).unwrap_err();
        assert!(err.to_string().contains("version 2"), "{err}");
    }

    /// Regression (issue 6, hostile plans): a bad name inside plan.toml was a usage error
    /// (exit 2) that never said the plan was the problem, and a TOML error quoted the whole
    /// offending line (a megabyte of `[` from a hostile clone).
    #[test]
    fn hostile_plan_errors_are_short_and_name_the_plan() {
        let base = "0".repeat(40);
        let bad_lane = format!(
            "version = 1\nname = 'p'\ntarget = 'main'\nbase = '{base}'\n[[lane]]\nname = '../x'\n"
        );
        let err = Plan::parse(bad_lane.as_bytes()).unwrap_err();
        assert_eq!(
            crate::error::Diagnostic::kind(&err),
            crate::error::Kind::User
        );
        assert!(err.to_string().starts_with("invalid plan:"), "{err}");
        let nested = format!(
            "version = 1\nx = {}1{}\n",
            "[".repeat(100_000),
            "]".repeat(100_000)
        );
        let err = Plan::parse(nested.as_bytes()).unwrap_err();
        assert!(err.to_string().len() < 400, "{err}");
        assert!(err.to_string().contains("line 2"), "{err}");
        let p = plan(&[("a", &[])]);
        assert!(check_name(&p, "p").is_ok());
        assert!(check_name(&p, "q")
            .unwrap_err()
            .to_string()
            .contains("names plan 'p'"));
    }
}
