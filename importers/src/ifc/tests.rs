//! Unit tests of the IFC importer on small hand-written files: units, property sets, storey
//! containment, an opening cut into a wall, and bad inputs.

use super::IfcImporter;
use crate::{
    DiagnosticKind, ImportConfig, ImportError, Importer, Model, PropertyValue, SpatialKind,
};

const MILLIMETRE: &str = "#8=IFCSIUNIT(*,.LENGTHUNIT.,.MILLI.,.METRE.);";
const FOOT: &str = "#8=IFCCONVERSIONBASEDUNIT(#9,.LENGTHUNIT.,'FOOT',#14);
#9=IFCDIMENSIONALEXPONENTS(1,0,0,0,0,0,0);
#14=IFCMEASUREWITHUNIT(IFCLENGTHMEASURE(0.3048),#15);
#15=IFCSIUNIT(*,.LENGTHUNIT.,$,.METRE.);";

/// A 1000×1000 opening through the wall, 900 to 2100 above its base (file units: mm).
const OPENING: &str =
    "#100=IFCOPENINGELEMENT('0GvctVUKr0kugbFTf53O9L',$,'Opening',$,$,#101,#104,$,.OPENING.);
#101=IFCLOCALPLACEMENT(#61,#12);
#102=IFCRECTANGLEPROFILEDEF(.AREA.,$,#103,1000.,1000.);
#103=IFCAXIS2PLACEMENT2D(#64,$);
#105=IFCEXTRUDEDAREASOLID(#102,#106,#67,1200.);
#106=IFCAXIS2PLACEMENT3D(#107,$,$);
#107=IFCCARTESIANPOINT((0.,0.,900.));
#104=IFCPRODUCTDEFINITIONSHAPE($,$,(#108));
#108=IFCSHAPEREPRESENTATION(#13,'Body','SweptSolid',(#105));
#109=IFCRELVOIDSELEMENT('0HvctVUKr0kugbFTf53O9L',$,$,$,#60,#100);";

/// An IFC4 project → site → building → storey (elevation `elevation`) holding one 4000 × 200 ×
/// 3000 wall (in file units) with an occurrence pset, a quantity set and a typed pset.
fn wall_file(unit: &str, elevation: &str, extra: &str) -> String {
    format!(
        "ISO-10303-21;
HEADER;
FILE_DESCRIPTION(('ViewDefinition [ReferenceView]'),'2;1');
FILE_NAME('wall.ifc','2024-01-01T00:00:00',(''),(''),'','','');
FILE_SCHEMA(('IFC4'));
ENDSEC;
DATA;
#1=IFCPROJECT('0YvctVUKr0kugbFTf53O9L',$,'Project',$,$,$,$,(#11),#7);
#7=IFCUNITASSIGNMENT((#8));
{unit}
#10=IFCCARTESIANPOINT((0.,0.,0.));
#12=IFCAXIS2PLACEMENT3D(#10,$,$);
#11=IFCGEOMETRICREPRESENTATIONCONTEXT($,'Model',3,1.E-05,#12,$);
#13=IFCGEOMETRICREPRESENTATIONSUBCONTEXT('Body','Model',*,*,*,*,#11,$,.MODEL_VIEW.,$);
#20=IFCSITE('1YvctVUKr0kugbFTf53O9L',$,'Site',$,$,#21,$,$,.ELEMENT.,$,$,$,$,$);
#21=IFCLOCALPLACEMENT($,#12);
#30=IFCBUILDING('2YvctVUKr0kugbFTf53O9L',$,'Building',$,$,#31,$,$,.ELEMENT.,$,$,$);
#31=IFCLOCALPLACEMENT(#21,#12);
#40=IFCBUILDINGSTOREY('3YvctVUKr0kugbFTf53O9L',$,'Level 1',$,$,#41,$,$,.ELEMENT.,{elevation});
#41=IFCLOCALPLACEMENT(#31,#12);
#50=IFCRELAGGREGATES('4YvctVUKr0kugbFTf53O9L',$,$,$,#1,(#20));
#51=IFCRELAGGREGATES('5YvctVUKr0kugbFTf53O9L',$,$,$,#20,(#30));
#52=IFCRELAGGREGATES('6YvctVUKr0kugbFTf53O9L',$,$,$,#30,(#40));
#60=IFCWALL('7YvctVUKr0kugbFTf53O9L',$,'Wall',$,$,#61,#66,$,.STANDARD.);
#61=IFCLOCALPLACEMENT(#41,#12);
#62=IFCRECTANGLEPROFILEDEF(.AREA.,$,#63,4000.,200.);
#63=IFCAXIS2PLACEMENT2D(#64,$);
#64=IFCCARTESIANPOINT((0.,0.));
#65=IFCEXTRUDEDAREASOLID(#62,#12,#67,3000.);
#67=IFCDIRECTION((0.,0.,1.));
#66=IFCPRODUCTDEFINITIONSHAPE($,$,(#68));
#68=IFCSHAPEREPRESENTATION(#13,'Body','SweptSolid',(#65));
#70=IFCRELCONTAINEDINSPATIALSTRUCTURE('8YvctVUKr0kugbFTf53O9L',$,$,$,(#60),#40);
#80=IFCPROPERTYSET('9YvctVUKr0kugbFTf53O9L',$,'Pset_WallCommon',$,(#81,#82,#83,#84,#95));
#81=IFCPROPERTYSINGLEVALUE('IsExternal',$,IFCBOOLEAN(.T.),$);
#82=IFCPROPERTYSINGLEVALUE('Reference',$,IFCIDENTIFIER('W-01'),$);
#83=IFCPROPERTYSINGLEVALUE('ThermalTransmittance',$,IFCTHERMALTRANSMITTANCEMEASURE(0.24),$);
#84=IFCPROPERTYSINGLEVALUE('LoadBearing',$,IFCLOGICAL(.F.),$);
#95=IFCPROPERTYSINGLEVALUE('Width',$,IFCPOSITIVELENGTHMEASURE(200.),$);
#85=IFCRELDEFINESBYPROPERTIES('AYvctVUKr0kugbFTf53O9L',$,$,$,(#60),#80);
#86=IFCELEMENTQUANTITY('BYvctVUKr0kugbFTf53O9L',$,'Qto_WallBaseQuantities',$,$,(#87,#88));
#87=IFCQUANTITYLENGTH('Length',$,$,4000.,$);
#88=IFCQUANTITYCOUNT('Layers',$,$,3,$);
#89=IFCRELDEFINESBYPROPERTIES('CYvctVUKr0kugbFTf53O9L',$,$,$,(#60),#86);
#90=IFCWALLTYPE('DYvctVUKr0kugbFTf53O9L',$,'Basic 200',$,$,(#91),$,$,$,.STANDARD.);
#91=IFCPROPERTYSET('EYvctVUKr0kugbFTf53O9L',$,'Pset_WallCommon',$,(#92,#93));
#92=IFCPROPERTYSINGLEVALUE('FireRating',$,IFCLABEL('REI60'),$);
#93=IFCPROPERTYSINGLEVALUE('IsExternal',$,IFCBOOLEAN(.F.),$);
#94=IFCRELDEFINESBYTYPE('FYvctVUKr0kugbFTf53O9L',$,$,$,(#60),#90);
{extra}
ENDSEC;
END-ISO-10303-21;
"
    )
}

