//! The generated district read back as STEP text: determinism, structure, counts against
//! [`DistrictSummary`], IFC4 attribute counts, GlobalIds and the spatial/void relations.

use renewtwin_generator::{
    DistrictConfig, DistrictSummary, GenerateError, district_ifc, write_district,
};
use std::collections::{BTreeMap, HashMap, HashSet};

/// One parsed instance.
#[derive(Debug)]
struct Instance {
    keyword: String,
    args: Vec<String>,
}

/// A parsed DATA section.
#[derive(Debug)]
struct Model {
    instances: BTreeMap<u64, Instance>,
    /// Instance ids in file order (to check uniqueness).
    order: Vec<u64>,
}

/// Splits a STEP attribute list at top-level commas, outside strings and brackets.
fn split_args(text: &str) -> Vec<String> {
    let mut args = Vec::new();
    let (mut depth, mut in_string, mut current) = (0i32, false, String::new());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if in_string {
            current.push(c);
            if c == '\'' {
                if chars.peek() == Some(&'\'') {
                    current.push('\'');
                    chars.next();
                } else {
                    in_string = false;
                }
            }
            continue;
        }
        match c {
            '\'' => {
                in_string = true;
                current.push(c);
            }
            '(' => {
                depth += 1;
                current.push(c);
            }
            ')' => {
                depth -= 1;
                current.push(c);
            }
            ',' if depth == 0 => args.push(std::mem::take(&mut current)),
            _ => current.push(c),
        }
    }
    if !current.is_empty() || !args.is_empty() {
        args.push(current);
    }
    args
}

/// `#n` references in an attribute, ignoring strings.
fn refs(arg: &str) -> Vec<u64> {
    let mut out = Vec::new();
    let mut in_string = false;
    let bytes = arg.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\'' => in_string = !in_string,
            b'#' if !in_string => {
                let digits: String = arg[i + 1..]
                    .chars()
                    .take_while(char::is_ascii_digit)
                    .collect();
                i += digits.len();
                out.push(digits.parse().unwrap_or(0));
            }
            _ => {}
        }
        i += 1;
    }
    out
}

fn parse(text: &str) -> Model {
    let data = text.split("DATA;\n").nth(1).unwrap_or_default();
    let data = data.split("ENDSEC;").next().unwrap_or_default();
    let mut instances = BTreeMap::new();
    let mut order = Vec::new();
    for line in data.lines() {
        let (id, rest) = line.split_once('=').unwrap_or(("", ""));
        let id: u64 = id.trim_start_matches('#').parse().unwrap_or(0);
        let (keyword, args) = rest.split_once('(').unwrap_or(("", ""));
        let args = args.strip_suffix(");").unwrap_or_default();
        order.push(id);
        instances.insert(
            id,
            Instance {
                keyword: keyword.to_owned(),
                args: split_args(args),
            },
        );
    }
    Model { instances, order }
}

impl Model {
    fn of(&self, keyword: &str) -> impl Iterator<Item = (u64, &Instance)> {
        self.instances
            .iter()
            .filter(move |(_, i)| i.keyword == keyword)
            .map(|(&id, i)| (id, i))
    }

    fn count(&self, keyword: &str) -> u64 {
        self.of(keyword).count() as u64
    }

    fn keyword(&self, id: u64) -> &str {
        self.instances.get(&id).map_or("", |i| i.keyword.as_str())
    }

    fn reference(&self, id: u64, attribute: usize) -> u64 {
        self.instances
            .get(&id)
            .and_then(|i| i.args.get(attribute))
            .and_then(|a| refs(a).first().copied())
            .unwrap_or(0)
    }

