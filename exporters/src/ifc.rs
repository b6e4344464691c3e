//! The model and its renewal plan as IFC4 (STEP physical file, ISO 10303-21), for planners'
//! BIM tools.
//!
//! - **Elements**: every element of the model with its GlobalId, class, name and storey (the
//!   spatial tree is written as it was read: project, site, building, storey, space), its
//!   geometry as `IfcTriangulatedFaceSet`s in the scene's frame (each placement's transform applied
//!   to its mesh), and its renewal status as the `Status` property of its class's common property
//!   set (`Pset_WallCommon` …): `NEW` (built by the plan), `DEMOLISH` (taken down), `TEMPORARY`
//!   (put up and removed), else `EXISTING` (IFC4 `PEnum_ElementStatus`).
//! - **Plan**: one `IfcWorkSchedule` (declared in the project) with an `IfcTask` per task of the
//!   plan (project and task name, the task id as `Identification`, the action as
//!   `PredefinedType`, its dates and duration in an `IfcTaskTime`), assigned to the schedule
//!   (`IfcRelAssignsToControl`) and to the elements its selector picks
//!   (`IfcRelAssignsToProcess`), so an `ifc_task` selector picks them again after a re-import.
//! - A class this writer does not know the IFC4 attributes of is written as
//!   `IfcBuildingElementProxy` with the class in `ObjectType` (counted in [`IfcStats::proxied`]).
//! - Property sets other than `Status` are not written (the source file keeps them).
//!
//! Streaming: entities are written as they are made, one element at a time, straight from the
//! model into any `std::io::Write`; what is held beside the model is each element's entity id.

use std::io::Write;

use renewtwin_importers::{Model, SpatialKind};
use renewtwin_twin::manifest::Action;

use crate::gltf::Scene;

/// Why the IFC file could not be written.
#[derive(Debug, thiserror::Error)]
pub enum IfcError {
    /// The writer refused the bytes.
    #[error("cannot write the IFC file")]
    Write(#[from] std::io::Error),
}

/// What was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct IfcStats {
    /// Elements written.
    pub elements: usize,
    /// Of those, written as `IfcBuildingElementProxy` (class unknown to this writer).
    pub proxied: usize,
    /// Tasks written.
    pub tasks: usize,
    /// Entities written.
    pub entities: u64,
}

/// The number of attributes of each IFC4 element class this writer knows (IFC4 ADD2 TC1
/// specification, entity definitions): the eight of `IfcElement` plus the class's own.
fn attribute_count(class: &str) -> Option<usize> {
    Some(match class.to_ascii_uppercase().as_str() {
        "IFCCIVILELEMENT"
        | "IFCFURNISHINGELEMENT"
        | "IFCDISTRIBUTIONELEMENT"
        | "IFCFLOWSEGMENT"
        | "IFCFLOWFITTING"
        | "IFCFLOWTERMINAL" => 8,
        "IFCWALL"
        | "IFCWALLSTANDARDCASE"
        | "IFCSLAB"
        | "IFCROOF"
        | "IFCSTAIR"
        | "IFCBEAM"
        | "IFCCOLUMN"
        | "IFCMEMBER"
        | "IFCPLATE"
        | "IFCRAILING"
        | "IFCCOVERING"
        | "IFCPIPESEGMENT"
        | "IFCPIPEFITTING"
        | "IFCTRANSPORTELEMENT"
        | "IFCBUILDINGELEMENTPROXY"
        | "IFCGEOGRAPHICELEMENT"
        | "IFCFOOTING"
        | "IFCRAMP"
        | "IFCCURTAINWALL"
        | "IFCCHIMNEY"
        | "IFCSHADINGDEVICE"
        | "IFCFURNITURE"
        | "IFCDUCTSEGMENT"
        | "IFCSANITARYTERMINAL"
        | "IFCLIGHTFIXTURE" => 9,
        "IFCELEMENTASSEMBLY" | "IFCPILE" => 10,
        "IFCWINDOW" | "IFCDOOR" => 13,
        _ => return None,
    })
}

