//! Bad input never panics: each of these gives a clear error or a model with diagnostics.
//! (Truncated files, garbage, unknown schemas, empty DATA sections, dangling `#ref`s and
//! malformed records are covered beside the code in `src/ifc/tests.rs`; this file covers what
//! needs big or binary inputs.)

use renewtwin_importers::{DiagnosticKind, ImportConfig, ImportError, Model, import_bytes};

const BASE: &str = include_str!("data/schedule-ifc4.ifc");

fn import(bytes: &[u8]) -> Result<Model, ImportError> {
    import_bytes("bad.ifc", bytes, &ImportConfig::default())
}

/// The base file with `record` inserted before the end of the DATA section.
fn with_record(record: &[u8]) -> Vec<u8> {
    let at = BASE.rfind("ENDSEC;").unwrap_or(BASE.len());
    let mut out = BASE.as_bytes()[..at].to_vec();
    out.extend_from_slice(record);
    out.extend_from_slice(b"\n");
    out.extend_from_slice(&BASE.as_bytes()[at..]);
    out
}

const TEN_MB: usize = 10 * 1024 * 1024;

#[test]
fn a_whole_file_on_one_ten_megabyte_line_imports() {
    // Every record on one line, padded with a 10 MB description string.
    let padding = "x".repeat(TEN_MB);
    let one_line: String = BASE
        .replace(
            "#60=IFCWALL('8aYvctVUKr0kugbFTf53O9',$,'Wall north',$,",
            &format!("#60=IFCWALL('8aYvctVUKr0kugbFTf53O9',$,'Wall north','{padding}',"),
        )
        .replace(['\r', '\n'], "");
    assert!(one_line.len() > TEN_MB && !one_line.contains('\n'));
    let model =
        import(one_line.as_bytes()).unwrap_or_else(|e| panic!("one-line file refused: {e}"));
    assert_eq!(model.elements.len(), 4);
    assert_eq!(model.elements_with_geometry(), 3);
    assert_eq!(model.schedules.len(), 2);
}

#[test]
fn a_ten_megabyte_line_of_garbage_is_a_diagnostic_or_an_error() {
    // No ';' anywhere: the scanner must not hang or allocate without bound.
    let garbage: Vec<u8> = (0..TEN_MB).map(|i| b"#=(,'$*.ABC0123"[i % 15]).collect();
    match import(&with_record(&garbage)) {
        Ok(model) => assert!(
            model
                .diagnostics
                .iter()
                .any(|d| d.kind == DiagnosticKind::MalformedRecord),
            "10 MB of garbage was read without a word"
        ),
        Err(err) => assert!(!err.to_string().is_empty()),
    }
    // A record whose one string is 10 MB long is still a record.
    let mut huge = b"#9999=IFCPROPERTYSINGLEVALUE('Huge',$,IFCTEXT('".to_vec();
    huge.extend(std::iter::repeat_n(b'y', TEN_MB));
    huge.extend_from_slice(b"'),$);");
    let model =
        import(&with_record(&huge)).unwrap_or_else(|e| panic!("a long string refused: {e}"));
    assert_eq!(model.elements.len(), 4);
}

#[test]
fn non_utf8_bytes_in_strings_are_read_not_fatal() {
    // ISO-8859-1 bytes, an invalid UTF-8 sequence and a stray continuation byte in names.
    let mut bytes = BASE.as_bytes().to_vec();
    let replace = |bytes: &mut Vec<u8>, from: &[u8], to: &[u8]| {
        let at = bytes
            .windows(from.len())
            .position(|w| w == from)
            .unwrap_or_else(|| panic!("{:?} not in base", String::from_utf8_lossy(from)));
        bytes.splice(at..at + from.len(), to.iter().copied());
    };
    replace(&mut bytes, b"'Wall north'", b"'Wand Nord \xe9\xff\xfe'");
    replace(&mut bytes, b"'Block 7'", b"'Geb\xc3\xa4ude \x80\xc3'");
    replace(&mut bytes, b"'Brick'", b"'Ziegel \xf0\x28\x8c\x28'");
    let model = import(&bytes).unwrap_or_else(|e| panic!("non-UTF-8 refused: {e}"));
    let wall = model
        .elements
        .iter()
        .find(|e| e.global_id == "8aYvctVUKr0kugbFTf53O9");
    let name = wall.and_then(|w| w.name).unwrap_or_default();
    assert!(name.starts_with("Wand Nord"), "{name:?}");
    let building = model.spatial.iter().find(|n| n.class == "IfcBuilding");
    assert!(
        building
            .and_then(|b| b.name.as_deref())
            .is_some_and(|n| n.starts_with("Geb"))
    );
    assert_eq!(model.elements_with_geometry(), 3);
    // The whole file in a legacy 8-bit encoding, header included.
    let latin1: Vec<u8> = bytes
        .iter()
        .map(|&b| if b == b'a' { 0xe4 } else { b })
        .collect();
    match import(&latin1) {
        Ok(model) => assert!(!model.elements.is_empty()),
        Err(err) => assert!(!err.to_string().is_empty()),
    }
}

#[test]
fn binary_noise_after_a_valid_header_is_an_error_naming_the_problem() {
    let header_end = BASE.find("DATA;").map_or(0, |i| i + 5);
    let mut bytes = BASE.as_bytes()[..header_end].to_vec();
    let mut state = 0x2545_f491_u32;
    bytes.extend((0..100_000).map(|_| {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        state as u8
    }));
    bytes.extend_from_slice(b"\nENDSEC;\nEND-ISO-10303-21;\n");
    match import(&bytes) {
        Err(ImportError::NotReadable { reason, .. }) => assert!(!reason.is_empty()),
        Err(other) => panic!("unexpected error kind: {other}"),
        Ok(model) => assert!(
            !model.diagnostics.is_empty(),
            "binary noise gave {} elements and no diagnostic",
            model.elements.len()
        ),
    }
}

#[test]
fn a_reference_to_a_missing_instance_is_a_dangling_reference_diagnostic() {
    // The wall's representation, the schedule's task and a sequence all point nowhere.
    let text = BASE
        .replace(
            "#70=IFCWALL('8bYvctVUKr0kugbFTf53O9',$,'Wall south',$,$,#71,#66,",
            "#70=IFCWALL('8bYvctVUKr0kugbFTf53O9',$,'Wall south',$,$,#71,#6666,",
        )
        .replace("(#201),$,#200);", "(#201,#7777),$,#200);")
        .replace(
            "#203,#204,$,.FINISH_FINISH.",
            "#203,#8888,$,.FINISH_FINISH.",
        );
    let model = import(text.as_bytes()).unwrap_or_else(|e| panic!("{e}"));
    let dangling: Vec<_> = model
        .diagnostics
        .iter()
        .filter(|d| d.kind == DiagnosticKind::DanglingReference)
        .map(|d| d.message.clone())
        .collect();
    assert!(dangling.iter().any(|m| m.contains("#6666")), "{dangling:?}");
    assert!(dangling.iter().any(|m| m.contains("#8888")), "{dangling:?}");
    assert_eq!(
        model.schedules[0].tasks.len(),
        4,
        "the missing task is left out"
    );
}
