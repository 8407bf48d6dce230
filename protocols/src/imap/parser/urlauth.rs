//! URLAUTH commands (RFC 4467 §4-6): GENURLAUTH, RESETKEY and URLFETCH. The URLs are
//! taken as astrings here; the session parses them (`imap::url`), since a bad URL is a
//! `NO [BADURL]` or a `NIL`, not a syntax error of the command.

use super::super::command::CommandBody;
use super::super::error::{ParseError, ParseResult};
use super::Cursor;

/// Most arguments a URLAUTH command's parser collects: the session refuses more than
/// `URLAUTH_URLS_MAX` (100) anyway; this only bounds what parsing holds.
const URLAUTH_ARGUMENTS_MAX: usize = 128;

/// `GENURLAUTH 1*(SP url-rump SP mechanism)`.
pub(super) fn parse_genurlauth(c: &mut Cursor<'_>) -> ParseResult<CommandBody> {
    let mut urls = Vec::new();
    while !c.at_end() {
        c.sp()?;
        let url = c.astring_utf8()?;
        c.sp()?;
        let mechanism = c.atom()?.to_owned();
        urls.push((url, mechanism));
        if urls.len() > URLAUTH_ARGUMENTS_MAX {
            return Err(ParseError::syntax("too many URLs"));
        }
    }
    if urls.is_empty() {
        return Err(ParseError::syntax("GENURLAUTH needs a URL and a mechanism"));
    }
    Ok(CommandBody::GenUrlAuth(urls))
}

/// `RESETKEY [SP mailbox *(SP mechanism)]`.
pub(super) fn parse_resetkey(c: &mut Cursor<'_>) -> ParseResult<CommandBody> {
    if c.at_end() {
        return Ok(CommandBody::ResetKey { mailbox: None, mechanisms: Vec::new() });
    }
    c.sp()?;
    let mailbox = c.mailbox()?;
    let mut mechanisms = Vec::new();
    while !c.at_end() {
        c.sp()?;
        mechanisms.push(c.atom()?.to_owned());
        if mechanisms.len() > URLAUTH_ARGUMENTS_MAX {
            return Err(ParseError::syntax("too many mechanisms"));
        }
    }
    Ok(CommandBody::ResetKey { mailbox: Some(mailbox), mechanisms })
}

/// `URLFETCH 1*(SP url)`.
pub(super) fn parse_urlfetch(c: &mut Cursor<'_>) -> ParseResult<CommandBody> {
    let mut urls = Vec::new();
    while !c.at_end() {
        c.sp()?;
        urls.push(c.astring_utf8()?);
        if urls.len() > URLAUTH_ARGUMENTS_MAX {
            return Err(ParseError::syntax("too many URLs"));
        }
    }
    if urls.is_empty() {
        return Err(ParseError::syntax("URLFETCH needs a URL"));
    }
    Ok(CommandBody::UrlFetch(urls))
}
