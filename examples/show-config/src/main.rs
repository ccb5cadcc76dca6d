//! Prints what the pod gave this guest, so a user (or a test) can see it:
//! every environment variable as `KEY=VALUE`, sorted; then, for each argument,
//! `PATH: <contents>` for a file it can read, `PATH: entries a, b` for a folder,
//! or `PATH: <error>`; an argument `write:PATH` tries to create that file and says
//! `write PATH: ok` or the error (a read-only volume refuses).
//!
//! Files are reached through `wasi:filesystem` directly (the preopened folders and
//! `open-at`), so the guest works whatever the C library it was linked with knows of
//! preopens.

use wasip2::filesystem::preopens::get_directories;
use wasip2::filesystem::types::{Descriptor, DescriptorFlags, ErrorCode, OpenFlags, PathFlags};

/// The preopened folder holding `path`, and the rest of the path below it.
fn locate<'a>(
    dirs: &'a [(Descriptor, String)],
    path: &'a str,
) -> Option<(&'a Descriptor, &'a str)> {
    dirs.iter()
        .filter_map(|(d, at)| {
            let rest = path.strip_prefix(at.trim_end_matches('/'))?;
            (rest.is_empty() || rest.starts_with('/')).then_some((d, at.len(), rest))
        })
        .max_by_key(|(_, len, _)| *len)
        .map(|(d, _, rest)| {
            let rest = rest.trim_start_matches('/');
            (d, if rest.is_empty() { "." } else { rest })
        })
}

fn open(
    dirs: &[(Descriptor, String)],
    path: &str,
    how: OpenFlags,
    flags: DescriptorFlags,
) -> Result<Descriptor, String> {
    let (dir, rest) = locate(dirs, path).ok_or("no preopened folder holds it")?;
    dir.open_at(PathFlags::SYMLINK_FOLLOW, rest, how, flags)
        .map_err(|e: ErrorCode| e.to_string())
}

fn read_file(d: &Descriptor) -> Result<String, String> {
    let mut out = Vec::new();
    loop {
        let (chunk, end) = d
            .read(64 * 1024, out.len() as u64)
            .map_err(|e| e.to_string())?;
        out.extend(chunk);
        if end {
            return Ok(String::from_utf8_lossy(&out).trim_end().to_owned());
        }
    }
}

fn show(dirs: &[(Descriptor, String)], path: &str) -> String {
    if let Ok(d) = open(dirs, path, OpenFlags::DIRECTORY, DescriptorFlags::READ) {
        let mut names = Vec::new();
        if let Ok(entries) = d.read_directory() {
            while let Ok(Some(e)) = entries.read_directory_entry() {
                names.push(e.name);
            }
        }
        names.sort();
        return format!("entries {}", names.join(", "));
    }
    match open(dirs, path, OpenFlags::empty(), DescriptorFlags::READ).and_then(|d| read_file(&d)) {
        Ok(text) => text,
        Err(e) => e,
    }
}

fn write(dirs: &[(Descriptor, String)], path: &str) -> String {
    let how = OpenFlags::CREATE | OpenFlags::TRUNCATE;
    match open(dirs, path, how, DescriptorFlags::WRITE).and_then(|d| {
        d.write(b"written by show-config\n", 0)
            .map_err(|e| e.to_string())
    }) {
        Ok(_) => "ok".to_owned(),
        Err(e) => e,
    }
}

fn main() {
    let mut env: Vec<(String, String)> = std::env::vars().collect();
    env.sort();
    for (k, v) in env {
        println!("{k}={v}");
    }
    let dirs = get_directories();
    for arg in std::env::args().skip(1) {
        match arg.strip_prefix("write:") {
            Some(path) => println!("write {path}: {}", write(&dirs, path)),
            None => println!("{arg}: {}", show(&dirs, &arg)),
        }
    }
}
