//! The underground utility network: existing water, drainage and gas mains under the street,
//! trunks under the cross road, branches under each lane and service connections to every
//! stair unit, plus the renewal plan's NEW PE water pipes beside the old ones.
//!
//! Every pipe is an IfcPipeSegment (hollow circular profile extruded along its axis, below
//! ground), contained in the site, with `Pset_PipeSegmentTypeCommon` and `RenewTwin_Survey`
//! shared by the segments of one run. Runs are split into segments of at most 40 m, as
//! between manholes.

use crate::building::RENEWAL_YEAR;
use crate::kit::{Dir, ElementHead, Emitter, Value, key};
use crate::layout::{
    BuildingPlan, CROSS_ROAD_EAST, CROSS_ROAD_WEST, DistrictPlan, RowPlan, STREET_NORTH,
    STREET_SOUTH,
};
use crate::rng::SplitMix64;
use crate::step::Id;
use std::collections::BTreeMap;
use std::io::{self, Write};

const MAX_SEGMENT: f64 = 40.0;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum System {
    WaterSupply,
    Drainage,
    Gas,
}

impl System {
    fn object_type(self) -> &'static str {
        match self {
            Self::WaterSupply => "WATER_SUPPLY",
            Self::Drainage => "DRAINAGE",
            Self::Gas => "GAS",
        }
    }

    fn code(self) -> &'static str {
        match self {
            Self::WaterSupply => "WS",
            Self::Drainage => "DR",
            Self::Gas => "GAS",
        }
    }
}

/// Pipe material with its Chinese and English name and wall thickness per nominal diameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Material {
    GreyCastIron,
    Concrete,
    Steel,
    GalvanisedSteel,
    Pe100,
}

impl Material {
    fn name(self) -> &'static str {
        match self {
            Self::GreyCastIron => "灰口铸铁 grey cast iron",
            Self::Concrete => "钢筋混凝土 reinforced concrete",
            Self::Steel => "钢 steel",
            Self::GalvanisedSteel => "镀锌钢 galvanised steel",
            Self::Pe100 => "聚乙烯 PE100",
        }
    }

    fn wall(self, dn: f64) -> f64 {
        match self {
            Self::GreyCastIron => 0.008 + 0.02 * dn,
            Self::Concrete => 0.1 * dn,
            Self::Steel | Self::GalvanisedSteel => 0.003 + 0.02 * dn,
            Self::Pe100 => dn / 11.0, // SDR 11
        }
    }
}

/// Which way a run goes from its start point.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Axis {
    East,
    North,
}

/// What a run is made of.
#[derive(Debug, Clone, Copy)]
struct Pipe {
    system: System,
    material: Material,
    /// Nominal (inner) diameter, m.
    dn: f64,
    year: i64,
    new: bool,
}

impl Pipe {
    fn existing(system: System, material: Material, dn: f64, year: i64) -> Self {
        Self {
            system,
            material,
            dn,
            year,
            new: false,
        }
    }

    /// The renewal plan's NEW PE100 water pipe of nominal diameter `dn`.
    fn new_water(dn: f64) -> Self {
        Self {
            system: System::WaterSupply,
            material: Material::Pe100,
            dn,
            year: RENEWAL_YEAR,
            new: true,
        }
    }

    /// Nominal diameter in millimetres, as names print it.
    fn dn_mm(&self) -> f64 {
        self.dn * 1000.0
    }

    /// The tag suffix of NEW pipes.
    fn new_suffix(&self) -> &'static str {
        if self.new { "-NEW" } else { "" }
    }
}

/// A straight run of identical pipe.
#[derive(Debug, Clone)]
struct Run {
    pipe: Pipe,
    start: [f64; 3],
    axis: Axis,
    length: f64,
    name: String,
    code: String,
}

