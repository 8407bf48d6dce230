//! The selected mailbox's UIDs in sequence order, stored as runs of consecutive UIDs.
//!
//! Every IMAP session with a selected mailbox keeps this list (RFC 9051 §2.3.1.2: the
//! session's own sequence numbers). A plain `Vec<u32>` costs 4 bytes per message per
//! session: 400 KiB for a 100k-message inbox, times every idle client. Mail is appended
//! with increasing UIDs and expunged rarely, so runs are few: a mailbox without expunges
//! is one run, whatever its size.
//!
//! Invariants: runs are non-empty, strictly increasing and never adjacent (a run always
//! ends before the next starts minus one, else they would be one run); `starts[i]` is the
//! 0-based sequence index of run `i`'s first UID.

use std::ops::RangeInclusive;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Run {
    first: u32,
    len: u32,
}

impl Run {
    fn last(self) -> u32 {
        self.first + (self.len - 1)
    }
}

/// UIDs by sequence number.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct UidList {
    runs: Vec<Run>,
    starts: Vec<u32>,
    count: u32,
}

impl UidList {
    /// From strictly increasing UIDs.
    pub(crate) fn from_sorted(uids: impl IntoIterator<Item = u32>) -> UidList {
        let mut list = UidList::default();
        list.extend(uids);
        list
    }

    pub(crate) fn len(&self) -> u32 {
        self.count
    }

    pub(crate) fn last(&self) -> Option<u32> {
        self.runs.last().map(|run| run.last())
    }

    /// Appends UIDs above the current last one, in increasing order (others are ignored).
    pub(crate) fn extend(&mut self, uids: impl IntoIterator<Item = u32>) {
        for uid in uids {
            match self.runs.last_mut() {
                Some(run) if uid == run.last() + 1 => run.len += 1,
                Some(run) if uid <= run.last() => continue,
                _ => {
                    self.starts.push(self.count);
                    self.runs.push(Run { first: uid, len: 1 });
                }
            }
            self.count += 1;
        }
        self.runs.shrink_to_fit();
        self.starts.shrink_to_fit();
    }

    /// The 1-based sequence number of `uid`.
    pub(crate) fn seq_of(&self, uid: u32) -> Option<u32> {
        let i = self.runs.partition_point(|run| run.last() < uid);
        let run = self.runs.get(i)?;
        (uid >= run.first).then(|| self.starts[i] + (uid - run.first) + 1)
    }

    /// The UID at 1-based sequence number `seq`.
    pub(crate) fn uid_at(&self, seq: u32) -> Option<u32> {
        let index = seq.checked_sub(1)?;
        if index >= self.count {
            return None;
        }
        let i = self.starts.partition_point(|&start| start <= index) - 1;
        Some(self.runs[i].first + (index - self.starts[i]))
    }

    /// (seq, uid) for sequence numbers in `seqs` (clipped to the list).
    pub(crate) fn by_seq(&self, seqs: RangeInclusive<u32>) -> impl Iterator<Item = (u32, u32)> + '_ {
        let first = (*seqs.start()).max(1);
        let last = (*seqs.end()).min(self.count);
        (first..=last).filter_map(move |seq| self.uid_at(seq).map(|uid| (seq, uid)))
    }

    /// (seq, uid) for the UIDs present in `uids`, in order.
    pub(crate) fn by_uid(&self, uids: RangeInclusive<u32>) -> impl Iterator<Item = (u32, u32)> + '_ {
        let (low, high) = (*uids.start(), *uids.end());
        let from = self.runs.partition_point(|run| run.last() < low);
        self.runs[from..]
            .iter()
            .zip(&self.starts[from..])
            .take_while(move |(run, _)| run.first <= high)
            .flat_map(move |(run, &start)| {
                let a = run.first.max(low);
                let b = run.last().min(high);
                (a..=b).map(move |uid| (start + (uid - run.first) + 1, uid))
            })
    }

    /// All UIDs in order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = u32> + '_ {
        self.runs.iter().flat_map(|run| run.first..=run.last())
    }

    /// Removes `gone` (sorted; UIDs not present are ignored).
    pub(crate) fn remove(&mut self, gone: &[u32]) {
        if gone.is_empty() {
            return;
        }
        let kept: Vec<u32> = self.iter().filter(|uid| gone.binary_search(uid).is_err()).collect();
        *self = UidList::from_sorted(kept);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_against_vec(list: &UidList, reference: &[u32]) {
        assert_eq!(list.len() as usize, reference.len());
        assert_eq!(list.iter().collect::<Vec<_>>(), reference);
        assert_eq!(list.last(), reference.last().copied());
        for (i, &uid) in reference.iter().enumerate() {
            let seq = i as u32 + 1;
            assert_eq!(list.seq_of(uid), Some(seq));
            assert_eq!(list.uid_at(seq), Some(uid));
        }
        assert_eq!(list.uid_at(0), None);
        assert_eq!(list.uid_at(reference.len() as u32 + 1), None);
        for window in reference.windows(2) {
            for missing in window[0] + 1..window[1] {
                assert_eq!(list.seq_of(missing), None);
            }
        }
    }

    #[test]
    fn behaves_like_a_vector() {
        let mut reference: Vec<u32> = (1..=50).chain(60..=70).chain([75, 80, 81]).collect();
        let mut list = UidList::from_sorted(reference.iter().copied());
        check_against_vec(&list, &reference);
        assert_eq!(list.runs.len(), 4);

        let by_uid: Vec<_> = list.by_uid(45..=62).collect();
        let expected: Vec<_> = reference
            .iter()
            .enumerate()
            .filter(|(_, u)| (45..=62).contains(*u))
            .map(|(i, &u)| (i as u32 + 1, u))
            .collect();
        assert_eq!(by_uid, expected);
        let by_seq: Vec<_> = list.by_seq(48..=100).collect();
        assert_eq!(by_seq.len(), reference.len() - 47);

        let gone = [1, 25, 50, 60, 81];
        list.remove(&gone);
        reference.retain(|u| !gone.contains(u));
        check_against_vec(&list, &reference);

        list.extend([82, 83, 90, 3]);
        reference.extend([82, 83, 90]);
        check_against_vec(&list, &reference);
    }

    #[test]
    fn a_big_mailbox_without_expunges_is_one_run() {
        let list = UidList::from_sorted(1..=100_000);
        assert_eq!(list.runs.len(), 1);
        assert_eq!(list.uid_at(100_000), Some(100_000));
        assert_eq!(list.seq_of(77_777), Some(77_777));
        assert_eq!(list.by_uid(99_995..=u32::MAX).count(), 6);
    }
}
