//! One residential slab block: IfcBuilding with its storeys, load-bearing brick walls,
//! floor slabs with stairwell openings, windows and entrance doors in openings of the
//! facades, dog-leg stairs per unit, the flat roof, and the NEW lift shaft per unit.
//!
//! Building-local frame: origin at the south-west footprint corner, x along the block,
//! y across it (south face at y = 0, north face at y = depth). Geometry that is the same on
//! every storey (wall bodies, wall/opening placements) is written once per building and
//! referenced from each storey; storeys differ only in their own placement.

use crate::fillings::{FillingKind, FillingTypes};
use crate::kit::{Aabb, Dir, ElementHead, Emitter, Value};
use crate::layout::{BuildingPlan, LIFT_DEPTH};
use crate::step::Id;
use std::io::{self, Write};

/// Thickness of internal load-bearing brick walls (m).
const INNER_WALL: f64 = 0.24;
/// Precast hollow-core floor planks (m).
const SLAB: f64 = 0.12;
const ROOF_SLAB: f64 = 0.18;
const PARAPET: f64 = 0.6;
/// Half the stairwell bay width between stair-wall axes (m).
const HALF_BAY: f64 = 1.35;
const FLOOR_LANDING: f64 = 1.4;
const MID_LANDING: f64 = 1.3;
const TREAD: f64 = 0.26;
/// Lift shaft: square footprint, pit depth, overrun above the roof (m).
const LIFT_SIZE: f64 = 2.4;
const LIFT_PANEL: f64 = 0.15;
const LIFT_PIT: f64 = 1.5;
const LIFT_OVERRUN: f64 = 1.2;
// The shaft must fit between the facade and the lane.
const _: () = assert!(LIFT_SIZE <= LIFT_DEPTH);
/// Year the renewal plan adds lifts.
pub(crate) const RENEWAL_YEAR: i64 = 2026;
/// Flats per stair landing (一梯两户), as the modelled floor plan and windows lay out.
const FLATS_PER_LANDING: u32 = 2;
/// Residents per household used for `Residents` (a typical urban household size).
const PERSONS_PER_HOUSEHOLD_X2: i64 = 5;

/// The structural system (结构类型) recorded for a block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Structure {
    /// 砖混: brick bearing walls with precast concrete floors, most blocks of the era.
    BrickConcrete,
    /// 砌体: older masonry, brick or block walls with lighter floors.
    Masonry,
    /// 框架: reinforced-concrete frame with brick infill (some 1990s blocks).
    Frame,
}

impl Structure {
    fn label(self) -> &'static str {
        match self {
            Self::BrickConcrete => "brick-concrete",
            Self::Masonry => "masonry",
            Self::Frame => "frame",
        }
    }

    fn description(self) -> &'static str {
        match self {
            Self::BrickConcrete => "砖混结构住宅楼 brick-concrete walk-up residential block",
            Self::Masonry => "砌体结构住宅楼 masonry walk-up residential block",
            Self::Frame => "框架结构住宅楼 RC-frame walk-up residential block",
        }
    }

    /// Whether the brick walls carry the floors (in a frame they are infill).
    fn walls_bear_load(self) -> bool {
        self != Self::Frame
    }
}

/// Dangerous-building appraisal grades of JGJ 125-2016 (危险房屋鉴定标准): A no dangerous
/// members; B some dangerous members, structure sound; C locally dangerous (局部危房);
/// D dangerous as a whole (整幢危房).
const GRADES: [&str; 4] = ["A", "B", "C", "D"];

/// What the building survey and the household register say about a block, decided from
/// the building's own random streams (3: facade, 4: structure and appraisal).
#[derive(Debug, Clone)]
struct Survey {
    structure: Structure,
    facade_condition: &'static str,
    /// Index into [`GRADES`].
    grade: usize,
    defects: i64,
    households: i64,
    residents: i64,
}