/// Writes every pipe; returns the ids to contain in the site.
pub(crate) fn write_pipes<W: Write>(
    e: &mut Emitter<W>,
    site_placement: Id,
    plan: &DistrictPlan,
    seed: u64,
) -> io::Result<Vec<Id>> {
    let mut writer = PipeWriter {
        site_placement,
        profiles: BTreeMap::new(),
        shapes: BTreeMap::new(),
        elements: Vec::new(),
        rng: SplitMix64::new(seed, 0x5049_5045),
    };
    let oldest = plan
        .buildings
        .iter()
        .map(|b| i64::from(b.year))
        .min()
        .unwrap_or(1985);
    street_mains(e, &mut writer, plan, oldest)?;
    for row in &plan.rows {
        lane_branches(e, &mut writer, plan, row, oldest)?;
    }
    Ok(writer.elements)
}

/// Street mains (市政干管) and the trunks under the cross road up to the last lane.
fn street_mains<W: Write>(
    e: &mut Emitter<W>,
    writer: &mut PipeWriter,
    plan: &DistrictPlan,
    oldest: i64,
) -> io::Result<()> {
    let (x0, x1) = (plan.street.x0, plan.street.x1);
    let north_end = plan.rows.last().map_or(0.0, |r| r.lane_center);
    // (pipe, y, z of the main; x, z, DN of the trunk)
    let mains = [
        (
            Pipe::existing(System::WaterSupply, Material::GreyCastIron, 0.2, oldest),
            STREET_NORTH - 3.0,
            -1.4,
            CROSS_ROAD_WEST + 2.0,
            -1.4,
            0.15,
        ),
        (
            Pipe::existing(System::Drainage, Material::Concrete, 0.5, oldest),
            (STREET_NORTH + STREET_SOUTH) / 2.0,
            -2.4,
            CROSS_ROAD_WEST + 3.5,
            -2.2,
            0.4,
        ),
        (
            Pipe::existing(System::Gas, Material::Steel, 0.15, oldest.max(1990)),
            STREET_NORTH + 2.0,
            -1.0,
            CROSS_ROAD_EAST - 1.5,
            -1.0,
            0.1,
        ),
    ];
    for (pipe, y, z, trunk_x, trunk_z, trunk_dn) in mains {
        let (zh, en) = system_label(pipe.system);
        let code = pipe.system.code();
        let name = format!("市政{zh}干管 street {en} main DN{:.0}", pipe.dn_mm());
        writer.run(
            e,
            pipe,
            ([x0, y, z], Axis::East, x1 - x0),
            name,
            format!("P-STREET-{code}"),
        )?;
        if north_end > y {
            let trunk = Pipe {
                dn: trunk_dn,
                ..pipe
            };
            let name = format!("小区{zh}总管 estate {en} trunk DN{:.0}", trunk.dn_mm());
            let length = north_end + 2.0 - y;
            let code = format!("P-TRUNK-{code}");
            writer.run(
                e,
                trunk,
                ([trunk_x, y, trunk_z], Axis::North, length),
                name,
                code,
            )?;
        }
    }
    Ok(())
}

/// A lane's branches (支管), old and NEW, and the service connections of its buildings.
fn lane_branches<W: Write>(
    e: &mut Emitter<W>,
    writer: &mut PipeWriter,
    plan: &DistrictPlan,
    row: &RowPlan,
    oldest: i64,
) -> io::Result<()> {
    let r = row.index + 1;
    let row_buildings: Vec<_> = plan
        .buildings
        .iter()
        .filter(|b| b.row == row.index)
        .collect();
    let row_year = row_buildings
        .iter()
        .map(|b| i64::from(b.year))
        .min()
        .unwrap_or(oldest);
    let lc = row.lane_center;
    // (pipe, y, z, start x)
    let branches = [
        (
            Pipe::existing(System::WaterSupply, Material::GreyCastIron, 0.1, row_year),
            lc - 1.5,
            -1.2,
            CROSS_ROAD_WEST + 2.0,
        ),
        (
            Pipe::existing(System::Drainage, Material::Concrete, 0.3, row_year),
            lc,
            -1.8,
            CROSS_ROAD_WEST + 3.5,
        ),
        (
            Pipe::existing(System::Gas, Material::Steel, 0.1, row_year.max(1990)),
            lc + 1.5,
            -0.9,
            CROSS_ROAD_EAST - 1.5,
        ),
        (Pipe::new_water(0.11), lc - 2.3, -1.2, CROSS_ROAD_WEST + 2.0),
    ];
    for (pipe, y, z, start_x) in branches {
        let (zh, en) = system_label(pipe.system);
        let state = if pipe.new {
            "新建 new"
        } else {
            "现状 existing"
        };
        let name = format!(
            "{r}号路{zh}支管 lane {r} {en} branch DN{:.0} ({state})",
            pipe.dn_mm()
        );
        let code = format!("P-LANE{r:02}-{}{}", pipe.system.code(), pipe.new_suffix());
        let length = row.lane.x1 - 1.0 - start_x;
        writer.run(e, pipe, ([start_x, y, z], Axis::East, length), name, code)?;
    }
    for b in row_buildings {
        service_connections(e, writer, b, lc)?;
    }
    Ok(())
}

