//! Deterministic IFC4 generator of an old residential district (老旧小区): rows of 1980s–90s
//! five-to-seven-storey brick-concrete walk-ups along a street, with their underground
//! pipes, the renewal plan's NEW elements (external lift shafts, new PE water pipes, a
//! pocket park) and one protected heritage structure. It is renewtwin's built-in default
//! scene and its benchmark generator.
//!
//! The same [`DistrictConfig`] always gives byte-identical output: a fixed header
//! timestamp, GlobalIds derived from the seed and a counter, and a self-contained PRNG.
//! Output is streamed instance by instance, so memory stays proportional to one building
//! plus a few id lists, and work is linear in the number of buildings.
//!
//! Recognising elements (for engines and tests):
//! - facade walls: `IfcWall` with ObjectType `FACADE_SOUTH`/`FACADE_NORTH` (gables
//!   `GABLE_WEST`/`GABLE_EAST`), `Pset_WallCommon.IsExternal = TRUE`; Tag `B001-3F-EW-S`.
//! - pipes: `IfcPipeSegment`, ObjectType `WATER_SUPPLY`/`DRAINAGE`/`GAS`, Tag `P-…`,
//!   `RenewTwin_Survey` (Material, InstallYear, NominalDiameter, Condition, Status).
//! - lift shafts: `IfcTransportElement` `.ELEVATOR.`, ObjectType `LIFT_SHAFT`, Tag
//!   `B001-U1-LIFT`, `Pset_TransportElementCommon.Status = 'NEW'`.
//!
//! Planning data (for the simulation, scenario indicators and risk analytics):
//! - every `IfcBuilding`: `RenewTwin_Building` with `StructureType` (IfcLabel
//!   `brick-concrete`/`masonry`/`frame`), `Units`, `FlatsPerLanding` (2, as modelled),
//!   `Households` (= Units × storeys × FlatsPerLanding), `Residents` (Households × 2.5,
//!   rounded half up), `InspectionGrade` (IfcLabel `A`–`D` of JGJ 125-2016, the urban
//!   dangerous-building appraisal standard; mostly `B`/`C`), `InspectionStandard`,
//!   `RecordedDefects` (integer), `Heritage` (IfcBoolean, FALSE for every block: the
//!   district's heritage is the archway below), `StoreyHeight`, `FacadeCondition`,
//!   `RenewalPhase`; and `Pset_BuildingCommon.GrossPlannedArea` (gross floor area, m²:
//!   footprint × storeys, rounded to whole m²) with `NumberOfStoreys`.
//! - the heritage structure, written for every config (it marks the estate road's entrance,
//!   which exists even with no buildings): `IfcElementAssembly` ObjectType
//!   `MEMORIAL_ARCHWAY`, Tag `HERITAGE-01`, a late-Qing stone memorial archway (石牌坊)
//!   contained in the site, aggregating `IfcColumn`/`IfcBeam`/`IfcBuildingElementProxy` parts
//!   tagged `HERITAGE-01-…`. The assembly and every part carry `RenewTwin_Heritage`
//!   (`Protected` TRUE, `Grade` `district-level`, `Listed`, `Built`, `Material`,
//!   `ControlZone` in m); parts have `Status = 'EXISTING'` in their `Pset_*Common`.
//! - the pocket park: `RenewTwin_Landscape.GreenArea` (m², its planar area).
//! - the `IfcSite`: `RenewTwin_Site` (`SiteArea` m², `ParcelLength`, `ParcelWidth`) and
//!   `Pset_SiteCommon.TotalArea`, the estate parcel north of the street that holds every
//!   block, lane, the park and the archway; floor area ratio = Σ GrossPlannedArea / SiteArea.

mod building;
mod fillings;
mod guid;
mod heritage;
mod kit;
mod layout;
mod pipes;
mod rng;
mod site;
mod step;

pub use building::LiftSide;

use std::io::{self, Write};

/// Settings of a generated district.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DistrictConfig {
    /// Number of residential buildings.
    pub buildings: u32,
    /// Random seed; the same seed always gives byte-identical output.
    pub seed: u64,
    /// Buildings per row along the street; `None` picks a roughly square district.
    pub buildings_per_row: Option<u32>,
}

impl Default for DistrictConfig {
    fn default() -> Self {
        Self {
            buildings: 6,
            seed: 1,
            buildings_per_row: None,
        }
    }
}