fn import(text: &str) -> Result<Model, ImportError> {
    IfcImporter.import_bytes("test.ifc", text.as_bytes(), &ImportConfig::default())
}

fn import_ok(text: &str) -> Model {
    match import(text) {
        Ok(model) => model,
        Err(err) => panic!("import failed: {err}"),
    }
}

fn not_readable_reason(text: &str) -> String {
    match import(text) {
        Err(ImportError::NotReadable { reason, .. }) => reason,
        Err(other) => panic!("expected not readable, got {other}"),
        Ok(model) => panic!(
            "expected not readable, got a model with {} elements",
            model.elements.len()
        ),
    }
}

fn extent(model: &Model) -> [f64; 3] {
    let b = model.bbox();
    [
        b.max[0] - b.min[0],
        b.max[1] - b.min[1],
        b.max[2] - b.min[2],
    ]
}

fn assert_close(actual: f64, expected: f64, what: &str) {
    assert!(
        (actual - expected).abs() < 1e-4,
        "{what}: {actual} is not {expected}"
    );
}

#[test]
fn millimetre_file_is_read_in_metres() {
    let model = import_ok(&wall_file(MILLIMETRE, "3000.", ""));
    assert_close(model.source.length_unit_to_metres, 0.001, "unit factor");
    let [x, y, z] = extent(&model);
    assert_close(x, 4.0, "wall length");
    assert_close(y, 0.2, "wall thickness");
    assert_close(z, 3.0, "wall height");
    let storey = model
        .spatial
        .iter()
        .find(|n| n.kind == SpatialKind::Storey)
        .map(|n| n.elevation);
    assert_eq!(storey, Some(Some(3.0)));
    let wall = model.elements.at(0);
    assert_eq!(
        wall.property("Qto_WallBaseQuantities", "Length"),
        Some(&PropertyValue::Real(4.0))
    );
    assert_eq!(
        wall.property("Pset_WallCommon", "Width"),
        Some(&PropertyValue::Real(0.2))
    );
}

#[test]
fn foot_file_is_read_in_metres() {
    let model = import_ok(&wall_file(FOOT, "10.", ""));
    assert_close(model.source.length_unit_to_metres, 0.3048, "unit factor");
    let [x, _, z] = extent(&model);
    assert_close(x, 4000.0 * 0.3048, "wall length");
    assert_close(z, 3000.0 * 0.3048, "wall height");
    assert_eq!(
        model.spatial.iter().find_map(|n| n.elevation),
        Some(10.0 * 0.3048)
    );
}

#[test]
fn a_file_without_length_unit_assumes_metres_and_says_so() {
    let model = import_ok(&wall_file(
        "#8=IFCSIUNIT(*,.MASSUNIT.,.KILO.,.GRAM.);",
        "0.",
        "",
    ));
    assert_close(model.source.length_unit_to_metres, 1.0, "unit factor");
    assert!(
        model
            .diagnostics
            .iter()
            .any(|d| d.kind == DiagnosticKind::UnitAssumed)
    );
}

#[test]
fn property_sets_are_typed_and_type_sets_inherited() {
    let model = import_ok(&wall_file(MILLIMETRE, "0.", ""));
    let wall = model.elements.at(0);
    assert_eq!(wall.type_name, Some("Basic 200"));
    // The occurrence's value overrides the type's; the type's other values are inherited.
    assert_eq!(
        wall.property("Pset_WallCommon", "IsExternal"),
        Some(&PropertyValue::Bool(true))
    );
    assert_eq!(
        wall.property("Pset_WallCommon", "FireRating"),
        Some(&PropertyValue::Text("REI60".into()))
    );
    assert_eq!(
        wall.property("Pset_WallCommon", "LoadBearing"),
        Some(&PropertyValue::Bool(false))
    );
    assert_eq!(
        wall.property("Pset_WallCommon", "Reference"),
        Some(&PropertyValue::Text("W-01".into()))
    );
    assert_eq!(
        wall.property("Pset_WallCommon", "ThermalTransmittance"),
        Some(&PropertyValue::Real(0.24))
    );
    assert_eq!(
        wall.property("Qto_WallBaseQuantities", "Layers"),
        Some(&PropertyValue::Integer(3))
    );
    assert_eq!(model.property_set_count(), 2);
}

