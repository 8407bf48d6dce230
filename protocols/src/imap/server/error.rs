//! How a command failed, and the one place that maps the failure to the wire (STYLE.md
//! rule 6): the error class decides the status and response code (RFC 9051 §7.1).

use crate::imap::response::ResponseCode;

/// Why a command failed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CommandError {
    /// The client's mistake in syntax or state: `BAD`; counts toward the limit of
    /// consecutive errors.
    Bad(String),
    /// The client's mistake, with a response code: `BAD [code]` (RFC 9586 §3.2's
    /// UIDREQUIRED).
    BadCode(ResponseCode, String),
    /// A refusal: `NO`, with a response code when one applies.
    No(Option<ResponseCode>, String),
    /// Our failure: `NO [SERVERBUG]` with a fixed text; the caller logs the cause.
    Internal,
}

impl CommandError {
    /// `NO [code] text`.
    pub fn no(code: ResponseCode, text: impl Into<String>) -> CommandError {
        CommandError::No(Some(code), text.into())
    }

    /// `BAD text`.
    pub fn bad(text: impl Into<String>) -> CommandError {
        CommandError::Bad(text.into())
    }

    /// `BAD [UIDREQUIRED]`: sequence numbers after ENABLE UIDONLY (RFC 9586 §3.2).
    pub fn uid_required() -> CommandError {
        CommandError::BadCode(ResponseCode::UidRequired, "UIDONLY is enabled: use UIDs".into())
    }

    /// `NO [BADURL url]`: a CATENATE URL that cannot be used (RFC 4469 §5).
    pub fn bad_url(url: &str, why: &str) -> CommandError {
        super::append::bad_url(url, why)
    }

    /// `NO [NONEXISTENT]` for a mailbox that does not exist.
    pub fn no_such_mailbox(name: &str) -> CommandError {
        CommandError::no(ResponseCode::NonExistent, format!("no mailbox {name:?}"))
    }
}

/// How a command ended well: an optional response code and the text of the tagged OK.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Done {
    pub(crate) code: Option<ResponseCode>,
    pub(crate) text: String,
}

impl Done {
    pub(crate) fn ok(text: &str) -> Done {
        Done { code: None, text: text.to_owned() }
    }

    pub(crate) fn with(code: ResponseCode, text: &str) -> Done {
        Done { code: Some(code), text: text.to_owned() }
    }
}

/// The result of a command.
pub(crate) type CommandResult = Result<Done, CommandError>;

/// How a command ended, by the status of its tagged response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// `OK`.
    Ok,
    /// `NO`, a refusal.
    No,
    /// `BAD`, the client's mistake.
    Bad,
    /// `NO [SERVERBUG]`, our failure.
    Internal,
}

impl Outcome {
    pub(crate) fn of(result: &CommandResult) -> Outcome {
        match result {
            Ok(_) => Outcome::Ok,
            Err(CommandError::No(..)) => Outcome::No,
            Err(CommandError::Bad(_) | CommandError::BadCode(..)) => Outcome::Bad,
            Err(CommandError::Internal) => Outcome::Internal,
        }
    }

    /// Lower-case name: `ok`, `no`, `bad`, `error`.
    pub fn label(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::No => "no",
            Outcome::Bad => "bad",
            Outcome::Internal => "error",
        }
    }
}

/// A command that ended (see `Session::take_completed`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Completed {
    /// The command's name, lower case (`uid fetch`, `append`).
    pub command: &'static str,
    /// How it ended.
    pub outcome: Outcome,
    /// The caller's clock (milliseconds) when the command was read.
    pub started_ms: u64,
}
