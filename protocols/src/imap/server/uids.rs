//! [`UidList`]: the selected mailbox's UIDs in sequence order, stored as runs of
//! consecutive UIDs.
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

/// UIDs by sequence number (also used as a plain set of UIDs: \Recent, saved results).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UidList {
    runs: Vec<Run>,
    starts: Vec<u32>,
    count: u32,
}

impl UidList {
    /// From strictly increasing UIDs.
    pub fn from_sorted(uids: impl IntoIterator<Item = u32>) -> UidList {
        let mut list = UidList::default();
        list.extend(uids);
        // Kept for the session's life: no spare capacity from the doubling growth.
        list.runs.shrink_to_fit();
        list.starts.shrink_to_fit();
        list
    }

    /// How many UIDs: the highest sequence number.
    pub fn len(&self) -> u32 {
        self.count
    }

    /// The highest UID.
    pub fn last(&self) -> Option<u32> {
        self.runs.last().map(|run| run.last())
    }

    /// Appends UIDs above the current last one, in increasing order (others are ignored).
    pub fn extend(&mut self, uids: impl IntoIterator<Item = u32>) {
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
    }

    /// The 1-based sequence number of `uid`.
    pub fn seq_of(&self, uid: u32) -> Option<u32> {
        let i = self.runs.partition_point(|run| run.last() < uid);
        let run = self.runs.get(i)?;
        (uid >= run.first).then(|| self.starts[i] + (uid - run.first) + 1)
    }

    /// How many UIDs of the list are below `uid` (one search, not a walk).
    pub fn rank(&self, uid: u32) -> u32 {
        let i = self.runs.partition_point(|run| run.last() < uid);
        match self.runs.get(i) {
            Some(run) => self.starts[i] + uid.saturating_sub(run.first),
            None => self.count,
        }
    }

    /// The UID at 1-based sequence number `seq`.
    pub fn uid_at(&self, seq: u32) -> Option<u32> {
        let index = seq.checked_sub(1)?;
        if index >= self.count {
            return None;
        }
        let i = self.starts.partition_point(|&start| start <= index) - 1;
        Some(self.runs[i].first + (index - self.starts[i]))
    }

    /// (seq, uid) for sequence numbers in `seqs` (clipped to the list): one search for
    /// the first, then a walk along the runs (a `1:*` of 100k messages costs no search
    /// per message).
    pub fn by_seq(&self, seqs: RangeInclusive<u32>) -> impl Iterator<Item = (u32, u32)> + '_ {
        // 0-based indexes.
        let low = (*seqs.start()).max(1) - 1;
        let high = (*seqs.end()).min(self.count);
        let from =
            if low < high { self.starts.partition_point(|&start| start <= low) - 1 } else { self.runs.len() };
        self.runs[from..]
            .iter()
            .zip(&self.starts[from..])
            .take_while(move |(_, start)| **start < high)
            .flat_map(move |(run, &start)| {
                let a = low.max(start);
                let b = high.min(start + run.len);
                (a..b).map(move |index| (index + 1, run.first + (index - start)))
            })
    }

    /// (seq, uid) for the UIDs present in `uids`, in order.
    pub fn by_uid(&self, uids: RangeInclusive<u32>) -> impl Iterator<Item = (u32, u32)> + '_ {
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
    pub fn iter(&self) -> impl Iterator<Item = u32> + '_ {
        self.runs.iter().flat_map(|run| run.first..=run.last())
    }

    /// The runs of consecutive UIDs, in order: a compact description of the whole list.
    pub fn ranges(&self) -> impl Iterator<Item = RangeInclusive<u32>> + '_ {
        self.runs.iter().map(|run| run.first..=run.last())
    }

    /// True when the list holds no UID.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Whether `uid` is in the list.
    pub fn contains(&self, uid: u32) -> bool {
        self.seq_of(uid).is_some()
    }

    /// Removes `gone` (sorted; UIDs not present are ignored). Splits the runs it cuts,
    /// in O(runs + gone): an expunge in a 100k-message mailbox does not walk every UID.
    pub fn remove(&mut self, gone: &[u32]) {
        if gone.is_empty() {
            return;
        }
        let mut runs = Vec::with_capacity(self.runs.len() + gone.len().min(self.runs.len()));
        let mut next = 0;
        for run in &self.runs {
            let last = run.last();
            // u64: the piece after a removed u32::MAX starts past any u32.
            let mut first = u64::from(run.first);
            while next < gone.len() && gone[next] < run.first {
                next += 1;
            }
            while next < gone.len() && gone[next] <= last {
                let uid = u64::from(gone[next]);
                if uid > first {
                    runs.push(Run { first: first as u32, len: (uid - first) as u32 });
                }
                first = uid + 1;
                next += 1;
            }
            if first <= u64::from(last) {
                runs.push(Run { first: first as u32, len: (u64::from(last) - first + 1) as u32 });
            }
        }
        let mut starts = Vec::with_capacity(runs.len());
        let mut count = 0;
        for run in &runs {
            starts.push(count);
            count += run.len;
        }
        *self = UidList { runs, starts, count };
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
            // Gaps can span most of the UID space: look at their ends.
            for missing in
                (window[0] + 1..window[1]).take(100).chain((window[0] + 1..window[1]).rev().take(100))
            {
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
    fn removing_splits_and_drops_runs_at_the_edges() {
        let mut reference: Vec<u32> = (1..=10).chain(20..=22).chain([u32::MAX - 1, u32::MAX]).collect();
        let mut list = UidList::from_sorted(reference.iter().copied());
        let gone = [0, 1, 5, 10, 15, 20, 21, 22, u32::MAX];
        list.remove(&gone);
        reference.retain(|u| !gone.contains(u));
        check_against_vec(&list, &reference);
        assert_eq!(list.runs.len(), 3);
        list.remove(&[2, 3, 4, 6, 7, 8, 9, u32::MAX - 1]);
        check_against_vec(&list, &[]);
        list.extend([7, 8]);
        check_against_vec(&list, &[7, 8]);
    }

    #[test]
    fn by_seq_walks_the_runs() {
        let reference: Vec<u32> = (1..=5).chain(9..=9).chain(20..=30).chain([40, 42]).collect();
        let list = UidList::from_sorted(reference.iter().copied());
        let count = reference.len() as u32;
        for first in 0..=count + 2 {
            for last in 0..=count + 2 {
                let expected: Vec<(u32, u32)> =
                    (first.max(1)..=last.min(count)).map(|seq| (seq, reference[seq as usize - 1])).collect();
                assert_eq!(list.by_seq(first..=last).collect::<Vec<_>>(), expected, "{first}:{last}");
            }
        }
        assert_eq!(list.by_seq(1..=u32::MAX).count(), reference.len());
        assert_eq!(UidList::default().by_seq(1..=u32::MAX).count(), 0);
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
