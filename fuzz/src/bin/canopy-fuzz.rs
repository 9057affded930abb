//! `canopy-fuzz TARGET`: one fuzz target, fed by AFL++ (`make fuzz` builds it with
//! `cargo afl build --features afl` and runs `cargo afl fuzz … -- canopy-fuzz TARGET`).

fn main() {
    let name = std::env::args().nth(1).unwrap_or_default();
    let Some(target) = canopy_fuzz::target(&name) else {
        let names: Vec<&str> = canopy_fuzz::TARGETS.iter().map(|(n, _)| *n).collect();
        eprintln!("usage: canopy-fuzz TARGET (one of: {})", names.join(", "));
        std::process::exit(2);
    };
    afl::fuzz!(|data: &[u8]| target(data));
}