impl Survey {
    fn new(plan: &BuildingPlan) -> Self {
        use crate::rng::SplitMix64;
        use Structure::{BrickConcrete as Bc, Frame, Masonry};
        let facade_condition =
            *SplitMix64::new(plan.stream_seed, 3).pick(&["GOOD", "FAIR", "FAIR", "POOR"]);
        let mut rng = SplitMix64::new(plan.stream_seed, 4);
        let structure = if plan.year < 1985 {
            *rng.pick(&[Bc, Bc, Bc, Masonry, Masonry])
        } else {
            *rng.pick(&[Bc, Bc, Bc, Bc, Bc, Masonry, Frame])
        };
        // Mostly B and C for blocks of the 1980s–90s; older and shabbier ones fare worse.
        let mut score = rng.range_u32(0, 99);
        match facade_condition {
            "POOR" => score += 15,
            "GOOD" => score = score.saturating_sub(10),
            _ => {}
        }
        if plan.year < 1985 {
            score += 10;
        } else if plan.year >= 1993 {
            score = score.saturating_sub(10);
        }
        let grade = match score {
            0..10 => 0,
            10..55 => 1,
            55..94 => 2,
            _ => 3,
        };
        let (lo, hi) = [(0, 2), (2, 7), (6, 15), (14, 28)][grade];
        let defects = i64::from(rng.range_u32(lo, hi) + plan.units - 2);
        let households = i64::from(plan.units * plan.storeys * FLATS_PER_LANDING);
        Self {
            structure,
            facade_condition,
            grade,
            defects,
            households,
            // households × 2.5, rounded half up.
            residents: (households * PERSONS_PER_HOUSEHOLD_X2 + 1) / 2,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Facade {
    South,
    North,
}

/// (origin, size in plan, external, name, object type, tag code) of a wall.
type WallSpec = ([f64; 2], [f64; 2], bool, &'static str, &'static str, String);

/// A wall written once per building and instanced on every storey.
#[derive(Debug)]
struct WallTemplate {
    a2p: Id,
    shape: Id,
    external: bool,
    name: &'static str,
    object_type: &'static str,
    code: String,
}

/// A window or door position in a facade, the same on every storey.
#[derive(Debug)]
struct FillingSlot {
    facade: Facade,
    kind: FillingKind,
    /// Opening placement relative to the wall placement.
    a2p: Id,
    unit: u32,
    /// Only on the ground storey (doors) or only above it (the stair window the door replaces).
    ground_only: Option<bool>,
    name: String,
    code: String,
}

/// The stair geometry of one storey height.
#[derive(Debug, Clone, Copy)]
struct StairDims {
    risers: u32,
    riser: f64,
    /// Depth of the stairwell bay from the north wall's inner face.
    bay_depth: f64,
}

impl StairDims {
    fn new(storey_height: f64) -> Self {
        let risers = ((storey_height / 2.0) / 0.165).round().max(2.0) as u32;
        let riser = storey_height / 2.0 / f64::from(risers);
        let bay_depth = FLOOR_LANDING + f64::from(risers) * TREAD + MID_LANDING;
        Self {
            risers,
            riser,
            bay_depth,
        }
    }

    fn run(&self) -> f64 {
        f64::from(self.risers) * TREAD
    }
}

/// Objects collected per building for the shared property sets.
#[derive(Debug, Default)]
struct Groups {
    external_walls: Vec<Id>,
    internal_walls: Vec<Id>,
    windows: Vec<Id>,
    doors: Vec<Id>,
    slabs: Vec<Id>,
    stairs: Vec<Id>,
    roofs: Vec<Id>,
    lifts: Vec<Id>,
    /// Per unit (单元): its stairs and its lift shaft, which carry the unit's key.
    units: Vec<Vec<Id>>,
}

/// Shapes and placements written once per building and used on every storey.
#[derive(Debug)]
struct BuildingKit {
    walls: Vec<WallTemplate>,
    slots: Vec<FillingSlot>,
    slab_shape: Id,
    slab_opening_shape: Id,
    stair_shape: Id,
    roof_shape: Id,
    lift_shape: Id,
    /// Per stair unit: the stair's, the stairwell opening's and the lift's placement.
    per_unit: Vec<(Id, Id, Id)>,
}

/// The storey being written.
#[derive(Debug, Clone, Copy)]
struct Storey {
    /// Building number.
    n: u32,
    /// 0-based storey index.
    k: u32,
    /// 1-based floor number (`k + 1`).
    floor: u32,
    placement: Id,
}

/// The head of an element placed at `a2p` under a parent placement, with one body shape.
#[derive(Debug, Clone, Copy)]
struct Placed<'a> {
    keyword: &'static str,
    name: &'a str,
    description: Option<&'a str>,
    object_type: Option<&'a str>,
    tag: &'a str,
    /// Its predefined type.
    predefined: &'static str,
    /// Its count in the summary.
    count: fn(&mut crate::DistrictSummary) -> &mut u64,
}

/// Writes the element `head` describes: its placement under `parent`, its product shape of
/// `shape`, then the element; counts it, records it in `group` and in the storey's
/// `contained`, and returns the element and its placement.
fn placed<W: Write>(
    e: &mut Emitter<W>,
    (parent, a2p, shape): (Id, Id, Id),
    head: Placed<'_>,
    group: &mut Vec<Id>,
    contained: &mut Vec<Id>,
) -> io::Result<(Id, Id)> {
    let placement = e.placement(Some(parent), a2p)?;
    let representation = e.product_shape(shape)?;
    let id = e.element(
        head.keyword,
        &ElementHead {
            name: head.name,
            description: head.description,
            object_type: head.object_type,
            placement,
            representation: Some(representation),
            tag: Some(head.tag),
        },
        |a| {
            a.enumeration(head.predefined);
        },
    )?;
    *(head.count)(&mut e.counts) += 1;
    group.push(id);
    contained.push(id);
    Ok((id, placement))
}

/// Writes the building and everything in it; returns the IfcBuilding.
pub(crate) fn write_building<W: Write>(
    e: &mut Emitter<W>,
    fillings: &mut FillingTypes,
    site_placement: Id,
    plan: &BuildingPlan,
) -> io::Result<Id> {
    let stair = StairDims::new(plan.storey_height);
    let (building, building_placement, survey) = building_entity(e, site_placement, plan)?;
    let kit = building_kit(e, plan, stair)?;
    let mut groups = Groups { units: vec![Vec::new(); plan.units as usize], ..Groups::default() };
    let mut storeys = Vec::with_capacity(plan.storeys as usize);
    for k in 0..plan.storeys {
        let storey = write_storey(e, fillings, plan, &kit, building_placement, k, &mut groups)?;
        storeys.push(storey);
    }
    e.aggregate(building, &storeys)?;
    write_psets(e, building, plan, &survey, stair, &groups)?;
    Ok(building)
}

/// The IfcBuilding itself; returns it, its placement and its survey.
fn building_entity<W: Write>(
    e: &mut Emitter<W>,
    site_placement: Id,
    plan: &BuildingPlan,
) -> io::Result<(Id, Id, Survey)> {
    let n = plan.number;
    let a2p = e.a2p([plan.origin[0], plan.origin[1], 0.0])?;
    let building_placement = e.placement(Some(site_placement), a2p)?;
    let name = format!("{n}号楼");
    let long_name = format!(
        "Building {n} ({} units, {} storeys)",
        plan.units, plan.storeys
    );
    let survey = Survey::new(plan);
    let building = e.w.entity("IFCBUILDING", |a| {
        a.guid()
            .null()
            .str(&name)
            .str(survey.structure.description())
            .null();
        a.id(building_placement)
            .null()
            .str(&long_name)
            .enumeration("ELEMENT")
            .real(0.0)
            .real(0.0)
            .null();
    })?;
    e.counts.buildings += 1;
    e.counts.units += u64::from(plan.units);
    Ok((building, building_placement, survey))
}

/// The shapes and placements every storey shares.
fn building_kit<W: Write>(
    e: &mut Emitter<W>,
    plan: &BuildingPlan,
    stair: StairDims,
) -> io::Result<BuildingKit> {
    let (length, depth, t, sh) = (
        plan.length(),
        plan.depth,
        plan.wall_thickness,
        plan.storey_height,
    );
    let wall_height = sh - SLAB;
    let walls = wall_templates(e, plan, wall_height, stair)?;
    let slots = filling_slots(e, plan)?;
    let slab_shape = {
        let solid = e.box_solid(Aabb::new([0.0, 0.0, -SLAB], [length, depth, 0.0]))?;
        e.body_shape("SweptSolid", &[solid])?
    };
    let bay_south = depth - t - stair.bay_depth;
    let bay_inner = 2.0 * HALF_BAY - INNER_WALL;
    let well_length = depth - t - bay_south - FLOOR_LANDING;
    let slab_opening_shape = {
        let solid = e.box_solid(Aabb::new(
            [0.0, 0.0, 0.0],
            [bay_inner, well_length, SLAB + 0.1],
        ))?;
        e.body_shape("SweptSolid", &[solid])?
    };
    let stair_shape = stair_body(e, sh, stair, bay_inner)?;
    let roof_shape = roof_body(e, length, depth, wall_height)?;
    let lift_height = LIFT_PIT + plan.height() + LIFT_OVERRUN;
    let lift_shape = lift_body(e, lift_height)?;

    let mut per_unit = Vec::with_capacity(plan.units as usize);
    for unit in 0..plan.units {
        let x0 = plan.stair_center(unit) - HALF_BAY + INNER_WALL / 2.0;
        per_unit.push((
            e.a2p([x0, bay_south, 0.0])?,
            e.a2p([x0, bay_south + FLOOR_LANDING, -SLAB - 0.05])?,
            e.a2p([plan.stair_center(unit) - LIFT_SIZE / 2.0, depth, -LIFT_PIT])?,
        ));
    }
    Ok(BuildingKit {
        walls,
        slots,
        slab_shape,
        slab_opening_shape,
        stair_shape,
        roof_shape,
        lift_shape,
        per_unit,
    })
}

/// Storey `k` and everything contained in it; returns the IfcBuildingStorey.
fn write_storey<W: Write>(
    e: &mut Emitter<W>,
    fillings: &mut FillingTypes,
    plan: &BuildingPlan,
    kit: &BuildingKit,
    building_placement: Id,
    k: u32,
    groups: &mut Groups,
) -> io::Result<Id> {
    let n = plan.number;
    let floor = k + 1;
    let elevation = f64::from(k) * plan.storey_height;
    let a2p = e.a2p([0.0, 0.0, elevation])?;
    let storey_placement = e.placement(Some(building_placement), a2p)?;
    let storey_name = format!("{n}号楼 {floor}F");
    let storey_long = format!("{floor}层 floor {floor}");
    let storey_id = e.w.entity("IFCBUILDINGSTOREY", |a| {
        a.guid()
            .null()
            .str(&storey_name)
            .null()
            .null()
            .id(storey_placement)
            .null()
            .str(&storey_long);
        a.enumeration("ELEMENT").real(elevation);
    })?;
    e.counts.storeys += 1;
    let mut w = StoreyWriter {
        kit,
        storey: Storey {
            n,
            k,
            floor,
            placement: storey_placement,
        },
        groups,
        contained: Vec::new(),
    };
    let facade_walls = w.walls(e)?;
    w.fillings(e, fillings, facade_walls)?;
    w.slab(e)?;
    if floor < plan.storeys {
        w.stairs(e)?;
    } else {
        w.roof(e)?;
    }
    // The renewal plan's NEW lift shafts stand on the ground storey.
    if k == 0 {
        w.lifts(e)?;
    }
    e.contain(storey_id, &w.contained)?;
    Ok(storey_id)
}

/// Writes the parts of one storey, collecting what it contains.
struct StoreyWriter<'k> {
    kit: &'k BuildingKit,
    storey: Storey,
    groups: &'k mut Groups,
    contained: Vec<Id>,
}

impl StoreyWriter<'_> {
    /// The storey's walls; returns the two long facades (wall, placement) for the openings.
    fn walls<W: Write>(&mut self, e: &mut Emitter<W>) -> io::Result<[(Id, Id); 2]> {
        let Storey { n, floor, .. } = self.storey;
        let mut facade_walls = [(Id(0), Id(0)); 2];
        for (i, wall) in self.kit.walls.iter().enumerate() {
            let tag = format!("B{n:03}-{floor}F-{}", wall.code);
            let group = if wall.external {
                e.counts.external_walls += 1;
                &mut self.groups.external_walls
            } else {
                &mut self.groups.internal_walls
            };
            let head = Placed {
                keyword: "IFCWALL",
                name: wall.name,
                description: None,
                object_type: Some(wall.object_type),
                tag: &tag,
                predefined: "SOLIDWALL",
                count: |c| &mut c.walls,
            };
            let at = (self.storey.placement, wall.a2p, wall.shape);
            let placed = placed(e, at, head, group, &mut self.contained)?;
            if i < 2 {
                facade_walls[i] = placed;
            }
        }
        Ok(facade_walls)
    }