    /// Every object's single-value properties: `(pset, property)` → value as written
    /// (`IFCINTEGER(36)`, `IFCLABEL('B')`, `IFCBOOLEAN(.T.)`).
    fn properties(&self) -> HashMap<u64, BTreeMap<(String, String), String>> {
        let mut out: HashMap<u64, BTreeMap<(String, String), String>> = HashMap::new();
        for (_, rel) in self.of("IFCRELDEFINESBYPROPERTIES") {
            let set = refs(&rel.args[5]).first().copied().unwrap_or(0);
            let Some(pset) = self.instances.get(&set) else {
                continue;
            };
            let pset_name = pset.args[2].trim_matches('\'').to_owned();
            for object in refs(&rel.args[4]) {
                for prop in refs(&pset.args[4]) {
                    let Some(p) = self.instances.get(&prop) else {
                        continue;
                    };
                    let key = (pset_name.clone(), p.args[0].trim_matches('\'').to_owned());
                    let previous = out
                        .entry(object)
                        .or_default()
                        .insert(key, p.args[2].clone());
                    assert!(previous.is_none(), "#{object} has {pset_name} twice");
                }
            }
        }
        out
    }

    /// z of an element's placement origin, following its IfcLocalPlacement chain.
    fn world_z(&self, placement: u64) -> f64 {
        let mut z = 0.0;
        let mut current = placement;
        while current != 0 {
            let a2p = self.reference(current, 1);
            let point = self.reference(a2p, 0);
            let coords = self
                .instances
                .get(&point)
                .and_then(|p| p.args.first())
                .cloned()
                .unwrap_or_default();
            let values: Vec<f64> = coords
                .trim_matches(|c| c == '(' || c == ')')
                .split(',')
                .filter_map(|v| v.parse().ok())
                .collect();
            z += values.get(2).copied().unwrap_or(0.0);
            current = self.reference(current, 0);
        }
        z
    }
}

/// Attribute counts of every entity the generator may write, from the IFC4 ADD2 TC1 schema.
const IFC4_ATTRIBUTE_COUNTS: &[(&str, usize)] = &[
    ("IFCCARTESIANPOINT", 1),
    ("IFCDIRECTION", 1),
    ("IFCAXIS2PLACEMENT3D", 3),
    ("IFCLOCALPLACEMENT", 2),
    ("IFCGEOMETRICREPRESENTATIONCONTEXT", 6),
    ("IFCGEOMETRICREPRESENTATIONSUBCONTEXT", 10),
    ("IFCCARTESIANTRANSFORMATIONOPERATOR3D", 5),
    ("IFCSIUNIT", 4),
    ("IFCUNITASSIGNMENT", 1),
    ("IFCPROJECT", 9),
    ("IFCSITE", 14),
    ("IFCBUILDING", 12),
    ("IFCBUILDINGSTOREY", 10),
    ("IFCRECTANGLEPROFILEDEF", 5),
    ("IFCCIRCLEHOLLOWPROFILEDEF", 5),
    ("IFCARBITRARYCLOSEDPROFILEDEF", 3),
    ("IFCPOLYLINE", 1),
    ("IFCEXTRUDEDAREASOLID", 4),
    ("IFCSHAPEREPRESENTATION", 4),
    ("IFCPRODUCTDEFINITIONSHAPE", 3),
    ("IFCREPRESENTATIONMAP", 2),
    ("IFCMAPPEDITEM", 2),
    ("IFCWINDOWTYPE", 13),
    ("IFCDOORTYPE", 13),
    ("IFCWALL", 9),
    ("IFCSLAB", 9),
    ("IFCROOF", 9),
    ("IFCSTAIR", 9),
    ("IFCWINDOW", 13),
    ("IFCDOOR", 13),
    ("IFCOPENINGELEMENT", 9),
    ("IFCTRANSPORTELEMENT", 9),
    ("IFCPIPESEGMENT", 9),
    ("IFCCIVILELEMENT", 8),
    ("IFCGEOGRAPHICELEMENT", 9),
    ("IFCCOLUMN", 9),
    ("IFCBEAM", 9),
    ("IFCBUILDINGELEMENTPROXY", 9),
    ("IFCELEMENTASSEMBLY", 10),
    ("IFCRELAGGREGATES", 6),
    ("IFCRELCONTAINEDINSPATIALSTRUCTURE", 6),
    ("IFCRELVOIDSELEMENT", 6),
    ("IFCRELFILLSELEMENT", 6),
    ("IFCRELDEFINESBYPROPERTIES", 6),
    ("IFCRELDEFINESBYTYPE", 6),
    ("IFCPROPERTYSET", 5),
    ("IFCPROPERTYSINGLEVALUE", 4),
];

