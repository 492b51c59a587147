//! Tells the tests which tools are installed: the browser tests need
//! Chromium, the ArangoDB stand-in's tests need node 20 or newer. Without
//! them those tests are compiled as ignored (`cargo test` lists them as
//! ignored, with the reason), never as passing.

fn main() {
    node();
    println!("cargo::rustc-check-cfg=cfg(no_chromium)");
    println!("cargo::rerun-if-env-changed=MYCELIUM_CHROMIUM");
    let path = std::env::var("MYCELIUM_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".to_owned());
    println!("cargo::rerun-if-changed={path}");
    if !std::path::Path::new(&path).exists() {
        println!("cargo::rustc-cfg=no_chromium");
        println!(
            "cargo::warning=chromium is not at {path}: the browser tests are ignored (apt-get install -y chromium)"
        );
    }
}

/// Sets `no_node` unless `node --version` says 20 or newer.
fn node() {
    println!("cargo::rustc-check-cfg=cfg(no_node)");
    println!("cargo::rerun-if-env-changed=PATH");
    let major =
        std::process::Command::new("node").arg("--version").output().ok().filter(|o| o.status.success()).and_then(
            |o| {
                String::from_utf8_lossy(&o.stdout).trim().trim_start_matches('v').split('.').next()?.parse::<u32>().ok()
            },
        );
    if major.is_none_or(|m| m < 20) {
        println!("cargo::rustc-cfg=no_node");
        println!("cargo::warning=node 20 or newer is not installed: the ArangoDB stand-in's tests are ignored");
    }
}