    /// Windows and doors in openings of the facades.
    fn fillings<W: Write>(
        &mut self,
        e: &mut Emitter<W>,
        fillings: &mut FillingTypes,
        facade_walls: [(Id, Id); 2],
    ) -> io::Result<()> {
        let Storey { n, floor, k, .. } = self.storey;
        for slot in &self.kit.slots {
            if slot.ground_only.is_some_and(|ground| ground != (k == 0)) {
                continue;
            }
            let (wall, wall_placement) = match slot.facade {
                Facade::South => facade_walls[0],
                Facade::North => facade_walls[1],
            };
            let filling = fillings.get(slot.kind);
            let (mapped_shape, opening_shape) = (filling.mapped_shape, filling.opening_shape);
            let opening_placement = e.placement(Some(wall_placement), slot.a2p)?;
            let opening_pds = e.product_shape(opening_shape)?;
            let tag = format!("B{n:03}-U{}-{floor}F-{}", slot.unit + 1, slot.code);
            let opening_tag = format!("{tag}-OPENING");
            let opening = e.opening(
                wall,
                &ElementHead {
                    name: "洞口 opening",
                    description: None,
                    object_type: None,
                    placement: opening_placement,
                    representation: Some(opening_pds),
                    tag: Some(&opening_tag),
                },
            )?;
            let placement = e.placement(Some(opening_placement), e.identity)?;
            let pds = e.product_shape(mapped_shape)?;
            let filling = fillings.occurrence(
                e,
                slot.kind,
                &ElementHead {
                    name: &slot.name,
                    description: None,
                    object_type: Some(slot.kind.code()),
                    placement,
                    representation: Some(pds),
                    tag: Some(&tag),
                },
            )?;
            e.fill(opening, filling)?;
            if slot.kind.is_door() {
                self.groups.doors.push(filling)
            } else {
                self.groups.windows.push(filling)
            }
            self.contained.push(filling);
        }
        Ok(())
    }