/// Products that must sit in a spatial structure (everything physical but openings).
const CONTAINED_PRODUCTS: &[&str] = &[
    "IFCWALL",
    "IFCSLAB",
    "IFCROOF",
    "IFCSTAIR",
    "IFCWINDOW",
    "IFCDOOR",
    "IFCTRANSPORTELEMENT",
    "IFCPIPESEGMENT",
    "IFCCIVILELEMENT",
    "IFCGEOGRAPHICELEMENT",
    "IFCELEMENTASSEMBLY",
];

/// Parts of the heritage archway: in the site through their assembly.
const ASSEMBLY_PARTS: &[&str] = &["IFCCOLUMN", "IFCBEAM", "IFCBUILDINGELEMENTPROXY"];

/// The text inside a typed value's brackets: `IFCAREAMEASURE(432.)` → `432.`.
fn inner(value: &str) -> &str {
    value
        .split_once('(')
        .and_then(|(_, rest)| rest.strip_suffix(')'))
        .unwrap_or_default()
        .trim_matches('\'')
}

fn int(props: &BTreeMap<(String, String), String>, pset: &str, name: &str) -> i64 {
    let value = props.get(&(pset.into(), name.into()));
    let value = value.unwrap_or_else(|| panic!("no {pset}.{name} in {props:?}"));
    assert!(value.starts_with("IFCINTEGER("), "{pset}.{name} = {value}");
    inner(value)
        .parse()
        .unwrap_or_else(|_| panic!("{pset}.{name} = {value}"))
}

fn real(props: &BTreeMap<(String, String), String>, pset: &str, name: &str) -> f64 {
    let value = props.get(&(pset.into(), name.into()));
    let value = value.unwrap_or_else(|| panic!("no {pset}.{name} in {props:?}"));
    inner(value)
        .parse()
        .unwrap_or_else(|_| panic!("{pset}.{name} = {value}"))
}

fn label<'a>(props: &'a BTreeMap<(String, String), String>, pset: &str, name: &str) -> &'a str {
    let value = props.get(&(pset.into(), name.into()));
    let value = value.unwrap_or_else(|| panic!("no {pset}.{name} in {props:?}"));
    assert!(value.starts_with("IFCLABEL("), "{pset}.{name} = {value}");
    inner(value)
}

fn boolean(props: &BTreeMap<(String, String), String>, pset: &str, name: &str) -> Option<bool> {
    match props.get(&(pset.into(), name.into())).map(String::as_str) {
        Some("IFCBOOLEAN(.T.)") => Some(true),
        Some("IFCBOOLEAN(.F.)") => Some(false),
        _ => None,
    }
}

const IFC_GUID_ALPHABET: &str = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_$";

fn six_buildings() -> DistrictConfig {
    DistrictConfig {
        buildings: 6,
        seed: 1,
        ..DistrictConfig::default()
    }
}

fn generate(config: &DistrictConfig) -> (String, DistrictSummary) {
    let mut out = Vec::new();
    let summary = write_district(config, &mut out);
    assert!(summary.is_ok(), "{summary:?}");
    (
        String::from_utf8(out).unwrap_or_default(),
        summary.unwrap_or_default(),
    )
}

