//! Changing the plan while it plays: governance events recorded at run time (a consultation
//! closed, an approval granted, an owner named) are added to the manifest's events, the plan is
//! re-resolved, and the new plan is handed to the simulation. The state on every day stays a pure
//! function of the plan and the recorded events.

use std::sync::mpsc::Sender;
use std::sync::{Arc, Mutex};

use renewtwin_importers::Model;
use renewtwin_protocol::CivilDate;
use serde::Deserialize;

use super::plan::{Plan, PlanError};
use crate::manifest::{EventKind, EventSpec, Manifest};

/// Why an event was refused.
#[derive(Debug, thiserror::Error)]
pub enum EventError {
    /// The event names something the scene does not have, or lacks a field.
    #[error("{0}")]
    Invalid(String),
    /// The plan with the event cannot be played.
    #[error(transparent)]
    Plan(#[from] PlanError),
    /// The simulation has stopped.
    #[error("the simulation is not running")]
    Stopped,
    /// The replicas' shared log cannot be reached: nothing was recorded; try again later.
    #[error("{0}")]
    Unavailable(String),
}

/// An event as posted to `/api/events` (JSON).
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct EventRequest {
    /// What happened.
    pub kind: EventRequestKind,
    /// Project id.
    pub project: String,
    /// Simulated day; or give `date`.
    pub day: Option<i32>,
    /// `YYYY-MM-DD`; or give `day`.
    pub date: Option<String>,
    /// For `consultation_closed`: `approved` or `rejected`.
    pub outcome: Option<String>,
    /// For approval events: the approval id.
    pub approval: Option<String>,
    /// For `owner_named` / `funding_named`: who.
    pub name: Option<String>,
    /// For `scenario_chosen`: the scenario adopted (a scenario name, or `base`).
    #[serde(default)]
    pub scenario: Option<String>,
    /// For `consultation_closed` of a unit- or building-scoped decision: each scope's own
    /// outcome (`approved` / `rejected`); absent, `outcome` holds for every scope.
    #[serde(default)]
    pub scopes: std::collections::BTreeMap<String, String>,
}

/// The kinds of governance event a request may record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EventRequestKind {
    /// A consultation closed with an `outcome`.
    ConsultationClosed,
    /// An `approval` was granted.
    ApprovalGranted,
    /// An `approval` was refused.
    ApprovalRefused,
    /// The O&M owner was named (`name`).
    OwnerNamed,
    /// The funding was named (`name`).
    FundingNamed,
    /// A choice consultation adopted a `scenario`.
    ScenarioChosen,
}

impl EventRequestKind {
    /// The kind as written in requests.
    pub fn key(self) -> &'static str {
        match self {
            Self::ConsultationClosed => "consultation_closed",
            Self::ApprovalGranted => "approval_granted",
            Self::ApprovalRefused => "approval_refused",
            Self::OwnerNamed => "owner_named",
            Self::FundingNamed => "funding_named",
            Self::ScenarioChosen => "scenario_chosen",
        }
    }

    /// The route that decides events of this kind, for a kind only a decision may record
    /// (`None`: an operator may record it directly).
    pub fn decided_by(self) -> Option<&'static str> {
        match self {
            Self::ConsultationClosed | Self::ScenarioChosen => {
                Some("POST /api/consultations/{id}/close (the outcome is computed from the ballots; a consultation also closes by itself when its window ends)")
            }
            Self::ApprovalGranted | Self::ApprovalRefused => Some("POST /api/approvals/{project}/{approval} (the authority's inbox)"),
            Self::OwnerNamed | Self::FundingNamed => None,
        }
    }
}

/// Where recorded events go first when the twin is one of several replicas: the gate puts the
/// requests on the replicas' shared ordered log and returns what this replica recorded when the
/// log delivered them back ([`PlanControl::record_logged`]), so every replica records every
/// event at the same place in the same order. A gate that cannot reach its log answers
/// [`EventError::Unavailable`].
pub trait EventGate: Send + Sync + std::fmt::Debug {
    /// Puts `requests` on the log and waits for this replica to record them.
    fn record_all(&self, requests: Vec<EventRequest>) -> Result<Vec<EventSpec>, EventError>;
}

/// The plan's inputs and the channel to the simulation.
#[derive(Debug)]
pub struct PlanControl {
    /// Set on a replica of a cluster: events go through the shared log.
    gate: std::sync::OnceLock<Arc<dyn EventGate>>,
    manifest: Mutex<Manifest>,
    model: Arc<Model>,
    scenario: Option<String>,
    plans: Sender<Plan>,
    /// The geometry sunlight is computed on, kept when the meshes are dropped.
    sunlight: Arc<crate::sunlight::SunlightGeometry>,
}