    /// The floor slab, with the stairwell cut through it above the ground floor.
    fn slab<W: Write>(&mut self, e: &mut Emitter<W>) -> io::Result<()> {
        let Storey { n, floor, k, .. } = self.storey;
        let tag = format!("B{n:03}-{floor}F-SLAB");
        let head = Placed {
            keyword: "IFCSLAB",
            name: "楼板 floor slab",
            description: Some("预制空心楼板 precast hollow-core planks"),
            object_type: None,
            tag: &tag,
            predefined: "FLOOR",
            count: |c| &mut c.slabs,
        };
        let at = (self.storey.placement, e.identity, self.kit.slab_shape);
        let (slab, placement) = placed(e, at, head, &mut self.groups.slabs, &mut self.contained)?;
        if k == 0 {
            return Ok(());
        }
        for (unit, &(_, well_a2p, _)) in self.kit.per_unit.iter().enumerate() {
            let opening_placement = e.placement(Some(placement), well_a2p)?;
            let pds = e.product_shape(self.kit.slab_opening_shape)?;
            let tag = format!("B{n:03}-U{}-{floor}F-STAIRWELL", unit + 1);
            e.opening(
                slab,
                &ElementHead {
                    name: "楼梯井 stairwell opening",
                    description: None,
                    object_type: None,
                    placement: opening_placement,
                    representation: Some(pds),
                    tag: Some(&tag),
                },
            )?;
        }
        Ok(())
    }

    /// A dog-leg stair per unit up to the next storey.
    fn stairs<W: Write>(&mut self, e: &mut Emitter<W>) -> io::Result<()> {
        let Storey { n, floor, .. } = self.storey;
        for (unit, &(stair_a2p, _, _)) in self.kit.per_unit.iter().enumerate() {
            let name = format!("{}单元楼梯 {floor}F–{}F stair", unit + 1, floor + 1);
            let tag = format!("B{n:03}-U{}-{floor}F-STAIR", unit + 1);
            let head = Placed {
                keyword: "IFCSTAIR",
                name: &name,
                description: None,
                object_type: None,
                tag: &tag,
                predefined: "HALF_TURN_STAIR",
                count: |c| &mut c.stairs,
            };
            let at = (self.storey.placement, stair_a2p, self.kit.stair_shape);
            let (id, _) = placed(e, at, head, &mut self.groups.stairs, &mut self.contained)?;
            self.groups.units[unit].push(id);
        }
        Ok(())
    }

    /// The flat roof on the top storey.
    fn roof<W: Write>(&mut self, e: &mut Emitter<W>) -> io::Result<()> {
        let tag = format!("B{:03}-ROOF", self.storey.n);
        let head = Placed {
            keyword: "IFCROOF",
            name: "平屋面 flat roof",
            description: Some("屋面板及女儿墙 roof slab with parapet"),
            object_type: None,
            tag: &tag,
            predefined: "FLAT_ROOF",
            count: |c| &mut c.roofs,
        };
        let at = (self.storey.placement, e.identity, self.kit.roof_shape);
        placed(e, at, head, &mut self.groups.roofs, &mut self.contained)?;
        Ok(())
    }