/// Every structural invariant the importer relies on, for one generated file.
fn check_structure(text: &str, summary: &DistrictSummary) {
    assert!(text.is_ascii(), "non-ascii output");
    assert!(text.starts_with("ISO-10303-21;\nHEADER;\n"));
    assert!(text.contains("FILE_SCHEMA(('IFC4'));"));
    assert!(text.ends_with("ENDSEC;\nEND-ISO-10303-21;\n"));
    assert_eq!(summary.bytes, text.len() as u64);

    let model = parse(text);
    // Ids unique, numbered 1..=n in order.
    let expected: Vec<u64> = (1..=model.order.len() as u64).collect();
    assert_eq!(model.order, expected, "instance ids are 1..n in file order");
    assert_eq!(summary.entities, model.instances.len() as u64);

    // Every keyword known, with its IFC4 attribute count; every reference defined.
    let counts: HashMap<&str, usize> = IFC4_ATTRIBUTE_COUNTS.iter().copied().collect();
    for (id, instance) in &model.instances {
        let expected = counts.get(instance.keyword.as_str());
        assert_eq!(
            expected,
            Some(&instance.args.len()),
            "#{id} {} has {} attributes",
            instance.keyword,
            instance.args.len()
        );
        for arg in &instance.args {
            for r in refs(arg) {
                assert!(
                    model.instances.contains_key(&r),
                    "#{id} refers to undefined #{r}"
                );
            }
        }
    }

    // Counts agree with the summary.
    for (keyword, expected) in [
        ("IFCBUILDING", summary.buildings),
        ("IFCBUILDINGSTOREY", summary.storeys),
        ("IFCWALL", summary.walls),
        ("IFCWINDOW", summary.windows),
        ("IFCDOOR", summary.doors),
        ("IFCOPENINGELEMENT", summary.openings),
        ("IFCSLAB", summary.slabs),
        ("IFCROOF", summary.roofs),
        ("IFCSTAIR", summary.stairs),
        ("IFCPIPESEGMENT", summary.pipes),
        ("IFCTRANSPORTELEMENT", summary.lifts),
        ("IFCCIVILELEMENT", summary.civil_elements),
        ("IFCGEOGRAPHICELEMENT", summary.geographic_elements),
    ] {
        assert_eq!(model.count(keyword), expected, "{keyword}");
    }
    assert_eq!(summary.roofs, summary.buildings);
    assert!(
        summary.lifts >= summary.buildings * 2,
        "a lift per stair unit"
    );
    assert_eq!(summary.lifts, summary.units);

    // GlobalIds: 22 characters of the IFC alphabet, unique.
    let mut guids = HashSet::new();
    for (id, instance) in &model.instances {
        let rooted = instance.keyword.starts_with("IFCREL")
            || counts
                .get(instance.keyword.as_str())
                .is_some_and(|&n| n >= 5)
                && instance.args[0].len() == 24
                && instance.args[1] == "$";
        if !rooted {
            continue;
        }
        let guid = instance.args[0].trim_matches('\'');
        assert_eq!(guid.len(), 22, "#{id} GlobalId {guid}");
        assert!(
            guid.chars().all(|c| IFC_GUID_ALPHABET.contains(c)),
            "#{id} GlobalId {guid}"
        );
        assert!(
            "0123".contains(&guid[..1]),
            "#{id} first GlobalId digit holds two bits"
        );
        assert!(
            guids.insert(guid.to_owned()),
            "#{id} duplicate GlobalId {guid}"
        );
    }
    assert!(guids.len() as u64 > summary.walls + summary.windows + summary.pipes);

    // Every window and door fills an opening that voids a wall.
    let fills: HashMap<u64, u64> = model
        .of("IFCRELFILLSELEMENT")
        .map(|(id, _)| (model.reference(id, 5), model.reference(id, 4)))
        .collect();
    let voids: HashMap<u64, u64> = model
        .of("IFCRELVOIDSELEMENT")
        .map(|(id, _)| (model.reference(id, 5), model.reference(id, 4)))
        .collect();
    for keyword in ["IFCWINDOW", "IFCDOOR"] {
        for (id, _) in model.of(keyword) {
            let opening = fills.get(&id).copied().unwrap_or(0);
            assert_eq!(
                model.keyword(opening),
                "IFCOPENINGELEMENT",
                "{keyword} #{id} fills an opening"
            );
            let host = voids.get(&opening).copied().unwrap_or(0);
            assert_eq!(
                model.keyword(host),
                "IFCWALL",
                "opening #{opening} of #{id} voids a wall"
            );
        }
    }
    for (id, _) in model.of("IFCOPENINGELEMENT") {
        assert!(voids.contains_key(&id), "opening #{id} voids something");
    }

    // Every physical product contained exactly once; spatial elements aggregated.
    let mut container_of: HashMap<u64, u64> = HashMap::new();
    for (rel, instance) in model.of("IFCRELCONTAINEDINSPATIALSTRUCTURE") {
        let structure = model.reference(rel, 5);
        assert!(matches!(
            model.keyword(structure),
            "IFCBUILDINGSTOREY" | "IFCSITE"
        ));
        for element in refs(&instance.args[4]) {
            assert!(
                container_of.insert(element, structure).is_none(),
                "#{element} contained twice"
            );
        }
    }
    let mut parts_of: HashMap<u64, Vec<u64>> = HashMap::new();
    let mut whole_of: HashMap<u64, u64> = HashMap::new();
    for (rel, instance) in model.of("IFCRELAGGREGATES") {
        let whole = model.reference(rel, 4);
        for part in refs(&instance.args[5]) {
            parts_of.entry(whole).or_default().push(part);
            assert!(
                whole_of.insert(part, whole).is_none(),
                "#{part} aggregated twice"
            );
        }
    }
    for keyword in CONTAINED_PRODUCTS {
        for (id, _) in model.of(keyword) {
            assert!(
                container_of.contains_key(&id),
                "{keyword} #{id} is not contained"
            );
        }
    }
    for keyword in ASSEMBLY_PARTS {
        for (id, _) in model.of(keyword) {
            let whole = whole_of.get(&id).copied().unwrap_or(0);
            assert_eq!(
                model.keyword(whole),
                "IFCELEMENTASSEMBLY",
                "{keyword} #{id}"
            );
            assert!(
                !container_of.contains_key(&id),
                "{keyword} #{id}: in the site through its assembly only"
            );
            assert!(
                container_of.contains_key(&whole),
                "assembly #{whole} is not contained"
            );
        }
    }
    for (site, _) in model.of("IFCSITE") {
        assert_eq!(
            model.keyword(whole_of.get(&site).copied().unwrap_or(0)),
            "IFCPROJECT"
        );
    }
    for (building, _) in model.of("IFCBUILDING") {
        assert_eq!(
            model.keyword(whole_of.get(&building).copied().unwrap_or(0)),
            "IFCSITE"
        );
        let storeys = parts_of.get(&building).map_or(0, Vec::len);
        assert!(
            (5..=7).contains(&storeys),
            "building #{building} has {storeys} storeys"
        );
    }
    for (storey, _) in model.of("IFCBUILDINGSTOREY") {
        assert_eq!(
            model.keyword(whole_of.get(&storey).copied().unwrap_or(0)),
            "IFCBUILDING"
        );
    }

    // Pipes lie below ground.
    for (id, pipe) in model.of("IFCPIPESEGMENT") {
        let z = model.world_z(refs(&pipe.args[5]).first().copied().unwrap_or(0));
        assert!(z < -0.5, "pipe #{id} at z = {z}");
    }

    // Every physical element has one Status (pipes repeat it in two sets, always the same).
    assert!(text.contains("IFCPROPERTYSINGLEVALUE('Status',$,IFCLABEL('EXISTING'),$)"));
    assert!(text.contains("IFCPROPERTYSINGLEVALUE('Status',$,IFCLABEL('NEW'),$)"));
    let props = model.properties();
    let none = BTreeMap::new();
    for keyword in CONTAINED_PRODUCTS.iter().chain(ASSEMBLY_PARTS) {
        if *keyword == "IFCELEMENTASSEMBLY" {
            continue;
        }
        for (id, _) in model.of(keyword) {
            let statuses: HashSet<&String> = props
                .get(&id)
                .unwrap_or(&none)
                .iter()
                .filter(|((_, name), _)| name == "Status")
                .map(|(_, value)| value)
                .collect();
            assert_eq!(statuses.len(), 1, "{keyword} #{id}: Status {statuses:?}");
        }
    }

    check_planning_data(&model, &props, summary);
}