#[test]
fn elements_share_one_copy_of_a_set_and_an_override_copies_only_its_own() {
    // Walls #100 and #101 have #60's type and its quantity set #86; #60 overrides
    // `IsExternal` of the type's Pset_WallCommon with its own set #80.
    let model = import_ok(&wall_file(
        MILLIMETRE,
        "0.",
        "#100=IFCWALL('GYvctVUKr0kugbFTf53O9L',$,'Wall 2',$,$,#61,#66,$,.STANDARD.);
#101=IFCWALL('HYvctVUKr0kugbFTf53O9L',$,'Wall 3',$,$,#61,#66,$,.STANDARD.);
#102=IFCRELDEFINESBYTYPE('IYvctVUKr0kugbFTf53O9L',$,$,$,(#100,#101),#90);
#103=IFCRELDEFINESBYPROPERTIES('JYvctVUKr0kugbFTf53O9L',$,$,$,(#100,#101),#86);
#104=IFCRELCONTAINEDINSPATIALSTRUCTURE('KYvctVUKr0kugbFTf53O9L',$,$,$,(#100,#101),#40);",
    ));
    let wall = |id: u32| match model.elements.iter().find(|e| e.step_id == id) {
        Some(e) => e,
        None => panic!("no element #{id}"),
    };
    let set = |id: u32, name: &str| match wall(id).property_sets.iter().find(|s| s.name == name) {
        Some(s) => s.clone(),
        None => panic!("#{id} has no {name}"),
    };
    let (first, second, third) = (wall(60), wall(100), wall(101));
    assert_eq!(model.elements.len(), 3);
    // Inherited and not overridden: one copy for both occurrences, the type's values.
    let common = set(100, "Pset_WallCommon");
    assert!(std::sync::Arc::ptr_eq(&common, &set(101, "Pset_WallCommon")));
    assert_eq!(second.property("Pset_WallCommon", "IsExternal"), Some(&PropertyValue::Bool(false)));
    assert_eq!(third.property("Pset_WallCommon", "FireRating"), Some(&PropertyValue::Text("REI60".into())));
    assert_eq!(common.properties.len(), 2, "the shared set is the type's, untouched");
    // Overridden: #60 has its own merged copy; the shared one is unchanged.
    assert!(!std::sync::Arc::ptr_eq(&common, &set(60, "Pset_WallCommon")));
    assert_eq!(first.property("Pset_WallCommon", "IsExternal"), Some(&PropertyValue::Bool(true)));
    assert_eq!(first.property("Pset_WallCommon", "FireRating"), Some(&PropertyValue::Text("REI60".into())));
    // One IfcElementQuantity related to all three: one copy.
    let quantities = set(60, "Qto_WallBaseQuantities");
    for id in [100, 101] {
        assert!(std::sync::Arc::ptr_eq(&quantities, &set(id, "Qto_WallBaseQuantities")), "#{id}");
    }
}

#[test]
fn spatial_tree_lists_parents_first_and_walls_sit_in_their_storey() {
    let model = import_ok(&wall_file(MILLIMETRE, "0.", ""));
    let kinds: Vec<SpatialKind> = model.spatial.iter().map(|n| n.kind).collect();
    assert_eq!(
        kinds,
        [
            SpatialKind::Project,
            SpatialKind::Site,
            SpatialKind::Building,
            SpatialKind::Storey
        ]
    );
    for (i, node) in model.spatial.iter().enumerate() {
        assert_eq!(node.parent, i.checked_sub(1), "node {i} ({})", node.class);
    }
    assert_eq!(model.spatial[3].class, "IfcBuildingStorey");
    assert_eq!(model.spatial[3].name.as_deref(), Some("Level 1"));
    assert_eq!(model.storey_count(), 1);
    let wall = model.elements.at(0);
    assert_eq!(model.elements.len(), 1, "only the wall is an element");
    assert_eq!(
        (wall.class, wall.step_id, wall.global_id),
        ("IfcWall", 60, "7YvctVUKr0kugbFTf53O9L")
    );
    assert_eq!(wall.container, Some(3));
}

#[test]
fn an_opening_is_cut_into_its_wall() {
    let plain = import_ok(&wall_file(MILLIMETRE, "0.", ""));
    let cut = import_ok(&wall_file(MILLIMETRE, "0.", OPENING));
    assert_eq!(plain.placed_triangles(), 12, "an uncut wall is a box");
    assert!(
        cut.placed_triangles() > plain.placed_triangles(),
        "the cut wall has {} triangles",
        cut.placed_triangles()
    );
    assert_eq!(cut.elements.len(), 1, "the opening is not an element");
    assert!(
        !cut.diagnostics
            .iter()
            .any(|d| d.kind == DiagnosticKind::OpeningNotCut),
        "{:?}",
        cut.diagnostics
    );
    // The hole goes right through: no vertex of the cut wall lies inside the opening's box.
    let inside = cut
        .meshes
        .iter()
        .zip(cut.elements.at(0).placements.iter())
        .any(|(mesh, p)| {
            mesh.positions.chunks_exact(3).any(|v| {
                let x = f64::from(v[0]) + p.transform[12];
                let z = f64::from(v[2]) + p.transform[14];
                x.abs() < 0.45 && z > 0.95 && z < 2.05
            })
        });
    assert!(!inside, "a vertex lies inside the opening");
}

