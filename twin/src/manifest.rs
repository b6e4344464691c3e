//! The scene manifest (`scene.toml`): the models to load and the renewal plan to play —
//! projects with phases, tasks, dependencies and approvals, protected heritage, recorded
//! governance events, and alternative scenarios. Its schema is documented in `scenes/README.md`.
//!
//! Every error names the file, the 1-based line and the dotted field path.

pub mod calendar;
pub mod decision;
pub mod funding;
pub mod networks;
pub mod population;
pub mod risk;
pub mod sensors;
pub mod sunlight;
pub mod vibration;

use std::collections::{BTreeMap, BTreeSet};

use renewtwin_protocol::{CivilDate, PhaseKind};
use serde::Deserialize;
use toml::Spanned;


/// A value in a domain's configuration section (`[sensors]`, `[risk]`, `[population]`) that
/// the model cannot work with.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct ConfigError {
    /// Dotted field path, e.g. `sensors.limits.noise_day_dba`.
    pub field: String,
    /// What is wrong.
    pub message: String,
}

impl ConfigError {
    /// An error about `field`.
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self { field: field.into(), message: message.into() }
    }
}

/// Why a manifest was refused. Messages name the file, and the line and field where known.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// TOML syntax or a field of the wrong type.
    #[error("{file}: {message}")]
    Syntax {
        /// The manifest file.
        file: String,
        /// The parser's message, which names the line, column and field.
        message: String,
    },
    /// A field parsed but its value is not acceptable.
    #[error("{file}:{line}: {field}: {message}")]
    Invalid {
        /// The manifest file.
        file: String,
        /// 1-based line of the field.
        line: usize,
        /// Dotted path of the field, e.g. `projects[1].tasks[0].phase`.
        field: String,
        /// What is wrong, with a hint.
        message: String,
    },
}

/// A parsed and validated manifest.
#[derive(Debug, Clone)]
pub struct Manifest {
    /// The file it was read from (for messages).
    pub file: String,
    /// Scene name shown to users.
    pub name: String,
    /// Calendar date of simulated day 0.
    pub start: CivilDate,
    /// Models to load, in order.
    pub models: Vec<ModelSource>,
    /// Renewal projects, each running its phases in order from day 0.
    pub projects: Vec<ProjectSpec>,
    /// Protected heritage: elements no plan may demolish.
    pub heritage: Vec<HeritageSpec>,
    /// Governance events recorded so far (consultation outcomes, approvals, owners, funding).
    pub events: Vec<EventSpec>,
    /// Alternatives to the base plan that share the base model.
    pub scenarios: Vec<ScenarioSpec>,
    /// How approvals are run when the plan is played.
    pub approval_mode: ApprovalMode,
    /// Cost and household assumptions for indicators.
    pub indicators: IndicatorSettings,
    /// Named camera positions, in file order: the viewer's viewpoints and its exhibition tour.
    pub viewpoints: Vec<ViewpointSpec>,
    /// `[sensors]`: construction-site sensors, limits, weather (defaults when absent).
    pub sensors: Option<sensors::SensorsConfig>,
    /// `[risk]`: building safety score and pipe failure models (defaults when absent).
    pub risk: Option<risk::RiskConfig>,
    /// `[population]`: trip rates, gravity model, destinations (defaults when absent).
    pub population: Option<population::PopulationConfig>,
    /// `[sunlight]`: the sunlight standard windows are held to (GB 50180-2018 defaults).
    pub sunlight: sunlight::SunlightRule,
    /// Where the plan comes from when it is not the manifest's own: a bare model file's scene
    /// says which IFC work schedule it was derived from, or that the model carries none ("no
    /// plan"). `None` for a `scene.toml`.
    pub plan_note: Option<String>,
    /// `[calendar]`: holidays, quiet days and stops; tasks count working days (every day a
    /// working day when absent).
    pub calendar: Option<calendar::CalendarConfig>,
    /// `[networks]`: how the utility networks are read and checked (defaults when absent).
    pub networks: networks::NetworksConfig,
}

/// A named camera position with a bilingual caption (`[[viewpoints]]`).
#[derive(Debug, Clone, PartialEq, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct ViewpointSpec {
    /// Short name, unique in the manifest.
    pub name: String,
    /// Eye position, metres in the scene frame (Z up).
    pub eye: [f64; 3],
    /// The point looked at.
    pub target: [f64; 3],
    /// Caption in Simplified Chinese.
    #[serde(default)]
    pub caption_zh: String,
    /// Caption in English.
    #[serde(default)]
    pub caption_en: String,
}

/// Where a model comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum ModelSource {
    /// A file, relative to the manifest's folder.
    File(std::path::PathBuf),
    /// Generated by renewtwin's district generator.
    District {
        /// Number of buildings.
        buildings: u32,
        /// Generator seed.
        seed: u64,
    },
    /// A design variant of the generated district's lifts, written by the generator
    /// ([`renewtwin_generator::write_lift_variant`]): a lift shaft per stair unit on the given
    /// side of every building of the district with these `buildings` and `seed`.
    Lifts {
        /// Number of buildings of the district it belongs to.
        buildings: u32,
        /// That district's seed.
        seed: u64,
        /// The facade the shafts stand against.
        side: renewtwin_generator::LiftSide,
    },
}

/// A design variant's model in a scenario (`[[scenarios]] models = [...]`): its elements enter
/// that scenario's plan (tasks select them like any other element; they are absent from every
/// other plan), and the base model's elements its `replaces` selects are absent from it.
#[derive(Debug, Clone)]
pub struct VariantModel {
    /// Where it comes from (placed into the scene's one frame like the base models).
    pub source: ModelSource,
    /// Elements of the base models this variant replaces (`None`: it only adds).
    pub replaces: Option<Selector>,
}

/// How a project's approvals are run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ApprovalMode {
    /// "One window, parallel approval": each approval starts as soon as the approvals it
    /// depends on are granted.
    #[default]
    Parallel,
    /// One after another, in dependency order.
    Serial,
}

/// One renewal project.
#[derive(Debug, Clone)]
pub struct ProjectSpec {
    /// Stable id used by events and scenarios.
    pub id: String,
    /// Name shown to users.
    pub name: String,
    /// Duration of each phase in days (phases run in [`PhaseKind::ALL`] order).
    pub phase_days: BTreeMap<PhaseKind, u32>,
    /// Tasks linked to elements.
    pub tasks: Vec<TaskSpec>,
    /// Approvals the approval phase waits for.
    pub approvals: Vec<ApprovalSpec>,
    /// Whether the approval phase waits for the consultation's recorded outcome.
    pub consultation_required: bool,
    /// Operation & maintenance owner, if named up front.
    pub operation_owner: Option<String>,
    /// Funding, if named up front.
    pub funding: Option<String>,
    /// How its consultation decides (`[projects.decision]`; Civil Code art. 278 by default).
    pub decision: decision::DecisionRule,
    /// Who pays what share (`funding_sources`; empty when not declared).
    pub funding_sources: Vec<funding::FundingSource>,
    /// How each lift's cost is shared by floor (`[projects.lift_cost_sharing]`).
    pub lift_cost_sharing: Option<funding::LiftCostSharing>,
}

impl ProjectSpec {
    /// The day its consultation phase opens: the phases before it are not gated, so this is
    /// the sum of their declared days. `None` when the project has no consultation phase.
    pub fn consultation_opens(&self) -> Option<i32> {
        self.phase_days.get(&PhaseKind::Consultation)?;
        let before: u32 = PhaseKind::ALL
            .iter()
            .take_while(|k| **k != PhaseKind::Consultation)
            .filter_map(|k| self.phase_days.get(k))
            .sum();
        i32::try_from(before).ok()
    }

