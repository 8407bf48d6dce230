//! ENVELOPE, BODY and BODYSTRUCTURE in IMAP syntax (RFC 9051 §7.5.2 and the §9
//! grammar: envelope, body, body-type-1part, body-type-mpart, body-ext-1part,
//! body-ext-mpart).
//!
//! Strings are quoted when every byte is a 7-bit TEXT-CHAR, and literals `{n}` otherwise
//! (8-bit or CR/LF content). NUL may not appear in either form, so NUL bytes are dropped.
//! Absent values are NIL. Recursion follows the part tree and stops at
//! [`PART_DEPTH_MAX`]: a deeper part (only a hand-built summary can have one) is written
//! as an empty text/plain part.

use super::{Address, Envelope, PART_DEPTH_MAX, Params, Part};

/// What a multipart without children is written as (the grammar needs at least one
/// body), and what stands in for parts nested too deep: an empty text/plain part.
const EMPTY_PART: &[u8] = b"(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0";
/// The extension data of [`EMPTY_PART`] for BODYSTRUCTURE.
const EMPTY_PART_EXTENSION: &[u8] = b" NIL NIL NIL NIL";

/// Writes an IMAP string: quoted if possible, else a literal.
pub(crate) fn write_string(out: &mut Vec<u8>, bytes: &[u8]) {
    let quotable = bytes.iter().all(|&byte| (1..0x80).contains(&byte) && byte != b'\r' && byte != b'\n');
    if quotable {
        out.push(b'"');
        for &byte in bytes {
            if byte == b'"' || byte == b'\\' {
                out.push(b'\\');
            }
            out.push(byte);
        }
        out.push(b'"');
        return;
    }
    let nuls = bytes.iter().filter(|&&byte| byte == 0).count();
    out.extend_from_slice(format!("{{{}}}\r\n", bytes.len() - nuls).as_bytes());
    out.extend(bytes.iter().copied().filter(|&byte| byte != 0));
}

/// Writes an IMAP nstring: NIL for `None`.
pub(crate) fn write_nstring(out: &mut Vec<u8>, bytes: Option<&[u8]>) {
    match bytes {
        Some(bytes) => write_string(out, bytes),
        None => out.extend_from_slice(b"NIL"),
    }
}

/// Writes an ENVELOPE (RFC 9051 §7.5.2): `(date subject from sender reply-to to cc bcc
/// in-reply-to message-id)`. Sender and Reply-To default to From when empty.
pub fn write_envelope(out: &mut Vec<u8>, envelope: &Envelope) {
    out.push(b'(');
    write_nstring(out, envelope.date.as_deref());
    out.push(b' ');
    write_nstring(out, envelope.subject.as_deref());
    let from = envelope.from.as_slice();
    // RFC 9051 §7.5.2: an absent or empty Sender/Reply-To is given the From value.
    let sender = if envelope.sender.is_empty() { from } else { envelope.sender.as_slice() };
    let reply_to = if envelope.reply_to.is_empty() { from } else { envelope.reply_to.as_slice() };
    for list in [from, sender, reply_to, &envelope.to, &envelope.cc, &envelope.bcc] {
        out.push(b' ');
        write_address_list(out, list);
    }
    out.push(b' ');
    write_nstring(out, envelope.in_reply_to.as_deref());
    out.push(b' ');
    write_nstring(out, envelope.message_id.as_deref());
    out.push(b')');
}

fn write_address_list(out: &mut Vec<u8>, list: &[Address]) {
    if list.is_empty() {
        out.extend_from_slice(b"NIL");
        return;
    }
    out.push(b'(');
    for address in list {
        match address {
            Address::Mailbox { .. } => write_mailbox(out, address),
            Address::Group { name, members } => {
                out.extend_from_slice(b"(NIL NIL ");
                write_string(out, name);
                out.extend_from_slice(b" NIL)");
                for member in members {
                    write_flattened(out, member);
                }
                out.extend_from_slice(b"(NIL NIL NIL NIL)");
            }
        }
    }
    out.push(b')');
}

/// A group member; a nested group (not valid RFC 5322) contributes its mailboxes.
fn write_flattened(out: &mut Vec<u8>, member: &Address) {
    match member {
        Address::Mailbox { .. } => write_mailbox(out, member),
        Address::Group { members, .. } => {
            for inner in members.iter().filter(|inner| matches!(inner, Address::Mailbox { .. })) {
                write_mailbox(out, inner);
            }
        }
    }
}

fn write_mailbox(out: &mut Vec<u8>, address: &Address) {
    if let Address::Mailbox { name, adl, mailbox, host } = address {
        out.push(b'(');
        write_nstring(out, name.as_deref());
        out.push(b' ');
        write_nstring(out, adl.as_deref());
        out.push(b' ');
        write_nstring(out, mailbox.as_deref());
        out.push(b' ');
        write_nstring(out, host.as_deref());
        out.push(b')');
    }
}

