//! The model's RTC offset (ifc-lite's verdict on whether coordinates are far from the origin,
//! and by how much to rebase them), read without scanning the whole file a second time.
//!
//! ifc-lite samples the placements of the first 50 geometry-bearing records it meets while
//! scanning the file from its start (`detect_rtc_offset_for_file`). Revit writes its products
//! last, after every shape record, and a model of few products never reaches 50: the sampler
//! then scans the whole file on one core (75 ms of the 52 MB `BasicHouse`'s one second, with
//! the other core idle). Our scan (`source::scan`) has already found every geometry-bearing
//! record. When a rescan would be long, ifc-lite's sampler is handed a copy of the file in
//! which only those records stand, each at its own offset, and every other byte is zero: an
//! anonymous map that is never written there, so it costs no memory, and the sampler's
//! scanner passes over it at `memchr` speed. Its scanner then meets the same
//! records in the same order with the same spans, the decoder (over the real file) reads the
//! same entities, and the verdict is the same (tests `the_blank_copy_gives_ifc_lites_verdict`
//! and `corpus_verdicts_are_ifc_lites` compare both the records met and the verdict).
//! The placement-bounds fallback, when no sample is usable, reads the real file as ifc-lite
//! does.

use ifc_lite_core::{EntityDecoder, RtcVerdict, geometry_flags_by_name, is_geometry_job};
use ifc_lite_geometry::GeometryRouter;

use super::source::Scanned;

/// ifc-lite's sample: the first this many usable geometry-bearing records (`MAX_SAMPLES` in
/// `sample_rtc_offset`). Only the cost estimate depends on it.
const SAMPLES: usize = 50;

/// Where ifc-lite's sampler would look: the end of the file's header and the span of every
/// geometry-bearing record, in file order.
pub(super) struct Samples {
    header_end: usize,
    spans: Vec<(usize, usize)>,
}

/// The samples of `bytes` from the scan's record list (taken before it is freed), when a blank
/// copy is cheaper than ifc-lite's rescan; `None` otherwise, so that nothing is held while
/// meshing.
pub(super) fn samples(bytes: &[u8], scanned: &Scanned) -> Option<Samples> {
    gather(bytes, scanned, false)
}

/// The samples of `bytes`; `None` when the sampler's scanner would not meet exactly those
/// records (the scan found a problem: a duplicate id, a malformed record, stray bytes), when
/// the header does not end in `DATA;`, or (unless `always`) when rescanning the file costs
/// less than the copy: the rescan reads at least up to the last of the first [`SAMPLES`]; the
/// copy writes every record and maps (reads as zero) the pages up to the last. That is decided
/// before any list is made: this runs where the record list is still held, at a district's
/// peak of memory.
fn gather(bytes: &[u8], scanned: &Scanned, always: bool) -> Option<Samples> {
    if !scanned.diagnostics.is_empty() {
        return None;
    }
    let header_end = scanned.span(scanned.records.first()?.id)?.0;
    let header = bytes[..header_end].trim_ascii_end();
    if header.len() < 5 || !header[header.len() - 5..].eq_ignore_ascii_case(b"DATA;") {
        return None;
    }
    // The geometry-bearing records' spans, class by class (each class's in file order).
    let spans = || {
        scanned
            .keywords
            .iter()
            .zip(&scanned.by_keyword)
            .filter(|(keyword, _)| {
                let (geometry, spatial) = geometry_flags_by_name(keyword);
                geometry || spatial
            })
            .flat_map(|(&keyword, list)| {
                list.iter().filter_map(move |&at| {
                    let (start, end) = scanned.span(scanned.records.get(at as usize)?.id)?;
                    is_geometry_job(keyword, &bytes[start..end]).then_some((start, end))
                })
            })
    };
    if !always {
        let (mut copied, mut end) = (0usize, header_end);
        // The smallest ends so far, largest on top: at the end, its top is the end of the
        // last of the first samples (records do not overlap, so ends are in file order).
        let mut first = std::collections::BinaryHeap::with_capacity(SAMPLES + 1);
        for (start, stop) in spans() {
            copied += stop - start;
            end = end.max(stop);
            first.push(stop);
            if first.len() > SAMPLES {
                first.pop();
            }
        }
        let rescan = if first.len() == SAMPLES { first.peek().copied()? } else { end };
        if copied.saturating_mul(4).saturating_add(end / 64) >= rescan {
            return None;
        }
    }
    let mut spans: Vec<(usize, usize)> = spans().collect();
    spans.sort_unstable();
    Some(Samples { header_end, spans })
}