/// The data the simulation, indicators and risk analytics read: per-building households,
/// appraisal and areas, the one protected heritage structure, the park's green area and the
/// site area.
fn check_planning_data(
    model: &Model,
    props: &HashMap<u64, BTreeMap<(String, String), String>>,
    summary: &DistrictSummary,
) {
    let none = BTreeMap::new();
    let (mut households, mut residents) = (0, 0);
    let (mut gross_floor_area, mut footprint) = (0.0, 0.0);
    for (id, _) in model.of("IFCBUILDING") {
        let p = props.get(&id).unwrap_or(&none);
        let set = "RenewTwin_Building";
        let h = int(p, set, "Households");
        let units = int(p, set, "Units");
        let storeys = int(p, "Pset_BuildingCommon", "NumberOfStoreys");
        assert!(h > 0, "building #{id} has {h} households");
        assert!((2..=4).contains(&units) && (5..=7).contains(&storeys));
        let per_landing = int(p, set, "FlatsPerLanding");
        assert!((2..=3).contains(&per_landing));
        assert_eq!(h, units * storeys * per_landing, "building #{id}");
        let r = int(p, set, "Residents");
        assert_eq!(r, (h as f64 * 2.5).round() as i64, "building #{id}");
        households += h;
        residents += r;
        let grade = label(p, set, "InspectionGrade");
        assert!(["A", "B", "C", "D"].contains(&grade), "grade {grade}");
        let structure = label(p, set, "StructureType");
        assert!(
            ["brick-concrete", "masonry", "frame"].contains(&structure),
            "structure {structure}"
        );
        let defects = int(p, set, "RecordedDefects");
        assert!((0..=40).contains(&defects), "{defects} defects");
        assert_eq!(
            boolean(p, set, "Heritage"),
            Some(false),
            "only the archway is heritage"
        );
        let gfa = real(p, "Pset_BuildingCommon", "GrossPlannedArea");
        assert!(gfa > 500.0, "building #{id}: {gfa} m²");
        gross_floor_area += gfa;
        footprint += gfa / storeys as f64;
    }
    assert_eq!(households as u64, summary.households);
    assert_eq!(residents as u64, summary.residents);

    // Exactly one heritage structure; it and its parts, and nothing else, are protected.
    let assemblies: Vec<u64> = model.of("IFCELEMENTASSEMBLY").map(|(id, _)| id).collect();
    assert_eq!(assemblies.len(), 1, "one heritage structure");
    assert_eq!(summary.heritage_structures, 1);
    let archway = assemblies[0];
    let parts: HashSet<u64> = model
        .of("IFCRELAGGREGATES")
        .filter(|(rel, _)| model.reference(*rel, 4) == archway)
        .flat_map(|(_, i)| refs(&i.args[5]))
        .collect();
    assert_eq!(parts.len() as u64, summary.heritage_elements);
    assert!(parts.len() >= 4, "{} heritage parts", parts.len());
    let protected: HashSet<u64> = props
        .iter()
        .filter(|(_, p)| boolean(p, "RenewTwin_Heritage", "Protected") == Some(true))
        .map(|(&id, _)| id)
        .collect();
    let mut expected = parts.clone();
    expected.insert(archway);
    assert_eq!(protected, expected, "protected = the archway and its parts");
    for &id in &expected {
        let p = props.get(&id).unwrap_or(&none);
        assert!(!label(p, "RenewTwin_Heritage", "Grade").is_empty());
        let listed = int(p, "RenewTwin_Heritage", "Listed");
        let built = int(p, "RenewTwin_Heritage", "Built");
        assert!(built < listed && (1950..=2026).contains(&listed));
    }
    for &id in &parts {
        assert!(
            ASSEMBLY_PARTS.contains(&model.keyword(id)),
            "#{id} {}",
            model.keyword(id)
        );
        let representation = &model.instances[&id].args[6];
        assert_ne!(representation, "$", "heritage part #{id} has a body");
    }

    // The park's green area, and a site large enough for all of it.
    let parks: Vec<u64> = model.of("IFCGEOGRAPHICELEMENT").map(|(id, _)| id).collect();
    assert_eq!(parks.len(), 1);
    let park = props.get(&parks[0]).unwrap_or(&none);
    let green = real(park, "RenewTwin_Landscape", "GreenArea");
    assert!(green > 0.0);
    assert_eq!(green, real(park, "RenewTwin_Renewal", "Area"));
    let sites: Vec<u64> = model.of("IFCSITE").map(|(id, _)| id).collect();
    assert_eq!(sites.len(), 1);
    let site = props.get(&sites[0]).unwrap_or(&none);
    let site_area = real(site, "RenewTwin_Site", "SiteArea");
    assert_eq!(site_area, real(site, "Pset_SiteCommon", "TotalArea"));
    assert!(
        site_area > footprint + green,
        "site {site_area} m² vs footprints {footprint} m² and park {green} m²"
    );
    let far = gross_floor_area / site_area;
    if summary.buildings > 0 {
        assert!((0.3..=3.0).contains(&far), "floor area ratio {far}");
    }
}

