//! Connections through ports on a real drainage model: `DrainageSystem-1-2.ifc` (IFC4X3 RC3)
//! nests 24 IfcDistributionPorts in 7 manholes (IfcDistributionChamberElement) and 6 pipe
//! segments and connects them pairwise with 12 IfcRelConnectsPorts. The expected element
//! pairs below were read off the file by hand (each IfcRelConnectsPorts' two ports, each port's
//! IfcRelNests owner), as step ids.

mod common;

use std::collections::BTreeSet;

use renewtwin_importers::{ImportConfig, import_file};

#[test]
fn the_drainage_models_ports_connect_its_manholes_and_pipes_as_the_file_says() {
    let Some(files) = common::ifc_files() else { return };
    let Some(path) = files.iter().find(|p| p.file_name().is_some_and(|n| n == "DrainageSystem-1-2.ifc")) else {
        assert!(!common::corpus_required(), "the corpus lacks DrainageSystem-1-2.ifc");
        println!("skipped: no DrainageSystem-1-2.ifc in the corpus");
        return;
    };
    let model = import_file(path, &ImportConfig { geometry: false, ..ImportConfig::default() }).expect("the file imports");
    let step = |i: u32| model.elements.at(i as usize).step_id;
    let got: BTreeSet<[u32; 2]> = model
        .connections
        .iter()
        .map(|&[a, b]| {
            let (a, b) = (step(a), step(b));
            [a.min(b), a.max(b)]
        })
        .collect();
    // #118: port #116 of manhole #32 to port #109 of pipe #90; #126: #114 (pipe #90) to #124
    // (manhole #42); and so on for the other ten.
    let expected: BTreeSet<[u32; 2]> = [
        [32, 90], [42, 90], [42, 132], [50, 132], [50, 169], [58, 169],
        [50, 206], [66, 206], [74, 250], [66, 250], [82, 289], [50, 289],
    ]
    .into_iter()
    .collect();
    assert_eq!(got, expected);
    assert_eq!(model.connections.len(), 12, "each pair once");
}
