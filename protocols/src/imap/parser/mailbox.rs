//! Mailbox commands: SELECT/EXAMINE with CONDSTORE/QRESYNC parameters (RFC 7162
//! §3.1.8, §3.2.5), CREATE with USE (RFC 6154 §3), LIST with LIST-EXTENDED (RFC 5258),
//! LIST-STATUS (RFC 5819), LIST-METADATA (RFC 9590) and SPECIAL-USE options, and STATUS
//! (RFC 9051 §6.3.11, RFC 8438, RFC 7162 §3.1.6).

use super::super::command::CommandBody;
use super::super::error::{ParseError, ParseResult};
use super::super::types::{ListCommand, QresyncParams, SelectParams, SeqNumber, SequenceSet, StatusAttr};
use super::Cursor;

/// `SELECT/EXAMINE SP mailbox [SP "(" select-param *(SP select-param) ")"]`.
pub(super) fn parse_select(c: &mut Cursor<'_>, examine: bool) -> ParseResult<CommandBody> {
    c.sp()?;
    let mailbox = c.mailbox()?;
    let mut params = SelectParams::default();
    if c.take(b' ') {
        c.byte(b'(', "expected select parameters")?;
        loop {
            let name = c.atom()?.to_ascii_uppercase();
            match name.as_str() {
                "CONDSTORE" if !params.condstore => params.condstore = true,
                "QRESYNC" if params.qresync.is_none() => {
                    c.sp()?;
                    params.qresync = Some(parse_qresync(c)?);
                }
                _ => return Err(ParseError::syntax("unknown or repeated select parameter")),
            }
            if c.take(b')') {
                break;
            }
            c.sp()?;
        }
    }
    Ok(if examine {
        CommandBody::Examine { mailbox, params }
    } else {
        CommandBody::Select { mailbox, params }
    })
}

/// `"(" uidvalidity SP mod-sequence-value [SP known-uids] [SP seq-match-data] ")"`
/// (RFC 7162 §3.2.5); `*` and `$` are not allowed in the sets.
fn parse_qresync(c: &mut Cursor<'_>) -> ParseResult<QresyncParams> {
    c.byte(b'(', "expected QRESYNC parameters")?;
    let uidvalidity = c.nz_number()?;
    c.sp()?;
    let modseq = c.modseq()?;
    let mut params = QresyncParams { uidvalidity, modseq, known_uids: None, seq_match: None };
    if c.take(b' ') {
        if c.peek() != Some(b'(') {
            params.known_uids = Some(known_set(c)?);
            if c.take(b' ') {
                params.seq_match = Some(parse_seq_match(c)?);
            }
        } else {
            params.seq_match = Some(parse_seq_match(c)?);
        }
    }
    c.byte(b')', "expected ) after QRESYNC parameters")?;
    Ok(params)
}

fn parse_seq_match(c: &mut Cursor<'_>) -> ParseResult<(SequenceSet, SequenceSet)> {
    c.byte(b'(', "expected sequence match data")?;
    let sequences = known_set(c)?;
    c.sp()?;
    let uids = known_set(c)?;
    c.byte(b')', "expected ) after sequence match data")?;
    Ok((sequences, uids))
}

/// A sequence set without `*` (RFC 7162 §3.2.5: `known-uids` and the match data name
/// real messages).
fn known_set(c: &mut Cursor<'_>) -> ParseResult<SequenceSet> {
    let set = c.sequence_set(false)?;
    if let SequenceSet::Ranges(ranges) = &set
        && ranges.iter().any(|r| r.first == SeqNumber::Star || r.last == SeqNumber::Star)
    {
        return Err(ParseError::syntax("* not allowed in QRESYNC sets"));
    }
    Ok(set)
}

/// `CREATE SP mailbox [SP "(" create-param *(SP create-param) ")"]`; the only
/// parameter is `USE (attrs)` (RFC 6154 §3).
pub(super) fn parse_create(c: &mut Cursor<'_>) -> ParseResult<CommandBody> {
    c.sp()?;
    let mailbox = c.mailbox()?;
    let mut special_use = Vec::new();
    if c.take(b' ') {
        c.byte(b'(', "expected create parameters")?;
        loop {
            if !c.keyword("USE") {
                return Err(ParseError::syntax("unknown create parameter"));
            }
            c.sp()?;
            c.byte(b'(', "expected ( after USE")?;
            if !c.take(b')') {
                loop {
                    c.byte(b'\\', "expected a special-use attribute")?;
                    special_use.push(format!("\\{}", c.atom()?));
                    if c.take(b')') {
                        break;
                    }
                    c.sp()?;
                }
            }
            if c.take(b')') {
                break;
            }
            c.sp()?;
        }
    }
    Ok(CommandBody::Create { mailbox, special_use })
}