#[test]
fn the_same_config_gives_byte_identical_output() {
    let config = six_buildings();
    let (first, summary) = generate(&config);
    assert_eq!(first, district_ifc(&config));
    assert_eq!(first, generate(&config).0);
    assert_eq!(summary.bytes, first.len() as u64);
}

#[test]
fn a_different_seed_gives_a_different_district() {
    let a = district_ifc(&six_buildings());
    let b = district_ifc(&DistrictConfig {
        seed: 2,
        ..six_buildings()
    });
    assert_ne!(a, b);
}

#[test]
fn the_default_district_is_structurally_sound() {
    let (text, summary) = generate(&six_buildings());
    assert_eq!(summary.buildings, 6);
    check_structure(&text, &summary);
}

#[test]
fn districts_of_many_seeds_and_row_lengths_are_structurally_sound() {
    for seed in [0, 7, u64::MAX] {
        for (buildings, per_row) in [(1, None), (5, Some(2)), (9, Some(1))] {
            let (text, summary) = generate(&DistrictConfig {
                buildings,
                seed,
                buildings_per_row: per_row,
            });
            assert_eq!(summary.buildings, u64::from(buildings));
            check_structure(&text, &summary);
        }
    }
}

#[test]
fn an_empty_district_still_has_a_street_and_pipes() {
    let (text, summary) = generate(&DistrictConfig {
        buildings: 0,
        ..six_buildings()
    });
    assert_eq!(summary.buildings, 0);
    assert!(summary.civil_elements >= 3 && summary.pipes >= 3);
    check_structure(&text, &summary);
}

