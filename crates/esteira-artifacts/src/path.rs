//! Validated relative artifact paths.

use std::fmt;
use std::str::FromStr;

use crate::error::{Error, Result};

/// The scheme of artifact URIs served through the tracking server's proxy.
pub const PROXY_SCHEME: &str = "mlflow-artifacts:";

/// The longest accepted artifact path, in bytes (S3's key limit).
pub const MAX_PATH_LEN: usize = 1024;

/// The top-level directory that holds the parts of unfinished multipart uploads.
/// User paths may not start with it, and listing the root hides it.
pub(crate) const RESERVED_DIR: &str = ".esteira-mpu";

/// A validated artifact path, relative to the root of an [`ArtifactStore`](crate::ArtifactStore).
///
/// The inner string is either empty (the root) or `/`-separated segments, none of which is
/// empty, `.` or `..`. Construct it with [`ArtifactPath::parse`] or [`ArtifactPath::root`].
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ArtifactPath(String);

impl ArtifactPath {
    /// Parses and validates a relative artifact path as it comes from a client.
    ///
    /// Accepted and normalised: `.` segments and one trailing `/` are dropped, so `"./a/./b/"`
    /// becomes `"a/b"`; `""` and `"."` are the root.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidPath`], naming the reason, for:
    /// - an absolute path (leading `/`) or a Windows drive letter (`C:`, `c:foo`) in front;
    /// - a `..` segment or an empty segment (`a//b`);
    /// - a backslash, NUL or any other control character;
    /// - percent-encoded forms of those: each segment is percent-decoded once and rejected if the
    ///   decoded text holds `/`, `\`, a control character, is `.` or `..`, or (first segment)
    ///   starts with a drive letter — e.g. `%2e%2e/x`, `a%2f..%2f..%2fb`, `a%5cb`, `%00`;
    ///   other percent signs (`a%20b.txt`) are kept literally;
    /// - a first segment equal to the store's reserved directory `.esteira-mpu`;
    /// - more than [`MAX_PATH_LEN`] bytes.
    pub fn parse(raw: &str) -> Result<Self> {
        let fail = |reason: &str| Err(Error::invalid_path(raw, reason));
        if raw.len() > MAX_PATH_LEN {
            return fail("the path is longer than 1024 bytes");
        }
        if raw.starts_with('/') {
            return fail("absolute paths are not allowed");
        }
        if raw.contains('\\') {
            return fail("backslashes are not allowed");
        }
        if raw.chars().any(char::is_control) {
            return fail("control characters (including NUL) are not allowed");
        }
        let trimmed = raw.strip_suffix('/').unwrap_or(raw);
        if trimmed.is_empty() {
            return Ok(Self::root());
        }
        let mut kept: Vec<&str> = Vec::new();
        for segment in trimmed.split('/') {
            match segment {
                "" => return fail("empty path segments are not allowed"),
                "." => continue,
                ".." => return fail("'..' segments are not allowed"),
                _ => {}
            }
            let first = kept.is_empty();
            if first && starts_with_drive_letter(segment.as_bytes()) {
                return fail("Windows drive letters are not allowed");
            }
            if segment.contains('%') {
                let decoded = percent_decode(segment.as_bytes());
                if let Some(why) = decoded_problem(&decoded, first) {
                    return Err(Error::invalid_path(
                        raw,
                        format!("percent-encoded {why} is not allowed"),
                    ));
                }
            }
            if first && segment == RESERVED_DIR {
                return fail("the top-level name '.esteira-mpu' is reserved");
            }
            kept.push(segment);
        }
        Ok(Self(kept.join("/")))
    }

    /// The path of a `mlflow-artifacts:` URI (`mlflow-artifacts:/1/abc/artifacts`, or with a
    /// host: `mlflow-artifacts://host:port/1/abc/artifacts`).
    ///
    /// # Errors
    /// [`Error::InvalidPath`] when the URI has another scheme or an unsafe path.
    pub fn from_proxy_uri(uri: &str) -> Result<Self> {
        let rest = uri
            .strip_prefix(PROXY_SCHEME)
            .ok_or_else(|| Error::InvalidPath {
                path: uri.to_string(),
                reason: format!("not served by this server (expected {PROXY_SCHEME}/...)"),
            })?;
        let path = match rest.strip_prefix("//") {
            Some(with_host) => with_host
                .split_once('/')
                .map(|(_, p)| p)
                .unwrap_or_default(),
            None => rest.trim_start_matches('/'),
        };
        Self::parse(path)
    }

