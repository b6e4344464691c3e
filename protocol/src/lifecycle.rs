//! The renewal vocabulary both sides share: element lifecycle states, their display colours,
//! and the phases of a renewal project.

use serde::{Deserialize, Serialize};

/// Where an element stands in its renewal lifecycle on a given simulated day.
///
/// The planned action on an element (keep, retrofit, demolish, build new, temporary) walks it
/// through these states as its task runs:
/// retrofit: `Existing → UnderConstruction → Renewed`;
/// demolish: `Existing → UnderDemolition → Demolished`;
/// new: `Planned → UnderConstruction → Built`;
/// temporary: `Planned → UnderConstruction → Temporary → Removed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LifecycleState {
    /// Standing as surveyed, untouched by the plan so far.
    Existing,
    /// Proposed but not yet started (drawn as a ghost).
    Planned,
    /// Work on the element is in progress.
    UnderConstruction,
    /// An existing element whose retrofit is finished.
    Renewed,
    /// A new element that has been built.
    Built,
    /// Being taken down.
    UnderDemolition,
    /// Taken down; no longer stands.
    Demolished,
    /// A temporary work (scaffold, fence, site hut) that stands now.
    Temporary,
    /// A temporary work that has been removed.
    Removed,
    /// Not part of the design shown: an element of a design variant this plan does not take,
    /// or one the plan's variant replaces (see `[[scenarios]] models` in scenes/README.md).
    /// Never drawn, never standing.
    Absent,
}

impl LifecycleState {
    /// Every state, in declaration order.
    pub const ALL: [LifecycleState; 10] = [
        Self::Existing,
        Self::Planned,
        Self::UnderConstruction,
        Self::Renewed,
        Self::Built,
        Self::UnderDemolition,
        Self::Demolished,
        Self::Temporary,
        Self::Removed,
        Self::Absent,
    ];

    /// Stable lowercase key used in JSON and the UI.
    pub fn key(self) -> &'static str {
        match self {
            Self::Existing => "existing",
            Self::Planned => "planned",
            Self::UnderConstruction => "under_construction",
            Self::Renewed => "renewed",
            Self::Built => "built",
            Self::UnderDemolition => "under_demolition",
            Self::Demolished => "demolished",
            Self::Temporary => "temporary",
            Self::Removed => "removed",
            Self::Absent => "absent",
        }
    }

    /// Display colour as linear-ish sRGB bytes, chosen to be told apart by colour-blind viewers
    /// (Okabe–Ito palette) and shared by the viewer and its screenshot tests.
    pub fn rgb(self) -> [u8; 3] {
        match self {
            Self::Existing => [200, 200, 196],        // light warm grey
            Self::Planned => [86, 180, 233],          // sky blue (drawn translucent)
            Self::UnderConstruction => [230, 159, 0], // orange
            Self::Renewed => [0, 158, 115],           // bluish green
            Self::Built => [0, 114, 178],             // blue
            Self::UnderDemolition => [213, 94, 0],    // vermillion
            Self::Demolished => [120, 40, 30],        // dark red (hidden by default)
            Self::Temporary => [240, 228, 66],        // yellow
            Self::Removed => [150, 150, 150],         // grey (hidden by default)
            Self::Absent => [0, 0, 0],                // never drawn
        }
    }

    /// Whether the element physically stands in this state (drawn solid).
    pub fn is_standing(self) -> bool {
        !matches!(self, Self::Planned | Self::Demolished | Self::Removed | Self::Absent)
    }

    /// Chinese label for the UI (zh-CN is the first language of the exhibition).
    pub fn label_zh(self) -> &'static str {
        match self {
            Self::Existing => "现状保留",
            Self::Planned => "规划新建",
            Self::UnderConstruction => "施工中",
            Self::Renewed => "已改造",
            Self::Built => "已建成",
            Self::UnderDemolition => "拆除中",
            Self::Demolished => "已拆除",
            Self::Temporary => "临时设施",
            Self::Removed => "已移除",
            Self::Absent => "不在此方案",
        }
    }

    /// English label for the UI.
    pub fn label_en(self) -> &'static str {
        match self {
            Self::Existing => "Existing",
            Self::Planned => "Planned",
            Self::UnderConstruction => "Under construction",
            Self::Renewed => "Renewed",
            Self::Built => "Built",
            Self::UnderDemolition => "Under demolition",
            Self::Demolished => "Demolished",
            Self::Temporary => "Temporary",
            Self::Removed => "Removed",
            Self::Absent => "Not in this design",
        }
    }
}

/// The phases every renewal project passes through, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PhaseKind {
    /// Surveying the existing buildings, pipes and residents' needs.
    Survey,
    /// Design by the design institute.
    Design,
    /// Public consultation with residents.
    Consultation,
    /// Government approvals.
    Approval,
    /// Construction on site.
    Construction,
    /// Acceptance inspection.
    Acceptance,
    /// Operation and maintenance.
    Operation,
}

impl PhaseKind {
    /// Every phase, in the order a project passes through them.
    pub const ALL: [PhaseKind; 7] = [
        Self::Survey,
        Self::Design,
        Self::Consultation,
        Self::Approval,
        Self::Construction,
        Self::Acceptance,
        Self::Operation,
    ];

    /// Stable lowercase key used in JSON and manifests.
    pub fn key(self) -> &'static str {
        match self {
            Self::Survey => "survey",
            Self::Design => "design",
            Self::Consultation => "consultation",
            Self::Approval => "approval",
            Self::Construction => "construction",
            Self::Acceptance => "acceptance",
            Self::Operation => "operation",
        }
    }

    /// Parses a key written by [`PhaseKind::key`].
    pub fn from_key(key: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.key() == key)
    }

    /// Chinese label for the UI.
    pub fn label_zh(self) -> &'static str {
        match self {
            Self::Survey => "现状调查",
            Self::Design => "方案设计",
            Self::Consultation => "公众参与",
            Self::Approval => "审批",
            Self::Construction => "施工",
            Self::Acceptance => "竣工验收",
            Self::Operation => "运营维护",
        }
    }

    /// English label for the UI.
    pub fn label_en(self) -> &'static str {
        match self {
            Self::Survey => "Survey",
            Self::Design => "Design",
            Self::Consultation => "Consultation",
            Self::Approval => "Approval",
            Self::Construction => "Construction",
            Self::Acceptance => "Acceptance",
            Self::Operation => "Operation",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_state_has_a_distinct_colour_and_key() {
        let mut colours: Vec<_> = LifecycleState::ALL.iter().map(|s| s.rgb()).collect();
        colours.sort();
        colours.dedup();
        assert_eq!(colours.len(), LifecycleState::ALL.len());
        let mut keys: Vec<_> = LifecycleState::ALL.iter().map(|s| s.key()).collect();
        keys.sort();
        keys.dedup();
        assert_eq!(keys.len(), LifecycleState::ALL.len());
    }

    #[test]
    fn json_names_are_the_stable_keys() {
        for s in LifecycleState::ALL {
            assert_eq!(serde_json::to_string(&s).expect("json"), format!("\"{}\"", s.key()));
        }
        for p in PhaseKind::ALL {
            assert_eq!(serde_json::to_string(&p).expect("json"), format!("\"{}\"", p.key()));
        }
    }

    #[test]
    fn phase_keys_round_trip() {
        for p in PhaseKind::ALL {
            assert_eq!(PhaseKind::from_key(p.key()), Some(p));
        }
        assert_eq!(PhaseKind::from_key("demolition"), None);
    }
}