#[test]
fn chinese_names_are_written_as_utf16_escapes() {
    let text = district_ifc(&six_buildings());
    // 1号楼 = '1' + U+53F7 U+697C.
    assert!(
        text.contains("'1\\X2\\53F7697C\\X0\\'"),
        "building 1 is named 1号楼"
    );
    // 加装电梯 (added lift) in lift names.
    assert!(text.contains("52A088C5753568AF"));
}

#[test]
fn a_200_building_district_scales_linearly() {
    let config = DistrictConfig {
        buildings: 200,
        seed: 42,
        ..DistrictConfig::default()
    };
    let (text, summary) = generate(&config);
    assert_eq!(summary.buildings, 200);
    assert!((1000..=1400).contains(&summary.storeys), "{summary:?}");
    assert!(summary.windows > 25_000, "{summary:?}");
    assert!(summary.bytes > 30_000_000, "{summary:?}");
    check_structure(&text, &summary);

    // Appraisals are mostly B and C, structures mostly brick-concrete, as in such estates.
    let model = parse(&text);
    let props = model.properties();
    let mut grades: BTreeMap<String, u32> = BTreeMap::new();
    let mut structures: BTreeMap<String, u32> = BTreeMap::new();
    for (id, _) in model.of("IFCBUILDING") {
        let p = &props[&id];
        *grades
            .entry(label(p, "RenewTwin_Building", "InspectionGrade").into())
            .or_default() += 1;
        *structures
            .entry(label(p, "RenewTwin_Building", "StructureType").into())
            .or_default() += 1;
    }
    let b_or_c = grades.get("B").unwrap_or(&0) + grades.get("C").unwrap_or(&0);
    assert!(b_or_c >= 140, "{grades:?}");
    assert_eq!(
        grades.len(),
        4,
        "every grade occurs in a large district: {grades:?}"
    );
    assert!(
        structures.get("brick-concrete").unwrap_or(&0) >= &100,
        "{structures:?}"
    );
    assert_eq!(structures.len(), 3, "{structures:?}");

    // Entities per building stay flat from 20 to 200 buildings (no quadratic growth).
    let small = generate(&DistrictConfig {
        buildings: 20,
        ..config
    })
    .1;
    let per_building_small = small.entities as f64 / 20.0;
    let per_building_large = summary.entities as f64 / 200.0;
    assert!(
        per_building_large < per_building_small * 1.2,
        "{per_building_small} vs {per_building_large}"
    );
}