/// What was written.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DistrictSummary {
    /// IfcBuilding count.
    pub buildings: u64,
    /// IfcBuildingStorey count.
    pub storeys: u64,
    /// Stair units (单元) over all buildings.
    pub units: u64,
    /// IfcWall count (external and internal).
    pub walls: u64,
    /// External walls among `walls` (facades and gables).
    pub external_walls: u64,
    /// IfcWindow count.
    pub windows: u64,
    /// IfcDoor count.
    pub doors: u64,
    /// IfcOpeningElement count (window/door openings and stairwell openings in slabs).
    pub openings: u64,
    /// IfcSlab (FLOOR) count.
    pub slabs: u64,
    /// IfcRoof count.
    pub roofs: u64,
    /// IfcStair count.
    pub stairs: u64,
    /// IfcPipeSegment count, existing and new.
    pub pipes: u64,
    /// Pipe segments with Status NEW.
    pub new_pipes: u64,
    /// IfcTransportElement (ELEVATOR) count: the NEW lift shafts.
    pub lifts: u64,
    /// IfcCivilElement count: street, sidewalks, roads, lanes.
    pub civil_elements: u64,
    /// IfcGeographicElement count: the pocket park.
    pub geographic_elements: u64,
    /// Protected heritage structures (IfcElementAssembly): always exactly one, the archway.
    pub heritage_structures: u64,
    /// Their parts (IfcColumn, IfcBeam, IfcBuildingElementProxy), each carrying
    /// `RenewTwin_Heritage.Protected = TRUE`.
    pub heritage_elements: u64,
    /// Households over all buildings (`RenewTwin_Building.Households`).
    pub households: u64,
    /// Residents over all buildings (`RenewTwin_Building.Residents`).
    pub residents: u64,
    /// STEP instances written.
    pub entities: u64,
    /// Bytes written.
    pub bytes: u64,
}

/// Why a district could not be written.
#[derive(Debug, thiserror::Error)]
pub enum GenerateError {
    /// The output sink failed.
    #[error("cannot write the ifc output after {bytes} bytes: {source}")]
    Io {
        /// Output produced before the failure, counted at building boundaries (the sink
        /// may have accepted less, the internal buffer holding the rest).
        bytes: u64,
        /// The sink's error.
        source: io::Error,
    },
}

/// Writes the district as an IFC4 STEP file to `out` (buffered internally).
pub fn write_district<W: Write>(
    config: &DistrictConfig,
    out: W,
) -> Result<DistrictSummary, GenerateError> {
    let mut bytes = 0;
    generate(
        config,
        io::BufWriter::with_capacity(1 << 16, out),
        &mut bytes,
    )
    .map_err(|source| GenerateError::Io { bytes, source })
}

/// Writes a design variant of the district `config` describes as an IFC4 STEP file to `out`:
/// the same project and site (so the variant is placed in the district's frame, "one map"),
/// holding only a NEW lift shaft per stair unit of every building against the `side` facade,
/// in place of the district's own north-side shafts. Deterministic like [`write_district`];
/// its GlobalIds are drawn from a stream of their own, so they never clash with the
/// district's. `summary.lifts` counts the shafts.
pub fn write_lift_variant<W: Write>(
    config: &DistrictConfig,
    side: LiftSide,
    out: W,
) -> Result<DistrictSummary, GenerateError> {
    let mut bytes = 0;
    generate_lift_variant(config, side, io::BufWriter::with_capacity(1 << 16, out), &mut bytes)
        .map_err(|source| GenerateError::Io { bytes, source })
}

fn generate_lift_variant<W: Write>(
    config: &DistrictConfig,
    side: LiftSide,
    out: W,
    bytes: &mut u64,
) -> io::Result<DistrictSummary> {
    let per_row = config
        .buildings_per_row
        .unwrap_or_else(|| layout::auto_per_row(config.buildings));
    let plan = layout::DistrictPlan::new(config.buildings, per_row, config.seed);
    // Another GlobalId stream than the district's (which uses `seed` itself).
    let guid_seed = rng::mix64(config.seed ^ 0x4c49_4654_5641_5231 ^ (side as u64));
    let mut w = step::StepWriter::new(out, guid_seed);
    let file_name = format!(
        "renewtwin-lifts-{}-{}b-seed{}.ifc",
        side.key(),
        config.buildings,
        config.seed
    );
    w.header(
        &file_name,
        &format!(
            "renewtwin design variant: lift shafts on the {} side, district of {} buildings, seed {}",
            side.key(),
            config.buildings,
            config.seed
        ),
    )?;
    let (mut e, model_context) = kit::Emitter::new(w)?;
    let site = site::write_project_and_site(&mut e, model_context, &plan, rng::mix64(config.seed))?;
    let mut lifts = Vec::new();
    for building in &plan.buildings {
        lifts.extend(building::write_lift_variant_building(&mut e, site.placement, building, side)?);
        *bytes = e.w.bytes();
    }
    e.contain(site.site, &lifts)?;
    e.w.finish()?;
    *bytes = e.w.bytes();
    let mut summary = e.counts;
    summary.entities = e.w.entities();
    summary.bytes = e.w.bytes();
    Ok(summary)
}