    /// The earliest day its approval phase can open: after the consultation phase's declared
    /// length (approvals cannot be decided before that). `None` without an approval phase.
    pub fn approvals_open_earliest(&self) -> Option<i32> {
        self.phase_days.get(&PhaseKind::Approval)?;
        let before: u32 = PhaseKind::ALL
            .iter()
            .take_while(|k| **k != PhaseKind::Approval)
            .filter_map(|k| self.phase_days.get(k))
            .sum();
        i32::try_from(before).ok()
    }
}

/// What a task does to each element it selects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// Left as it is.
    Keep,
    /// Existing element renewed in place.
    Retrofit,
    /// Existing element taken down.
    Demolish,
    /// New element built.
    New,
    /// Temporary work put up for the task, removed at its end.
    Temporary,
    /// Not part of the plan's design (never a task's action): an element of a design variant
    /// the plan does not take, or one the plan's variant replaces. The plan gives such an
    /// element this one step, and it is absent on every day.
    Absent,
}

impl Action {
    /// Stable lowercase key.
    pub fn key(self) -> &'static str {
        match self {
            Self::Keep => "keep",
            Self::Retrofit => "retrofit",
            Self::Demolish => "demolish",
            Self::New => "new",
            Self::Temporary => "temporary",
            Self::Absent => "absent",
        }
    }
}

/// A finish-to-start dependency: the task starts at least `lag` days after `task` ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dependency {
    /// Id of the predecessor task.
    pub task: String,
    /// Days between the predecessor's end and this task's start (may be negative: a lead).
    pub lag: i32,
}

/// A task: a window of days inside a phase, applied to selected elements.
#[derive(Debug, Clone)]
pub struct TaskSpec {
    /// Stable id, unique in the manifest.
    pub id: String,
    /// Name shown to users.
    pub name: String,
    /// Phase the task belongs to.
    pub phase: PhaseKind,
    /// Days after the phase starts (the earliest start).
    pub start: u32,
    /// Length in days (at least 1).
    pub duration: u32,
    /// Split the window evenly across buildings, one after another.
    pub per_building: bool,
    /// What happens to the selected elements.
    pub action: Action,
    /// Which elements.
    pub select: Selector,
    /// Finish-to-start predecessors.
    pub after: Vec<Dependency>,
    /// Lump sum in yuan for the whole task (counted only when it selects an element).
    pub cost: f64,
    /// Unit rates priced on the quantities of the elements it selects (`rates`).
    pub rates: UnitRates,
    /// Whether the work is noisy (counts towards days of noisy work).
    pub noisy: bool,
    /// Systems supplied temporarily to buildings while the task runs (`temporary_supply`).
    pub temporary_supply: Option<networks::TemporarySupply>,
    /// What a retrofit declares it improves in each building it finishes (`improves`): the
    /// risk layer reads the building's survey with these values from that day on.
    pub improves: Option<risk::Improvement>,
    /// 1-based line of the task in the manifest.
    pub line: usize,
}

/// Unit rates of a task (`rates = { per_item = …, per_m2 = …, per_m = … }`), yuan, as the
/// scene declares them; quantities come from the model (`renewal::quantities`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct UnitRates {
    /// Yuan per element.
    pub per_item: Option<f64>,
    /// Yuan per m² of element area.
    pub per_m2: Option<f64>,
    /// Yuan per m of element length.
    pub per_m: Option<f64>,
}

impl UnitRates {
    /// Whether any rate is given.
    pub fn any(&self) -> bool {
        self.per_item.is_some() || self.per_m2.is_some() || self.per_m.is_some()
    }
}

/// Which elements a task applies to. All given criteria must hold.
#[derive(Debug, Clone, Default)]
pub struct Selector {
    /// IFC classes; `IfcWall` also matches `IfcWallStandardCase` (prefix match on the class).
    pub classes: Vec<String>,
    /// Exact GlobalIds.
    pub global_ids: Vec<String>,
    /// `Pset.Property` → expected value (text compared case-insensitively).
    pub properties: Vec<(String, String, String)>,
    /// Value of any property named `Status` (IFC's EXISTING / NEW / DEMOLISH / TEMPORARY).
    pub status: Option<String>,
    /// Storey names.
    pub storeys: Vec<String>,
    /// Names of the buildings that hold the element.
    pub buildings: Vec<String>,
    /// Tasks of a work schedule imported from IFC (name, identification or GlobalId): the
    /// products linked to them, or to tasks nested in them.
    pub ifc_tasks: Vec<String>,
}

/// An approval by an authority, with a time limit.
#[derive(Debug, Clone)]
pub struct ApprovalSpec {
    /// Stable id, unique within its project.
    pub id: String,
    /// Name shown to users.
    pub name: String,
    /// The authority that grants it.
    pub authority: String,
    /// Days the authority has to decide.
    pub time_limit: u32,
    /// Approvals that must be granted before this one starts.
    pub depends: Vec<String>,
    /// What the authority's silence past the time limit means in its jurisdiction.
    pub on_timeout: OnTimeout,
}

/// What happens when an authority has not decided by the time limit (`on_timeout` of an
/// approval in `scene.toml`).
///
/// Whether silence counts as consent is the jurisdiction's rule, not the twin's: some local
/// regulations deem an application granted once the statutory time limit has passed
/// (告知承诺制 / 逾期视为同意), most do not (PRC Administrative Licensing Law, art. 42, sets the
/// time limit but no deemed grant). The default is therefore [`OnTimeout::Overdue`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OnTimeout {
    /// The approval is flagged overdue and nothing that depends on it starts until it is
    /// granted; a grant N days late moves the dependent work N days later.
    #[default]
    Overdue,
    /// The approval counts as granted on the last day of its time limit.
    DeemedGranted,
}

impl OnTimeout {
    /// The key as written in `scene.toml`.
    pub fn key(self) -> &'static str {
        match self {
            Self::Overdue => "overdue",
            Self::DeemedGranted => "deemed_granted",
        }
    }
}

/// Elements under heritage protection.
#[derive(Debug, Clone)]
pub struct HeritageSpec {
    /// Which elements.
    pub select: Selector,
    /// Why they are protected.
    pub reason: String,
    /// The approval (id in `[[projects.approvals]]`) a project needs for works inside the
    /// control zone of these elements; `None`: the zone is not checked.
    pub approval: Option<String>,
    /// The control zone's width in metres around the elements' plan-view bounds; `None`: each
    /// element's own `RenewTwin_Heritage.ControlZone`.
    pub zone_m: Option<f64>,
    /// The vibration limit at these elements and the works' declared vibration.
    pub vibration: Option<vibration::VibrationRule>,
}

/// A recorded governance event.
#[derive(Debug, Clone, PartialEq)]
pub struct EventSpec {
    /// Simulated day it happened.
    pub day: i32,
    /// Project id.
    pub project: String,
    /// What happened.
    pub kind: EventKind,
}

/// What a governance event records.
#[derive(Debug, Clone, PartialEq)]
pub enum EventKind {
    /// The consultation closed with this outcome.
    ConsultationClosed {
        /// Whether residents approved the scheme (for a unit- or building-scoped decision:
        /// whether any scope approved it, which lets the project proceed to its approvals).
        approved: bool,
        /// Per scope key (a unit's `RenewTwin_Unit.Unit`, a building's name), its own
        /// outcome. Empty: the outcome holds for every scope of the project.
        scopes: BTreeMap<String, bool>,
    },
    /// An approval was granted.
    ApprovalGranted {
        /// Its id.
        approval: String,
    },
    /// An approval was refused.
    ApprovalRefused {
        /// Its id.
        approval: String,
    },
    /// The operation & maintenance owner was named.
    OwnerNamed(String),
    /// Funding was named.
    FundingNamed(String),
    /// A `choice` consultation adopted this scenario (`base`: the base plan): from the event's
    /// day the twin plays it (see `renewal::plan::Plan::resolve` for how the plans join).
    ScenarioChosen {
        /// A scenario name of the scene, or `base`.
        scenario: String,
    },
}