impl Samples {
    /// The end of the last geometry-bearing record (of the header, when there is none).
    fn end(&self) -> usize {
        self.spans.last().map_or(self.header_end, |&(_, end)| end)
    }
}

/// ifc-lite's RTC verdict for the file `bytes` (`samples` from its scan); `None` when it has
/// none (no sample and no placement bounds).
pub(super) fn verdict(
    probe: &GeometryRouter,
    bytes: &[u8],
    samples: Option<&Samples>,
    decoder: &mut EntityDecoder,
) -> Option<RtcVerdict> {
    match samples.and_then(|samples| blank_copy(bytes, samples)) {
        Some(blank) => {
            tracing::debug!(bytes = blank.len(), "rtc: sampled over the blank copy");
            verdict_over(probe, bytes, &blank, decoder)
        }
        None => probe.detect_rtc_offset_for_file(bytes, decoder),
    }
}

/// `detect_rtc_offset_for_file` with the sampler's scan over `content` (the file or its blank
/// copy) and the fallback over the file.
fn verdict_over(
    probe: &GeometryRouter,
    bytes: &[u8],
    content: &[u8],
    decoder: &mut EntityDecoder,
) -> Option<RtcVerdict> {
    let scale = probe.unit_scale();
    probe
        .detect_rtc_anchor_for_file(content, decoder)
        .map(RtcVerdict::of_anchor)
        .or_else(|| ifc_lite_core::scan_placement_bounds(bytes, scale).rtc_offset(scale))
}