/// Two more walls drawing one representation map through IfcMappedItem; the second is moved
/// 10 m along x and turned 90° about z.
const MAPPED_WALLS: &str = "#300=IFCREPRESENTATIONMAP(#12,#301);
#301=IFCSHAPEREPRESENTATION(#13,'Body','SweptSolid',(#302));
#302=IFCEXTRUDEDAREASOLID(#62,#12,#67,2000.);
#310=IFCWALL('0IvctVUKr0kugbFTf53O9L',$,'Mapped A',$,$,#311,#312,$,.STANDARD.);
#311=IFCLOCALPLACEMENT(#41,#12);
#312=IFCPRODUCTDEFINITIONSHAPE($,$,(#313));
#313=IFCSHAPEREPRESENTATION(#13,'Body','MappedRepresentation',(#314));
#314=IFCMAPPEDITEM(#300,#315);
#315=IFCCARTESIANTRANSFORMATIONOPERATOR3D($,$,#10,1.,$);
#320=IFCWALL('0JvctVUKr0kugbFTf53O9L',$,'Mapped B',$,$,#321,#322,$,.STANDARD.);
#321=IFCLOCALPLACEMENT(#41,#323);
#323=IFCAXIS2PLACEMENT3D(#324,#67,#325);
#324=IFCCARTESIANPOINT((10000.,0.,0.));
#325=IFCDIRECTION((0.,1.,0.));
#322=IFCPRODUCTDEFINITIONSHAPE($,$,(#326));
#326=IFCSHAPEREPRESENTATION(#13,'Body','MappedRepresentation',(#327));
#327=IFCMAPPEDITEM(#300,#315);
#330=IFCRELCONTAINEDINSPATIALSTRUCTURE('0KvctVUKr0kugbFTf53O9L',$,$,$,(#310,#320),#40);";

#[test]
fn mapped_items_share_one_mesh_with_one_placement_each() {
    let model = import_ok(&wall_file(MILLIMETRE, "0.", MAPPED_WALLS));
    let mapped: Vec<_> = model
        .elements
        .iter()
        .filter(|e| e.name.is_some_and(|n| n.starts_with("Mapped")))
        .collect();
    assert_eq!(mapped.len(), 2);
    let (a, b) = (&mapped[0].placements, &mapped[1].placements);
    assert_eq!((a.len(), b.len()), (1, 1));
    assert_eq!(a[0].mesh, b[0].mesh, "both walls use the same mesh");
    assert_eq!(
        model.meshes.len(),
        2,
        "one mesh for the plain wall, one shared by the mapped walls"
    );
    // The turned copy spans 0.2 m along x and 4 m along y, around x = 10 m.
    let mesh = &model.meshes[b[0].mesh.0 as usize];
    let t = &b[0].transform;
    let xs: Vec<f64> = mesh
        .positions
        .chunks_exact(3)
        .map(|v| t[0] * f64::from(v[0]) + t[4] * f64::from(v[1]) + t[12])
        .collect();
    let ys: Vec<f64> = mesh
        .positions
        .chunks_exact(3)
        .map(|v| t[1] * f64::from(v[0]) + t[5] * f64::from(v[1]) + t[13])
        .collect();
    let span = |v: &[f64]| {
        v.iter().cloned().fold(f64::NEG_INFINITY, f64::max)
            - v.iter().cloned().fold(f64::INFINITY, f64::min)
    };
    assert_close(span(&xs), 0.2, "turned wall x extent");
    assert_close(span(&ys), 4.0, "turned wall y extent");
    assert_close(
        xs.iter().sum::<f64>() / xs.len() as f64,
        10.0,
        "turned wall centre",
    );
}

#[test]
fn meshes_have_unit_normals_and_sit_near_the_origin() {
    let model = import_ok(&wall_file(MILLIMETRE, "0.", OPENING));
    assert_eq!(model.origin, [0.0; 3]);
    for mesh in &model.meshes {
        assert_eq!(mesh.normals.len(), mesh.positions.len());
        for n in mesh.normals.chunks_exact(3) {
            let len = (n[0] * n[0] + n[1] * n[1] + n[2] * n[2]).sqrt();
            assert!((len - 1.0).abs() < 1e-4, "normal length {len}");
        }
    }
}

#[test]
fn importing_twice_gives_the_same_meshes() {
    let text = wall_file(MILLIMETRE, "0.", OPENING);
    let (a, b) = (import_ok(&text), import_ok(&text));
    assert_eq!(a.meshes.len(), b.meshes.len());
    for (x, y) in a.meshes.iter().zip(&b.meshes) {
        assert_eq!((&x.positions, &x.indices), (&y.positions, &y.indices));
    }
}

#[test]
fn semantics_only_import_builds_no_mesh() {
    let config = ImportConfig {
        geometry: false,
        ..ImportConfig::default()
    };
    let text = wall_file(MILLIMETRE, "0.", OPENING);
    let model = match IfcImporter.import_bytes("t.ifc", text.as_bytes(), &config) {
        Ok(m) => m,
        Err(err) => panic!("{err}"),
    };
    assert_eq!((model.elements.len(), model.meshes.len()), (1, 0));
}

