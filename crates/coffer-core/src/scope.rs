//! Where a secret lives: an org, optionally narrowed to a project, a domain, or both.

use std::fmt;

use crate::{Domain, Org, Project};

/// The four levels a secret can be scoped to, from broadest to narrowest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ScopeLevel {
    /// Every project and domain of the org.
    Org,
    /// One domain, all projects.
    Domain,
    /// One project, all domains.
    Project,
    /// One project in one domain.
    ProjectDomain,
}

/// A secret's scope: org, optional project, optional domain.
///
/// Displayed as `org/project/domain` with `*` for an absent part, which reads as "all":
/// `acme/*/*` is org-wide, `acme/ml/*` is every domain of project `ml`.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Scope {
    org: Org,
    project: Option<Project>,
    domain: Option<Domain>,
}

// === impl Scope ===

impl Scope {
    /// A scope from its parts.
    pub fn new(org: Org, project: Option<Project>, domain: Option<Domain>) -> Self {
        Self { org, project, domain }
    }

    /// An org-wide scope.
    pub fn org(org: Org) -> Self {
        Self { org, project: None, domain: None }
    }

    /// The org.
    pub fn org_name(&self) -> &Org {
        &self.org
    }

    /// The project, if the scope is narrowed to one.
    pub fn project(&self) -> Option<&Project> {
        self.project.as_ref()
    }

    /// The domain, if the scope is narrowed to one.
    pub fn domain(&self) -> Option<&Domain> {
        self.domain.as_ref()
    }

    /// Which of the four levels this scope is.
    pub fn level(&self) -> ScopeLevel {
        match (&self.project, &self.domain) {
            (None, None) => ScopeLevel::Org,
            (None, Some(_)) => ScopeLevel::Domain,
            (Some(_), None) => ScopeLevel::Project,
            (Some(_), Some(_)) => ScopeLevel::ProjectDomain,
        }
    }

    /// The scopes a task running in `self` may read, most specific first:
    /// project+domain → project → domain → org. Levels that `self` does not name are skipped,
    /// so a task in `(acme, ml, dev)` searches four scopes and one in `(acme, -, dev)` two.
    pub fn cascade(&self) -> Vec<Scope> {
        let mut out = Vec::with_capacity(4);
        let org = || self.org.clone();
        if self.project.is_some() && self.domain.is_some() {
            out.push(self.clone());
        }
        if self.project.is_some() {
            out.push(Scope::new(org(), self.project.clone(), None));
        }
        if self.domain.is_some() {
            out.push(Scope::new(org(), None, self.domain.clone()));
        }
        out.push(Scope::org(org()));
        out
    }

    /// Whether a secret stored at `self` is visible to a task running in `task`, i.e. whether
    /// `self` is one of `task.cascade()`.
    pub fn covers(&self, task: &Scope) -> bool {
        self.org == task.org
            && (self.project.is_none() || self.project == task.project)
            && (self.domain.is_none() || self.domain == task.domain)
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let p = self.project.as_ref().map_or("*", |p| p.as_str());
        let d = self.domain.as_ref().map_or("*", |d| d.as_str());
        write!(f, "{}/{p}/{d}", self.org)
    }
}

impl fmt::Debug for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Scope({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scope(o: &str, p: Option<&str>, d: Option<&str>) -> Scope {
        Scope::new(o.parse().unwrap(), p.map(|p| p.parse().unwrap()), d.map(|d| d.parse().unwrap()))
    }

    #[test]
    fn cascade_goes_from_narrow_to_broad() {
        let s = scope("acme", Some("ml"), Some("dev"));
        let names: Vec<String> = s.cascade().iter().map(ToString::to_string).collect();
        assert_eq!(names, ["acme/ml/dev", "acme/ml/*", "acme/*/dev", "acme/*/*"]);
        assert_eq!(scope("acme", None, Some("dev")).cascade().len(), 2);
        assert_eq!(scope("acme", Some("ml"), None).cascade().len(), 2);
        assert_eq!(scope("acme", None, None).cascade(), vec![scope("acme", None, None)]);
    }

    #[test]
    fn covers_matches_cascade() {
        let task = scope("acme", Some("ml"), Some("dev"));
        for s in task.cascade() {
            assert!(s.covers(&task));
        }
        assert!(!scope("acme", Some("other"), None).covers(&task));
        assert!(!scope("acme", None, Some("prod")).covers(&task));
        assert!(!scope("other", None, None).covers(&task));
        assert_eq!(task.level(), ScopeLevel::ProjectDomain);
    }
}
