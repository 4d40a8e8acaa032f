//! File-name globbing: `*`, `?`, `[...]` and `**`, shared by the new-data trigger
//! ([`glob_files`]), the `ingest` step and code digests ([`glob_with`], with their
//! [`GlobOptions`]), and S3 name matching ([`NamePattern`]).

use std::io;
use std::path::{Path, PathBuf};

/// Why a glob pattern could not be used or its files could not be listed.
#[derive(Debug, thiserror::Error)]
pub enum GlobError {
    /// The pattern is malformed.
    #[error("invalid glob pattern {pattern:?}: {reason}")]
    Pattern {
        /// The pattern as given.
        pattern: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The directory the pattern starts from (the base joined with the pattern's leading
    /// segments without wildcards) is missing, not a directory, or unreadable.
    #[error("glob pattern {pattern:?}: {} {reason}", dir.display())]
    StartDir {
        /// The pattern as given.
        pattern: String,
        /// The directory.
        dir: PathBuf,
        /// `does not exist`, `is not a directory`, or why it cannot be read.
        reason: String,
        /// Whether it is missing or not a directory (rather than unreadable).
        missing: bool,
    },
    /// A directory or file could not be read.
    #[error("glob pattern {pattern:?}: cannot read {}: {source}", path.display())]
    Io {
        /// The pattern as given.
        pattern: String,
        /// The directory or file.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// A matching file's name is not UTF-8, so it cannot be passed on as text.
    #[error("glob pattern {pattern:?}: the name of {} is not UTF-8", path.display())]
    NotUtf8 {
        /// The pattern as given.
        pattern: String,
        /// The file.
        path: PathBuf,
    },
}

/// The files matching `pattern`, sorted, each as `base_dir` (or `/` for an absolute pattern)
/// joined with the matched path.
///
/// The pattern is `/`-separated segments. In a segment, `*` matches any run of characters,
/// `?` one character, `[abc]`, `[a-z]` one character of the set and `[!abc]` (or `[^abc]`) one
/// outside it; other characters match themselves (there is no escape character). A segment
/// `**` matches any number of directories, none included, and a final `**` matches every file
/// below. Names starting with `.` are matched only by a segment starting with `.`, and `**`
/// neither enters them nor follows symbolic links to directories (other segments follow
/// links). `.` and `..` segments are taken literally. Only files are returned, never
/// directories. This is [`glob_with`] with the default [`GlobOptions`].
///
/// # Errors
/// [`GlobError::Pattern`] for an empty pattern, one ending in `/`, `**` inside a segment, an
/// unclosed or reversed `[...]`; [`GlobError::StartDir`] when the directory named by the
/// pattern's leading segments without wildcards (`data/in` for `data/in/*.csv`) is missing or
/// not a directory;
/// [`GlobError::Io`] when a directory cannot be read (one removed during the walk is taken
/// as empty); [`GlobError::NotUtf8`] for a matching file whose name is not UTF-8.
pub fn glob_files(base_dir: &Path, pattern: &str) -> Result<Vec<PathBuf>, GlobError> {
    glob_with(base_dir, pattern, GlobOptions::default())
}

/// How [`glob_with`] departs from [`glob_files`]; the default departs in nothing.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GlobOptions {
    /// Wildcards match names starting with `.` too, and `**` enters such directories.
    pub hidden: bool,
    /// The last segment keeps every entry it matches (directories and symbolic links,
    /// dangling ones included), not only files.
    pub any_entry: bool,
    /// A start directory that is missing or not a directory matches nothing instead of
    /// being a [`GlobError::StartDir`] (one that cannot be read still is).
    pub missing_start_matches_nothing: bool,
}

/// The paths matching `pattern` as [`glob_files`] describes, changed by `options`.
///
/// # Errors
/// As [`glob_files`].
pub fn glob_with(
    base_dir: &Path,
    pattern: &str,
    options: GlobOptions,
) -> Result<Vec<PathBuf>, GlobError> {
    let glob = Glob::parse(pattern, options)?;
    let root = if pattern.starts_with('/') {
        PathBuf::from("/")
    } else {
        base_dir.to_path_buf()
    };
    let literal = glob
        .segments
        .iter()
        .take(glob.segments.len() - 1)
        .map_while(|s| match s {
            Segment::Name(n) => n.literal.as_deref(),
            Segment::AnyDirs => None,
        })
        .count();
    let mut start = root;
    for segment in &glob.segments[..literal] {
        if let Segment::Name(NamePattern {
            literal: Some(name),
            ..
        }) = segment
        {
            start.push(name);
        }
    }
    match check_start_dir(pattern, &start) {
        Err(GlobError::StartDir { missing: true, .. }) if options.missing_start_matches_nothing => {
            return Ok(Vec::new());
        }
        checked => checked?,
    }
    let mut found = Vec::new();
    glob.walk(&start, &glob.segments[literal..], &mut found)?;
    found.sort();
    found.dedup();
    Ok(found)
}

fn check_start_dir(pattern: &str, dir: &Path) -> Result<(), GlobError> {
    let (missing, reason) = match std::fs::metadata(dir) {
        Ok(m) if m.is_dir() => return Ok(()),
        Ok(_) => (true, "is not a directory".to_string()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => (true, "does not exist".to_string()),
        Err(e) => (false, format!("cannot be read: {e}")),
    };
    Err(GlobError::StartDir {
        pattern: pattern.to_string(),
        dir: dir.to_path_buf(),
        reason,
        missing,
    })
}

/// A parsed pattern.
struct Glob<'a> {
    text: &'a str,
    segments: Vec<Segment>,
    options: GlobOptions,
}

enum Segment {
    /// `**`.
    AnyDirs,
    Name(NamePattern),
}

/// One segment's pattern, matched against a file or directory name.
pub struct NamePattern {
    tokens: Vec<Token>,
    /// The segment itself when it has no wildcard.
    literal: Option<String>,
}

enum Token {
    Char(char),
    /// `?`.
    AnyChar,
    /// `*`.
    AnyRun,
    /// `[...]`: inclusive ranges (a single character is a range of one).
    Class {
        negated: bool,
        ranges: Vec<(char, char)>,
    },
}

/// Whether `text` holds a wildcard character (`*`, `?`, `[`).
pub fn has_wildcard(text: &str) -> bool {
    text.contains(['*', '?', '['])
}

impl<'a> Glob<'a> {
    fn parse(text: &'a str, options: GlobOptions) -> Result<Self, GlobError> {
        let invalid = |reason: &str| GlobError::Pattern {
            pattern: text.to_string(),
            reason: reason.to_string(),
        };
        if text.is_empty() {
            return Err(invalid("it is empty"));
        }
        if text.ends_with('/') {
            return Err(invalid(
                "it ends with '/'; add a file pattern such as `dir/*`",
            ));
        }
        let mut segments = Vec::new();
        for part in text.split('/').filter(|p| !p.is_empty()) {
            if part == "**" {
                segments.push(Segment::AnyDirs);
            } else {
                segments.push(Segment::Name(NamePattern::parse(text, part)?));
            }
        }
        if matches!(segments.last(), Some(Segment::AnyDirs)) {
            segments.push(Segment::Name(NamePattern::parse(text, "*")?));
        }
        Ok(Glob {
            text,
            segments,
            options,
        })
    }

    fn walk(
        &self,
        dir: &Path,
        segments: &[Segment],
        found: &mut Vec<PathBuf>,
    ) -> Result<(), GlobError> {
        let Some((first, rest)) = segments.split_first() else {
            return Ok(());
        };
        match first {
            Segment::AnyDirs => {
                self.walk(dir, rest, found)?;
                for sub in self.plain_subdirs(dir)? {
                    self.walk(&sub, segments, found)?;
                }
            }
            Segment::Name(name) => {
                for path in self.matching(dir, name)? {
                    if rest.is_empty() {
                        if self.keeps(&path) {
                            found.push(self.utf8(path)?);
                        }
                    } else if path.is_dir() {
                        self.walk(&path, rest, found)?;
                    }
                }
            }
        }
        Ok(())
    }

    /// Whether the last segment keeps `path`: a file, or with `any_entry` anything there.
    fn keeps(&self, path: &Path) -> bool {
        if self.options.any_entry {
            path.symlink_metadata().is_ok()
        } else {
            path.is_file()
        }
    }

    /// The entries of `dir` whose names match `name`.
    fn matching(&self, dir: &Path, name: &NamePattern) -> Result<Vec<PathBuf>, GlobError> {
        if let Some(literal) = &name.literal {
            return Ok(vec![dir.join(literal)]);
        }
        Ok(self
            .entries(dir)?
            .into_iter()
            .filter(|e| {
                let entry_name = e.file_name();
                let entry_name = entry_name.to_string_lossy();
                if self.options.hidden {
                    name.matches_hidden(&entry_name)
                } else {
                    name.matches(&entry_name)
                }
            })
            .map(|e| e.path())
            .collect())
    }

    /// The sub-directories of `dir` that `**` enters: not symbolic links, and not hidden
    /// unless the options say so.
    fn plain_subdirs(&self, dir: &Path) -> Result<Vec<PathBuf>, GlobError> {
        Ok(self
            .entries(dir)?
            .into_iter()
            .filter(|e| self.options.hidden || !e.file_name().to_string_lossy().starts_with('.'))
            .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
            .map(|e| e.path())
            .collect())
    }

    /// The entries of `dir`; none when it has disappeared or is not a directory.
    fn entries(&self, dir: &Path) -> Result<Vec<std::fs::DirEntry>, GlobError> {
        let io_error = |source| GlobError::Io {
            pattern: self.text.to_string(),
            path: dir.to_path_buf(),
            source,
        };
        let reader = match std::fs::read_dir(dir) {
            Ok(reader) => reader,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io_error(e)),
        };
        reader.collect::<Result<Vec<_>, _>>().map_err(io_error)
    }

    fn utf8(&self, path: PathBuf) -> Result<PathBuf, GlobError> {
        if path.to_str().is_some() {
            Ok(path)
        } else {
            Err(GlobError::NotUtf8 {
                pattern: self.text.to_string(),
                path,
            })
        }
    }
}

impl NamePattern {
    /// Parses `segment`, a part of `pattern` (named in errors).
    ///
    /// # Errors
    /// [`GlobError::Pattern`] for `**` inside the segment or an unclosed or reversed `[...]`.
    pub fn parse(pattern: &str, segment: &str) -> Result<Self, GlobError> {
        let invalid = |reason: String| GlobError::Pattern {
            pattern: pattern.to_string(),
            reason,
        };
        if segment.contains("**") {
            return Err(invalid(format!(
                "`**` must be a whole path segment, not part of {segment:?}"
            )));
        }
        let mut tokens = Vec::new();
        let mut chars = segment.chars().peekable();
        while let Some(c) = chars.next() {
            tokens.push(match c {
                '*' => Token::AnyRun,
                '?' => Token::AnyChar,
                '[' => parse_class(&mut chars).map_err(invalid)?,
                other => Token::Char(other),
            });
        }
        let literal = (!has_wildcard(segment)).then(|| segment.to_string());
        Ok(NamePattern { tokens, literal })
    }