impl PlanControl {
    /// Controls the plan of `manifest` (scenario `scenario`) over `model` (geometry is not
    /// needed and may have been dropped), sending new plans to `plans`.
    pub fn new(manifest: Manifest, model: Arc<Model>, scenario: Option<String>, plans: Sender<Plan>) -> Self {
        let sunlight = Arc::new(crate::sunlight::SunlightGeometry::collect(&model, &manifest.sunlight.classes));
        Self { gate: std::sync::OnceLock::new(), manifest: Mutex::new(manifest), model, scenario, plans, sunlight }
    }

    /// Takes over a loaded scene's manifest and model (dropping the geometry, which plans do
    /// not need).
    pub fn from_scene(scene: super::LoadedScene, scenario: Option<&str>, plans: Sender<Plan>) -> Self {
        let mut model = scene.model;
        let sunlight = Arc::new(crate::sunlight::SunlightGeometry::collect(&model, &scene.manifest.sunlight.classes));
        model.meshes = Vec::new();
        Self { gate: std::sync::OnceLock::new(), manifest: Mutex::new(scene.manifest), model: Arc::new(model), scenario: scenario.map(str::to_owned), plans, sunlight }
    }

    /// The geometry sunlight is computed on (collected before the meshes were dropped).
    pub fn sunlight(&self) -> &Arc<crate::sunlight::SunlightGeometry> {
        &self.sunlight
    }

    /// The manifest with every event recorded so far (a copy).
    pub fn manifest(&self) -> Option<Manifest> {
        self.manifest.lock().ok().map(|m| m.clone())
    }

    /// The model the plan is resolved over (without geometry).
    pub fn model(&self) -> &Arc<Model> {
        &self.model
    }

    /// The scenario being played (`None`: the base plan).
    pub fn scenario(&self) -> Option<&str> {
        self.scenario.as_deref()
    }

    /// Every recorded event so far.
    pub fn events(&self) -> Vec<EventSpec> {
        self.manifest.lock().map(|m| m.events.clone()).unwrap_or_default()
    }

    /// The scenarios adopted by choice consultations so far, in the order they take effect.
    pub fn choices(&self) -> Vec<crate::manifest::decision::ScenarioChoice> {
        self.manifest.lock().map(|m| crate::manifest::decision::scenario_choices(&m.events)).unwrap_or_default()
    }

    /// The scenario played on `day` (`None`: the base plan): the latest choice in effect by
    /// then, else the one the server started with.
    pub fn scenario_on(&self, day: i32) -> Option<String> {
        let choices = self.choices();
        crate::manifest::decision::scenario_on(self.scenario(), &choices, day).map(str::to_owned)
    }

    /// Validates `request`, records it, re-resolves the plan and hands it to the simulation.
    /// Returns the recorded event.
    pub fn record(&self, request: EventRequest) -> Result<EventSpec, EventError> {
        let mut events = self.record_all(vec![request])?;
        events.pop().ok_or(EventError::Stopped)
    }

    /// Sends every event from now on through `gate` (a replica of a cluster). Once only;
    /// false if a gate was set already.
    pub fn set_gate(&self, gate: Arc<dyn EventGate>) -> bool {
        self.gate.set(gate).is_ok()
    }

    /// Records `requests` together: all of them or, on the first refusal, none. On a replica
    /// of a cluster they are checked here, then recorded through the shared log.
    pub fn record_all(&self, requests: Vec<EventRequest>) -> Result<Vec<EventSpec>, EventError> {
        match self.gate.get() {
            Some(gate) => {
                self.check_all(requests.clone())?;
                gate.record_all(requests)
            }
            None => self.record_all_here(requests),
        }
    }

    /// Whether `requests` would be recorded now (without recording them).
    pub fn check_all(&self, requests: Vec<EventRequest>) -> Result<Vec<EventSpec>, EventError> {
        self.record_inner(requests, false, false)
    }

    /// Records `requests` in this process, whatever the gate.
    pub fn record_all_here(&self, requests: Vec<EventRequest>) -> Result<Vec<EventSpec>, EventError> {
        self.record_inner(requests, true, false)
    }

    /// What a replica does with the events its shared log delivers: records them here, except
    /// that requests whose events are all recorded already (a write retried after its answer
    /// was lost, a decision replayed twice into the log) are answered with those events and
    /// record nothing, on every replica alike.
    pub fn record_logged(&self, requests: Vec<EventRequest>) -> Result<Vec<EventSpec>, EventError> {
        self.record_inner(requests, true, true)
    }

