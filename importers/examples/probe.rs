//! Prints an import summary of one IFC file (development aid).
fn main() {
    let path = std::env::args().nth(1).unwrap_or_default();
    match renewtwin_importers::import_file(std::path::Path::new(&path), &Default::default()) {
        Ok(m) => {
            println!(
                "schema {} unit {} origin {:?} bbox {:?}",
                m.source.schema,
                m.source.length_unit_to_metres,
                m.origin,
                m.bbox().to_array()
            );
            println!("spatial {}", m.spatial.len());
            for n in m.spatial.iter().take(12) {
                println!(
                    "  {:?} {} {:?} parent {:?} elev {:?}",
                    n.kind, n.class, n.name, n.parent, n.elevation
                );
            }
            let mut classes = std::collections::BTreeMap::new();
            for e in &m.elements {
                let c = classes.entry(e.class.to_owned()).or_insert((0, 0));
                c.0 += 1;
                if !e.placements.is_empty() {
                    c.1 += 1;
                }
            }
            println!("{classes:?}");
            if let Some(e) = m.elements.iter().find(|e| !e.property_sets.is_empty()) {
                println!(
                    "{:#?}",
                    (
                        e.class.to_owned(),
                        e.container,
                        e.type_name,
                        &e.property_sets
                    )
                );
            }
            for d in m.diagnostics.iter().take(8) {
                println!("{d:?}");
            }
        }
        Err(e) => println!("error: {e}"),
    }
}