/// Writes the district as IFC4 text in memory.
pub fn district_ifc(config: &DistrictConfig) -> String {
    let mut buf = Vec::new();
    if let Err(err) = write_district(config, &mut buf) {
        // A Vec sink never fails; keep whatever was written rather than panic.
        debug_assert!(false, "in-memory write failed: {err}");
    }
    // The writer escapes everything outside ASCII, so this is always valid UTF-8.
    String::from_utf8(buf)
        .unwrap_or_else(|err| String::from_utf8_lossy(err.as_bytes()).into_owned())
}

fn generate<W: Write>(
    config: &DistrictConfig,
    out: W,
    bytes: &mut u64,
) -> io::Result<DistrictSummary> {
    let per_row = config
        .buildings_per_row
        .unwrap_or_else(|| layout::auto_per_row(config.buildings));
    let plan = layout::DistrictPlan::new(config.buildings, per_row, config.seed);

    let mut w = step::StepWriter::new(out, config.seed);
    let file_name = format!(
        "renewtwin-district-{}b-seed{}.ifc",
        config.buildings, config.seed
    );
    w.header(
        &file_name,
        &format!(
            "renewtwin generated district: {} buildings, seed {}",
            config.buildings, config.seed
        ),
    )?;
    let (mut e, model_context) = kit::Emitter::new(w)?;
    let site = site::write_project_and_site(&mut e, model_context, &plan, rng::mix64(config.seed))?;
    let mut fillings = fillings::FillingTypes::write(&mut e, plan.city.wall_thickness)?;

    let mut buildings = Vec::with_capacity(plan.buildings.len());
    for building in &plan.buildings {
        buildings.push(building::write_building(
            &mut e,
            &mut fillings,
            site.placement,
            building,
        )?);
        *bytes = e.w.bytes();
    }
    let mut on_site = site::write_grounds(&mut e, site.placement, &plan)?;
    on_site.push(heritage::write_archway(&mut e, site.placement, &plan)?);
    on_site.extend(pipes::write_pipes(
        &mut e,
        site.placement,
        &plan,
        config.seed,
    )?);
    e.contain(site.site, &on_site)?;
    e.aggregate(site.site, &buildings)?;
    fillings.finish(&mut e)?;
    e.pset(
        &[site.site],
        "RenewTwin_District",
        &[
            (
                "City",
                kit::Value::label(format!("{} {}", plan.city.name_zh, plan.city.name_en)),
            ),
            (
                "Generator",
                kit::Value::label(concat!("renewtwin-generator ", env!("CARGO_PKG_VERSION"))),
            ),
            ("Seed", kit::Value::label(config.seed.to_string())),
            (
                "Buildings",
                kit::Value::Integer(i64::from(config.buildings)),
            ),
            ("Synthetic", kit::Value::Boolean(true)),
        ],
    )?;
    let site_area = plan.parcel.area();
    e.pset(
        &[site.site],
        "RenewTwin_Site",
        &[
            ("SiteArea", kit::Value::Area(site_area)),
            (
                "ParcelLength",
                kit::Value::PositiveLength(plan.parcel.x1 - plan.parcel.x0),
            ),
            (
                "ParcelWidth",
                kit::Value::PositiveLength(plan.parcel.y1 - plan.parcel.y0),
            ),
        ],
    )?;
    e.pset(
        &[site.site],
        "Pset_SiteCommon",
        &[("TotalArea", kit::Value::Area(site_area))],
    )?;
    e.w.finish()?;
    *bytes = e.w.bytes();
    let mut summary = e.counts;
    summary.entities = e.w.entities();
    summary.bytes = e.w.bytes();
    Ok(summary)
}