    /// The NEW lift shaft of every unit, on the ground storey.
    fn lifts<W: Write>(&mut self, e: &mut Emitter<W>) -> io::Result<()> {
        for (unit, &(_, _, lift_a2p)) in self.kit.per_unit.iter().enumerate() {
            let name = format!("{}单元加装电梯 added lift, unit {}", unit + 1, unit + 1);
            let tag = format!("B{:03}-U{}-LIFT", self.storey.n, unit + 1);
            let head = Placed {
                keyword: "IFCTRANSPORTELEMENT",
                name: &name,
                description: Some("外挂电梯井道 external lift shaft on the north facade"),
                object_type: Some("LIFT_SHAFT"),
                tag: &tag,
                predefined: "ELEVATOR",
                count: |c| &mut c.lifts,
            };
            let at = (self.storey.placement, lift_a2p, self.kit.lift_shape);
            let (id, _) = placed(e, at, head, &mut self.groups.lifts, &mut self.contained)?;
            self.groups.units[unit].push(id);
        }
        Ok(())
    }
}

/// The building's walls: [south facade, north facade, west gable, east gable, internal…].
fn wall_templates<W: Write>(
    e: &mut Emitter<W>,
    plan: &BuildingPlan,
    height: f64,
    stair: StairDims,
) -> io::Result<Vec<WallTemplate>> {
    let (length, depth, t) = (plan.length(), plan.depth, plan.wall_thickness);
    let ti = INNER_WALL;
    let h2 = ti / 2.0;
    // (origin, size, external, name, object type, code)
    let mut specs: Vec<WallSpec> = vec![
        (
            [0.0, 0.0],
            [length, t],
            true,
            "南外墙 south facade wall",
            "FACADE_SOUTH",
            "EW-S".into(),
        ),
        (
            [0.0, depth - t],
            [length, t],
            true,
            "北外墙 north facade wall",
            "FACADE_NORTH",
            "EW-N".into(),
        ),
        (
            [0.0, t],
            [t, depth - 2.0 * t],
            true,
            "西山墙 west gable wall",
            "GABLE_WEST",
            "EW-W".into(),
        ),
        (
            [length - t, t],
            [t, depth - 2.0 * t],
            true,
            "东山墙 east gable wall",
            "GABLE_EAST",
            "EW-E".into(),
        ),
    ];
    let spine = t + (depth - 2.0 * t) * 0.55;
    let bay_south = depth - t - stair.bay_depth;
    let flat = plan.unit_width / 2.0 - HALF_BAY;
    for unit in 0..plan.units {
        let u = unit + 1;
        let x0 = f64::from(unit) * plan.unit_width;
        let x1 = x0 + plan.unit_width;
        let sc = plan.stair_center(unit);
        if unit > 0 {
            specs.push((
                [x0 - h2, t],
                [ti, depth - 2.0 * t],
                false,
                "分户墙 party wall",
                "PARTY_WALL",
                format!("IW-U{u}-PARTY"),
            ));
        }
        for (side, x) in [("W", sc - HALF_BAY), ("E", sc + HALF_BAY)] {
            specs.push((
                [x - h2, bay_south],
                [ti, stair.bay_depth],
                false,
                "楼梯间墙 stairwell wall",
                "STAIRWELL_WALL",
                format!("IW-U{u}-STAIR-{side}"),
            ));
        }
        specs.push((
            [sc - HALF_BAY + h2, bay_south - ti],
            [2.0 * HALF_BAY - ti, ti],
            false,
            "楼梯间端墙 stairwell end wall",
            "STAIRWELL_WALL",
            format!("IW-U{u}-STAIR-END"),
        ));
        let west_start = if unit == 0 { t } else { x0 + h2 };
        let east_end = if unit + 1 == plan.units {
            length - t
        } else {
            x1 - h2
        };
        specs.push((
            [west_start, spine - h2],
            [sc - HALF_BAY - h2 - west_start, ti],
            false,
            "内纵墙 spine wall",
            "SPINE_WALL",
            format!("IW-U{u}-SPINE-W"),
        ));
        specs.push((
            [sc + HALF_BAY + h2, spine - h2],
            [east_end - sc - HALF_BAY - h2, ti],
            false,
            "内纵墙 spine wall",
            "SPINE_WALL",
            format!("IW-U{u}-SPINE-E"),
        ));
        for (side, x) in [("W", x0 + flat / 2.0), ("E", x1 - flat / 2.0)] {
            specs.push((
                [x - h2, t],
                [ti, spine - h2 - t],
                false,
                "内横墙 cross wall",
                "CROSS_WALL",
                format!("IW-U{u}-CROSS-{side}"),
            ));
        }
    }
    let mut walls = Vec::with_capacity(specs.len());
    for (origin, size, external, name, object_type, code) in specs {
        let a2p = e.a2p([origin[0], origin[1], 0.0])?;
        let solid = e.box_solid(Aabb::new([0.0, 0.0, 0.0], [size[0], size[1], height]))?;
        let shape = e.body_shape("SweptSolid", &[solid])?;
        walls.push(WallTemplate {
            a2p,
            shape,
            external,
            name,
            object_type,
            code,
        });
    }
    Ok(walls)
}

