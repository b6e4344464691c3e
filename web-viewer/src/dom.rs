//! Small browser utilities every other module may use: the page URL's query, the clock and
//! page events. A bottom module: it names no other module of this crate.

/// The value of `name` in the page URL's query, if present.
pub(crate) fn query_value(name: &str) -> Option<String> {
    let search = web_sys::window().and_then(|w| w.location().search().ok())?;
    search.trim_start_matches('?').split('&').find_map(|pair| {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        (key == name).then(|| value.to_owned())
    })
}

/// `performance.now()`, milliseconds.
pub(crate) fn now_ms() -> f64 {
    web_sys::window().and_then(|w| w.performance()).map_or(0.0, |p| p.now())
}

/// Dispatches a `CustomEvent` named `name` with `detail` on `window`.
pub(crate) fn dispatch(name: &str, detail: &wasm_bindgen::JsValue) {
    let init = web_sys::CustomEventInit::new();
    init.set_detail(detail);
    if let (Some(window), Ok(event)) =
        (web_sys::window(), web_sys::CustomEvent::new_with_event_init_dict(name, &init))
    {
        // Nobody listening is fine.
        let _dispatched = window.dispatch_event(&event);
    }
}