/// An alternative plan sharing the base model.
#[derive(Debug, Clone)]
pub struct ScenarioSpec {
    /// Stable name used on the command line.
    pub name: String,
    /// Title shown to users.
    pub title: String,
    /// Base tasks (by id) this scenario leaves out.
    pub disable: Vec<String>,
    /// Tasks this scenario adds, each with the id of its project.
    pub tasks: Vec<(String, TaskSpec)>,
    /// Approval mode, when the scenario changes it.
    pub approval_mode: Option<ApprovalMode>,
    /// Design variants: models this scenario adds, each with what of the base it replaces.
    pub models: Vec<VariantModel>,
}

/// Assumptions behind the scenario indicators.
#[derive(Debug, Clone)]
pub struct IndicatorSettings {
    /// Households per building when the model does not say (`RenewTwin_Building.Households`).
    pub households_per_building: u32,
}

impl Default for IndicatorSettings {
    fn default() -> Self {
        Self { households_per_building: 24 }
    }
}

// ---------------------------------------------------------------------------------------------
// Raw TOML shapes.

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawManifest {
    name: String,
    start: Spanned<String>,
    #[serde(default)]
    approval_mode: Option<Spanned<String>>,
    #[serde(default)]
    models: Vec<Spanned<RawModel>>,
    #[serde(default)]
    projects: Vec<RawProject>,
    #[serde(default)]
    heritage: Vec<RawHeritage>,
    #[serde(default)]
    events: Vec<Spanned<RawEvent>>,
    #[serde(default)]
    scenarios: Vec<RawScenario>,
    #[serde(default)]
    indicators: Option<RawIndicators>,
    #[serde(default)]
    viewpoints: Vec<Spanned<ViewpointSpec>>,
    #[serde(default)]
    sensors: Option<sensors::SensorsConfig>,
    #[serde(default)]
    risk: Option<risk::RiskConfig>,
    #[serde(default)]
    population: Option<population::PopulationConfig>,
    #[serde(default)]
    sunlight: Option<Spanned<sunlight::SunlightRule>>,
    #[serde(default)]
    calendar: Option<Spanned<calendar::CalendarConfig>>,
    #[serde(default)]
    networks: Option<Spanned<networks::NetworksConfig>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawIndicators {
    households_per_building: u32,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawModel {
    path: Option<String>,
    generate: Option<RawGenerate>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGenerate {
    kind: String,
    buildings: u32,
    #[serde(default)]
    seed: u64,
    /// `kind = "lifts"` only: the facade the lift shafts stand against.
    side: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawVariantModel {
    path: Option<String>,
    generate: Option<RawGenerate>,
    replaces: Option<Spanned<RawSelector>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProject {
    id: Option<String>,
    name: String,
    phases: Spanned<BTreeMap<String, u32>>,
    #[serde(default)]
    tasks: Vec<Spanned<RawTask>>,
    #[serde(default)]
    approvals: Vec<Spanned<RawApproval>>,
    #[serde(default = "yes")]
    consultation_required: bool,
    operation_owner: Option<String>,
    funding: Option<String>,
    #[serde(default)]
    funding_sources: Option<Spanned<Vec<funding::FundingSource>>>,
    lift_cost_sharing: Option<Spanned<funding::LiftCostSharing>>,
    decision: Option<Spanned<decision::RawDecision>>,
}

fn yes() -> bool {
    true
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTask {
    id: Option<String>,
    project: Option<Spanned<String>>,
    name: String,
    phase: Spanned<String>,
    #[serde(default)]
    start: u32,
    duration: Spanned<u32>,
    #[serde(default)]
    per_building: bool,
    action: Spanned<String>,
    select: Spanned<RawSelector>,
    #[serde(default)]
    after: Vec<Spanned<RawDependency>>,
    #[serde(default)]
    cost: f64,
    #[serde(default)]
    rates: UnitRates,
    noisy: Option<bool>,
    #[serde(default)]
    temporary_supply: Option<Spanned<networks::RawTemporarySupply>>,
    #[serde(default)]
    improves: Option<Spanned<risk::Improvement>>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RawDependency {
    Id(String),
    WithLag { task: String, #[serde(default)] lag: i32 },
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawSelector {
    #[serde(default)]
    class: Vec<String>,
    #[serde(default)]
    global_id: Vec<String>,
    #[serde(default)]
    property: BTreeMap<String, toml::Value>,
    status: Option<String>,
    #[serde(default)]
    storey: Vec<String>,
    #[serde(default)]
    building: Vec<String>,
    #[serde(default)]
    ifc_task: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawApproval {
    id: String,
    name: String,
    authority: String,
    time_limit: u32,
    #[serde(default)]
    depends: Vec<String>,
    on_timeout: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHeritage {
    select: Spanned<RawSelector>,
    reason: String,
    approval: Option<String>,
    zone_m: Option<f64>,
    vibration: Option<vibration::VibrationRule>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEvent {
    date: Option<String>,
    day: Option<i32>,
    kind: String,
    project: String,
    outcome: Option<String>,
    approval: Option<String>,
    name: Option<String>,
    scenario: Option<String>,
    #[serde(default)]
    scopes: BTreeMap<String, String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScenario {
    name: Spanned<String>,
    title: Option<String>,
    approval_mode: Option<Spanned<String>>,
    #[serde(default)]
    disable: Vec<Spanned<String>>,
    #[serde(default)]
    tasks: Vec<Spanned<RawTask>>,
    #[serde(default)]
    models: Vec<Spanned<RawVariantModel>>,
}

// ---------------------------------------------------------------------------------------------

struct Ctx<'a> {
    file: &'a str,
    text: &'a str,
}

impl Ctx<'_> {
    fn line(&self, span: &std::ops::Range<usize>) -> usize {
        self.text[..span.start.min(self.text.len())].matches('\n').count() + 1
    }

    fn invalid(&self, span: &std::ops::Range<usize>, field: impl Into<String>, message: impl Into<String>) -> ManifestError {
        ManifestError::Invalid { file: self.file.to_owned(), line: self.line(span), field: field.into(), message: message.into() }
    }
}

fn phase_list() -> String {
    PhaseKind::ALL.iter().map(|p| p.key()).collect::<Vec<_>>().join(", ")
}

pub(crate) fn slug(text: &str) -> String {
    let s: String = text
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '-' })
        .collect();
    let s = s.split('-').filter(|p| !p.is_empty()).collect::<Vec<_>>().join("-");
    if s.is_empty() { "project".into() } else { s }
}

impl Manifest {
    /// Parses and validates manifest `text`, naming `file` in errors.
    pub fn parse(file: &str, text: &str) -> Result<Self, ManifestError> {
        let raw: RawManifest =
            toml::from_str(text).map_err(|e| ManifestError::Syntax { file: file.to_owned(), message: e.to_string() })?;
        let cx = Ctx { file, text };
        let start = CivilDate::parse_iso(raw.start.get_ref())
            .ok_or_else(|| cx.invalid(&raw.start.span(), "start", format!("{:?} is not a date; write YYYY-MM-DD", raw.start.get_ref())))?;
        let approval_mode = parse_mode(&cx, "approval_mode", raw.approval_mode.as_ref())?.unwrap_or_default();
        let models = raw.models.iter().enumerate().map(|(i, m)| parse_model(&cx, i, m)).collect::<Result<Vec<_>, _>>()?;
        let mut task_ids = BTreeSet::new();
        let projects = parse_projects(&cx, raw.projects, &mut task_ids)?;
        let heritage = raw
            .heritage
            .into_iter()
            .enumerate()
            .map(|(hi, h)| {
                if h.zone_m.is_some_and(|z| !z.is_finite() || z < 0.0) {
                    return Err(cx.invalid(&h.select.span(), format!("heritage[{hi}].zone_m"), "must be a non-negative number of metres"));
                }
                if let Some(v) = &h.vibration {
                    v.validate().map_err(|m| cx.invalid(&h.select.span(), format!("heritage[{hi}].vibration"), m))?;
                }
                Ok(HeritageSpec {
                    select: parse_selector(&cx, &format!("heritage[{hi}].select"), &h.select)?,
                    reason: h.reason,
                    approval: h.approval,
                    zone_m: h.zone_m,
                    vibration: h.vibration,
                })
            })
            .collect::<Result<Vec<_>, ManifestError>>()?;
        let scenarios = parse_scenarios(&cx, raw.scenarios, &projects, &task_ids)?;
        let events = raw.events.iter().enumerate().map(|(ei, e)| parse_event(&cx, ei, e, start, &projects, &scenarios)).collect::<Result<Vec<_>, _>>()?;
        if let Err(EventWindowError { index, field, message }) = check_event_windows(&projects, &events) {
            let e = &raw.events[index];
            let field = if field == "day" && e.get_ref().date.is_some() { "date" } else { field };
            return Err(cx.invalid(&e.span(), format!("events[{index}].{field}"), message));
        }
        let indicators = raw
            .indicators
            .map(|i| IndicatorSettings { households_per_building: i.households_per_building })
            .unwrap_or_default();
        let viewpoints = parse_viewpoints(&cx, raw.viewpoints)?;
        let sunlight = match raw.sunlight {
            Some(rule) => {
                let span = rule.span();
                let rule = rule.into_inner();
                rule.check().map_err(|(field, message)| cx.invalid(&span, format!("sunlight.{field}"), message))?;
                rule
            }
            None => sunlight::SunlightRule::default(),
        };
        let networks = match raw.networks {
            None => networks::NetworksConfig::default(),
            Some(n) => {
                let span = n.span();
                let n = n.into_inner();
                n.validate().map_err(|e| cx.invalid(&span, e.field, e.message))?;
                n
            }
        };
        let manifest = Manifest {
            networks,
            viewpoints,
            file: file.to_owned(),
            name: raw.name,
            start,
            models,
            projects,
            heritage,
            events,
            scenarios,
            approval_mode,
            indicators,
            sensors: raw.sensors,
            risk: raw.risk,
            population: raw.population,
            sunlight,
            plan_note: None,
            calendar: match raw.calendar {
                None => None,
                Some(c) => {
                    let span = c.span();
                    let c = c.into_inner();
                    c.validate().map_err(|e| cx.invalid(&span, e.field, e.message))?;
                    Some(c)
                }
            },
        };
        manifest.check_dependencies(&cx)?;
        Ok(manifest)
    }

    /// The tasks of the base plan or of scenario `scenario`, each with its project index.
    pub fn tasks_for<'a>(&'a self, scenario: Option<&'a ScenarioSpec>) -> Vec<(usize, &'a TaskSpec)> {
        let mut out = Vec::new();
        for (pi, p) in self.projects.iter().enumerate() {
            for t in &p.tasks {
                if scenario.is_some_and(|s| s.disable.contains(&t.id)) {
                    continue;
                }
                out.push((pi, t));
            }
        }
        if let Some(s) = scenario {
            for (project, t) in &s.tasks {
                if let Some(pi) = self.projects.iter().position(|p| &p.id == project) {
                    out.push((pi, t));
                }
            }
        }
        out
    }

    /// Every model the scene loads, in the order they are placed into one model: the base
    /// models, then each scenario's variant models in file order (see [`Self::variant_of`]).
    pub fn all_models(&self) -> Vec<&ModelSource> {
        self.models.iter().chain(self.scenarios.iter().flat_map(|s| s.models.iter().map(|m| &m.source))).collect()
    }

    /// For each model of [`Self::all_models`], the scenario (index) whose variant it is, or
    /// `None` for a base model.
    pub fn variant_of(&self) -> Vec<Option<usize>> {
        let mut out = vec![None; self.models.len()];
        for (si, s) in self.scenarios.iter().enumerate() {
            out.extend(std::iter::repeat_n(Some(si), s.models.len()));
        }
        out
    }

    /// The scenario named `name`.
    pub fn scenario(&self, name: &str) -> Option<&ScenarioSpec> {
        self.scenarios.iter().find(|s| s.name == name)
    }

    fn check_dependencies(&self, cx: &Ctx<'_>) -> Result<(), ManifestError> {
        let mut scenarios: Vec<Option<&ScenarioSpec>> = vec![None];
        scenarios.extend(self.scenarios.iter().map(Some));
        for scenario in scenarios {
            let tasks = self.tasks_for(scenario);
            let ids: BTreeSet<&str> = tasks.iter().map(|(_, t)| t.id.as_str()).collect();
            for (_, t) in &tasks {
                for d in &t.after {
                    if !ids.contains(d.task.as_str()) {
                        let place = scenario.map(|s| format!(" in scenario {:?}", s.name)).unwrap_or_default();
                        return Err(ManifestError::Invalid {
                            file: cx.file.to_owned(),
                            line: t.line,
                            field: format!("task {:?}.after", t.id),
                            message: format!("no task with id {:?}{place}", d.task),
                        });
                    }
                }
            }
        }
        Ok(())
    }
}

/// The `[[projects]]`: ids unique, phases known, approvals and their dependencies, tasks (their
/// ids collected into `task_ids`, unique across projects).
fn parse_projects(cx: &Ctx<'_>, raw: Vec<RawProject>, task_ids: &mut BTreeSet<String>) -> Result<Vec<ProjectSpec>, ManifestError> {
    let mut projects: Vec<ProjectSpec> = Vec::new();
    for (pi, p) in raw.into_iter().enumerate() {
        let id = p.id.clone().unwrap_or_else(|| slug(&p.name));
        if projects.iter().any(|x| x.id == id) {
            return Err(cx.invalid(&p.phases.span(), format!("projects[{pi}].id"), format!("project id {id:?} is used twice; give each project a distinct `id`")));
        }
        let mut phase_days = BTreeMap::new();
        for (key, days) in p.phases.get_ref() {
            let kind = PhaseKind::from_key(key).ok_or_else(|| {
                cx.invalid(&p.phases.span(), format!("projects[{pi}].phases.{key}"), format!("unknown phase; expected one of {}", phase_list()))
            })?;
            phase_days.insert(kind, *days);
        }
        let approvals = parse_approvals(cx, pi, &p.approvals)?;
        let mut tasks = Vec::new();
        for (ti, t) in p.tasks.iter().enumerate() {
            let field = format!("projects[{pi}].tasks[{ti}]");
            if let Some(proj) = &t.get_ref().project {
                return Err(cx.invalid(&proj.span(), format!("{field}.project"), "only scenario tasks name their project"));
            }
            let task = parse_task(cx, &field, t, &phase_days)?;
            if !task_ids.insert(task.id.clone()) {
                return Err(cx.invalid(&t.span(), format!("{field}.id"), format!("task id {:?} is used twice; give tasks distinct ids", task.id)));
            }
            tasks.push(task);
        }
        let consultation_days = phase_days.get(&PhaseKind::Consultation).copied().unwrap_or(1).max(1);
        let decision = match p.decision {
            None => decision::DecisionRule::civil_code(decision::Scope::Project, consultation_days),
            Some(d) => {
                let span = d.span();
                d.into_inner()
                    .resolve(consultation_days)
                    .map_err(|(field, message)| cx.invalid(&span, format!("projects[{pi}].decision.{field}"), message))?
            }
        };
        let funding_sources = match &p.funding_sources {
            None => Vec::new(),
            Some(f) => {
                funding::validate_sources(f.get_ref()).map_err(|m| cx.invalid(&f.span(), format!("projects[{pi}].funding_sources"), m))?;
                f.get_ref().clone()
            }
        };
        let lift_cost_sharing = match &p.lift_cost_sharing {
            None => None,
            Some(l) => {
                let field = format!("projects[{pi}].lift_cost_sharing");
                l.get_ref().validate().map_err(|m| cx.invalid(&l.span(), &field, m))?;
                if !tasks.iter().any(|t: &TaskSpec| t.id == l.get_ref().task) {
                    return Err(cx.invalid(&l.span(), format!("{field}.task"), format!("no task {:?} in this project", l.get_ref().task)));
                }
                if !funding_sources.is_empty() && !funding_sources.iter().any(|s| s.households) {
                    return Err(cx.invalid(&l.span(), &field, "no funding source is marked `households = true`: nothing is left for the households to share"));
                }
                Some(l.get_ref().clone())
            }
        };
        projects.push(ProjectSpec {
            funding_sources,
            lift_cost_sharing,
            decision,
            id,
            name: p.name,
            phase_days,
            tasks,
            approvals,
            consultation_required: p.consultation_required,
            operation_owner: p.operation_owner,
            funding: p.funding,
        });
    }
    Ok(projects)
}

/// Project `pi`'s `[[projects.approvals]]`: distinct ids, a time limit of at least a day, and
/// dependencies on approvals of the same project.
fn parse_approvals(cx: &Ctx<'_>, pi: usize, raw: &[Spanned<RawApproval>]) -> Result<Vec<ApprovalSpec>, ManifestError> {
    let mut approvals: Vec<ApprovalSpec> = Vec::new();
    for (ai, a) in raw.iter().enumerate() {
        let field = format!("projects[{pi}].approvals[{ai}]");
        let raw_a = a.get_ref();
        if approvals.iter().any(|x| x.id == raw_a.id) {
            return Err(cx.invalid(&a.span(), format!("{field}.id"), format!("approval id {:?} is used twice", raw_a.id)));
        }
        if raw_a.time_limit == 0 {
            return Err(cx.invalid(&a.span(), format!("{field}.time_limit"), "must be at least 1 day"));
        }
        let on_timeout = match raw_a.on_timeout.as_deref() {
            None | Some("overdue") => OnTimeout::Overdue,
            Some("deemed_granted") => OnTimeout::DeemedGranted,
            Some(other) => {
                return Err(cx.invalid(
                    &a.span(),
                    format!("{field}.on_timeout"),
                    format!("{other:?}: expected \"overdue\" or \"deemed_granted\""),
                ));
            }
        };
        if raw_a.authority.trim().is_empty() {
            return Err(cx.invalid(&a.span(), format!("{field}.authority"), "names the authority that decides it"));
        }
        approvals.push(ApprovalSpec {
            id: raw_a.id.clone(),
            name: raw_a.name.clone(),
            authority: raw_a.authority.clone(),
            time_limit: raw_a.time_limit,
            depends: raw_a.depends.clone(),
            on_timeout,
        });
    }
    for (ai, a) in raw.iter().enumerate() {
        for d in &a.get_ref().depends {
            if !approvals.iter().any(|x| &x.id == d) {
                return Err(cx.invalid(&a.span(), format!("projects[{pi}].approvals[{ai}].depends"), format!("no approval {d:?} in this project")));
            }
        }
    }
    Ok(approvals)
}

/// The `[[scenarios]]`: distinct names, disabled tasks that exist, tasks of known projects whose
/// ids do not clash with a base task the scenario keeps.
fn parse_scenarios(cx: &Ctx<'_>, raw: Vec<RawScenario>, projects: &[ProjectSpec], task_ids: &BTreeSet<String>) -> Result<Vec<ScenarioSpec>, ManifestError> {
    let mut scenarios: Vec<ScenarioSpec> = Vec::new();
    for (si, s) in raw.into_iter().enumerate() {
        let field = format!("scenarios[{si}]");
        if scenarios.iter().any(|x| x.name == *s.name.get_ref()) {
            return Err(cx.invalid(&s.name.span(), format!("{field}.name"), format!("scenario {:?} is defined twice", s.name.get_ref())));
        }
        for d in &s.disable {
            if !task_ids.contains(d.get_ref()) {
                return Err(cx.invalid(&d.span(), format!("{field}.disable"), format!("no base task with id {:?}", d.get_ref())));
            }
        }
        let mut tasks = Vec::new();
        for (ti, t) in s.tasks.iter().enumerate() {
            let tfield = format!("{field}.tasks[{ti}]");
            let Some(project) = &t.get_ref().project else {
                return Err(cx.invalid(&t.span(), format!("{tfield}.project"), "name the project (its id) the task belongs to"));
            };
            let Some(proj) = projects.iter().find(|p| p.id == *project.get_ref()) else {
                return Err(cx.invalid(&project.span(), format!("{tfield}.project"), format!("no project with id {:?}", project.get_ref())));
            };
            let task = parse_task(cx, &tfield, t, &proj.phase_days)?;
            if task_ids.contains(&task.id) && !s.disable.iter().any(|d| *d.get_ref() == task.id) {
                return Err(cx.invalid(&t.span(), format!("{tfield}.id"), format!("task id {:?} clashes with a base task the scenario keeps", task.id)));
            }
            tasks.push((project.get_ref().clone(), task));
        }
        let approval_mode = parse_mode(cx, &format!("{field}.approval_mode"), s.approval_mode.as_ref())?;
        let mut models = Vec::new();
        for (mi, m) in s.models.iter().enumerate() {
            let mfield = format!("{field}.models[{mi}]");
            let raw = m.get_ref();
            let source = model_source(cx, &mfield, &m.span(), raw.path.as_ref(), raw.generate.as_ref())?;
            let replaces = raw.replaces.as_ref().map(|r| parse_selector(cx, &format!("{mfield}.replaces"), r)).transpose()?;
            models.push(VariantModel { source, replaces });
        }
        scenarios.push(ScenarioSpec {
            approval_mode,
            models,
            name: s.name.into_inner(),
            title: s.title.unwrap_or_default(),
            disable: s.disable.into_iter().map(Spanned::into_inner).collect(),
            tasks,
        });
    }
    Ok(scenarios)
}

/// The `[[viewpoints]]`: distinct names, finite and distinct eye and target.
fn parse_viewpoints(cx: &Ctx<'_>, raw: Vec<Spanned<ViewpointSpec>>) -> Result<Vec<ViewpointSpec>, ManifestError> {
    let mut viewpoints: Vec<ViewpointSpec> = Vec::new();
    for (vi, v) in raw.into_iter().enumerate() {
        let (span, v) = (v.span(), v.into_inner());
        if viewpoints.iter().any(|x| x.name == v.name) {
            return Err(cx.invalid(&span, format!("viewpoints[{vi}].name"), format!("viewpoint {:?} is defined twice", v.name)));
        }
        if v.eye.iter().chain(&v.target).any(|c| !c.is_finite()) || v.eye == v.target {
            return Err(cx.invalid(&span, format!("viewpoints[{vi}]"), "eye and target must be finite and distinct points"));
        }
        viewpoints.push(v);
    }
    Ok(viewpoints)
}

fn parse_mode(cx: &Ctx<'_>, field: &str, mode: Option<&Spanned<String>>) -> Result<Option<ApprovalMode>, ManifestError> {
    let Some(m) = mode else { return Ok(None) };
    match m.get_ref().as_str() {
        "parallel" => Ok(Some(ApprovalMode::Parallel)),
        "serial" => Ok(Some(ApprovalMode::Serial)),
        other => Err(cx.invalid(&m.span(), field, format!("{other:?}; expected \"parallel\" or \"serial\""))),
    }
}

fn parse_model(cx: &Ctx<'_>, i: usize, m: &Spanned<RawModel>) -> Result<ModelSource, ManifestError> {
    let raw = m.get_ref();
    model_source(cx, &format!("models[{i}]"), &m.span(), raw.path.as_ref(), raw.generate.as_ref())
}

/// A model's `path` or `generate` (base models and scenarios' variant models alike).
fn model_source(cx: &Ctx<'_>, field: &str, span: &std::ops::Range<usize>, path: Option<&String>, generate: Option<&RawGenerate>) -> Result<ModelSource, ManifestError> {
    match (path, generate) {
        (Some(path), None) => Ok(ModelSource::File(path.into())),
        (None, Some(g)) if g.kind == "district" || g.kind == "lifts" => {
            if g.buildings == 0 || g.buildings > 10_000 {
                return Err(cx.invalid(span, format!("{field}.generate.buildings"), "must be 1..=10000"));
            }
            if g.kind == "district" {
                if g.side.is_some() {
                    return Err(cx.invalid(span, format!("{field}.generate.side"), "only a \"lifts\" generator takes a side"));
                }
                return Ok(ModelSource::District { buildings: g.buildings, seed: g.seed });
            }
            let side = match g.side.as_deref() {
                Some("north") => renewtwin_generator::LiftSide::North,
                Some("south") => renewtwin_generator::LiftSide::South,
                other => return Err(cx.invalid(span, format!("{field}.generate.side"), format!("{other:?}; write side = \"north\" or \"south\""))),
            };
            Ok(ModelSource::Lifts { buildings: g.buildings, seed: g.seed, side })
        }
        (None, Some(g)) => Err(cx.invalid(span, format!("{field}.generate.kind"), format!("unknown generator {:?}; expected \"district\" or \"lifts\"", g.kind))),
        _ => Err(cx.invalid(span, field, "give exactly one of `path` or `generate`")),
    }
}

fn parse_selector(cx: &Ctx<'_>, field: &str, s: &Spanned<RawSelector>) -> Result<Selector, ManifestError> {
    let raw = s.get_ref();
    let mut properties = Vec::new();
    for (key, value) in &raw.property {
        let Some((pset, prop)) = key.split_once('.') else {
            return Err(cx.invalid(&s.span(), format!("{field}.property.{key}"), "write the key as \"Pset_Name.PropertyName\""));
        };
        let value = match value {
            toml::Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        properties.push((pset.to_owned(), prop.to_owned(), value));
    }
    Ok(Selector {
        classes: raw.class.clone(),
        global_ids: raw.global_id.clone(),
        properties,
        status: raw.status.clone(),
        storeys: raw.storey.clone(),
        buildings: raw.building.clone(),
        ifc_tasks: raw.ifc_task.clone(),
    })
}

fn parse_task(cx: &Ctx<'_>, field: &str, t: &Spanned<RawTask>, phase_days: &BTreeMap<PhaseKind, u32>) -> Result<TaskSpec, ManifestError> {
    let raw = t.get_ref();
    let phase = PhaseKind::from_key(raw.phase.get_ref()).ok_or_else(|| {
        cx.invalid(&raw.phase.span(), format!("{field}.phase"), format!("unknown phase {:?}; expected one of {}", raw.phase.get_ref(), phase_list()))
    })?;
    let action = match raw.action.get_ref().as_str() {
        "keep" => Action::Keep,
        "retrofit" => Action::Retrofit,
        "demolish" => Action::Demolish,
        "new" => Action::New,
        "temporary" => Action::Temporary,
        other => {
            return Err(cx.invalid(
                &raw.action.span(),
                format!("{field}.action"),
                format!("unknown action {other:?}; expected keep, retrofit, demolish, new or temporary"),
            ));
        }
    };
    let duration = *raw.duration.get_ref();
    if duration == 0 {
        return Err(cx.invalid(&raw.duration.span(), format!("{field}.duration"), "must be at least 1 day"));
    }
    let Some(&phase_len) = phase_days.get(&phase) else {
        return Err(cx.invalid(&raw.phase.span(), format!("{field}.phase"), format!("the project has no {} phase; add it to `phases`", phase.key())));
    };
    if raw.start + duration > phase_len {
        return Err(cx.invalid(
            &raw.duration.span(),
            format!("{field}.duration"),
            format!("the task runs to day {} of its {} phase, which lasts {phase_len} days", raw.start + duration, phase.key()),
        ));
    }
    if !raw.cost.is_finite() || raw.cost < 0.0 {
        return Err(cx.invalid(&t.span(), format!("{field}.cost"), "must be a non-negative number of yuan"));
    }
    for (key, rate) in [("per_item", raw.rates.per_item), ("per_m2", raw.rates.per_m2), ("per_m", raw.rates.per_m)] {
        if rate.is_some_and(|r| !r.is_finite() || r < 0.0) {
            return Err(cx.invalid(&t.span(), format!("{field}.rates.{key}"), "must be a non-negative number of yuan"));
        }
    }
    let after = raw
        .after
        .iter()
        .map(|d| match d.get_ref() {
            RawDependency::Id(task) => Dependency { task: task.clone(), lag: 0 },
            RawDependency::WithLag { task, lag } => Dependency { task: task.clone(), lag: *lag },
        })
        .collect();
    Ok(TaskSpec {
        id: raw.id.clone().unwrap_or_else(|| slug(&raw.name)),
        name: raw.name.clone(),
        phase,
        start: raw.start,
        duration,
        per_building: raw.per_building,
        action,
        select: parse_selector(cx, &format!("{field}.select"), &raw.select)?,
        after,
        cost: raw.cost,
        rates: raw.rates,
        noisy: raw.noisy.unwrap_or(!matches!(action, Action::Keep)),
        temporary_supply: raw
            .temporary_supply
            .as_ref()
            .map(|s| s.get_ref().resolve().map_err(|m| cx.invalid(&s.span(), format!("{field}.temporary_supply"), m)))
            .transpose()?,
        improves: match &raw.improves {
            None => None,
            Some(i) if action != Action::Retrofit => {
                return Err(cx.invalid(&i.span(), format!("{field}.improves"), "only a retrofit task improves what it works on; use action = \"retrofit\""));
            }
            Some(i) => Some(i.get_ref().validate().map_err(|m| cx.invalid(&i.span(), format!("{field}.improves"), m))?),
        },
        line: cx.line(&t.span()),
    })
}

fn parse_event(cx: &Ctx<'_>, ei: usize, e: &Spanned<RawEvent>, start: CivilDate, projects: &[ProjectSpec], scenarios: &[ScenarioSpec]) -> Result<EventSpec, ManifestError> {
    let field = format!("events[{ei}]");
    let raw = e.get_ref();
    let day = match (&raw.date, raw.day) {
        (Some(date), None) => {
            let d = CivilDate::parse_iso(date).ok_or_else(|| cx.invalid(&e.span(), format!("{field}.date"), format!("{date:?} is not a date; write YYYY-MM-DD")))?;
            i32::try_from(d.days_since_epoch() - start.days_since_epoch())
                .map_err(|_| cx.invalid(&e.span(), format!("{field}.date"), "too far from the plan's start"))?
        }
        (None, Some(day)) => day,
        _ => return Err(cx.invalid(&e.span(), field, "give exactly one of `date` or `day`")),
    };
    let Some(project) = projects.iter().find(|p| p.id == raw.project) else {
        let ids: Vec<_> = projects.iter().map(|p| p.id.as_str()).collect();
        return Err(cx.invalid(&e.span(), format!("{field}.project"), format!("no project with id {:?}; projects are {ids:?}", raw.project)));
    };
    let approval = |what: &str| -> Result<String, ManifestError> {
        let Some(a) = &raw.approval else {
            return Err(cx.invalid(&e.span(), format!("{field}.approval"), format!("a {what} event names its `approval`")));
        };
        if !project.approvals.iter().any(|x| &x.id == a) {
            return Err(cx.invalid(&e.span(), format!("{field}.approval"), format!("project {:?} has no approval {a:?}", project.id)));
        }
        Ok(a.clone())
    };
    let named = |what: &str| -> Result<String, ManifestError> {
        raw.name.clone().ok_or_else(|| cx.invalid(&e.span(), format!("{field}.name"), format!("a {what} event gives the `name`")))
    };
    if !raw.scopes.is_empty() && raw.kind != "consultation_closed" {
        return Err(cx.invalid(&e.span(), format!("{field}.scopes"), "only a consultation_closed event decides per scope"));
    }
    let kind = match raw.kind.as_str() {
        "consultation_closed" => {
            let outcome = |text: Option<&str>, at: &str| match text {
                Some("approved") => Ok(true),
                Some("rejected") => Ok(false),
                other => Err(cx.invalid(&e.span(), format!("{field}.{at}"), format!("{other:?}; a consultation closes \"approved\" or \"rejected\""))),
            };
            let mut scopes = BTreeMap::new();
            for (key, value) in &raw.scopes {
                scopes.insert(key.clone(), outcome(Some(value.as_str()), &format!("scopes.{key}"))?);
            }
            if !scopes.is_empty() && project.decision.scope == decision::Scope::Project {
                return Err(cx.invalid(&e.span(), format!("{field}.scopes"), format!("project {:?} decides as one project; declare [projects.decision] scope = \"unit\" or \"building\" to decide per scope", project.id)));
            }
            let approved = match raw.outcome.as_deref() {
                None if !scopes.is_empty() => scopes.values().any(|a| *a),
                other => outcome(other, "outcome")?,
            };
            EventKind::ConsultationClosed { approved, scopes }
        }
        "approval_granted" => EventKind::ApprovalGranted { approval: approval("approval_granted")? },
        "approval_refused" => EventKind::ApprovalRefused { approval: approval("approval_refused")? },
        "owner_named" => EventKind::OwnerNamed(named("owner_named")?),
        "funding_named" => EventKind::FundingNamed(named("funding_named")?),
        "scenario_chosen" => {
            let Some(name) = &raw.scenario else {
                return Err(cx.invalid(&e.span(), format!("{field}.scenario"), "a scenario_chosen event names its `scenario` (a scenario name or \"base\")"));
            };
            if name != "base" && !scenarios.iter().any(|s| &s.name == name) {
                let known: Vec<_> = scenarios.iter().map(|s| s.name.as_str()).collect();
                return Err(cx.invalid(&e.span(), format!("{field}.scenario"), format!("no scenario {name:?}; the scenarios are {known:?} (or \"base\")")));
            }
            EventKind::ScenarioChosen { scenario: name.clone() }
        }
        other => {
            return Err(cx.invalid(
                &e.span(),
                format!("{field}.kind"),
                format!("unknown event {other:?}; expected consultation_closed, approval_granted, approval_refused, owner_named, funding_named or scenario_chosen"),
            ));
        }
    };
    Ok(EventSpec { day, project: project.id.clone(), kind })
}

/// An event dated outside the window it belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventWindowError {
    /// Index of the event in the list checked.
    pub index: usize,
    /// The field at fault (`day`/`date`, `scopes`, `kind`).
    pub field: &'static str,
    /// What is wrong, naming the window.
    pub message: String,
}

/// Checks that every event falls in the window it belongs to:
/// - nothing before day 0 (the plan's start);
/// - a consultation outcome no earlier than the day the project's consultation phase opens,
///   and, for an outcome on the whole project, no later than the day that phase closed (once
///   approved and closed, the scheme is under approval; a per-scope outcome may still come
///   later for a scope that has not approved, e.g. a unit consulting again after rejecting);
/// - an approval decision no earlier than the approval phase can open (after the declared
///   days of the phases before it).
pub fn check_event_windows(projects: &[ProjectSpec], events: &[EventSpec]) -> Result<(), EventWindowError> {
    for (index, e) in events.iter().enumerate() {
        let err = |field: &'static str, message: String| Err(EventWindowError { index, field, message });
        if e.day < 0 {
            return err("day", format!("day {} is before the plan starts (day 0)", e.day));
        }
        let Some(project) = projects.iter().find(|p| p.id == e.project) else { continue };
        match &e.kind {
            EventKind::ConsultationClosed { scopes, .. } => {
                let (Some(opens), Some(&days), true) =
                    (project.consultation_opens(), project.phase_days.get(&PhaseKind::Consultation), project.consultation_required)
                else {
                    return err("kind", format!("project {:?} has no consultation phase to close", project.id));
                };
                let days = i32::try_from(days).unwrap_or(i32::MAX / 4);
                if e.day < opens {
                    return err(
                        "day",
                        format!("day {}: the consultation window of project {:?} opens on day {opens} (after its earlier phases); an outcome cannot precede it", e.day, project.id),
                    );
                }
                // The phase as closed by the other events (this one left out).
                let others: Vec<EventSpec> = events.iter().enumerate().filter(|(i, _)| *i != index).map(|(_, x)| x.clone()).collect();
                let Some(closed) = decision::consultation_closes(&project.id, opens, days, &others) else { continue };
                if e.day <= closed {
                    continue;
                }
                if scopes.is_empty() {
                    return err(
                        "day",
                        format!("day {}: the consultation window of project {:?} is days {opens}-{closed}; it closed approved on day {closed} and the scheme is under approval", e.day, project.id),
                    );
                }
                let earlier: Vec<EventSpec> = events.iter().enumerate().filter(|(i, x)| *i != index && x.day <= e.day).map(|(_, x)| x.clone()).collect();
                if let Some(key) = scopes.keys().find(|k| decision::scope_outcome(&project.id, k, &earlier).is_some_and(|(a, _)| a)) {
                    return err(
                        "scopes",
                        format!("day {}: scope {key:?} of project {:?} approved already and the consultation window closed on day {closed}; only a scope that has not approved may decide again", e.day, project.id),
                    );
                }
            }
            EventKind::ApprovalGranted { .. } | EventKind::ApprovalRefused { .. } => {
                if let Some(earliest) = project.approvals_open_earliest()
                    && e.day < earliest
                {
                    return err(
                        "day",
                        format!("day {}: the approval window of project {:?} opens on day {earliest} at the earliest (after the declared days of the phases before it)", e.day, project.id),
                    );
                }
            }
            EventKind::ScenarioChosen { .. } => {
                // A choice is decided by a consultation: not before its window opens.
                let Some(opens) = project.consultation_opens().filter(|_| project.consultation_required) else {
                    return err("kind", format!("project {:?} has no consultation phase to choose a scenario in", project.id));
                };
                if e.day < opens {
                    return err(
                        "day",
                        format!("day {}: the consultation window of project {:?} opens on day {opens}; a choice cannot precede it", e.day, project.id),
                    );
                }
            }
            EventKind::OwnerNamed(_) | EventKind::FundingNamed(_) => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEFAULT: &str = include_str!("../../scenes/default/scene.toml");

    fn with_task(task_body: &str) -> String {
        format!("name = \"x\"\nstart = \"2026-01-01\"\n[[projects]]\nname = \"p\"\nphases = {{ construction = 10 }}\n\n[[projects.tasks]]\n{task_body}")
    }

    #[test]
    fn the_default_scene_manifest_parses() {
        let m = Manifest::parse("scenes/default/scene.toml", DEFAULT).expect("default manifest");
        assert!(m.projects.len() >= 3);
        assert!(matches!(m.models[0], ModelSource::District { buildings: 6, .. }));
        assert!(m.projects.iter().all(|p| p.phase_days.len() == 7));
        assert!(!m.scenarios.is_empty(), "the default scene offers alternatives");
        assert!(!m.heritage.is_empty(), "the default scene protects its heritage");
    }

    #[test]
    fn a_misspelt_phase_names_the_file_line_and_field() {
        let text = with_task("name = \"t\"\nphase = \"constrution\"\nduration = 5\naction = \"new\"\nselect = {}\n");
        let msg = Manifest::parse("scene.toml", &text).expect_err("bad phase").to_string();
        assert!(msg.starts_with("scene.toml:9: projects[0].tasks[0].phase:"), "{msg}");
        assert!(msg.contains("constrution"), "{msg}");
    }

    #[test]
    fn a_task_longer_than_its_phase_is_refused() {
        let text = with_task("name = \"t\"\nphase = \"construction\"\nstart = 5\nduration = 6\naction = \"new\"\nselect = {}\n");
        let msg = Manifest::parse("scene.toml", &text).expect_err("too long").to_string();
        assert!(msg.starts_with("scene.toml:11: projects[0].tasks[0].duration:"), "{msg}");
    }

    #[test]
    fn a_dependency_on_an_unknown_task_names_the_task() {
        let text = with_task("id = \"b\"\nname = \"t\"\nphase = \"construction\"\nduration = 2\naction = \"new\"\nselect = {}\nafter = [{ task = \"a\", lag = 3 }]\n");
        let msg = Manifest::parse("scene.toml", &text).expect_err("unknown dep").to_string();
        assert!(msg.contains("task \"b\".after") && msg.contains("\"a\""), "{msg}");
        assert!(msg.starts_with("scene.toml:7:"), "{msg}");
    }

    #[test]
    fn dependencies_read_plain_ids_and_lags() {
        let text = with_task("id = \"a\"\nname = \"a\"\nphase = \"construction\"\nduration = 2\naction = \"new\"\nselect = {}\n\n[[projects.tasks]]\nid = \"b\"\nname = \"b\"\nphase = \"construction\"\nduration = 2\naction = \"new\"\nselect = {}\nafter = [\"a\", { task = \"a\", lag = -1 }]\n");
        let m = Manifest::parse("scene.toml", &text).expect("valid");
        let b = &m.projects[0].tasks[1];
        assert_eq!(b.after, vec![Dependency { task: "a".into(), lag: 0 }, Dependency { task: "a".into(), lag: -1 }]);
    }

    #[test]
    fn toml_syntax_errors_carry_the_parsers_line() {
        let msg = Manifest::parse("scene.toml", "name = \"x\"\nstart = 2026-01-01x\n").expect_err("syntax").to_string();
        assert!(msg.starts_with("scene.toml: "), "{msg}");
        assert!(msg.contains("line 2"), "{msg}");
    }

    #[test]
    fn viewpoints_keep_their_captions_and_a_duplicate_name_is_refused() {
        let one = "[[viewpoints]]\nname = \"gate\"\neye = [0, -50, 20]\ntarget = [0, 0, 5]\ncaption_zh = \"入口\"\ncaption_en = \"The gate\"\n";
        let text = format!("name = \"x\"\nstart = \"2026-01-01\"\n{one}");
        let m = Manifest::parse("scene.toml", &text).expect("parses");
        assert_eq!(m.viewpoints.len(), 1);
        assert_eq!((m.viewpoints[0].caption_zh.as_str(), m.viewpoints[0].eye), ("入口", [0.0, -50.0, 20.0]));
        let err = Manifest::parse("scene.toml", &format!("{text}{one}")).expect_err("duplicate").to_string();
        assert!(err.contains("viewpoints[1].name"), "{err}");
    }

    #[test]
    fn unknown_fields_are_refused() {
        let msg = Manifest::parse("scene.toml", "name = \"x\"\nstart = \"2026-01-01\"\ncolour = 3\n")
            .expect_err("unknown field")
            .to_string();
        assert!(msg.contains("colour"), "{msg}");
    }

    fn two_phase_project(extra: &str, events: &str) -> String {
        format!("name = \"x\"\nstart = \"2026-01-01\"\n[[projects]]\nid = \"pipes\"\nname = \"p\"\nphases = {{ survey = 15, design = 30, consultation = 20, approval = 10 }}\n{extra}{events}")
    }

    #[test]
    fn a_consultation_outcome_before_its_window_opens_is_refused_naming_line_field_and_window() {
        // The consultation opens on day 45 (15 survey + 30 design): day 30 is before it.
        let text = two_phase_project("", "\n[[events]]\ndate = \"2026-01-31\"\nkind = \"consultation_closed\"\nproject = \"pipes\"\noutcome = \"approved\"\n");
        let msg = Manifest::parse("scene.toml", &text).expect_err("before the window").to_string();
        assert!(msg.starts_with("scene.toml:8: events[0].date:"), "{msg}");
        assert!(msg.contains("opens on day 45"), "{msg}");
        let ok = two_phase_project("", "\n[[events]]\nday = 45\nkind = \"consultation_closed\"\nproject = \"pipes\"\noutcome = \"approved\"\n");
        assert!(Manifest::parse("scene.toml", &ok).is_ok());
    }

    #[test]
    fn an_outcome_after_the_phase_closed_approved_and_an_early_approval_are_refused() {
        let events = "\n[[events]]\nday = 50\nkind = \"consultation_closed\"\nproject = \"pipes\"\noutcome = \"approved\"\n\n[[events]]\nday = 70\nkind = \"consultation_closed\"\nproject = \"pipes\"\noutcome = \"rejected\"\n";
        let msg = Manifest::parse("scene.toml", &two_phase_project("", events)).expect_err("after the close").to_string();
        assert!(msg.contains("events[1].day") && msg.contains("closed approved on day 65"), "{msg}");
        let text = two_phase_project("[[projects.approvals]]\nid = \"plan\"\nname = \"n\"\nauthority = \"a\"\ntime_limit = 5\n", "\n[[events]]\nday = 60\nkind = \"approval_granted\"\nproject = \"pipes\"\napproval = \"plan\"\n");
        let msg = Manifest::parse("scene.toml", &text).expect_err("approval too early").to_string();
        assert!(msg.contains("approval window") && msg.contains("day 65"), "{msg}");
    }

    #[test]
    fn the_decision_rule_defaults_to_the_civil_code_and_reads_the_scenes_own() {
        let m = Manifest::parse("scene.toml", &two_phase_project("", "")).expect("parses");
        let rule = &m.projects[0].decision;
        assert_eq!((rule.participation.households, rule.consent.area), (decision::Fraction::new(2, 3), decision::Fraction::new(3, 4)));
        assert_eq!(rule.publicity_days, 20, "the consultation phase's days");
        assert!(rule.source.contains("art. 278"));
        let own = two_phase_project("[projects.decision]\nscope = \"unit\"\nparticipation = { households = \"1/2\", area = \"1/2\" }\nconsent = { households = \"2/3\", area = \"2/3\" }\npublicity_days = 7\n", "");
        let m = Manifest::parse("scene.toml", &own).expect("parses");
        assert_eq!(m.projects[0].decision.scope, decision::Scope::Unit);
        assert_eq!(m.projects[0].decision.consent.households, decision::Fraction::new(2, 3));
        let bad = own.replace("\"2/3\", area", "\"5/3\", area");
        let msg = Manifest::parse("scene.toml", &bad).expect_err("bad fraction").to_string();
        assert!(msg.contains("projects[0].decision.consent.households"), "{msg}");
    }

    #[test]
    fn the_default_scene_decides_lifts_per_unit_and_its_events_fit_their_windows() {
        let m = Manifest::parse("scenes/default/scene.toml", DEFAULT).expect("default manifest");
        let lifts = m.projects.iter().find(|p| p.id == "lifts").expect("lifts");
        assert_eq!(lifts.decision.scope, decision::Scope::Unit);
        assert!(check_event_windows(&m.projects, &m.events).is_ok());
    }

    #[test]
    fn an_event_for_an_unknown_approval_is_refused_with_its_line() {
        let text = "name = \"x\"\nstart = \"2026-01-01\"\n[[projects]]\nid = \"lifts\"\nname = \"p\"\nphases = { approval = 10 }\n[[projects.approvals]]\nid = \"plan\"\nname = \"n\"\nauthority = \"a\"\ntime_limit = 5\n\n[[events]]\nday = 3\nkind = \"approval_granted\"\nproject = \"lifts\"\napproval = \"fire\"\n";
        let msg = Manifest::parse("scene.toml", text).expect_err("unknown approval").to_string();
        assert!(msg.starts_with("scene.toml:13: events[0].approval:"), "{msg}");
    }
}