/// Window and door positions per unit: two 1.5 m windows per flat on the south facade; a
/// kitchen and a bedroom window per flat and the stairwell window (the entrance door on the
/// ground floor) on the north facade.
fn filling_slots<W: Write>(
    e: &mut Emitter<W>,
    plan: &BuildingPlan,
) -> io::Result<Vec<FillingSlot>> {
    let flat = plan.unit_width / 2.0 - HALF_BAY;
    let mut slots = Vec::new();
    for unit in 0..plan.units {
        let x0 = f64::from(unit) * plan.unit_width;
        let x1 = x0 + plan.unit_width;
        let sc = plan.stair_center(unit);
        // (facade, kind, centre x, ground_only, name, code)
        let specs = [
            (
                Facade::South,
                FillingKind::C1515,
                x0 + 0.27 * flat,
                None,
                "南向窗 south window",
                "WIN-S1",
            ),
            (
                Facade::South,
                FillingKind::C1515,
                x0 + 0.73 * flat,
                None,
                "南向窗 south window",
                "WIN-S2",
            ),
            (
                Facade::South,
                FillingKind::C1515,
                x1 - 0.73 * flat,
                None,
                "南向窗 south window",
                "WIN-S3",
            ),
            (
                Facade::South,
                FillingKind::C1515,
                x1 - 0.27 * flat,
                None,
                "南向窗 south window",
                "WIN-S4",
            ),
            (
                Facade::North,
                FillingKind::C0915,
                x0 + 0.30 * flat,
                None,
                "厨房窗 kitchen window",
                "WIN-N1",
            ),
            (
                Facade::North,
                FillingKind::C1215,
                x0 + 0.72 * flat,
                None,
                "北卧室窗 north bedroom window",
                "WIN-N2",
            ),
            (
                Facade::North,
                FillingKind::C1215,
                x1 - 0.72 * flat,
                None,
                "北卧室窗 north bedroom window",
                "WIN-N3",
            ),
            (
                Facade::North,
                FillingKind::C0915,
                x1 - 0.30 * flat,
                None,
                "厨房窗 kitchen window",
                "WIN-N4",
            ),
            (
                Facade::North,
                FillingKind::C1215,
                sc,
                Some(false),
                "楼梯间窗 stairwell window",
                "WIN-STAIR",
            ),
            (
                Facade::North,
                FillingKind::M1021,
                sc,
                Some(true),
                "单元门 unit entrance door",
                "DOOR",
            ),
        ];
        for (facade, kind, centre, ground_only, name, code) in specs {
            let (w, _) = kind.size();
            let a2p = e.a2p([centre - w / 2.0, 0.0, kind.sill()])?;
            slots.push(FillingSlot {
                facade,
                kind,
                a2p,
                unit,
                ground_only,
                name: format!("{} {name}", kind.code()),
                code: code.into(),
            });
        }
    }
    Ok(slots)
}

/// Two flights and the mid landing of a dog-leg stair, in the stair frame (x across the bay
/// from the west stair wall's inner face, y north from the bay's south end).
fn stair_body<W: Write>(
    e: &mut Emitter<W>,
    storey_height: f64,
    stair: StairDims,
    bay_inner: f64,
) -> io::Result<Id> {
    let (n, r, g) = (stair.risers, stair.riser, TREAD);
    let waist = r + 0.1;
    // Saw-tooth flight profile in (run, rise), counter-clockwise.
    let mut top = Vec::with_capacity(2 * n as usize + 1);
    for i in 0..n {
        let x = f64::from(i) * g;
        top.push([x, f64::from(i) * r]);
        top.push([x, f64::from(i + 1) * r]);
    }
    let (run, rise) = (stair.run(), f64::from(n) * r);
    top.push([run, rise]);
    let mut points = vec![[g, 0.0], [run, rise - waist]];
    points.extend(top.iter().rev().copied().take(top.len() - 1));
    // `points` now runs (g,0) → soffit → top → … → (0, r); (0,0) closes it.
    points.push([0.0, 0.0]);
    let profile = e.polygon_profile("flight", &points)?;
    let flight_width = (bay_inner - 0.1) / 2.0;
    let half = storey_height / 2.0;

    let up_position = e.a2p_oriented([0.0, FLOOR_LANDING, 0.0], Dir::X, Dir::Y)?;
    let flight_up = e.extrude(profile, up_position, flight_width)?;
    let down_position =
        e.a2p_oriented([bay_inner, FLOOR_LANDING + run, half], Dir::NegX, Dir::NegY)?;
    let flight_back = e.extrude(profile, down_position, flight_width)?;
    let landing = e.box_solid(Aabb::new(
        [0.0, FLOOR_LANDING + run, half - SLAB],
        [bay_inner, stair.bay_depth, half],
    ))?;
    e.body_shape("SweptSolid", &[flight_up, landing, flight_back])
}

/// Roof slab and parapet, in the top storey's frame.
fn roof_body<W: Write>(
    e: &mut Emitter<W>,
    length: f64,
    depth: f64,
    wall_height: f64,
) -> io::Result<Id> {
    let z0 = wall_height;
    let z1 = z0 + ROOF_SLAB;
    let z2 = z1 + PARAPET;
    let p = 0.24;
    let boxes = [
        Aabb::new([0.0, 0.0, z0], [length, depth, z1]),
        Aabb::new([0.0, 0.0, z1], [length, p, z2]),
        Aabb::new([0.0, depth - p, z1], [length, depth, z2]),
        Aabb::new([0.0, p, z1], [p, depth - p, z2]),
        Aabb::new([length - p, p, z1], [length, depth - p, z2]),
    ];
    let mut items = Vec::with_capacity(boxes.len());
    for b in boxes {
        items.push(e.box_solid(b)?);
    }
    e.body_shape("SweptSolid", &items)
}

