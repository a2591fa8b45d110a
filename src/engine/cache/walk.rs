//! The files a `cache.inputs` or `cache.outputs` pattern names. dag walks the
//! directories itself, never through a symbolic link to a directory (a link loop
//! cannot make it walk for ever), and stops at [`MAX_ENTRIES`].

use std::path::{Component, Path, PathBuf};

/// The most directory entries one task's patterns may make dag look at.
pub const MAX_ENTRIES: usize = 1_000_000;

/// What a matched path is, judged without following it (but a link to a regular
/// file counts as that file).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Found {
    /// A regular file (or a symbolic link to one): its content counts.
    File(PathBuf),
    /// A symbolic link to something other than a regular file: its target text
    /// counts, nothing is read through it.
    Link(PathBuf, PathBuf),
    /// A FIFO, socket or device: only its kind counts; it is never opened.
    Special(PathBuf, &'static str),
}

impl Found {
    /// The path found.
    pub fn path(&self) -> &Path {
        match self {
            Found::File(p) | Found::Link(p, _) | Found::Special(p, _) => p,
        }
    }
}

/// Options for matching: `*` does not cross `/`, `**` does.
fn options() -> glob::MatchOptions {
    glob::MatchOptions {
        case_sensitive: true,
        require_literal_separator: true,
        require_literal_leading_dot: false,
    }
}

/// Whether a path component holds a glob metacharacter.
fn is_pattern(component: &str) -> bool {
    component.contains(['*', '?', '['])
}

/// The entries `pattern` (relative to `base`, or absolute) matches, sorted, with
/// matched directories walked for what they hold. `seen` counts the directory
/// entries looked at, across calls.
pub fn expand(base: &Path, pattern: &str, seen: &mut usize) -> Result<Vec<Found>, String> {
    let full = if Path::new(pattern).is_absolute() {
        PathBuf::from(pattern)
    } else {
        base.join(pattern)
    };
    // The part before the first component with a metacharacter is walked from;
    // the rest is matched.
    let mut root = PathBuf::new();
    let mut rest = Vec::new();
    for c in full.components() {
        match c {
            Component::Normal(s) if !rest.is_empty() || is_pattern(&s.to_string_lossy()) => {
                rest.push(s.to_string_lossy().into_owned())
            }
            other => root.push(other.as_os_str()),
        }
    }
    let mut out = Vec::new();
    if rest.is_empty() {
        found(&root, &mut out, seen)?;
        return Ok(out);
    }
    let matcher = glob::Pattern::new(&rest.join("/"))
        .map_err(|e| format!("`{pattern}` is not a valid glob: {}", e.msg))?;
    // Without `**`, nothing deeper than the pattern can match.
    let depth = if rest.iter().any(|c| c.contains("**")) {
        usize::MAX
    } else {
        rest.len()
    };
    let mut matched = Vec::new();
    walk(&root, &root, depth, &matcher, &mut matched, seen)?;
    matched.sort();
    for path in matched {
        found(&path, &mut out, seen)?;
    }
    Ok(out)
}

/// Walks `dir` (at most `depth` levels), collecting the paths under `root` that
/// `matcher` matches.
fn walk(
    root: &Path,
    dir: &Path,
    depth: usize,
    matcher: &glob::Pattern,
    out: &mut Vec<PathBuf>,
    seen: &mut usize,
) -> Result<(), String> {
    if depth == 0 {
        return Ok(());
    }
    let Some(entries) = listing(dir)? else {
        return Ok(());
    };
    for entry in entries {
        let entry = entry.map_err(|e| format!("{}: {e}", dir.display()))?;
        count(seen)?;
        let path = entry.path();
        let rel = path.strip_prefix(root).unwrap_or(&path);
        if matcher.matches_path_with(rel, options()) {
            out.push(path.clone());
        }
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            walk(root, &path, depth - 1, matcher, out, seen)?;
        }
    }
    Ok(())
}