    /// The `mlflow-artifacts:` URI of this path.
    pub fn to_proxy_uri(&self) -> String {
        format!("{PROXY_SCHEME}/{}", self.0)
    }

    /// The root of the store (the empty path).
    pub fn root() -> Self {
        Self(String::new())
    }

    /// This path with `child` appended; joining with the root gives the other path unchanged.
    /// The result is not re-checked against [`MAX_PATH_LEN`].
    pub fn join(&self, child: &ArtifactPath) -> Self {
        if self.is_root() {
            child.clone()
        } else if child.is_root() {
            self.clone()
        } else {
            Self(format!("{}/{}", self.0, child.0))
        }
    }

    /// The normalised path: `""` for the root, else segments joined by `/`.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether this is the root (the empty path).
    pub fn is_root(&self) -> bool {
        self.0.is_empty()
    }

    /// The last segment, or `None` for the root.
    pub fn file_name(&self) -> Option<&str> {
        if self.is_root() {
            None
        } else {
            self.0.rsplit('/').next()
        }
    }

    /// The segments of the path, none for the root.
    pub fn segments(&self) -> impl Iterator<Item = &str> {
        self.0.split('/').filter(|s| !s.is_empty())
    }
}

impl fmt::Display for ArtifactPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for ArtifactPath {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl FromStr for ArtifactPath {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        Self::parse(s)
    }
}

/// `X:` at the start, X an ASCII letter.
fn starts_with_drive_letter(segment: &[u8]) -> bool {
    segment.len() >= 2 && segment[0].is_ascii_alphabetic() && segment[1] == b':'
}

