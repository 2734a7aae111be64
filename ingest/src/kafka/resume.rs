//! Making sure a partition's stream starts exactly at its committed offset.
//!
//! A loader commits wherever a flush cut the stream, so a committed offset may fall inside a
//! batch the producer wrote. Kafka answers a fetch from inside a batch with the whole batch
//! (the client skips the records before the offset), but not every broker does: tansu 0.6's
//! object-store engine answers with the batches that *begin* at or after the offset, so the
//! records from the committed offset to the end of its batch would never arrive, and the loader
//! would commit past them. After each assignment the loader therefore checks the first record it
//! gets; if it lies beyond the committed offset, or if none comes for a while although the
//! partition holds records from the committed offset on (the batch was the last one), it seeks
//! further back (records before the committed offset are skipped anyway) until the stream covers
//! the committed offset, or until it has read from the very start and the records are known not
//! to exist (a compacted topic, transaction markers, retention).

use std::time::{Duration, Instant};

/// The check of one partition after an assignment (or a seek back).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Resume {
    /// The committed offset: the first offset the loader needs.
    at: u64,
    /// How far before `at` the loader last sought (0: not yet).
    sought_back: u64,
    /// When the partition was assigned or last sought.
    since: Instant,
}

/// What to do with the first record a partition's stream delivered (or with its absence).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum FirstRecord {
    /// The stream covers the committed offset: load from here.
    Covers,
    /// Nothing came, and the partition holds nothing from the committed offset on: check again
    /// later (whatever is written next starts at or after the committed offset, but a late
    /// report of the partition's end could still show a batch that began before it).
    Wait,
    /// The stream starts too late: seek to this offset and check again.
    SeekBackTo(u64),
    /// The stream has been read from offset 0 and still starts at this record (or, with no
    /// record, at the partition's end): the offsets from the committed one up to it do not
    /// exist. Load from here.
    Missing {
        /// The committed offset.
        from: u64,
        /// The first offset that exists.
        to: u64,
    },
}

/// The first seek goes this far back; each further one eight times as far.
const FIRST_STEP_BACK: u64 = 64;

/// How long a stream may deliver nothing after an assignment or a seek before the partition's
/// end is looked at (librdkafka reports it in its statistics, every second).
pub(super) const QUIET_FOR: Duration = Duration::from_secs(2);

impl Resume {
    /// A stream that must start at `committed`, assigned at `now`.
    pub(super) fn at(committed: u64, now: Instant) -> Self {
        Resume {
            at: committed,
            sought_back: 0,
            since: now,
        }
    }

    /// Decides on the first record the stream delivered (after the assignment or the last seek).
    pub(super) fn first_record(&mut self, offset: u64, now: Instant) -> FirstRecord {
        if offset <= self.at {
            return FirstRecord::Covers;
        }
        self.seek_back(offset, now)
    }

    /// If the stream has delivered nothing for [`QUIET_FOR`]: the moment from which a report of
    /// the partition's end counts (the caller then calls [`Resume::quiet`] with such a report).
    pub(super) fn quiet_since(&self, now: Instant) -> Option<Instant> {
        let quiet_from = self.since + QUIET_FOR;
        (now >= quiet_from).then_some(quiet_from)
    }

    /// Decides on a stream that delivered nothing while the partition ends at `high_watermark`.
    pub(super) fn quiet(&mut self, high_watermark: u64, now: Instant) -> FirstRecord {
        if high_watermark <= self.at {
            self.since = now;
            return FirstRecord::Wait;
        }
        self.seek_back(high_watermark, now)
    }

    fn seek_back(&mut self, first: u64, now: Instant) -> FirstRecord {
        if self.sought_back >= self.at {
            return FirstRecord::Missing {
                from: self.at,
                to: first,
            };
        }
        self.sought_back = match self.sought_back {
            0 => FIRST_STEP_BACK,
            back => back.saturating_mul(8),
        };
        self.since = now;
        FirstRecord::SeekBackTo(self.at.saturating_sub(self.sought_back))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> Instant {
        Instant::now()
    }

    #[test]
    fn a_stream_starting_at_or_before_the_committed_offset_covers_it() {
        assert_eq!(
            Resume::at(1291, now()).first_record(1291, now()),
            FirstRecord::Covers
        );
        assert_eq!(
            Resume::at(1291, now()).first_record(1287, now()),
            FirstRecord::Covers
        );
        assert_eq!(
            Resume::at(0, now()).first_record(0, now()),
            FirstRecord::Covers
        );
    }

    #[test]
    fn a_late_stream_is_sought_back_further_each_time_down_to_zero() {
        let mut resume = Resume::at(1291, now());
        assert_eq!(
            resume.first_record(1295, now()),
            FirstRecord::SeekBackTo(1291 - 64)
        );
        assert_eq!(
            resume.first_record(1295, now()),
            FirstRecord::SeekBackTo(1291 - 512)
        );
        assert_eq!(resume.first_record(1295, now()), FirstRecord::SeekBackTo(0));
        assert_eq!(
            resume.first_record(1295, now()),
            FirstRecord::Missing {
                from: 1291,
                to: 1295
            }
        );
        // After a seek back the stream may start anywhere up to the committed offset.
        let mut resume = Resume::at(1291, now());
        assert_eq!(
            resume.first_record(1300, now()),
            FirstRecord::SeekBackTo(1227)
        );
        assert_eq!(resume.first_record(1230, now()), FirstRecord::Covers);
    }

    #[test]
    fn a_quiet_stream_is_sought_back_only_if_the_partition_holds_records_to_load() {
        let start = Instant::now();
        let mut resume = Resume::at(1291, start);
        assert_eq!(resume.quiet_since(start + QUIET_FOR / 2), None);
        let quiet = start + QUIET_FOR;
        assert_eq!(resume.quiet_since(quiet), Some(quiet));
        // Nothing after the committed offset: wait, and look again after another quiet spell.
        assert_eq!(resume.quiet(1291, quiet), FirstRecord::Wait);
        assert_eq!(resume.quiet_since(quiet + QUIET_FOR / 2), None);
        // Records up to 1295 exist but none came: the batch holding 1291 began earlier.
        let later = quiet + QUIET_FOR;
        assert_eq!(resume.quiet_since(later), Some(later));
        assert_eq!(resume.quiet(1295, later), FirstRecord::SeekBackTo(1227));
        let soon = later + QUIET_FOR / 2;
        assert_eq!(resume.quiet_since(soon), None, "the seek restarts the wait");
        assert_eq!(resume.first_record(1228, soon), FirstRecord::Covers);
    }

    #[test]
    fn missing_offsets_at_the_start_of_a_partition_are_accepted_at_once() {
        // Committed 0 (nothing loaded yet) and the first record at 3: there is nothing before.
        assert_eq!(
            Resume::at(0, now()).first_record(3, now()),
            FirstRecord::Missing { from: 0, to: 3 }
        );
    }
}