/// The file's header and the geometry-bearing records at their offsets, zeros elsewhere, up
/// to the end of the last of them; `None` when the map cannot be made.
fn blank_copy(bytes: &[u8], samples: &Samples) -> Option<memmap2::MmapMut> {
    let Samples { header_end, spans } = samples;
    let end = samples.end();
    let mut blank = memmap2::MmapMut::map_anon(end).ok()?;
    blank[..*header_end].copy_from_slice(&bytes[..*header_end]);
    for &(start, end) in spans {
        blank[start..end].copy_from_slice(&bytes[start..end]);
    }
    // The stretches left untouched then read as huge zero pages (2 MiB a fault instead of
    // 4 KiB: 25 faults for the 52 MB `BasicHouse`, not 13,000). Advice only: if it is not
    // taken, the copy reads the same.
    #[cfg(target_os = "linux")]
    let _ = blank.advise(memmap2::Advice::HugePage);
    Some(blank)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A file of `shapes` shape records followed by `walls` walls, each placed at `far` on x.
    fn products_last(shapes: usize, walls: usize, far: f64) -> String {
        let mut text = String::from(
            "ISO-10303-21;\nHEADER;\nFILE_DESCRIPTION((''),'2;1');\nFILE_NAME('','',(''),(''),'','','');\n\
             FILE_SCHEMA(('IFC4'));\nENDSEC;\nDATA;\n\
             #1=IFCCARTESIANPOINT((0.,0.,0.));\n#2=IFCDIRECTION((0.,0.,1.));\n#3=IFCDIRECTION((1.,0.,0.));\n",
        );
        let mut id = 10;
        for k in 0..shapes {
            text.push_str(&format!("#{id}=IFCCARTESIANPOINT(({k}.,1.,2.));\n"));
            id += 1;
        }
        text.push_str(&format!(
            "#{id}=IFCCARTESIANPOINT(({far},0.,0.));\n#{}=IFCAXIS2PLACEMENT3D(#{id},#2,#3);\n\
             #{}=IFCLOCALPLACEMENT($,#{});\n",
            id + 1,
            id + 2,
            id + 1
        ));
        let placement = id + 2;
        id += 3;
        text.push_str(&format!(
            "#{id}=IFCCARTESIANPOINTLIST3D(((0.,1.,2.),(1.,1.,2.),(0.,2.,2.)));\n\
             #{}=IFCTRIANGULATEDFACESET(#{id},$,$,((1,2,3)),$);\n\
             #{}=IFCSHAPEREPRESENTATION($,'Body','Tessellation',(#{}));\n\
             #{}=IFCPRODUCTDEFINITIONSHAPE($,$,(#{}));\n",
            id + 1,
            id + 2,
            id + 1,
            id + 3,
            id + 2
        ));
        let shape = id + 3;
        id += 4;
        for k in 0..walls {
            text.push_str(&format!(
                "#{id}=IFCWALL('{k:022}',$,'w',$,$,#{placement},#{shape},$,$);\n"
            ));
            id += 1;
        }
        text.push_str("ENDSEC;\nEND-ISO-10303-21;\n");
        text
    }

    fn decoder<'a>(bytes: &'a [u8], scanned: &Scanned<'a>) -> EntityDecoder<'a> {
        scanned.decoder(bytes).with_strict_reals()
    }

    /// Both paths on one file: ifc-lite's own scan of the file, and the blank copy.
    fn both(bytes: &[u8]) -> (Option<RtcVerdict>, Option<RtcVerdict>, bool) {
        let scanned = super::super::source::scan(bytes).expect("the file scans");
        let probe = GeometryRouter::with_scale(1.0);
        let theirs = probe.detect_rtc_offset_for_file(bytes, &mut decoder(bytes, &scanned));
        let Some(blank) = gather(bytes, &scanned, true).and_then(|s| blank_copy(bytes, &s)) else {
            return (theirs, None, false);
        };
        // What the sampler's scanner meets: the same geometry-bearing records, in the same
        // order, with the same spans, over the blank copy as over the file.
        let met = |content: &[u8]| {
            let mut scanner = ifc_lite_core::EntityScanner::new(content);
            std::iter::from_fn(|| scanner.next_entity())
                .filter(|&(_, keyword, start, end)| is_geometry_job(keyword, &content[start..end]))
                .map(|(id, _, start, end)| (id, start, end))
                .collect::<Vec<_>>()
        };
        assert_eq!(met(&blank), met(bytes), "the sampler's records");
        let ours = verdict_over(&probe, bytes, &blank, &mut decoder(bytes, &scanned));
        (theirs, ours, true)
    }

    /// Walls far from the origin after many shape records, few and many of them (fewer and
    /// more than the sample), near and far: the blank copy gives ifc-lite's verdict, and the
    /// cheaper path is chosen by where the samples lie.
    #[test]
    fn the_blank_copy_gives_ifc_lites_verdict() {
        for (walls, far) in [(3, 2.5e6), (80, 2.5e6), (3, 12.0), (80, 12.0)] {
            let text = products_last(5_000, walls, far);
            let (theirs, ours, made) = both(text.as_bytes());
            assert!(made, "a clean file gets a blank copy");
            assert_eq!(ours, theirs, "{walls} walls at {far}");
            let expected = if far > 1_000.0 {
                RtcVerdict::Large { anchor: (far, 0.0, 0.0) }
            } else {
                RtcVerdict::Small
            };
            assert_eq!(theirs, Some(expected), "{walls} walls at {far}");
            let scanned = super::super::source::scan(text.as_bytes()).expect("the file scans");
            assert!(
                samples(text.as_bytes(), &scanned).is_some(),
                "the products are at the end: the copy is cheaper"
            );
        }
        // Products first: the rescan stops early, so the file is scanned itself.
        let text = products_last(0, 80, 2.5e6).replace("ENDSEC;\nEND-ISO-10303-21;\n", "")
            + &(0..5_000)
                .map(|k| format!("#{}=IFCCARTESIANPOINT(({k}.,1.,2.));\n", 100_000 + k))
                .collect::<String>()
            + "ENDSEC;\nEND-ISO-10303-21;\n";
        let scanned = super::super::source::scan(text.as_bytes()).expect("the file scans");
        assert!(gather(text.as_bytes(), &scanned, true).is_some());
        assert!(samples(text.as_bytes(), &scanned).is_none());
        let (theirs, ours, _) = both(text.as_bytes());
        assert_eq!(ours, theirs);
    }

    /// A duplicate id: the scanner would meet both records, the blank copy only the first,
    /// so there is none.
    #[test]
    fn a_file_with_a_scan_problem_is_scanned_itself() {
        let text = products_last(10, 3, 2.5e6).replace(
            "ENDSEC;\nEND",
            "#10=IFCCARTESIANPOINT((9.,9.,9.));\nENDSEC;\nEND",
        );
        let scanned = super::super::source::scan(text.as_bytes()).expect("the file scans");
        assert!(!scanned.diagnostics.is_empty());
        assert!(gather(text.as_bytes(), &scanned, true).is_none());
    }

    /// Every corpus IFC file: the blank copy's verdict is ifc-lite's.
    #[test]
    fn corpus_verdicts_are_ifc_lites() {
        let files = super::super::cross_check::corpus_files();
        let mut compared = 0;
        for path in files {
            let bytes = std::fs::read(&path).expect("test input");
            let (theirs, ours, made) = both(&bytes);
            if made {
                assert_eq!(ours, theirs, "{}", path.display());
                compared += 1;
            }
        }
        eprintln!("{compared} corpus files compared");
    }
}
