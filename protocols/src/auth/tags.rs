//! Tag-lists (RFC 6376 §3.2): `name=value; name=value`, the syntax of DKIM signatures and
//! keys, ARC headers (RFC 8617 §4.1) and DMARC records (RFC 7489 §6.4).

/// Most tags in one list. DKIM defines 14 signature tags and 7 key tags; 64 leaves room
/// for extensions while bounding the work for hostile input.
pub const TAGS_MAX: usize = 64;

/// Why a tag-list does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TagError {
    /// A tag without `=`, an empty or invalid name.
    #[error("malformed tag {0:?}")]
    Malformed(String),
    /// The same tag twice (RFC 6376 §3.2: invalid).
    #[error("duplicate tag {0:?}")]
    Duplicate(String),
    /// More than [`TAGS_MAX`] tags.
    #[error("too many tags")]
    TooMany,
}

/// A tag and its value, whitespace around both removed (folding inside the value kept
/// as written, minus CR and LF).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tag {
    /// The name, as written (tag names are case-sensitive, RFC 6376 §3.2).
    pub name: String,
    /// The value.
    pub value: String,
}

/// Parses a tag-list; a trailing `;` is allowed. Values may hold any octet but `;`.
pub fn parse(text: &[u8]) -> Result<Vec<Tag>, TagError> {
    let text = String::from_utf8_lossy(text);
    let mut tags: Vec<Tag> = Vec::new();
    let count = text.split(';').count();
    for (index, spec) in text.split(';').enumerate() {
        let trimmed = spec.trim_matches(is_fws);
        if trimmed.is_empty() && index + 1 == count {
            break;
        }
        let (name, value) =
            trimmed.split_once('=').ok_or_else(|| TagError::Malformed(trimmed.to_string()))?;
        let name = name.trim_matches(is_fws);
        let valid = name.starts_with(|c: char| c.is_ascii_alphabetic())
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid {
            return Err(TagError::Malformed(trimmed.to_string()));
        }
        if tags.iter().any(|t| t.name == name) {
            return Err(TagError::Duplicate(name.to_string()));
        }
        if tags.len() >= TAGS_MAX {
            return Err(TagError::TooMany);
        }
        let value: String = value.trim_matches(is_fws).chars().filter(|&c| c != '\r' && c != '\n').collect();
        tags.push(Tag { name: name.to_string(), value });
    }
    Ok(tags)
}

fn is_fws(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n')
}

/// The value of tag `name`, if present.
pub fn get<'a>(tags: &'a [Tag], name: &str) -> Option<&'a str> {
    tags.iter().find(|t| t.name == name).map(|t| t.value.as_str())
}

/// A value with all whitespace removed (base64 values may be folded anywhere).
pub fn without_whitespace(value: &str) -> String {
    value.chars().filter(|c| !c.is_ascii_whitespace()).collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn tag_lists() {
        let tags = parse(
            b"v=1; a=rsa-sha256;\r\n\td=example.net; b=dzdVyOfAKCdLXdJOc9G2q8LoXSlEniSb\r\n\t av45TUXx0= ;",
        )
        .unwrap();
        assert_eq!(tags.len(), 4);
        assert_eq!(get(&tags, "d"), Some("example.net"));
        assert_eq!(
            without_whitespace(get(&tags, "b").unwrap()),
            "dzdVyOfAKCdLXdJOc9G2q8LoXSlEniSbav45TUXx0="
        );
        assert_eq!(parse(b"a=1; a=2"), Err(TagError::Duplicate("a".into())));
        assert!(matches!(parse(b"a=1; junk"), Err(TagError::Malformed(_))));
        assert!(parse(b"").unwrap().is_empty());
        assert!(matches!(parse(b"a=1;;b=2"), Err(TagError::Malformed(_))));
    }
}