/// Writes BODYSTRUCTURE (`extension_data`) or BODY (without) of a part tree (RFC 9051
/// §7.5.2): multipart children then subtype; text with its lines; message/rfc822 with
/// envelope, body and lines; anything else as a basic part.
pub fn write_body_structure(out: &mut Vec<u8>, part: &Part, extension_data: bool) {
    write_part(out, part, extension_data, 0);
}

fn write_part(out: &mut Vec<u8>, part: &Part, extension_data: bool, depth: usize) {
    if depth > PART_DEPTH_MAX {
        write_empty_part(out, extension_data);
        return;
    }
    out.push(b'(');
    if part.is_multipart() {
        if part.children.is_empty() {
            write_empty_part(out, extension_data);
        }
        for child in &part.children {
            write_part(out, child, extension_data, depth + 1);
        }
        out.push(b' ');
        write_string(out, &part.media_subtype);
        if extension_data {
            out.push(b' ');
            write_params(out, &part.params);
            write_common_extension(out, part);
        }
        out.push(b')');
        return;
    }
    write_body_fields(out, part);
    if let Some(embedded) = &part.message {
        out.push(b' ');
        write_envelope(out, &embedded.0);
        out.push(b' ');
        write_part(out, &embedded.1, extension_data, depth + 1);
        out.extend_from_slice(format!(" {}", part.lines).as_bytes());
    } else if part.is_text() {
        out.extend_from_slice(format!(" {}", part.lines).as_bytes());
    }
    if extension_data {
        out.push(b' ');
        write_nstring(out, part.md5.as_deref());
        write_common_extension(out, part);
    }
    out.push(b')');
}

fn write_empty_part(out: &mut Vec<u8>, extension_data: bool) {
    out.extend_from_slice(EMPTY_PART);
    if extension_data {
        out.extend_from_slice(EMPTY_PART_EXTENSION);
    }
    out.push(b')');
}

/// media type, subtype, body-fields (params, id, description, encoding, octets).
fn write_body_fields(out: &mut Vec<u8>, part: &Part) {
    write_string(out, &part.media_type);
    out.push(b' ');
    write_string(out, &part.media_subtype);
    out.push(b' ');
    write_params(out, &part.params);
    out.push(b' ');
    write_nstring(out, part.id.as_deref());
    out.push(b' ');
    write_nstring(out, part.description.as_deref());
    out.push(b' ');
    write_string(out, &part.encoding);
    out.extend_from_slice(format!(" {}", part.size).as_bytes());
}

/// ` body-fld-dsp body-fld-lang body-fld-loc`.
fn write_common_extension(out: &mut Vec<u8>, part: &Part) {
    out.push(b' ');
    match &part.disposition {
        Some((kind, params)) => {
            out.push(b'(');
            write_string(out, kind);
            out.push(b' ');
            write_params(out, params);
            out.push(b')');
        }
        None => out.extend_from_slice(b"NIL"),
    }
    out.push(b' ');
    match part.language.as_slice() {
        [] => out.extend_from_slice(b"NIL"),
        [single] => write_string(out, single),
        several => {
            out.push(b'(');
            for (index, tag) in several.iter().enumerate() {
                if index > 0 {
                    out.push(b' ');
                }
                write_string(out, tag);
            }
            out.push(b')');
        }
    }
    out.push(b' ');
    write_nstring(out, part.location.as_deref());
}

/// body-fld-param: `("name" "value" ...)` or NIL.
fn write_params(out: &mut Vec<u8>, params: &Params) {
    if params.is_empty() {
        out.extend_from_slice(b"NIL");
        return;
    }
    out.push(b'(');
    for (index, (name, value)) in params.iter().enumerate() {
        if index > 0 {
            out.push(b' ');
        }
        write_string(out, name);
        out.push(b' ');
        write_string(out, value);
    }
    out.push(b')');
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    fn string(bytes: &[u8]) -> String {
        let mut out = Vec::new();
        write_string(&mut out, bytes);
        String::from_utf8_lossy(&out).into_owned()
    }

    #[test]
    fn quoting_and_literals() {
        assert_eq!(string(b"plain"), "\"plain\"");
        assert_eq!(string(b""), "\"\"");
        assert_eq!(string(b"a\"b\\c"), "\"a\\\"b\\\\c\"");
        assert_eq!(string("Jörg".as_bytes()), "{5}\r\nJörg");
        assert_eq!(string(b"a\r\nb"), "{4}\r\na\r\nb");
        assert_eq!(string(b"a\0b\xff"), "{3}\r\nab\u{fffd}");
    }
}