/// Steel-and-glass shaft walls, pit slab and cap of an added lift, in the lift frame (origin
/// at the shaft's south-west corner at pit level, against the north facade).
fn lift_body<W: Write>(e: &mut Emitter<W>, height: f64) -> io::Result<Id> {
    let (s, p) = (LIFT_SIZE, LIFT_PANEL);
    let boxes = [
        Aabb::new([0.0, 0.0, 0.0], [s, p, height]),
        Aabb::new([0.0, s - p, 0.0], [s, s, height]),
        Aabb::new([0.0, p, 0.0], [p, s - p, height]),
        Aabb::new([s - p, p, 0.0], [s, s - p, height]),
        Aabb::new([p, p, 0.0], [s - p, s - p, 0.3]),
        Aabb::new([0.0, 0.0, height], [s, s, height + 0.2]),
    ];
    let mut items = Vec::with_capacity(boxes.len());
    for b in boxes {
        items.push(e.box_solid(b)?);
    }
    e.body_shape("SweptSolid", &items)
}

fn write_psets<W: Write>(
    e: &mut Emitter<W>,
    building: Id,
    plan: &BuildingPlan,
    survey: &Survey,
    stair: StairDims,
    g: &Groups,
) -> io::Result<()> {
    e.counts.households += survey.households.unsigned_abs();
    e.counts.residents += survey.residents.unsigned_abs();
    let load_bearing = survey.structure.walls_bear_load();
    e.pset(
        &[building],
        "Pset_BuildingCommon",
        &[
            ("Reference", Value::label(format!("{}号楼", plan.number))),
            ("YearOfConstruction", Value::label(plan.year.to_string())),
            ("NumberOfStoreys", Value::Integer(i64::from(plan.storeys))),
            ("IsLandmarked", Value::Boolean(false)),
            (
                "GrossPlannedArea",
                Value::Area((plan.length() * plan.depth * f64::from(plan.storeys)).round()),
            ),
        ],
    )?;
    e.pset(
        &[building],
        "RenewTwin_Building",
        &[
            ("StructureType", Value::label(survey.structure.label())),
            ("Units", Value::Integer(i64::from(plan.units))),
            (
                "FlatsPerLanding",
                Value::Integer(i64::from(FLATS_PER_LANDING)),
            ),
            ("Households", Value::Integer(survey.households)),
            ("Residents", Value::Integer(survey.residents)),
            ("InspectionGrade", Value::label(GRADES[survey.grade])),
            ("InspectionStandard", Value::label("JGJ 125-2016")),
            ("RecordedDefects", Value::Integer(survey.defects)),
            ("Heritage", Value::Boolean(false)),
            ("StoreyHeight", Value::PositiveLength(plan.storey_height)),
            ("FacadeCondition", Value::label(survey.facade_condition)),
            ("RenewalPhase", Value::label("PLANNED")),
        ],
    )?;
    // Pre-1990s solid brick walls without insulation: U ≈ 1.6–1.8 W/(m²·K).
    let u_wall = if plan.year < 1990 { 1.78 } else { 1.58 };
    e.pset(
        &g.external_walls,
        "Pset_WallCommon",
        &[
            (
                "Reference",
                Value::label(format!("EXT-BRICK-{:.0}", plan.wall_thickness * 1000.0)),
            ),
            ("Status", Value::label("EXISTING")),
            ("IsExternal", Value::Boolean(true)),
            ("LoadBearing", Value::Boolean(load_bearing)),
            ("ThermalTransmittance", Value::ThermalTransmittance(u_wall)),
        ],
    )?;
    e.pset(
        &g.internal_walls,
        "Pset_WallCommon",
        &[
            ("Reference", Value::label("INT-BRICK-240")),
            ("Status", Value::label("EXISTING")),
            ("IsExternal", Value::Boolean(false)),
            ("LoadBearing", Value::Boolean(load_bearing)),
        ],
    )?;
    e.pset(
        &g.windows,
        "Pset_WindowCommon",
        &[
            ("Status", Value::label("EXISTING")),
            ("IsExternal", Value::Boolean(true)),
            ("ThermalTransmittance", Value::ThermalTransmittance(4.7)),
            ("GlazingAreaFraction", Value::PositiveRatio(0.7)),
        ],
    )?;
    e.pset(
        &g.doors,
        "Pset_DoorCommon",
        &[
            ("Status", Value::label("EXISTING")),
            ("IsExternal", Value::Boolean(true)),
            ("SecurityRating", Value::label("甲级防盗门 grade A")),
        ],
    )?;
    e.pset(
        &g.slabs,
        "Pset_SlabCommon",
        &[
            ("Status", Value::label("EXISTING")),
            ("IsExternal", Value::Boolean(false)),
            ("LoadBearing", Value::Boolean(true)),
        ],
    )?;
    e.pset(
        &g.stairs,
        "Pset_StairCommon",
        &[
            ("Status", Value::label("EXISTING")),
            ("NumberOfRiser", Value::Count(i64::from(2 * stair.risers))),
            ("NumberOfTreads", Value::Count(i64::from(2 * stair.risers))),
            ("RiserHeight", Value::PositiveLength(stair.riser)),
            ("TreadLength", Value::PositiveLength(TREAD)),
        ],
    )?;
    e.pset(
        &g.roofs,
        "Pset_RoofCommon",
        &[
            ("Status", Value::label("EXISTING")),
            ("IsExternal", Value::Boolean(true)),
        ],
    )?;
    write_lift_psets(e, &g.lifts, "楼梯半平台 stair half-landings")?;
    write_unit_psets(e, plan, &g.units)
}