#[test]
fn empty_input_is_not_readable() {
    assert_eq!(not_readable_reason(""), "the file is empty");
    assert_eq!(not_readable_reason("  \r\n"), "the file is empty");
}

#[test]
fn garbage_is_not_readable() {
    let reason = not_readable_reason("PK\u{3}\u{4} this is a zip, not a step file");
    assert!(reason.contains("ISO-10303-21"), "{reason}");
    assert!(!IfcImporter.sniff(b"<?xml version='1.0'?>"));
    assert!(IfcImporter.sniff(b"\xef\xbb\xbf\r\nISO-10303-21;"));
}

#[test]
fn truncated_file_is_not_readable_and_names_the_last_record() {
    let text = wall_file(MILLIMETRE, "0.", "");
    let cut = &text[..text.find("#62=").unwrap_or(text.len() / 2) + 10];
    let reason = not_readable_reason(cut);
    assert!(reason.contains("truncated"), "{reason}");
    assert!(reason.contains("#61"), "{reason}");
    assert!(reason.contains("line"), "{reason}");
}

#[test]
fn unknown_schema_is_not_readable() {
    let text =
        wall_file(MILLIMETRE, "0.", "").replace("FILE_SCHEMA(('IFC4'))", "FILE_SCHEMA(('IFC9X9'))");
    let reason = not_readable_reason(&text);
    assert!(reason.contains("unknown schema 'IFC9X9'"), "{reason}");
    let text = wall_file(MILLIMETRE, "0.", "").replace("FILE_SCHEMA(('IFC4'));", "");
    assert!(not_readable_reason(&text).contains("FILE_SCHEMA"));
}

#[test]
fn data_section_without_instances_is_not_readable() {
    let text = "ISO-10303-21;\nHEADER;\nFILE_SCHEMA(('IFC4'));\nENDSEC;\nDATA;\nENDSEC;\nEND-ISO-10303-21;\n";
    assert!(not_readable_reason(text).contains("no entity instances"));
}

#[test]
fn dangling_references_are_diagnostics_not_failures() {
    let text = wall_file(MILLIMETRE, "0.", "").replace("(#60),#40);", "(#60,#999),#40);");
    let model = import_ok(&text);
    let dangling = model
        .diagnostics
        .iter()
        .find(|d| d.kind == DiagnosticKind::DanglingReference);
    assert!(
        dangling.is_some_and(|d| d.message.contains("#999") && d.step_id == Some(70)),
        "{:?}",
        model.diagnostics
    );
    assert_eq!(
        model.elements.at(0).container,
        Some(3),
        "the valid part of the relationship still counts"
    );
}

#[test]
fn a_body_that_cannot_be_meshed_is_a_geometry_missing_diagnostic() {
    let text = wall_file(MILLIMETRE, "0.", "")
        .replace("IFCEXTRUDEDAREASOLID(#62,", "IFCEXTRUDEDAREASOLID(#998,");
    let model = import_ok(&text);
    assert_eq!(model.elements.len(), 1);
    assert!(model.elements.at(0).placements.is_empty());
    let missing = model
        .diagnostics
        .iter()
        .find(|d| d.kind == DiagnosticKind::GeometryMissing);
    assert!(
        missing.is_some_and(|d| d.step_id == Some(60)
            && d.message.contains("#60")
            && d.message.contains("IfcWall")),
        "{:?}",
        model.diagnostics
    );
}

#[test]
fn malformed_records_are_reported_with_their_line() {
    let text = wall_file(
        MILLIMETRE,
        "0.",
        "#200=IFCWALL('x',$,'broken'\n#201=IFCWALL('y',$,$,$,$,$,$,$,$);",
    );
    let model = import_ok(&text);
    assert!(!model.elements.is_empty());
    assert!(
        model
            .diagnostics
            .iter()
            .any(|d| d.kind == DiagnosticKind::MalformedRecord && d.message.contains("line")),
        "{:?}",
        model.diagnostics
    );
}

#[test]
fn oversized_input_is_refused() {
    let config = ImportConfig {
        max_file_bytes: 10,
        ..ImportConfig::default()
    };
    let text = wall_file(MILLIMETRE, "0.", "");
    assert!(matches!(
        IfcImporter.import_bytes("big.ifc", text.as_bytes(), &config),
        Err(ImportError::TooLarge { limit: 10, .. })
    ));
}

#[test]
fn degenerate_and_invalid_triangles_are_dropped() {
    let mut raw = ifc_lite_geometry::Mesh::new();
    raw.positions = vec![
        0.0,
        0.0,
        0.0,
        1.0,
        0.0,
        0.0,
        0.0,
        1.0,
        0.0,
        2.0,
        0.0,
        0.0,
        f32::NAN,
        0.0,
        0.0,
    ];
    raw.normals = vec![0.0; 15];
    // A good triangle, a collinear one, a repeated index, a NaN vertex, an out-of-range index.
    raw.indices = vec![0, 1, 2, 0, 1, 3, 0, 0, 1, 0, 1, 4, 0, 1, 9];
    let (mesh, dropped) = super::clean::clean(&raw);
    assert_eq!(dropped, 4);
    let Some(mesh) = mesh else {
        panic!("the good triangle was dropped")
    };
    assert_eq!(mesh.indices, [0, 1, 2]);
    assert_eq!(mesh.positions.len(), 9, "unreferenced vertices are removed");
    assert_eq!(
        &mesh.normals[0..3],
        &[0.0, 0.0, 1.0],
        "missing normals are computed from the faces"
    );
}

/// A hand-written IFC4 file with a work schedule, materials and a georeference (the corpus has
/// no file with a work schedule).
const SCHEDULE_FILE: &str = include_str!("../../tests/data/schedule-ifc4.ifc");