    fn record_inner(&self, requests: Vec<EventRequest>, commit: bool, once: bool) -> Result<Vec<EventSpec>, EventError> {
        let mut manifest = self.manifest.lock().map_err(|_| EventError::Stopped)?;
        let before = manifest.events.len();
        let mut recorded = Vec::with_capacity(requests.len());
        for request in requests {
            let event = match to_event(&manifest, request) {
                Ok(e) => e,
                Err(e) => {
                    manifest.events.truncate(before);
                    return Err(e);
                }
            };
            manifest.events.push(event.clone());
            recorded.push(event);
        }
        if once && recorded.iter().all(|e| manifest.events[..before].contains(e)) {
            manifest.events.truncate(before);
            return Ok(recorded);
        }
        if let Err(e) = crate::manifest::check_event_windows(&manifest.projects, &manifest.events) {
            manifest.events.truncate(before);
            return Err(EventError::Invalid(e.message));
        }
        match Plan::resolve(&manifest, self.scenario.as_deref(), &self.model) {
            Ok(_) if !commit => {
                manifest.events.truncate(before);
                Ok(recorded)
            }
            Ok(plan) => {
                if self.plans.send(plan).is_err() {
                    manifest.events.truncate(before);
                    return Err(EventError::Stopped);
                }
                Ok(recorded)
            }
            Err(e) => {
                manifest.events.truncate(before);
                Err(e.into())
            }
        }
    }
}

fn to_event(manifest: &Manifest, r: EventRequest) -> Result<EventSpec, EventError> {
    let invalid = |m: String| EventError::Invalid(m);
    let day = match (r.day, r.date.as_deref()) {
        (Some(d), None) => d,
        (None, Some(text)) => {
            let date = CivilDate::parse_iso(text).ok_or_else(|| invalid(format!("date {text:?} is not YYYY-MM-DD")))?;
            i32::try_from(date.days_since_epoch() - manifest.start.days_since_epoch())
                .map_err(|_| invalid("the date is too far from the plan's start".into()))?
        }
        _ => return Err(invalid("give exactly one of `day` or `date`".into())),
    };
    let project = manifest
        .projects
        .iter()
        .find(|p| p.id == r.project)
        .ok_or_else(|| invalid(format!("no project {:?}; projects are {:?}", r.project, manifest.projects.iter().map(|p| &p.id).collect::<Vec<_>>())))?;
    let approval = || -> Result<String, EventError> {
        let a = r.approval.clone().ok_or_else(|| invalid(format!("a {} event names its `approval`", r.kind.key())))?;
        if project.approvals.iter().any(|x| x.id == a) {
            Ok(a)
        } else {
            Err(invalid(format!("project {:?} has no approval {a:?}", project.id)))
        }
    };
    let name = || r.name.clone().filter(|n| !n.trim().is_empty()).ok_or_else(|| invalid(format!("a {} event gives the `name`", r.kind.key())));
    if r.scenario.is_some() && r.kind != EventRequestKind::ScenarioChosen {
        return Err(invalid("only a scenario_chosen event names a `scenario`".into()));
    }
    if !r.scopes.is_empty() && r.kind != EventRequestKind::ConsultationClosed {
        return Err(invalid("only a consultation_closed event decides per scope".into()));
    }
    let kind = match r.kind {
        EventRequestKind::ConsultationClosed => {
            let outcome = |text: Option<&str>| match text {
                Some("approved") => Ok(true),
                Some("rejected") => Ok(false),
                other => Err(invalid(format!("outcome {other:?}: a consultation closes \"approved\" or \"rejected\""))),
            };
            let scopes = r.scopes.iter().map(|(k, v)| Ok((k.clone(), outcome(Some(v))?))).collect::<Result<std::collections::BTreeMap<_, _>, EventError>>()?;
            if !scopes.is_empty() && project.decision.scope == crate::manifest::decision::Scope::Project {
                return Err(invalid(format!("project {:?} decides as one project; it has no per-scope outcomes", project.id)));
            }
            let approved = match r.outcome.as_deref() {
                None if !scopes.is_empty() => scopes.values().any(|a| *a),
                other => outcome(other)?,
            };
            EventKind::ConsultationClosed { approved, scopes }
        }
        EventRequestKind::ApprovalGranted => EventKind::ApprovalGranted { approval: approval()? },
        EventRequestKind::ApprovalRefused => EventKind::ApprovalRefused { approval: approval()? },
        EventRequestKind::OwnerNamed => EventKind::OwnerNamed(name()?),
        EventRequestKind::FundingNamed => EventKind::FundingNamed(name()?),
        EventRequestKind::ScenarioChosen => {
            let scenario = r.scenario.clone().ok_or_else(|| invalid("a scenario_chosen event names its `scenario` (a scenario name or \"base\")".into()))?;
            if scenario != "base" && manifest.scenario(&scenario).is_none() {
                let known: Vec<&str> = manifest.scenarios.iter().map(|s| s.name.as_str()).collect();
                return Err(invalid(format!("no scenario {scenario:?}; the scenarios are {known:?} (or \"base\")")));
            }
            EventKind::ScenarioChosen { scenario }
        }
    };
    Ok(EventSpec { day, project: project.id.clone(), kind })
}
