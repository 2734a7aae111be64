//! Reading a person's returns per column with masks gives what reading bit by bit gives.

use super::*;

/// A deterministic scramble of `i`, for bitmaps without a random-number crate.
fn scramble(i: u64) -> u64 {
    let mut x = i.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ 0xdead_beef;
    x ^= x >> 29;
    x.wrapping_mul(0xbf58_476d_1ce4_e5b9) ^ (x >> 32)
}

#[test]
fn bits_from_reads_across_words_and_past_the_end() {
    let words = [u64::MAX << 60, 0b1011, 1 << 63];
    // Bits 60..188: four ones, then 0b1011 at 64.., then bit 191 lies outside.
    assert_eq!(bits_from(&words, 60), 0b1011_1111);
    assert_eq!(bits_from(&words, 64), 0b1011 | 1 << 127);
    assert_eq!(bits_from(&words, 191), 1);
    assert_eq!(bits_from(&words, 192), 0);
    assert_eq!(bits_from(&[], 5), 0);
}

#[test]
fn masks_count_as_any_bit_does() {
    let periods = 200;
    let columns: Vec<(u32, Option<u32>)> = vec![
        (0, Some(1)),
        (1, Some(2)),
        (7, Some(8)),
        (1, Some(8)),
        (3, None),
        (100, Some(140)),
        (5, Some(5)),
        (63, Some(65)),
    ];
    let cohorts = 150;
    let masks = ColumnMasks::new(&columns, cohorts, periods);
    for person in 0..400u64 {
        let words: Vec<u64> = (0..4)
            .map(|w| scramble(person * 4 + w) & scramble(person * 7 + w))
            .collect();
        let c = (scramble(person) % cohorts as u64) as usize;
        let mut fast = vec![0u64; columns.len()];
        masks.count_returns(c, &words, &mut fast);
        let slow: Vec<u64> = columns
            .iter()
            .map(|&(from, to)| {
                let from = c + from as usize;
                let to = to.map_or(periods, |to| (c + to as usize).min(periods));
                u64::from(any_bit(&words, from, to))
            })
            .collect();
        assert_eq!(fast, slow, "person {person}, cohort {c}");
    }
}