#[test]
fn work_schedule_tasks_times_sequences_and_products_are_read() {
    let model = import_ok(SCHEDULE_FILE);
    let element = |name: &str| {
        model
            .elements
            .iter()
            .position(|e| e.name == Some(name))
            .unwrap_or_else(|| panic!("no element named {name}"))
    };
    let (north, south, slab) = (
        element("Wall north"),
        element("Wall south"),
        element("Ground slab"),
    );
    assert_eq!(
        model.schedules.len(),
        2,
        "the schedule and the unscheduled tasks"
    );
    let schedule = &model.schedules[0];
    assert_eq!(schedule.step_id, 200);
    assert_eq!(schedule.global_id, "AaYvctVUKr0kugbFTf53O9");
    assert_eq!(schedule.name.as_deref(), Some("Renewal phase 1"));
    assert_eq!(schedule.identification.as_deref(), Some("WS-1"));
    let start = schedule.start.as_ref().and_then(|t| t.days);
    assert_eq!(
        start,
        Some(19_783.0 + 8.0 / 24.0),
        "2024-03-01T08:00 in days since 1970"
    );

    let names: Vec<_> = schedule
        .tasks
        .iter()
        .map(|t| t.name.as_deref().unwrap_or(""))
        .collect();
    assert_eq!(
        names,
        [
            "Phase 1",
            "Strip north wall",
            "Insulate south wall",
            "Handover"
        ],
        "parents before nested tasks, in nesting order"
    );
    let [phase, strip, insulate, handover] = &schedule.tasks[..] else {
        panic!("four tasks expected");
    };
    assert_eq!(phase.parent, None);
    assert!(
        [strip, insulate, handover]
            .iter()
            .all(|t| t.parent == Some(0))
    );
    assert_eq!(strip.identification.as_deref(), Some("T-1.1"));
    assert_eq!(strip.predefined_type.as_deref(), Some("DEMOLITION"));
    assert!(handover.is_milestone && !strip.is_milestone);

    assert_eq!(
        strip.duration.as_ref().map(|d| (d.iso.as_str(), d.days)),
        Some(("P10D", Some(10.0)))
    );
    assert_eq!(
        strip.finish.as_ref().map(|d| d.iso.as_str()),
        Some("2024-03-14T17:00:00")
    );
    // Only actual dates on this one: they stand in for the schedule dates.
    assert_eq!(
        insulate.start.as_ref().map(|d| d.iso.as_str()),
        Some("2024-03-18T08:00:00")
    );
    assert_eq!(insulate.duration.as_ref().and_then(|d| d.days), Some(21.0));

    assert_eq!(insulate.predecessors.len(), 1);
    let link = &insulate.predecessors[0];
    assert_eq!(
        (link.task, link.sequence_type.as_str()),
        (1, "FINISH_START")
    );
    assert_eq!(link.lag.as_ref().and_then(|l| l.days), Some(2.0));
    assert_eq!(handover.predecessors[0].task, 2);
    assert_eq!(handover.predecessors[0].sequence_type, "FINISH_FINISH");
    assert_eq!(handover.predecessors[0].lag, None);

    // IfcRelAssignsToProcess (task → products) and IfcRelAssignsToProduct (product → task).
    let mut expected = vec![north, slab];
    expected.sort_unstable();
    assert_eq!(strip.products, expected);
    assert_eq!(insulate.products, vec![south]);
    assert!(handover.products.is_empty(), "the site is not an element");

    let loose = &model.schedules[1];
    assert_eq!(loose.step_id, 0);
    assert_eq!(loose.tasks.len(), 1);
    assert_eq!(loose.tasks[0].name.as_deref(), Some("Snagging"));
}

#[test]
fn materials_come_from_layers_profiles_constituents_and_types() {
    let model = import_ok(SCHEDULE_FILE);
    let materials = |name: &str| {
        model
            .elements
            .iter()
            .find(|e| e.name == Some(name))
            .map(|e| e.materials)
            .unwrap_or_default()
    };
    assert_eq!(
        materials("Wall north"),
        ["Brick", "Mineral wool", "Gypsum plaster"]
    );
    assert_eq!(materials("Wall south"), ["Lime mortar"]);
    assert_eq!(materials("Ground slab"), ["Concrete C30/37"]);
    assert_eq!(
        materials("Column"),
        ["Steel S355"],
        "inherited from the column type"
    );
}

#[test]
fn map_conversion_and_site_location_are_both_kept() {
    let model = import_ok(SCHEDULE_FILE);
    let Some(georef) = &model.georef else {
        panic!("no georeference");
    };
    let Some(map) = &georef.map_conversion else {
        panic!("no map conversion");
    };
    // The CRS's map unit is the metre, so the offsets are not scaled by the file's millimetre.
    assert_close(map.eastings, 155_000.0, "eastings");
    assert_close(map.northings, 463_000.0, "northings");
    assert_close(map.orthogonal_height, 2.5, "height");
    assert_close(map.rotation_degrees(), 30.0, "rotation");
    assert_close(map.scale, 1.0, "scale");
    assert_eq!(map.target_crs.as_deref(), Some("EPSG:28992"));
    assert_eq!(map.source, "IfcMapConversion");
    let Some(site) = georef.site_location else {
        panic!("no site location");
    };
    assert_close(site.latitude, 52.01, "latitude");
    assert_close(site.longitude, 4.357083, "longitude");
    assert_close(
        site.elevation.unwrap_or(f64::NAN),
        1.5,
        "elevation in metres",
    );
}

