//! QUOTA commands (RFC 9208 §4): GETQUOTA, GETQUOTAROOT and SETQUOTA.

use super::super::command::CommandBody;
use super::super::error::{ParseError, ParseResult};
use super::Cursor;

/// Most resources in one SETQUOTA: RFC 9208 §5 defines four; the command is refused
/// anyway, this only bounds what parsing it holds.
const SETQUOTA_RESOURCES_MAX: usize = 16;

/// `GETQUOTA SP quota-root-name`.
pub(super) fn parse_getquota(c: &mut Cursor<'_>) -> ParseResult<CommandBody> {
    c.sp()?;
    Ok(CommandBody::GetQuota { root: c.astring_utf8()? })
}

/// `GETQUOTAROOT SP mailbox`.
pub(super) fn parse_getquotaroot(c: &mut Cursor<'_>) -> ParseResult<CommandBody> {
    c.sp()?;
    Ok(CommandBody::GetQuotaRoot { mailbox: c.mailbox()? })
}

/// `SETQUOTA SP quota-root-name SP "(" [resource SP number *(SP resource SP number)] ")"`.
pub(super) fn parse_setquota(c: &mut Cursor<'_>) -> ParseResult<CommandBody> {
    c.sp()?;
    let root = c.astring_utf8()?;
    c.sp()?;
    c.byte(b'(', "expected ( before the resource limits")?;
    let mut resources = Vec::new();
    if !c.take(b')') {
        loop {
            if resources.len() >= SETQUOTA_RESOURCES_MAX {
                return Err(ParseError::syntax("too many resources"));
            }
            let name = c.atom()?.to_ascii_uppercase();
            c.sp()?;
            resources.push((name, c.number64()?));
            if c.take(b')') {
                break;
            }
            c.sp()?;
        }
    }
    Ok(CommandBody::SetQuota { root, resources })
}