/// The property sets of a group of added lift shafts, the district's own and a design
/// variant's alike: status NEW, capacity, and the renewal measure with where the lift stops
/// (`stops_at`).
fn write_lift_psets<W: Write>(e: &mut Emitter<W>, lifts: &[Id], stops_at: &str) -> io::Result<()> {
    e.pset(
        lifts,
        "Pset_TransportElementCommon",
        &[
            ("Status", Value::label("NEW")),
            ("CapacityPeople", Value::Count(8)),
            ("CapacityWeight", Value::Mass(630.0)),
            ("FireExit", Value::Boolean(false)),
        ],
    )?;
    e.pset(
        lifts,
        "RenewTwin_Renewal",
        &[
            ("Measure", Value::label("加装电梯 lift addition")),
            ("PlannedYear", Value::Integer(RENEWAL_YEAR)),
            ("StopsAt", Value::label(stops_at)),
        ],
    )
}

/// Each unit (单元): its key (`{building}-{unit}`, as household codes begin: 1-2-301 is flat
/// 301 of unit 2 of building 1), its households and the gross floor area of its storeys,
/// which a unit-scoped decision weighs ballots by. `units[u]` are unit `u`'s members; a unit
/// without members gets no set.
fn write_unit_psets<W: Write>(e: &mut Emitter<W>, plan: &BuildingPlan, units: &[Vec<Id>]) -> io::Result<()> {
    for (u, members) in units.iter().enumerate() {
        if members.is_empty() {
            continue;
        }
        let unit_area = plan.unit_width * plan.depth * f64::from(plan.storeys);
        e.pset(
            members,
            "RenewTwin_Unit",
            &[
                ("Unit", Value::label(format!("{}-{}", plan.number, u + 1))),
                (
                    "Households",
                    Value::Integer(i64::from(plan.storeys * FLATS_PER_LANDING)),
                ),
                ("FloorArea", Value::Area((unit_area * 100.0).round() / 100.0)),
            ],
        )?;
    }
    Ok(())
}

/// The facade a design variant's lift shafts stand against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LiftSide {
    /// Against the north facade, where the district's own plan puts them.
    North,
    /// Against the south facade, beside (east of) the stair's entrance bay.
    South,
}

impl LiftSide {
    /// Stable lowercase key (`north`, `south`).
    pub fn key(self) -> &'static str {
        match self {
            Self::North => "north",
            Self::South => "south",
        }
    }
}

/// A design variant of one building's added lifts: a NEW lift shaft per stair unit against the
/// `side` facade, placed from the site through the building's own origin (the same frame as the
/// district's building), contained in the site (the variant holds no second building). Carries
/// the same property sets as the district's own shafts (status NEW, the unit's key). Returns
/// the shafts.
pub(crate) fn write_lift_variant_building<W: Write>(
    e: &mut Emitter<W>,
    site_placement: Id,
    plan: &BuildingPlan,
    side: LiftSide,
) -> io::Result<Vec<Id>> {
    let a2p = e.a2p([plan.origin[0], plan.origin[1], 0.0])?;
    let building_placement = e.placement(Some(site_placement), a2p)?;
    let lift_height = LIFT_PIT + plan.height() + LIFT_OVERRUN;
    let lift_shape = lift_body(e, lift_height)?;
    let (y, description) = match side {
        LiftSide::North => (plan.depth, "外挂电梯井道(方案：北侧) external lift shaft on the north facade (design variant)"),
        LiftSide::South => (-LIFT_SIZE, "外挂电梯井道(方案：南侧，入口东侧) external lift shaft on the south facade, east of the entrance bay (design variant)"),
    };
    let mut groups = Groups { units: vec![Vec::new(); plan.units as usize], ..Groups::default() };
    let mut contained = Vec::new();
    for unit in 0..plan.units {
        // North: behind the stairwell, as the district's own. South: beside the stair's
        // entrance bay (east of it), leaving the entrance free.
        let x = match side {
            LiftSide::North => plan.stair_center(unit) - LIFT_SIZE / 2.0,
            LiftSide::South => plan.stair_center(unit) + HALF_BAY,
        };
        let lift_a2p = e.a2p([x, y, -LIFT_PIT])?;
        let name = format!("{}单元加装电梯({}侧方案) added lift, unit {}, {} variant", unit + 1, if side == LiftSide::North { "北" } else { "南" }, unit + 1, side.key());
        let tag = format!("B{:03}-U{}-LIFT-{}", plan.number, unit + 1, side.key().to_uppercase());
        let head = Placed {
            keyword: "IFCTRANSPORTELEMENT",
            name: &name,
            description: Some(description),
            object_type: Some("LIFT_SHAFT"),
            tag: &tag,
            predefined: "ELEVATOR",
            count: |c| &mut c.lifts,
        };
        let (id, _) = placed(e, (building_placement, lift_a2p, lift_shape), head, &mut groups.lifts, &mut contained)?;
        groups.units[unit as usize].push(id);
    }
    write_lift_psets(e, &groups.lifts, "楼层平台 floor landings")?;
    // Every unit holds its shaft, so every unit gets its set.
    write_unit_psets(e, plan, &groups.units)?;
    Ok(contained)
}