    /// Whether `name` matches; a name starting with `.` needs a pattern starting with `.`.
    pub fn matches(&self, name: &str) -> bool {
        if name.starts_with('.') && !matches!(self.tokens.first(), Some(Token::Char('.'))) {
            return false;
        }
        self.matches_hidden(name)
    }

    /// Whether `name` matches, wildcards matching a leading `.` too.
    pub fn matches_hidden(&self, name: &str) -> bool {
        let name: Vec<char> = name.chars().collect();
        let (mut t, mut n) = (0, 0);
        // Where the last `*` was, and how much of the name it has taken so far.
        let mut backtrack: Option<(usize, usize)> = None;
        while n < name.len() {
            match self.tokens.get(t) {
                Some(Token::AnyRun) => {
                    backtrack = Some((t, n));
                    t += 1;
                }
                Some(token) if token.matches_one(name[n]) => {
                    t += 1;
                    n += 1;
                }
                _ => match backtrack {
                    Some((star, taken)) => {
                        backtrack = Some((star, taken + 1));
                        t = star + 1;
                        n = taken + 1;
                    }
                    None => return false,
                },
            }
        }
        self.tokens[t..].iter().all(|t| matches!(t, Token::AnyRun))
    }
}

impl Token {
    fn matches_one(&self, c: char) -> bool {
        match self {
            Token::Char(expected) => *expected == c,
            Token::AnyChar => true,
            Token::AnyRun => false,
            Token::Class { negated, ranges } => {
                ranges.iter().any(|(lo, hi)| (*lo..=*hi).contains(&c)) != *negated
            }
        }
    }
}

/// Parses a class after its `[`; a `]` right after `[` or `[!` is a member.
fn parse_class(chars: &mut std::iter::Peekable<std::str::Chars>) -> Result<Token, String> {
    let unclosed = || "a `[` is not closed by `]`".to_string();
    let negated = chars.next_if(|c| matches!(c, '!' | '^')).is_some();
    let mut ranges = Vec::new();
    let mut first = true;
    loop {
        let c = chars.next().ok_or_else(unclosed)?;
        if c == ']' && !first {
            break;
        }
        first = false;
        let hi = if chars.next_if_eq(&'-').is_some() {
            match chars.next() {
                None => return Err(unclosed()),
                Some(']') => {
                    ranges.extend([(c, c), ('-', '-')]);
                    break;
                }
                Some(hi) => hi,
            }
        } else {
            c
        };
        if hi < c {
            return Err(format!("the range `{c}-{hi}` in `[...]` is reversed"));
        }
        ranges.push((c, hi));
    }
    Ok(Token::Class { negated, ranges })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matches(pattern: &str, name: &str) -> bool {
        match NamePattern::parse(pattern, pattern) {
            Ok(p) => p.matches(name),
            Err(e) => panic!("{pattern:?} must parse: {e}"),
        }
    }

    #[test]
    fn stars_and_question_marks() {
        assert!(matches("*.csv", "a.csv"));
        assert!(!matches("*.csv", ".csv.csv"));
        assert!(matches("a*b*c", "aXXbYYc"));
        assert!(matches("a*b*c", "abc"));
        assert!(!matches("a*b*c", "aXXbYY"));
        assert!(matches("???.txt", "abc.txt"));
        assert!(!matches("???.txt", "ab.txt"));
        assert!(matches("*", "x"));
        assert!(matches("x*", "x"));
    }

    #[test]
    fn classes() {
        assert!(matches("part-[0-9].csv", "part-7.csv"));
        assert!(!matches("part-[0-9].csv", "part-a.csv"));
        assert!(matches("[!a]*", "b"));
        assert!(!matches("[!a]*", "abc"));
        assert!(matches("[]x]", "]"));
        assert!(matches("[a-]", "-"));
    }

    #[test]
    fn hidden_names_need_a_leading_dot() {
        assert!(!matches("*", ".hidden"));
        assert!(!matches("?hidden", ".hidden"));
        assert!(matches(".*", ".hidden"));
    }

    /// `root/a.csv`, `root/.h.csv`, `root/d/b.csv`, `root/.hid/c.csv`, `root/d/link -> d`.
    fn tree() -> tempfile::TempDir {
        let dir = tempfile::tempdir().expect("temp dir");
        let root = dir.path();
        for file in ["a.csv", ".h.csv", "d/b.csv", ".hid/c.csv"] {
            let path = root.join(file);
            std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
            std::fs::write(&path, "x\n").expect("write");
        }
        std::os::unix::fs::symlink(root.join("d"), root.join("d/link")).expect("link");
        dir
    }

    fn relative(root: &Path, pattern: &str, options: GlobOptions) -> Vec<String> {
        match glob_with(root, pattern, options) {
            Ok(paths) => paths
                .iter()
                .map(|p| {
                    p.strip_prefix(root)
                        .expect("under root")
                        .display()
                        .to_string()
                })
                .collect(),
            Err(e) => panic!("{pattern:?}: {e}"),
        }
    }

    #[test]
    fn options_match_hidden_names_keep_any_entry_and_tolerate_a_missing_start() {
        let dir = tree();
        let root = dir.path();
        let plain = GlobOptions::default();
        let hidden = GlobOptions {
            hidden: true,
            ..plain
        };
        assert_eq!(relative(root, "*.csv", plain), ["a.csv"]);
        assert_eq!(relative(root, "*.csv", hidden), [".h.csv", "a.csv"]);
        assert_eq!(relative(root, "**/*.csv", plain), ["a.csv", "d/b.csv"]);
        // `**` enters `.hid` but still not the link back to `d`.
        assert_eq!(
            relative(root, "**/*.csv", hidden),
            [".h.csv", ".hid/c.csv", "a.csv", "d/b.csv"]
        );
        let any_entry = GlobOptions {
            any_entry: true,
            ..plain
        };
        assert_eq!(relative(root, "d/*", plain), ["d/b.csv"]);
        assert_eq!(relative(root, "d/*", any_entry), ["d/b.csv", "d/link"]);
        assert_eq!(relative(root, "d", any_entry), ["d"]);
        match glob_with(root, "nowhere/*.csv", plain) {
            Err(GlobError::StartDir { missing: true, .. }) => {}
            other => panic!("expected a missing start directory, got {other:?}"),
        }
        let tolerant = GlobOptions {
            missing_start_matches_nothing: true,
            ..plain
        };
        assert_eq!(
            relative(root, "nowhere/*.csv", tolerant),
            Vec::<String>::new()
        );
        assert_eq!(
            relative(root, "a.csv/*.csv", tolerant),
            Vec::<String>::new()
        );
    }

    #[test]
    fn matches_hidden_lets_wildcards_take_a_leading_dot() {
        let pattern = NamePattern::parse("*", "*").expect("parses");
        assert!(!pattern.matches(".env"));
        assert!(pattern.matches_hidden(".env"));
        assert!(pattern.matches_hidden(""));
    }

    #[test]
    fn malformed_classes_are_refused() {
        for (pattern, reason) in [
            ("[abc", "not closed"),
            ("[z-a]", "`z-a` in `[...]` is reversed"),
            ("a**b", "`**` must be a whole path segment"),
        ] {
            match NamePattern::parse(pattern, pattern) {
                Err(GlobError::Pattern { reason: r, .. }) => {
                    assert!(r.contains(reason), "{pattern}: {r}");
                }
                other => panic!("{pattern}: expected a pattern error, got {:?}", other.err()),
            }
        }
    }
}