/// Decodes `%XX` escapes once; malformed escapes are kept as they are.
fn percent_decode(input: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while i < input.len() {
        if input[i] == b'%'
            && i + 2 < input.len()
            && let (Some(hi), Some(lo)) = (hex_value(input[i + 1]), hex_value(input[i + 2]))
        {
            out.push((hi << 4) | lo);
            i += 3;
            continue;
        }
        out.push(input[i]);
        i += 1;
    }
    out
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// What a once-decoded segment would mean that the literal segment does not, if anything.
fn decoded_problem(decoded: &[u8], first: bool) -> Option<&'static str> {
    if decoded == b".." {
        return Some("'..'");
    }
    if decoded == b"." {
        return Some("'.'");
    }
    if decoded.contains(&b'/') {
        return Some("'/'");
    }
    if decoded.contains(&b'\\') {
        return Some("backslash");
    }
    if String::from_utf8_lossy(decoded)
        .chars()
        .any(char::is_control)
    {
        return Some("control character");
    }
    if first && starts_with_drive_letter(decoded) {
        return Some("drive letter");
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(raw: &str) -> String {
        match ArtifactPath::parse(raw) {
            Ok(p) => p.as_str().to_string(),
            Err(e) => panic!("{raw:?} should parse: {e}"),
        }
    }

    fn reason(raw: &str) -> String {
        match ArtifactPath::parse(raw) {
            Ok(p) => panic!("{raw:?} should be rejected, got {p:?}"),
            Err(Error::InvalidPath { path, reason }) => {
                assert_eq!(path, raw);
                reason
            }
            Err(other) => panic!("{raw:?}: unexpected error {other}"),
        }
    }

    #[test]
    fn accepts_and_normalises() {
        assert_eq!(ok("a"), "a");
        assert_eq!(ok("a/b/c.txt"), "a/b/c.txt");
        assert_eq!(ok("a/b/"), "a/b");
        assert_eq!(ok("./a/./b/."), "a/b");
        assert_eq!(ok(""), "");
        assert_eq!(ok("."), "");
        assert_eq!(ok("./"), "");
        assert_eq!(ok("a%20b.txt"), "a%20b.txt");
        assert_eq!(ok("100%"), "100%");
        assert_eq!(ok("%zz"), "%zz");
        assert_eq!(ok("..."), "...");
        assert_eq!(ok("a..b"), "a..b");
        assert_eq!(ok("model:v1/MLmodel"), "model:v1/MLmodel");
        assert_eq!(ok("a/C:"), "a/C:");
        assert_eq!(ok("dir/.esteira-mpu"), "dir/.esteira-mpu");
        assert_eq!(ok("ünïcode/файл.bin"), "ünïcode/файл.bin");
        assert!(ArtifactPath::parse("").is_ok_and(|p| p.is_root()));
    }

    #[test]
    fn rejects_traversal_and_absolute() {
        assert!(reason("..").contains(".."));
        assert!(reason("../x").contains(".."));
        assert!(reason("a/../../b").contains(".."));
        assert!(reason("a/..").contains(".."));
        assert!(reason("/etc/passwd").contains("absolute"));
        assert!(reason("/").contains("absolute"));
        assert!(reason("a//b").contains("empty"));
        assert!(reason("a//").contains("empty"));
    }

    #[test]
    fn rejects_bad_characters() {
        assert!(reason("a\\b").contains("backslash"));
        assert!(reason("..\\x").contains("backslash"));
        assert!(reason("a\0b").contains("control"));
        assert!(reason("a\nb").contains("control"));
        assert!(reason("a\u{7f}").contains("control"));
        assert!(reason("a\u{85}").contains("control"));
    }

    #[test]
    fn rejects_drive_letters() {
        assert!(reason("C:/x").contains("drive"));
        assert!(reason("c:x").contains("drive"));
        assert!(reason("./C:/x").contains("drive"));
        assert!(reason("C%3a/x").contains("drive"));
    }

    #[test]
    fn rejects_percent_encoded_variants() {
        assert!(reason("%2e%2e/x").contains("'..'"));
        assert!(reason("%2E%2E").contains("'..'"));
        assert!(reason(".%2e/x").contains("'..'"));
        assert!(reason("a/%2e/b").contains("'.'"));
        assert!(reason("a%2f..%2f..%2fb").contains("'/'"));
        assert!(reason("a%2Fb").contains("'/'"));
        assert!(reason("a%5cb").contains("backslash"));
        assert!(reason("a%00b").contains("control"));
        assert!(reason("a%0a").contains("control"));
        assert!(reason("%c2%85").contains("control"));
    }

    #[test]
    fn rejects_reserved_and_long() {
        assert!(reason(".esteira-mpu").contains("reserved"));
        assert!(reason(".esteira-mpu/x/1").contains("reserved"));
        assert!(reason("./.esteira-mpu/x").contains("reserved"));
        assert!(reason(&"a".repeat(MAX_PATH_LEN + 1)).contains("longer"));
        assert_eq!(ok(&"a".repeat(MAX_PATH_LEN)).len(), MAX_PATH_LEN);
    }

    #[test]
    fn join_and_accessors() {
        let a = ArtifactPath::parse("a/b").unwrap_or_default();
        let c = ArtifactPath::parse("c.txt").unwrap_or_default();
        assert_eq!(a.join(&c).as_str(), "a/b/c.txt");
        assert_eq!(ArtifactPath::root().join(&c), c);
        assert_eq!(a.join(&ArtifactPath::root()), a);
        assert_eq!(a.file_name(), Some("b"));
        assert_eq!(ArtifactPath::root().file_name(), None);
        assert_eq!(a.segments().collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!(ArtifactPath::root().segments().count(), 0);
        assert_eq!(a.to_string(), "a/b");
        assert!("x/y".parse::<ArtifactPath>().is_ok());
    }

    #[test]
    fn decoder_edges() {
        assert_eq!(percent_decode(b"%"), b"%");
        assert_eq!(percent_decode(b"%4"), b"%4");
        assert_eq!(percent_decode(b"%41"), b"A");
        assert_eq!(percent_decode(b"a%2"), b"a%2");
        assert_eq!(percent_decode(b"%252e"), b"%2e");
    }
}
