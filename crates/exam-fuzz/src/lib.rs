//! Helpers shared by the fuzz targets in `fuzz_targets/` (one file per target; add a target
//! there, list it as a `[[bin]]` in Cargo.toml, and give it a seed corpus in `corpus/<target>/`).

use std::sync::Once;

/// exam-content runs calamine under `catch_unwind` and reports its panics as an unreadable
/// file; libFuzzer's panic hook would abort on them anyway. This hook lets a panic raised inside
/// calamine's own source unwind to that guard, and aborts on every other panic as before, so a
/// crash is reported exactly when a panic would escape exam-content.
///
/// With `EXAM_FUZZ_STRICT` set in the environment the hook is left alone, so that calamine's
/// own panics are reported too (to find what is worth checking before calamine runs).
pub fn let_calamine_panics_unwind() {
    static ONCE: Once = Once::new();
    if std::env::var_os("EXAM_FUZZ_STRICT").is_some() {
        return;
    }
    ONCE.call_once(|| {
        let aborting = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let in_calamine = info
                .location()
                .is_some_and(|l| l.file().contains("calamine-"));
            if !in_calamine {
                aborting(info);
            }
        }));
    });
}