/// The spelling of an IFC class in a schema (`IfcWall` → `IFCWALL`).
fn keyword(class: &str) -> String {
    class.to_ascii_uppercase()
}

/// A STEP string literal: apostrophes and backslashes doubled, anything outside printable
/// ASCII as `\X2\` UTF-16 hex (ISO 10303-21 §6.4.3).
fn text(s: &str) -> String {
    let mut out = String::from("'");
    let mut wide = String::new();
    let flush = |out: &mut String, wide: &mut String| {
        if !wide.is_empty() {
            out.push_str("\\X2\\");
            out.push_str(wide);
            out.push_str("\\X0\\");
            wide.clear();
        }
    };
    for c in s.chars() {
        if (' '..='~').contains(&c) {
            flush(&mut out, &mut wide);
            match c {
                '\'' => out.push_str("''"),
                '\\' => out.push_str("\\\\"),
                _ => out.push(c),
            }
        } else {
            let mut units = [0u16; 2];
            for u in c.encode_utf16(&mut units) {
                wide.push_str(&format!("{u:04X}"));
            }
        }
    }
    flush(&mut out, &mut wide);
    out.push('\'');
    out
}

fn opt_text(s: Option<&str>) -> String {
    s.map_or_else(|| "$".to_owned(), text)
}

/// A STEP real: always with a decimal point.
fn real(v: f64) -> String {
    let v = if v.is_finite() { v } else { 0.0 };
    let s = format!("{v}");
    if s.contains('.') { s } else { format!("{s}.") }
}

/// A deterministic IFC GlobalId (22 characters of IFC's base-64) for a new entity named `seed`.
fn guid(seed: &str) -> String {
    const ALPHABET: &[u8; 64] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_$";
    let mut h = 0x6c62_272e_07bb_0142_62b8_2175_6295_c58du128;
    for b in seed.bytes() {
        h ^= u128::from(b);
        h = h.wrapping_mul(0x0000_0000_0100_0000_0000_0000_0000_013B);
    }
    let mut out = String::with_capacity(22);
    out.push(ALPHABET[(h >> 126) as usize] as char);
    for i in (0..21).rev() {
        out.push(ALPHABET[((h >> (6 * i)) & 63) as usize] as char);
    }
    out
}

/// Writes entities with increasing ids.
struct Step<W: Write> {
    out: W,
    next: u64,
}

impl<W: Write> Step<W> {
    fn add(&mut self, entity: &str) -> Result<u64, IfcError> {
        self.next += 1;
        writeln!(self.out, "#{}={entity};", self.next)?;
        Ok(self.next)
    }
}

/// The element's renewal status from its steps in the plan.
fn status(actions: impl Iterator<Item = Action>) -> &'static str {
    let mut status = "EXISTING";
    for a in actions {
        status = match (status, a) {
            (_, Action::New) => "NEW",
            (_, Action::Temporary) => "TEMPORARY",
            ("EXISTING", Action::Demolish) => "DEMOLISH",
            (s, _) => s,
        };
    }
    status
}

fn task_type(action: Action) -> &'static str {
    match action {
        Action::New => "CONSTRUCTION",
        Action::Demolish => "DEMOLITION",
        Action::Retrofit => "RENOVATION",
        Action::Temporary => "INSTALLATION",
        Action::Keep | Action::Absent => "NOTDEFINED",
    }
}