#[test]
fn spatial_nodes_carry_the_indicator_property_sets() {
    let model = import_ok(SCHEDULE_FILE);
    let node = |kind: SpatialKind| {
        model
            .spatial
            .iter()
            .find(|n| n.kind == kind)
            .unwrap_or_else(|| panic!("no {kind:?}"))
    };
    assert_eq!(
        node(SpatialKind::Building).property("RenewTwin_Building", "Households"),
        Some(&PropertyValue::Integer(24))
    );
    assert_eq!(
        node(SpatialKind::Site).property("RenewTwin_Site", "SiteArea"),
        Some(&PropertyValue::Real(1250.0)),
        "areas are in m² (the file's area unit is not declared, so square metres)"
    );
    assert_eq!(node(SpatialKind::Site).global_id, "1YvctVUKr0kugbFTf53O9L");
}

#[test]
fn repeated_representations_are_stored_once() {
    let model = import_ok(SCHEDULE_FILE);
    let walls: Vec<_> = model
        .elements
        .iter()
        .filter(|e| e.class == "IfcWall")
        .collect();
    assert_eq!(walls.len(), 2);
    assert_eq!(walls[0].placements.len(), 1);
    assert_eq!(
        walls[0].placements[0].mesh, walls[1].placements[0].mesh,
        "two walls with the same shape representation share one mesh"
    );
    assert_ne!(
        walls[0].placements[0].transform,
        walls[1].placements[0].transform
    );
}

/// Found by cargo-fuzz: a second `#17` of another class made ifc-lite read the first record's
/// class from the second record's bytes, and panic.
#[test]
fn a_duplicate_id_keeps_its_first_record_everywhere() {
    let text = SCHEDULE_FILE.replace(
        "#20=IFCSITE(",
        "#17=IFCSIUNIT(*,.LENGTHUNIT.,$,.METRE.);\n#20=IFCSITE(",
    );
    let model = import_ok(&text);
    assert!(
        model
            .diagnostics
            .iter()
            .any(|d| d.step_id == Some(17) && d.message.contains("defined twice")),
        "{:?}",
        model.diagnostics
    );
    let map = model.georef.and_then(|g| g.map_conversion);
    assert_eq!(
        map.map(|m| m.eastings),
        Some(155_000.0),
        "#17 is still the map conversion"
    );
}

/// Found by cargo-fuzz: a unit assignment whose conversion factor points at the wrong kind of
/// record made ifc-lite's debug-build slot check panic out of the unit resolution.
#[test]
fn a_type_confused_unit_assignment_falls_back_to_metres() {
    let text = wall_file(
        "#8=IFCCONVERSIONBASEDUNIT(#9,.PLANEANGLEUNIT.,'DEGREE',#9);
#9=IFCDIMENSIONALEXPONENTS(0,0,0,0,0,0,0);",
        "0.",
        "",
    );
    let model = import_ok(&text);
    assert!(model.source.length_unit_to_metres.is_finite());
    assert_eq!(model.elements.len(), 1);
    // Release builds of ifc-lite skip the check and read past the mismatch without a panic.
    if !cfg!(debug_assertions) {
        return;
    }
    assert!(
        model
            .diagnostics
            .iter()
            .any(|d| d.kind == DiagnosticKind::UnitAssumed && d.message.contains("wrong kind")),
        "{:?}",
        model.diagnostics
    );
}

/// An IFC2X3 work schedule: tasks assigned with IfcRelAssignsTasks, times in an
/// IfcScheduleTimeControl (IfcDateAndTime entities, durations in seconds), a lag in seconds.
const IFC2X3_SCHEDULE: &str = "#300=IFCWORKSCHEDULE('GaYvctVUKr0kugbFTf53O9',$,'Bouwfase',$,$,'WS-2',#310,$,$,$,$,#311,$,.PLANNED.,$);
#301=IFCTASK('GbYvctVUKr0kugbFTf53O9',$,'Sloop',$,$,'T-A',$,$,.F.,$);
#302=IFCTASK('GcYvctVUKr0kugbFTf53O9',$,'Opbouw',$,$,'T-B',$,$,.F.,$);
#303=IFCSCHEDULETIMECONTROL('GdYvctVUKr0kugbFTf53O9',$,$,$,$,$,$,$,#311,$,$,$,#312,864000.,$,$,$,$,$,$,$,$,$);
#304=IFCRELASSIGNSTASKS('GeYvctVUKr0kugbFTf53O9',$,$,$,(#301),$,#300,#303);
#305=IFCRELASSIGNSTASKS('GfYvctVUKr0kugbFTf53O9',$,$,$,(#302),$,#300,$);
#306=IFCRELSEQUENCE('GgYvctVUKr0kugbFTf53O9',$,$,$,#301,#302,172800.,.START_START.);
#307=IFCRELASSIGNSTOPROCESS('GhYvctVUKr0kugbFTf53O9',$,$,$,(#60),$,#302,$);
#310=IFCCALENDARDATE(15,1,2024);
#311=IFCDATEANDTIME(#313,#314);
#312=IFCCALENDARDATE(26,4,2024);
#313=IFCCALENDARDATE(1,3,2024);
#314=IFCLOCALTIME(6,0,0.,$,$);";