/// DELETE, SUBSCRIBE, UNSUBSCRIBE: `SP mailbox`.
pub(super) fn parse_single_mailbox(c: &mut Cursor<'_>, name: &str) -> ParseResult<CommandBody> {
    c.sp()?;
    let mailbox = c.mailbox()?;
    Ok(match name {
        "DELETE" => CommandBody::Delete { mailbox },
        "SUBSCRIBE" => CommandBody::Subscribe { mailbox },
        _ => CommandBody::Unsubscribe { mailbox },
    })
}

/// `LIST [SP list-select-opts] SP mailbox SP mbox-or-pat [SP list-return-opts]`
/// (RFC 5258 §6, RFC 9051 §6.3.9).
pub(super) fn parse_list(c: &mut Cursor<'_>) -> ParseResult<CommandBody> {
    let mut list = ListCommand::default();
    c.sp()?;
    if c.peek() == Some(b'(') {
        list.extended = true;
        parse_select_options(c, &mut list)?;
        c.sp()?;
    }
    list.reference = c.mailbox()?;
    c.sp()?;
    if c.take(b'(') {
        list.extended = true;
        loop {
            list.patterns.push(c.list_mailbox()?);
            if c.take(b')') {
                break;
            }
            c.sp()?;
        }
    } else {
        list.patterns.push(c.list_mailbox()?);
    }
    if c.take(b' ') {
        list.extended = true;
        if !c.keyword("RETURN") {
            return Err(ParseError::syntax("expected RETURN"));
        }
        c.sp()?;
        parse_return_options(c, &mut list)?;
    }
    Ok(CommandBody::List(list))
}

fn parse_select_options(c: &mut Cursor<'_>, list: &mut ListCommand) -> ParseResult<()> {
    c.byte(b'(', "expected selection options")?;
    let mut first = true;
    while !c.take(b')') {
        if !first {
            c.sp()?;
        }
        first = false;
        match c.atom()?.to_ascii_uppercase().as_str() {
            "SUBSCRIBED" => list.select_subscribed = true,
            "REMOTE" => list.select_remote = true,
            "RECURSIVEMATCH" => list.select_recursive_match = true,
            "SPECIAL-USE" => list.select_special_use = true,
            _ => return Err(ParseError::syntax("unknown selection option")),
        }
    }
    // RFC 5258 §3.1: RECURSIVEMATCH alone (or with REMOTE only) is an error.
    if list.select_recursive_match && !list.select_subscribed && !list.select_special_use {
        return Err(ParseError::syntax("RECURSIVEMATCH needs another selection option"));
    }
    Ok(())
}

fn parse_return_options(c: &mut Cursor<'_>, list: &mut ListCommand) -> ParseResult<()> {
    c.byte(b'(', "expected return options")?;
    let mut first = true;
    while !c.take(b')') {
        if !first {
            c.sp()?;
        }
        first = false;
        match c.atom()?.to_ascii_uppercase().as_str() {
            "SUBSCRIBED" => list.return_subscribed = true,
            "CHILDREN" => list.return_children = true,
            "SPECIAL-USE" => list.return_special_use = true,
            "STATUS" if list.return_status.is_none() => {
                c.sp()?;
                list.return_status = Some(parse_status_attrs(c)?);
            }
            "METADATA" if list.return_metadata.is_none() => {
                list.return_metadata = Some(super::metadata::parse_list_return(c)?);
            }
            _ => return Err(ParseError::syntax("unknown or repeated return option")),
        }
    }
    Ok(())
}

/// `STATUS SP mailbox SP "(" status-att *(SP status-att) ")"`.
pub(super) fn parse_status(c: &mut Cursor<'_>) -> ParseResult<CommandBody> {
    c.sp()?;
    let mailbox = c.mailbox()?;
    c.sp()?;
    Ok(CommandBody::Status { mailbox, attrs: parse_status_attrs(c)? })
}

fn parse_status_attrs(c: &mut Cursor<'_>) -> ParseResult<Vec<StatusAttr>> {
    c.byte(b'(', "expected status items")?;
    let mut attrs = Vec::new();
    loop {
        let attr = match c.atom()?.to_ascii_uppercase().as_str() {
            "MESSAGES" => StatusAttr::Messages,
            "RECENT" => StatusAttr::Recent,
            "UIDNEXT" => StatusAttr::UidNext,
            "UIDVALIDITY" => StatusAttr::UidValidity,
            "UNSEEN" => StatusAttr::Unseen,
            "DELETED" => StatusAttr::Deleted,
            "DELETED-STORAGE" => StatusAttr::DeletedStorage,
            "SIZE" => StatusAttr::Size,
            "HIGHESTMODSEQ" => StatusAttr::HighestModSeq,
            "APPENDLIMIT" => StatusAttr::AppendLimit,
            "MAILBOXID" => StatusAttr::MailboxId,
            _ => return Err(ParseError::syntax("unknown status item")),
        };
        attrs.push(attr);
        if c.take(b')') {
            return Ok(attrs);
        }
        c.sp()?;
    }
}