/// The service connections (入户管) of every stair unit of building `b`, north to the lane
/// whose centre line is at `lc`.
fn service_connections<W: Write>(
    e: &mut Emitter<W>,
    writer: &mut PipeWriter,
    b: &BuildingPlan,
    lc: f64,
) -> io::Result<()> {
    let n = b.number;
    let face = b.origin[1] + b.depth;
    let year = i64::from(b.year);
    // (pipe, x offset from the stair centre, lane y, z)
    let services = [
        (
            Pipe::existing(System::WaterSupply, Material::GalvanisedSteel, 0.05, year),
            2.2,
            lc - 1.5,
            -1.0,
        ),
        (
            Pipe::existing(System::Drainage, Material::GreyCastIron, 0.15, year),
            2.9,
            lc,
            -1.5,
        ),
        (
            Pipe::existing(System::Gas, Material::Steel, 0.025, year.max(1990)),
            3.6,
            lc + 1.5,
            -0.8,
        ),
        (Pipe::new_water(0.032), 1.6, lc - 2.3, -1.0),
    ];
    for (pipe, dx, to_y, z) in services {
        let (zh, en) = system_label(pipe.system);
        for unit in 0..b.units {
            let u = unit + 1;
            let x = b.origin[0] + b.stair_center(unit) + dx;
            let name = format!(
                "{n}号楼{u}单元{zh}入户管 building {n} unit {u} {en} service DN{:.0}",
                pipe.dn_mm()
            );
            let code = format!("P-B{n:03}-U{u}-{}{}", pipe.system.code(), pipe.new_suffix());
            writer.run(
                e,
                pipe,
                ([x, face, z], Axis::North, to_y - face),
                name,
                code,
            )?;
        }
    }
    Ok(())
}

fn system_label(system: System) -> (&'static str, &'static str) {
    match system {
        System::WaterSupply => ("给水", "water supply"),
        System::Drainage => ("排水", "drainage"),
        System::Gas => ("燃气", "gas"),
    }
}

#[derive(Debug)]
struct PipeWriter {
    site_placement: Id,
    profiles: BTreeMap<(i64, i64), Id>,
    shapes: BTreeMap<(i64, i64, i64), Id>,
    elements: Vec<Id>,
    rng: SplitMix64,
}

impl PipeWriter {
    /// Writes a run of `pipe` from `start` along `axis` for `length` metres.
    fn run<W: Write>(
        &mut self,
        e: &mut Emitter<W>,
        pipe: Pipe,
        (start, axis, length): ([f64; 3], Axis, f64),
        name: String,
        code: String,
    ) -> io::Result<()> {
        self.write_run(
            e,
            Run {
                pipe,
                start,
                axis,
                length,
                name,
                code,
            },
        )
    }

