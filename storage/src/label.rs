//! Hierarchical labels (`PATH` values): the rules and their normalization.
//!
//! A label is a sequence of one or more segments joined by `/`, like a file path or an ltree
//! path with another separator: `python/declarations/functions`, `src/storage/segment.rs`.
//! - Leading and trailing `/` are removed and runs of `/` collapse to one, as in POSIX paths
//!   (`/usr//lib/` is `usr/lib`).
//! - Segments contain no control characters.
//! - Case is kept and matters (`Python` and `python` are different labels), as in ltree.
//! - At most 1024 bytes and 64 segments.
//! - The empty label is rejected; use NULL for "no label".

use std::borrow::Cow;

/// Longest label accepted, in bytes.
pub const MAX_LABEL_BYTES: usize = 1024;
/// Deepest label accepted, in segments.
pub const MAX_LABEL_DEPTH: usize = 64;

/// Why a label is invalid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LabelError {
    /// Nothing left after trimming `/`.
    #[error("a label must have at least one segment")]
    Empty,
    /// A control character such as a newline.
    #[error("control character in label")]
    ControlCharacter,
    /// Over [`MAX_LABEL_BYTES`] bytes.
    #[error("label longer than {MAX_LABEL_BYTES} bytes")]
    TooLong,
    /// Over [`MAX_LABEL_DEPTH`] segments.
    #[error("label deeper than {MAX_LABEL_DEPTH} segments")]
    TooDeep,
}

/// Normalizes a label, or says why it is invalid.
pub fn normalize(label: &str) -> Result<Cow<'_, str>, LabelError> {
    let trimmed = label.trim_matches('/');
    let l: Cow<'_, str> = if trimmed.contains("//") {
        Cow::Owned(
            trimmed
                .split('/')
                .filter(|s| !s.is_empty())
                .collect::<Vec<_>>()
                .join("/"),
        )
    } else {
        Cow::Borrowed(trimmed)
    };
    if l.is_empty() {
        return Err(LabelError::Empty);
    }
    if l.len() > MAX_LABEL_BYTES {
        return Err(LabelError::TooLong);
    }
    if l.chars().any(char::is_control) {
        return Err(LabelError::ControlCharacter);
    }
    if l.split('/').count() > MAX_LABEL_DEPTH {
        return Err(LabelError::TooDeep);
    }
    Ok(l)
}

/// Whether `label` lies in the subtree rooted at `root` (`root` itself included).
/// Both must be normalized.
pub fn is_descendant(label: &str, root: &str) -> bool {
    label.len() >= root.len()
        && label.starts_with(root)
        && (label.len() == root.len() || label.as_bytes()[root.len()] == b'/')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules() {
        assert_eq!(normalize("/a/b/").unwrap(), "a/b");
        assert_eq!(normalize("src/x.rs").unwrap(), "src/x.rs");
        assert_eq!(normalize("c//usr///include").unwrap(), "c/usr/include");
        assert_eq!(normalize("//"), Err(LabelError::Empty));
        assert_eq!(normalize("a\nb"), Err(LabelError::ControlCharacter));
        assert!(is_descendant("a/b/c", "a/b"));
        assert!(is_descendant("a/b", "a/b"));
        assert!(!is_descendant("a/bc", "a/b"));
        assert!(!is_descendant("a", "a/b"));
    }
}