#[test]
fn ifc2x3_schedules_read_date_entities_and_seconds() {
    let text = wall_file(MILLIMETRE, "0.", IFC2X3_SCHEDULE)
        .replace("FILE_SCHEMA(('IFC4'))", "FILE_SCHEMA(('IFC2X3'))");
    let model = import_ok(&text);
    assert_eq!(model.schedules.len(), 1, "{:?}", model.schedules);
    let schedule = &model.schedules[0];
    assert_eq!(schedule.identification.as_deref(), Some("WS-2"));
    assert_eq!(
        schedule.start.as_ref().map(|t| t.iso.as_str()),
        Some("2024-03-01T06:00:00")
    );
    let [demolish, build] = &schedule.tasks[..] else {
        panic!("two tasks expected: {:?}", schedule.tasks);
    };
    assert_eq!(demolish.identification.as_deref(), Some("T-A"));
    assert_eq!(
        demolish.start.as_ref().and_then(|t| t.days),
        Some(19_783.25)
    );
    assert_eq!(
        demolish.finish.as_ref().map(|t| t.iso.as_str()),
        Some("2024-04-26")
    );
    assert_eq!(
        demolish.duration.as_ref().map(|t| (t.iso.as_str(), t.days)),
        Some(("P10D", Some(10.0)))
    );
    assert_eq!(build.predecessors.len(), 1);
    assert_eq!(build.predecessors[0].sequence_type, "START_START");
    assert_eq!(
        build.predecessors[0].lag.as_ref().and_then(|l| l.days),
        Some(2.0)
    );
    let wall = model.elements.iter().position(|e| e.step_id == 60);
    assert_eq!(build.products, wall.into_iter().collect::<Vec<_>>());
}

/// Products with one shape key share one meshing: on a generated district (every storey's
/// walls with their windows repeat) the model has the same elements, placements and placed
/// geometry as when every product is meshed on its own, within the mesh interner's 10 µm, and
/// fewer meshes.
#[test]
fn shared_shapes_give_the_model_of_meshing_every_product() {
    let config = renewtwin_generator::DistrictConfig {
        buildings: 3,
        seed: 7,
        ..Default::default()
    };
    let text = renewtwin_generator::district_ifc(&config);
    let shared = import_ok(&text);
    super::geometry::SHARE_SHAPES.with(|share| share.set(false));
    let alone = import_ok(&text);
    super::geometry::SHARE_SHAPES.with(|share| share.set(true));
    assert_eq!(shared.elements.len(), alone.elements.len());
    assert!(
        shared.meshes.len() < alone.meshes.len(),
        "{} meshes shared, {} alone",
        shared.meshes.len(),
        alone.meshes.len()
    );
    let triangles = |m: &Model| -> usize {
        m.elements
            .iter()
            .flat_map(|e| e.placements)
            .map(|p| m.meshes[p.mesh.0 as usize].triangle_count())
            .sum()
    };
    let (t_shared, t_alone) = (triangles(&shared), triangles(&alone));
    assert!(t_alone > 50_000, "{t_alone} triangles");
    // Equal shapes cut in other places may differ by a sliver triangle or two.
    assert!(
        t_shared.abs_diff(t_alone) * 1000 <= t_alone,
        "{t_shared} triangles shared, {t_alone} alone"
    );
    // Every element's placed bounding box and surface area agree.
    let placed = |m: &Model, e: crate::ElementRef<'_>| -> ([f64; 3], [f64; 3], f64) {
        let (mut lo, mut hi, mut area) = ([f64::INFINITY; 3], [f64::NEG_INFINITY; 3], 0.0);
        for p in e.placements {
            let mesh = &m.meshes[p.mesh.0 as usize];
            let t = &p.transform;
            let at = |i: u32| -> [f64; 3] {
                let v = &mesh.positions[i as usize * 3..i as usize * 3 + 3];
                std::array::from_fn(|k| {
                    t[k] * f64::from(v[0]) + t[4 + k] * f64::from(v[1]) + t[8 + k] * f64::from(v[2]) + t[12 + k]
                })
            };
            for tri in mesh.indices.chunks_exact(3) {
                let [a, b, c] = [at(tri[0]), at(tri[1]), at(tri[2])];
                for v in [a, b, c] {
                    for k in 0..3 {
                        lo[k] = lo[k].min(v[k]);
                        hi[k] = hi[k].max(v[k]);
                    }
                }
                let (u, w): ([f64; 3], [f64; 3]) =
                    (std::array::from_fn(|k| b[k] - a[k]), std::array::from_fn(|k| c[k] - a[k]));
                let n = [u[1] * w[2] - u[2] * w[1], u[2] * w[0] - u[0] * w[2], u[0] * w[1] - u[1] * w[0]];
                area += 0.5 * (n[0] * n[0] + n[1] * n[1] + n[2] * n[2]).sqrt();
            }
        }
        (lo, hi, area)
    };
    for (a, b) in shared.elements.iter().zip(&alone.elements) {
        assert_eq!(a.step_id, b.step_id);
        assert_eq!(a.placements.len(), b.placements.len(), "#{}", a.step_id);
        if a.placements.is_empty() {
            continue;
        }
        let ((lo_a, hi_a, area_a), (lo_b, hi_b, area_b)) = (placed(&shared, a), placed(&alone, b));
        for k in 0..3 {
            assert!(
                (lo_a[k] - lo_b[k]).abs() < 1e-4 && (hi_a[k] - hi_b[k]).abs() < 1e-4,
                "#{}: bounds {lo_a:?}..{hi_a:?} shared, {lo_b:?}..{hi_b:?} alone",
                a.step_id
            );
        }
        assert!(
            (area_a - area_b).abs() <= 1e-4 * area_b.max(1.0),
            "#{}: area {area_a} shared, {area_b} alone",
            a.step_id
        );
    }
}