/// Writes `scene` (its model, and its plan as a work schedule) as IFC4 into `out`; `name` is
/// the file name recorded in the header. `progress(done, total)` is called as elements are
/// written.
pub fn write_ifc(
    scene: &Scene<'_>,
    name: &str,
    out: impl Write,
    mut progress: impl FnMut(usize, usize),
) -> Result<IfcStats, IfcError> {
    let model: &Model = scene.model;
    let manifest = scene.manifest;
    let mut stats = IfcStats::default();
    let mut s = Step {
        out: std::io::BufWriter::with_capacity(1 << 16, out),
        next: 0,
    };
    writeln!(
        s.out,
        "ISO-10303-21;\nHEADER;\nFILE_DESCRIPTION(('ViewDefinition [ReferenceView_V1.2]'),'2;1');"
    )?;
    writeln!(
        s.out,
        "FILE_NAME({},'{}',(''),(''),'renewtwin {}','renewtwin','');\nFILE_SCHEMA(('IFC4'));\nENDSEC;\nDATA;",
        text(name),
        manifest.start,
        env!("CARGO_PKG_VERSION")
    )?;

    // Units, context, placement.
    let metre = s.add("IFCSIUNIT(*,.LENGTHUNIT.,$,.METRE.)")?;
    let area = s.add("IFCSIUNIT(*,.AREAUNIT.,$,.SQUARE_METRE.)")?;
    let volume = s.add("IFCSIUNIT(*,.VOLUMEUNIT.,$,.CUBIC_METRE.)")?;
    let radian = s.add("IFCSIUNIT(*,.PLANEANGLEUNIT.,$,.RADIAN.)")?;
    let units = s.add(&format!(
        "IFCUNITASSIGNMENT((#{metre},#{area},#{volume},#{radian}))"
    ))?;
    let origin = s.add("IFCCARTESIANPOINT((0.,0.,0.))")?;
    let axes = s.add(&format!("IFCAXIS2PLACEMENT3D(#{origin},$,$)"))?;
    let context = s.add(&format!(
        "IFCGEOMETRICREPRESENTATIONCONTEXT($,'Model',3,1.E-05,#{axes},$)"
    ))?;
    let body = s.add(&format!(
        "IFCGEOMETRICREPRESENTATIONSUBCONTEXT('Body','Model',*,*,*,*,#{context},$,.MODEL_VIEW.,$)"
    ))?;
    let placement = s.add(&format!("IFCLOCALPLACEMENT($,#{axes})"))?;

    // The spatial tree.
    let project_node = model
        .spatial
        .iter()
        .position(|n| n.kind == SpatialKind::Project);
    let (project_gid, project_name) = match project_node {
        Some(i) => (
            model.spatial[i].global_id.clone(),
            model.spatial[i].name.clone(),
        ),
        None => (
            guid(&format!("project {}", manifest.name)),
            Some(manifest.name.clone()),
        ),
    };
    let project = s.add(&format!(
        "IFCPROJECT({},$,{},$,$,$,$,(#{context}),#{units})",
        text(&project_gid),
        opt_text(project_name.as_deref())
    ))?;
    let mut spatial_ids: Vec<Option<u64>> = vec![None; model.spatial.len()];
    if let Some(i) = project_node {
        spatial_ids[i] = Some(project);
    }
    for (i, n) in model.spatial.iter().enumerate() {
        let (gid, nm) = (text(&n.global_id), opt_text(n.name.as_deref()));
        let entity = match n.kind {
            SpatialKind::Project => continue,
            SpatialKind::Site => {
                format!("IFCSITE({gid},$,{nm},$,$,#{placement},$,$,.ELEMENT.,$,$,$,$,$)")
            }
            SpatialKind::Building => {
                format!("IFCBUILDING({gid},$,{nm},$,$,#{placement},$,$,.ELEMENT.,$,$,$)")
            }
            SpatialKind::Storey => {
                let elevation = n.elevation.map_or_else(|| "$".to_owned(), real);
                format!(
                    "IFCBUILDINGSTOREY({gid},$,{nm},$,$,#{placement},$,$,.ELEMENT.,{elevation})"
                )
            }
            SpatialKind::Space => {
                format!("IFCSPACE({gid},$,{nm},$,$,#{placement},$,$,.ELEMENT.,$,$)")
            }
            _ => format!(
                "IFCBUILDING({gid},$,{nm},$,{},#{placement},$,$,.ELEMENT.,$,$,$)",
                text(&n.class)
            ),
        };
        spatial_ids[i] = Some(s.add(&entity)?);
    }
    // Children by parent; nodes without a parent (other than the project) hang under the project.
    let mut children: Vec<Vec<u64>> = vec![Vec::new(); model.spatial.len()];
    let mut orphans = Vec::new();
    for (i, n) in model.spatial.iter().enumerate() {
        let Some(id) = spatial_ids[i] else { continue };
        if Some(i) == project_node {
            continue;
        }
        match n
            .parent
            .filter(|p| spatial_ids.get(*p).copied().flatten().is_some())
        {
            Some(p) => children[p].push(id),
            None => orphans.push(id),
        }
    }
    for (p, kids) in children.iter().enumerate() {
        if let (Some(parent), false) = (spatial_ids[p], kids.is_empty()) {
            let list = kids
                .iter()
                .map(|k| format!("#{k}"))
                .collect::<Vec<_>>()
                .join(",");
            s.add(&format!(
                "IFCRELAGGREGATES({},$,$,$,#{parent},({list}))",
                text(&guid(&format!("aggregates {p}")))
            ))?;
        }
    }
    if !orphans.is_empty() {
        let list = orphans
            .iter()
            .map(|k| format!("#{k}"))
            .collect::<Vec<_>>()
            .join(",");
        s.add(&format!(
            "IFCRELAGGREGATES({},$,$,$,#{project},({list}))",
            text(&guid("aggregates project"))
        ))?;
    }

    // The status enumeration, once.
    let statuses = "IFCLABEL('NEW'),IFCLABEL('EXISTING'),IFCLABEL('DEMOLISH'),IFCLABEL('TEMPORARY'),IFCLABEL('OTHER'),IFCLABEL('NOTKNOWN'),IFCLABEL('UNSET')";
    let enumeration = s.add(&format!(
        "IFCPROPERTYENUMERATION('PEnum_ElementStatus',({statuses}),$)"
    ))?;

    // Elements, one at a time: geometry, the element, its status.
    let mut element_ids: Vec<u64> = Vec::with_capacity(model.elements.len());
    let mut contained: Vec<Vec<u64>> = vec![Vec::new(); model.spatial.len()];
    let mut uncontained = Vec::new();
    // Elements absent from the plan's design (another scenario's variant, or one the plan's
    // variant replaces) are not part of the model written.
    let absent = |ei: usize| scene.plan.schedules.get(ei).and_then(|s| s.0.first()).is_some_and(|st| st.action == Action::Absent);
    let written = (0..model.elements.len()).filter(|&ei| !absent(ei)).count();
    for (ei, e) in model.elements.iter().enumerate() {
        if absent(ei) {
            element_ids.push(0);
            continue;
        }
        let mut items = Vec::new();
        for p in e.placements {
            let Some(mesh) = model.meshes.get(p.mesh.0 as usize) else {
                continue;
            };
            if mesh.indices.len() < 3 || mesh.positions.len() < 9 {
                continue;
            }
            let t = &p.transform;
            let mut points = String::with_capacity(mesh.positions.len() * 8);
            for (k, v) in mesh.positions.chunks_exact(3).enumerate() {
                let (x, y, z) = (f64::from(v[0]), f64::from(v[1]), f64::from(v[2]));
                let w = [
                    t[0] * x + t[4] * y + t[8] * z + t[12],
                    t[1] * x + t[5] * y + t[9] * z + t[13],
                    t[2] * x + t[6] * y + t[10] * z + t[14],
                ];
                if k > 0 {
                    points.push(',');
                }
                points.push_str(&format!("({},{},{})", real(w[0]), real(w[1]), real(w[2])));
            }
            let list = s.add(&format!("IFCCARTESIANPOINTLIST3D(({points}))"))?;
            drop(points);
            let mut faces = String::with_capacity(mesh.indices.len() * 5);
            for (k, tri) in mesh.indices.chunks_exact(3).enumerate() {
                if k > 0 {
                    faces.push(',');
                }
                faces.push_str(&format!("({},{},{})", tri[0] + 1, tri[1] + 1, tri[2] + 1));
            }
            items.push(s.add(&format!("IFCTRIANGULATEDFACESET(#{list},$,$,({faces}),$)"))?);
        }
        let shape = if items.is_empty() {
            "$".to_owned()
        } else {
            let list = items
                .iter()
                .map(|k| format!("#{k}"))
                .collect::<Vec<_>>()
                .join(",");
            let rep = s.add(&format!(
                "IFCSHAPEREPRESENTATION(#{body},'Body','Tessellation',({list}))"
            ))?;
            format!(
                "#{}",
                s.add(&format!("IFCPRODUCTDEFINITIONSHAPE($,$,(#{rep}))"))?
            )
        };
        let (class, object_type, count) = match attribute_count(e.class) {
            Some(n) => (keyword(e.class), "$".to_owned(), n),
            None => {
                stats.proxied += 1;
                ("IFCBUILDINGELEMENTPROXY".to_owned(), text(e.class), 9)
            }
        };
        let tail = vec!["$"; count - 7].join(",");
        let id = s.add(&format!(
            "{class}({},$,{},$,{object_type},#{placement},{shape},{tail})",
            text(e.global_id),
            opt_text(e.name)
        ))?;
        element_ids.push(id);
        match e
            .container
            .filter(|c| spatial_ids.get(*c).copied().flatten().is_some())
        {
            Some(c) => contained[c].push(id),
            None => uncontained.push(id),
        }
        // Status in the class's common property set (IFC4: Pset_WallCommon.Status …).
        let actions = scene
            .plan
            .schedules
            .get(ei)
            .map(|sch| sch.0.iter().map(|st| st.action).collect::<Vec<_>>())
            .unwrap_or_default();
        let st = status(actions.into_iter());
        let prop = s.add(&format!(
            "IFCPROPERTYENUMERATEDVALUE('Status',$,(IFCLABEL('{st}')),#{enumeration})"
        ))?;
        let pset_name = match class.as_str() {
            "IFCBUILDINGELEMENTPROXY" => "Pset_BuildingElementProxyCommon".to_owned(),
            _ => format!(
                "Pset_{}Common",
                e.class
                    .trim_start_matches("Ifc")
                    .trim_end_matches("StandardCase")
            ),
        };
        let pset = s.add(&format!(
            "IFCPROPERTYSET({},$,{},$,(#{prop}))",
            text(&guid(&format!("status {}", e.global_id))),
            text(&pset_name)
        ))?;
        s.add(&format!(
            "IFCRELDEFINESBYPROPERTIES({},$,$,$,(#{id}),#{pset})",
            text(&guid(&format!("status rel {}", e.global_id)))
        ))?;
        stats.elements += 1;
        if stats.elements % 256 == 0 || stats.elements == written {
            progress(stats.elements, written);
        }
    }
    for (c, list) in contained.iter().enumerate() {
        if let (Some(structure), false) = (spatial_ids[c], list.is_empty()) {
            let l = list
                .iter()
                .map(|k| format!("#{k}"))
                .collect::<Vec<_>>()
                .join(",");
            s.add(&format!(
                "IFCRELCONTAINEDINSPATIALSTRUCTURE({},$,$,$,({l}),#{structure})",
                text(&guid(&format!("contains {c}")))
            ))?;
        }
    }
    if !uncontained.is_empty() {
        // Elements outside any spatial node go into the first site or building (IFC wants a container).
        if let Some(structure) = spatial_ids
            .iter()
            .enumerate()
            .find(|(i, id)| id.is_some() && Some(*i) != project_node)
            .and_then(|(_, id)| *id)
        {
            let l = uncontained
                .iter()
                .map(|k| format!("#{k}"))
                .collect::<Vec<_>>()
                .join(",");
            s.add(&format!(
                "IFCRELCONTAINEDINSPATIALSTRUCTURE({},$,$,$,({l}),#{structure})",
                text(&guid("contains rest"))
            ))?;
        }
    }

    // The plan as a work schedule.
    let start = manifest.start;
    let at = |day: i32| {
        format!(
            "'{}T00:00:00'",
            renewtwin_protocol::CivilDate::from_sim_day(start, renewtwin_protocol::SimDay(day))
        )
    };
    let scenario_name = scene.plan.scenario.clone();
    let schedule = s.add(&format!(
        "IFCWORKSCHEDULE({},$,{},$,$,{},{},$,$,$,$,{},{},.PLANNED.)",
        text(&guid(&format!(
            "schedule {}",
            scenario_name.as_deref().unwrap_or("base")
        ))),
        text(&format!(
            "{} ({})",
            manifest.name,
            scenario_name.as_deref().unwrap_or("base plan")
        )),
        text(scenario_name.as_deref().unwrap_or("base")),
        at(0),
        at(0),
        at(scene.plan.end)
    ))?;
    s.add(&format!(
        "IFCRELDECLARES({},$,$,$,#{project},(#{schedule}))",
        text(&guid("declares schedule"))
    ))?;
    let scenario = scenario_name.as_deref().and_then(|n| manifest.scenario(n));
    let specs = manifest.tasks_for(scenario);
    let mut task_ids = Vec::new();
    for task in &scene.plan.tasks {
        let project = &manifest.projects[task.project];
        let time = match (task.start, task.end) {
            (Some(a), Some(b)) => s.add(&format!(
                "IFCTASKTIME($,$,$,.WORKTIME.,'P{}D',{},{},$,$,$,$,$,$,$,$,$,$,$,$,$)",
                (b - a).max(0),
                at(a),
                at(b)
            ))?,
            _ => s.add("IFCTASKTIME($,$,$,.WORKTIME.,$,$,$,$,$,$,$,$,$,$,$,$,$,$,$,$)")?,
        };
        let id = s.add(&format!(
            "IFCTASK({},$,{},{},$,{},$,$,$,.F.,$,#{time},.{}.)",
            text(&guid(&format!("task {} {}", project.id, task.id))),
            text(&task.name),
            text(&project.name),
            text(&format!("{}/{}", project.id, task.id)),
            task_type(task.action)
        ))?;
        task_ids.push(id);
        stats.tasks += 1;
        let Some((_, spec)) = specs
            .iter()
            .find(|(pi, t)| *pi == task.project && t.id == task.id)
        else {
            continue;
        };
        let products: Vec<String> = (0..model.elements.len())
            .filter(|&ei| !absent(ei) && renewtwin_twin::renewal::plan::selects(&spec.select, model, ei))
            .map(|ei| format!("#{}", element_ids[ei]))
            .collect();
        if !products.is_empty() {
            s.add(&format!(
                "IFCRELASSIGNSTOPROCESS({},$,$,$,({}),$,#{id},$)",
                text(&guid(&format!("assigns {} {}", project.id, task.id))),
                products.join(",")
            ))?;
        }
    }
    if !task_ids.is_empty() {
        let l = task_ids
            .iter()
            .map(|k| format!("#{k}"))
            .collect::<Vec<_>>()
            .join(",");
        s.add(&format!(
            "IFCRELASSIGNSTOCONTROL({},$,$,$,({l}),$,#{schedule})",
            text(&guid("tasks of the schedule"))
        ))?;
    }
    writeln!(s.out, "ENDSEC;\nEND-ISO-10303-21;")?;
    s.out.flush()?;
    stats.entities = s.next;
    Ok(stats)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn step_strings_reals_and_guids() {
        // ISO 10303-21: apostrophes doubled; 老 is U+8001, 区 U+533A.
        assert_eq!(text("it's 老区"), "'it''s \\X2\\8001533A\\X0\\'");
        assert_eq!(real(1.0), "1.");
        assert_eq!(real(-0.25), "-0.25");
        let g = guid("a");
        assert_eq!(g.len(), 22);
        assert!(
            g.as_bytes()[0] <= b'3',
            "the first character holds two bits: {g}"
        );
        assert_ne!(guid("a"), guid("b"));
    }

    #[test]
    fn status_from_the_plans_actions() {
        assert_eq!(status([].into_iter()), "EXISTING");
        assert_eq!(status([Action::Retrofit].into_iter()), "EXISTING");
        assert_eq!(status([Action::New].into_iter()), "NEW");
        assert_eq!(status([Action::Demolish].into_iter()), "DEMOLISH");
        assert_eq!(status([Action::Temporary].into_iter()), "TEMPORARY");
    }
}
