//! COMPRESS (RFC 4978 §3), the protocol side: which COMPRESS commands are accepted and
//! when compression starts. The caller compresses the bytes (DEFLATE lives with the
//! streams, in the runtime); this module only decides.
//!
//! Valid once logged in (authenticated and selected states), once per connection: a
//! second one gets `NO [COMPRESSIONACTIVE]`; a mechanism other than DEFLATE is `BAD`.
//! The tagged OK goes out uncompressed; every byte after it, in both directions, is
//! compressed. STARTTLS after COMPRESS cannot happen: STARTTLS is refused once logged in.

use super::error::{CommandError, Done};
use super::{Event, Session};
use crate::imap::response::ResponseCode;

impl Session {
    /// `COMPRESS mechanism`.
    pub(crate) fn compress(&mut self, mechanism: &str) {
        if self.compressed {
            self.finish(Err(CommandError::no(
                ResponseCode::CompressionActive,
                "compression is already active",
            )));
            return;
        }
        if !mechanism.eq_ignore_ascii_case("DEFLATE") {
            self.finish(Err(CommandError::bad("unknown compression mechanism (DEFLATE is the one we know)")));
            return;
        }
        // The OK goes out now, without the end-of-command sync `finish` may run first:
        // nothing may come between it and the switch. Updates wait for the next command.
        self.write_tagged(Ok(Done::ok("DEFLATE active")));
        self.request(Event::Compress, true);
    }

    /// The caller turned compression on after [`Event::Compress`]: the session goes on
    /// reading (the caller's bytes are inflated from now on).
    pub fn compression_started(&mut self) {
        self.compressed = true;
        if matches!(self.queued, Some(Event::Compress)) {
            self.queued = None;
        }
        self.awaiting = false;
    }

    /// Whether COMPRESS=DEFLATE is on.
    pub fn is_compressed(&self) -> bool {
        self.compressed
    }
}
