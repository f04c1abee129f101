//! The edit loop of `eddy dev`: the time from saving a plugin's source (in place) to the first
//! response of the new version, for a small plugin in each language (`eddy new`'s). JavaScript
//! and Python are served from source by their language's development engine; Rust is rebuilt
//! with cargo. The engines are built once (kept in the bench's compile cache); the first run
//! of this scenario on a machine includes that in its start-up, not in the figures.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use eddy::plugins::watch::Mode;
use eddy::tools::client::Client;
use eddy::tools::scaffold::{self, Lang};

use crate::stats::{median, ms};

/// Edits measured per language.
const EDITS: usize = 7;

pub async fn run(plugins: &Path) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    for tools in ["node_modules", ".venv"] {
        if plugins.join(tools).is_dir() {
            std::os::unix::fs::symlink(plugins.join(tools), dir.path().join(tools))?;
        }
    }
    let languages = [
        (Lang::Rust, "edit-rs", "src/lib.rs"),
        (Lang::JavaScript, "edit-js", "index.js"),
        (Lang::Python, "edit-py", "app.py"),
    ];
    let mut measured = Vec::new();
    for (lang, name, file) in languages {
        scaffold::run(dir.path(), name, lang)?;
        let folder = dir.path().join(name);
        if let Err(missing) = eddy::tools::build::check(&folder) {
            println!("({name} left out: {missing})");
            std::fs::remove_dir_all(&folder)?;
            continue;
        }
        if lang == Lang::Rust {
            // Built where the repository's plugins are, so the SDK's dependencies are compiled.
            std::fs::create_dir_all(folder.join(".cargo"))?;
            let target = plugins.join("target").display().to_string();
            std::fs::write(
                folder.join(".cargo/config.toml"),
                format!("[build]\ntarget-dir = {target:?}\n"),
            )?;
            eddy::tools::build::build_one(&folder)?;
        }
        measured.push((name, folder.join(file)));
    }
    let data = tempfile::tempdir()?;
    let mut options = eddy::ServeOptions::new(dir.path(), data.path());
    options.watch = Mode::Sources;
    options.cache = Some(crate::compile_cache());
    let started = Instant::now();
    let server = eddy::Server::start(options).await?;
    let addr = server.local_addr()?;
    println!("(host up with every plugin loaded in {:.1} s)", started.elapsed().as_secs_f64());
    let serving = tokio::spawn(server.run(std::future::pending()));
    let mut client = Client::connect(addr).await?;

    println!("\n## The edit loop of `eddy dev`\n");
    println!(
        "Save in place → first response of the new version, {EDITS} edits each, `eddy new`'s plugin.\n"
    );
    println!("| language | median ms | min ms | max ms |");
    println!("|---|---|---|---|");
    for (name, file) in measured {
        let mut times = Vec::new();
        let mut current = "Hello from".to_string();
        for i in 0..EDITS {
            let next = format!("Edit {i} from");
            let text = std::fs::read_to_string(&file)?;
            std::fs::write(&file, text.replacen(&current, &next, 1))?;
            let saved = Instant::now();
            let wanted = format!("{next} {name}");
            loop {
                let (status, body) = client.get(&format!("/{name}")).await?;
                if status == 200 && String::from_utf8_lossy(&body).contains(&wanted) {
                    break;
                }
                anyhow::ensure!(
                    saved.elapsed() < Duration::from_secs(120),
                    "{name}: edit {i} never served"
                );
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            times.push(saved.elapsed());
            current = next;
        }
        times.sort();
        let language = match name {
            "edit-rs" => "Rust (cargo build)",
            "edit-js" => "JavaScript (engine)",
            _ => "Python (engine)",
        };
        println!(
            "| {language} | {} | {} | {} |",
            ms(median(&times)),
            ms(times[0]),
            ms(*times.last().context("no edits")?)
        );
    }
    serving.abort();
    Ok(())
}