/// The entries of `dir`, or None when it is gone (or no directory). Any other error (permission
/// denied) is one: a directory that cannot be read is never taken as empty, which
/// would leave what it holds out of the key.
fn listing(dir: &Path) -> Result<Option<std::fs::ReadDir>, String> {
    match std::fs::read_dir(dir) {
        Ok(entries) => Ok(Some(entries)),
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory
            ) =>
        {
            Ok(None)
        }
        Err(e) => Err(format!("{}: {e}", dir.display())),
    }
}

fn count(seen: &mut usize) -> Result<(), String> {
    *seen += 1;
    if *seen > MAX_ENTRIES {
        return Err(format!(
            "the patterns name more than {MAX_ENTRIES} files and directories"
        ));
    }
    Ok(())
}

/// Adds what `path` is to `out`: a directory's content, sorted, walked without
/// following links.
fn found(path: &Path, out: &mut Vec<Found>, seen: &mut usize) -> Result<(), String> {
    let meta = match std::fs::symlink_metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(format!("{}: {e}", path.display())),
    };
    let kind = meta.file_type();
    if kind.is_dir() {
        let mut children: Vec<PathBuf> = match listing(path)? {
            Some(entries) => entries
                .map(|e| e.map(|e| e.path()))
                .collect::<Result<_, _>>()
                .map_err(|e| format!("{}: {e}", path.display()))?,
            None => Vec::new(),
        };
        children.sort();
        for child in children {
            count(seen)?;
            found(&child, out, seen)?;
        }
    } else if kind.is_file() {
        out.push(Found::File(path.to_path_buf()));
    } else if kind.is_symlink() {
        if std::fs::metadata(path).is_ok_and(|m| m.is_file()) {
            out.push(Found::File(path.to_path_buf()));
        } else {
            let target = std::fs::read_link(path).unwrap_or_default();
            out.push(Found::Link(path.to_path_buf(), target));
        }
    } else {
        out.push(Found::Special(
            path.to_path_buf(),
            crate::engine::capped_read::describe(kind),
        ));
    }
    Ok(())
}

/// `path` as shown and keyed: relative to `base` when under it.
pub fn shown(base: &Path, path: &Path) -> String {
    path.strip_prefix(base)
        .unwrap_or(path)
        .to_string_lossy()
        .into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(base: &Path, pattern: &str) -> Vec<String> {
        let mut seen = 0;
        expand(base, pattern, &mut seen)
            .unwrap()
            .iter()
            .map(|f| shown(base, f.path()))
            .collect()
    }

    #[test]
    fn patterns_match_as_globs_do() {
        let dir = std::env::temp_dir().join(format!("dag-walk-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("src/a/b")).unwrap();
        for f in [
            "src/x.rs",
            "src/a/y.rs",
            "src/a/b/z.rs",
            "src/a/b/z.txt",
            "top.rs",
        ] {
            std::fs::write(dir.join(f), f).unwrap();
        }
        assert_eq!(names(&dir, "src/*.rs"), ["src/x.rs"]);
        assert_eq!(
            names(&dir, "src/**/*.rs"),
            ["src/a/b/z.rs", "src/a/y.rs", "src/x.rs"]
        );
        assert_eq!(
            names(&dir, "src/a"),
            ["src/a/b/z.rs", "src/a/b/z.txt", "src/a/y.rs"]
        );
        assert_eq!(names(&dir, "*.rs"), ["top.rs"]);
        assert!(names(&dir, "nothing/*.rs").is_empty());
        assert!(names(&dir, "missing.txt").is_empty());
        // A link loop is a link, not a directory to walk; a FIFO is never opened.
        std::os::unix::fs::symlink(&dir, dir.join("src/loop")).unwrap();
        let made = std::process::Command::new("mkfifo")
            .arg(dir.join("src/fifo"))
            .status()
            .unwrap();
        assert!(made.success());
        let mut seen = 0;
        let all = expand(&dir, "src", &mut seen).unwrap();
        assert!(all.contains(&Found::Link(dir.join("src/loop"), dir.clone())));
        assert!(all.contains(&Found::Special(dir.join("src/fifo"), "a FIFO")));
        assert_eq!(names(&dir, "src/**/z.rs"), ["src/a/b/z.rs"]);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
