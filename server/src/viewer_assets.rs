//! The browser viewer's files, embedded at build time by `build.rs` from `$OUT_DIR/viewer/`.
//!
//! With `RENEWTWIN_SKIP_VIEWER=1` at build time only a placeholder `index.html` exists and
//! [`VIEWER_BUILT`] is false.

/// Whether the wasm viewer was built into this binary.
pub(crate) const VIEWER_BUILT: bool = cfg!(not(viewer_skipped));

const HTML: &str = "text/html; charset=utf-8";

macro_rules! viewer_file {
    ($name:literal) => {
        include_bytes!(concat!(env!("OUT_DIR"), "/viewer/", $name))
    };
}

/// The embedded file at `path` (relative to the site root; a leading `/` is ignored), with its
/// content type; `""` is `index.html`.
pub(crate) fn asset(path: &str) -> Option<(&'static str, &'static [u8])> {
    let path = path.trim_start_matches('/');
    if matches!(path, "" | "index.html") {
        return Some((HTML, viewer_file!("index.html")));
    }
    #[cfg(not(viewer_skipped))]
    {
        match path {
            "style.css" => return Some(("text/css; charset=utf-8", viewer_file!("style.css"))),
            "panels.js" => return Some(("text/javascript; charset=utf-8", viewer_file!("panels.js"))),
            "schedule.js" => return Some(("text/javascript; charset=utf-8", viewer_file!("schedule.js"))),
            "measure.js" => return Some(("text/javascript; charset=utf-8", viewer_file!("measure.js"))),
            "consultation.js" => return Some(("text/javascript; charset=utf-8", viewer_file!("consultation.js"))),
            "governance.js" => return Some(("text/javascript; charset=utf-8", viewer_file!("governance.js"))),
            "renewtwin_web_viewer.js" => {
                return Some(("text/javascript; charset=utf-8", viewer_file!("renewtwin_web_viewer.js")));
            }
            "renewtwin_web_viewer_bg.wasm" => return Some(("application/wasm", viewer_file!("renewtwin_web_viewer_bg.wasm"))),
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_index_page_is_served_at_the_root_and_by_name() {
        let (root_type, root) = asset("").expect("root page");
        assert_eq!(root_type, HTML);
        assert_eq!(asset("index.html").map(|(_, b)| b), Some(root));
        assert_eq!(asset("/index.html").map(|(_, b)| b), Some(root));
        assert!(std::str::from_utf8(root).is_ok_and(|page| page.contains("lang=\"zh-CN\"")));
    }

    #[test]
    fn unknown_paths_are_not_found() {
        assert!(asset("../Cargo.toml").is_none());
        assert!(asset("nope.js").is_none());
    }

    #[test]
    fn a_built_viewer_serves_its_wasm_as_application_wasm() {
        if VIEWER_BUILT {
            let (content_type, wasm) = asset("renewtwin_web_viewer_bg.wasm").expect("wasm");
            assert_eq!(content_type, "application/wasm");
            assert_eq!(&wasm[..4], b"\0asm");
            let (_, page) = asset("index.html").expect("page");
            let page = std::str::from_utf8(page).expect("utf-8");
            assert!(page.contains("renewtwin_web_viewer.js"), "the page loads the glue");
            assert!(asset("renewtwin_web_viewer.js").is_some());
            assert!(page.contains("panels.js") && asset("panels.js").is_some(), "the page loads its panels");
            assert!(page.contains("governance.js") && asset("governance.js").is_some(), "the page loads the governance panel");
            assert!(asset("schedule.js").is_some() && page.contains("measure.js") && asset("measure.js").is_some(), "the panels' modules are served");
        } else {
            assert!(asset("renewtwin_web_viewer_bg.wasm").is_none(), "a skipped build serves no wasm");
        }
    }
}