/// A sink that accepts `capacity` bytes and then fails like a full disk.
struct FullDisk {
    capacity: usize,
}

impl std::io::Write for FullDisk {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.capacity == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::StorageFull,
                "disk full",
            ));
        }
        let n = buf.len().min(self.capacity);
        self.capacity -= n;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn a_failing_sink_is_an_io_error_not_a_panic() {
    let result = write_district(&six_buildings(), FullDisk { capacity: 300_000 });
    match result {
        Err(GenerateError::Io { bytes, source }) => {
            assert_eq!(source.kind(), std::io::ErrorKind::StorageFull);
            assert!(bytes <= 300_000 + (1 << 17), "{bytes}");
            let message = GenerateError::Io { bytes, source }.to_string();
            assert!(
                message.starts_with("cannot write the ifc output"),
                "{message}"
            );
        }
        other => panic!("expected an io error, got {other:?}"),
    }
}

#[test]
fn the_lift_variant_is_deterministic_has_a_shaft_per_unit_and_its_own_global_ids() {
    use renewtwin_generator::{LiftSide, write_lift_variant};
    let config = DistrictConfig { buildings: 3, seed: 7, ..Default::default() };
    let write = |side| {
        let mut bytes = Vec::new();
        let summary = write_lift_variant(&config, side, &mut bytes).expect("in memory");
        (summary, String::from_utf8(bytes).expect("ascii"))
    };
    let (summary, south) = write(LiftSide::South);
    assert_eq!(write(LiftSide::South).1, south, "byte-identical for the same config and side");
    let (_, north) = write(LiftSide::North);
    assert_ne!(north, south);
    let mut district = Vec::new();
    let district_summary = write_district(&config, &mut district).expect("in memory");
    assert_eq!(summary.lifts, district_summary.lifts, "one shaft per stair unit, as the district has");
    assert_eq!(summary.buildings, 0, "the variant holds no second building");
    let guids = |text: &str| -> HashSet<String> {
        text.lines()
            .filter_map(|l| l.split_once("('").map(|(_, rest)| rest.split('\'').next().unwrap_or_default().to_owned()))
            .filter(|g| g.len() == 22 && g.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$'))
            .collect()
    };
    let (variant_ids, district_ids) = (guids(&south), guids(&String::from_utf8(district).expect("ascii")));
    assert!(variant_ids.len() as u64 > summary.lifts, "the shafts, the project and the site carry GlobalIds");
    assert!(variant_ids.is_disjoint(&district_ids), "a variant's GlobalIds never clash with the district's");
    assert_eq!(south.matches("IFCTRANSPORTELEMENT(").count() as u64, summary.lifts);
    assert!(south.contains("'NEW'") && south.contains("RenewTwin_Unit"), "status NEW and the unit's key, as the district's shafts");
}