    fn write_run<W: Write>(&mut self, e: &mut Emitter<W>, run: Run) -> io::Result<()> {
        if run.length <= 0.05 {
            return Ok(());
        }
        let wall = run.pipe.material.wall(run.pipe.dn);
        let outer = run.pipe.dn + 2.0 * wall;
        let profile_key = (key(outer), key(wall));
        let profile = match self.profiles.get(&profile_key) {
            Some(&id) => id,
            None => {
                let name = format!("DN{:.0}", run.pipe.dn * 1000.0);
                let id = e.w.entity("IFCCIRCLEHOLLOWPROFILEDEF", |a| {
                    a.enumeration("AREA")
                        .str(&name)
                        .null()
                        .real(outer / 2.0)
                        .real(wall);
                })?;
                self.profiles.insert(profile_key, id);
                id
            }
        };
        let segments = (run.length / MAX_SEGMENT).ceil().max(1.0) as u32;
        let seg_length = run.length / f64::from(segments);
        let shape_key = (profile_key.0, profile_key.1, key(seg_length));
        let shape = match self.shapes.get(&shape_key) {
            Some(&id) => id,
            None => {
                let identity = e.identity;
                let solid = e.extrude(profile, identity, seg_length)?;
                let id = e.body_shape("SweptSolid", &[solid])?;
                self.shapes.insert(shape_key, id);
                id
            }
        };
        let (axis, ref_dir, step) = match run.axis {
            Axis::East => (Dir::X, Dir::Y, [seg_length, 0.0]),
            Axis::North => (Dir::Y, Dir::X, [0.0, seg_length]),
        };
        let status = if run.pipe.new { "NEW" } else { "EXISTING" };
        let mut ids = Vec::with_capacity(segments as usize);
        for s in 0..segments {
            let f = f64::from(s);
            let origin = [
                run.start[0] + f * step[0],
                run.start[1] + f * step[1],
                run.start[2],
            ];
            let a2p = e.a2p_oriented(origin, axis, ref_dir)?;
            let placement = e.placement(Some(self.site_placement), a2p)?;
            let pds = e.product_shape(shape)?;
            let tag = if segments > 1 {
                format!("{}-{:03}", run.code, s + 1)
            } else {
                run.code.clone()
            };
            let id = e.element(
                "IFCPIPESEGMENT",
                &ElementHead {
                    name: &run.name,
                    description: Some(run.pipe.material.name()),
                    object_type: Some(run.pipe.system.object_type()),
                    placement,
                    representation: Some(pds),
                    tag: Some(&tag),
                },
                |a| {
                    a.enumeration("RIGIDSEGMENT");
                },
            )?;
            e.counts.pipes += 1;
            if run.pipe.new {
                e.counts.new_pipes += 1;
            }
            ids.push(id);
        }
        let age = RENEWAL_YEAR - run.pipe.year;
        let condition = if run.pipe.new {
            "PLANNED"
        } else if age > 35 {
            *self.rng.pick(&["FAIR", "POOR", "POOR", "CRITICAL"])
        } else {
            *self.rng.pick(&["GOOD", "FAIR", "FAIR", "POOR"])
        };
        e.pset(
            &ids,
            "Pset_PipeSegmentTypeCommon",
            &[
                (
                    "Reference",
                    Value::label(format!("DN{:.0}", run.pipe.dn * 1000.0)),
                ),
                ("Status", Value::label(status)),
                ("NominalDiameter", Value::PositiveLength(run.pipe.dn)),
                ("InnerDiameter", Value::PositiveLength(run.pipe.dn)),
                ("OuterDiameter", Value::PositiveLength(outer)),
            ],
        )?;
        e.pset(
            &ids,
            "RenewTwin_Survey",
            &[
                ("System", Value::label(run.pipe.system.object_type())),
                ("Material", Value::label(run.pipe.material.name())),
                ("InstallYear", Value::Integer(run.pipe.year)),
                ("NominalDiameter", Value::PositiveLength(run.pipe.dn)),
                ("CoverDepth", Value::Length(-run.start[2] - outer / 2.0)),
                ("Condition", Value::label(condition)),
                ("Status", Value::label(status)),
            ],
        )?;
        self.elements.extend(ids);
        Ok(())
    }
}
