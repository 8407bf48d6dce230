//! The sending side of DATA transparency (RFC 5321 §4.5.2): what a client writes after
//! `354` for a message. The server side (unstuffing, the end-of-data line) lives in
//! [`super::server`]; this half is for clients: the outbound queue, tests and the load
//! generator.

/// Appends the DATA form of `message` to `out`: a `.` doubled at the start of each line,
/// a CRLF added when the message does not end with one, then the end-of-data line
/// `.` CRLF. `message` should use CRLF line ends (bare LF is sent as it is, and a
/// server may refuse it).
pub fn dot_stuff(message: &[u8], out: &mut Vec<u8>) {
    out.reserve(message.len() + message.len() / 64 + 5);
    let mut at_line_start = true;
    for &byte in message {
        if at_line_start && byte == b'.' {
            out.push(b'.');
        }
        out.push(byte);
        at_line_start = byte == b'\n';
    }
    if !message.is_empty() && !message.ends_with(b"\r\n") {
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b".\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stuffed(message: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        dot_stuff(message, &mut out);
        out
    }

    #[test]
    fn leading_dots_are_doubled_and_the_end_line_added() {
        assert_eq!(
            stuffed(b".hidden\r\nmid.dle\r\n.\r\n..two\r\n"),
            b"..hidden\r\nmid.dle\r\n..\r\n...two\r\n.\r\n"
        );
        assert_eq!(stuffed(b"no final line break"), b"no final line break\r\n.\r\n");
        assert_eq!(stuffed(b""), b".\r\n");
    }
}
