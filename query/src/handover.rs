//! Handing large aggregate states over between partitions without copying them.
//!
//! A partition's state is a few large allocations (per-person words). DataFusion moves states
//! between the partial and the final aggregate as arrays; copying hundreds of megabytes into a
//! list and back would cost as much as the scan. A state is therefore one `List<BinaryView>`
//! row with one value per buffer, each value a view of a whole buffer: the buffers themselves
//! travel, and the receiving side reads them in place.

use std::sync::Arc;

use datafusion::arrow::array::builder::make_view;
use datafusion::arrow::array::{Array, ArrayRef, BinaryViewArray, ByteView, ListArray};
use datafusion::arrow::buffer::{Buffer, MutableBuffer, OffsetBuffer, ScalarBuffer};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::common::cast::{as_binary_view_array, as_list_array};
use datafusion::common::{Result, ScalarValue, internal_datafusion_err};

/// The state field holding buffers handed over: `List<BinaryView>`.
pub(crate) fn buffers_field(name: String) -> FieldRef {
    let buffer = Arc::new(Field::new_list_field(DataType::BinaryView, true));
    Arc::new(Field::new(name, DataType::List(buffer), true))
}

/// `buffers` as one `List<BinaryView>` row, one value per buffer, in order. A buffer of more
/// than 12 bytes is referenced where it is; a shorter one is copied into its view (Arrow keeps
/// such values inline).
pub(crate) fn buffers_value(buffers: Vec<Buffer>) -> Result<ScalarValue> {
    let mut views = Vec::with_capacity(buffers.len());
    let mut data = Vec::with_capacity(buffers.len());
    for buffer in buffers {
        let length = u32::try_from(buffer.len())
            .map_err(|_| internal_datafusion_err!("a state buffer of {} bytes", buffer.len()))?;
        if length <= 12 {
            views.push(make_view(&buffer, 0, 0));
        } else {
            let index = data.len() as u32;
            views.push(
                ByteView::new(length, &buffer[..4])
                    .with_buffer_index(index)
                    .as_u128(),
            );
            data.push(buffer);
        }
    }
    let values = BinaryViewArray::try_new(ScalarBuffer::from(views), data, None)?;
    let field = Arc::new(Field::new_list_field(DataType::BinaryView, true));
    let offsets = OffsetBuffer::from_lengths([values.len()]);
    Ok(ScalarValue::List(Arc::new(ListArray::new(
        field,
        offsets,
        Arc::new(values),
        None,
    ))))
}

/// The buffers of every state row in `states` (a column written by [`buffers_value`]): each
/// row's buffers in order, shared rather than copied. A buffer not aligned to `align` bytes (a
/// state from elsewhere; never one from this process) is copied into an aligned one, so its
/// words can be read in place.
pub(crate) fn taken_buffers(states: &ArrayRef, align: usize) -> Result<Vec<Vec<Buffer>>> {
    let states = as_list_array(states)?;
    let mut rows = Vec::with_capacity(states.len());
    for row in 0..states.len() {
        if states.is_null(row) {
            continue;
        }
        let values = states.value(row);
        let values = as_binary_view_array(&values)?;
        let mut buffers = Vec::with_capacity(values.len());
        for (i, &view) in values.views().iter().enumerate() {
            if values.is_null(i) {
                return Err(internal_datafusion_err!(
                    "a null buffer in a handed-over state"
                ));
            }
            let length = view as u32 as usize;
            let buffer = if length <= 12 {
                Buffer::from_vec(values.value(i).to_vec())
            } else {
                let view = ByteView::from(view);
                values
                    .data_buffers()
                    .get(view.buffer_index as usize)
                    .filter(|b| b.len() >= view.offset as usize + length)
                    .ok_or_else(|| internal_datafusion_err!("a state view outside its buffers"))?
                    .slice_with_length(view.offset as usize, length)
            };
            buffers.push(aligned(buffer, align));
        }
        rows.push(buffers);
    }
    Ok(rows)
}

/// `buffer`, copied into a fresh allocation when its start is not a multiple of `align`.
fn aligned(buffer: Buffer, align: usize) -> Buffer {
    if buffer.as_ptr().align_offset(align) == 0 {
        return buffer;
    }
    // Arrow's allocations are aligned to 64 bytes, more than any word read here.
    let mut copy = MutableBuffer::new(buffer.len());
    copy.extend_from_slice(buffer.as_slice());
    copy.into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(buffers: Vec<Buffer>) -> Vec<Vec<Buffer>> {
        let state = buffers_value(buffers).unwrap().to_array().unwrap();
        taken_buffers(&state, 8).unwrap()
    }

    #[test]
    fn large_buffers_travel_in_place_and_small_ones_inline() {
        let large = Buffer::from_vec(vec![7u64; 100]);
        let small = Buffer::from_vec(vec![1u16, 2, 3]);
        let empty = Buffer::from_vec(Vec::<u64>::new());
        let taken = round_trip(vec![large.clone(), small.clone(), empty]);
        assert_eq!(taken.len(), 1);
        let [l, s, e] = &taken[0][..] else {
            panic!("three buffers expected, got {}", taken[0].len());
        };
        assert_eq!(l.as_ptr(), large.as_ptr());
        assert_eq!(l.typed_data::<u64>(), &[7u64; 100][..]);
        assert_eq!(s.typed_data::<u16>(), &[1, 2, 3]);
        assert!(e.is_empty());
    }

    #[test]
    fn a_buffer_off_alignment_is_copied_and_reads_the_same() {
        let mut bytes = vec![0u8];
        for word in [5u64, 6, 7] {
            bytes.extend_from_slice(&word.to_le_bytes());
        }
        let shifted = Buffer::from_vec(bytes).slice(1);
        assert_ne!(shifted.as_ptr().align_offset(8), 0);
        let taken = round_trip(vec![shifted]);
        assert_eq!(taken[0][0].as_ptr().align_offset(8), 0);
        assert_eq!(taken[0][0].typed_data::<u64>(), &[5, 6, 7]);
    }

    #[test]
    fn a_view_outside_its_buffers_is_refused() {
        let field = Arc::new(Field::new_list_field(DataType::BinaryView, true));
        let bad = ByteView::new(64, &[0; 4]).with_buffer_index(3).as_u128();
        // SAFETY: the array is only handed to `taken_buffers`, which must refuse the view
        // rather than read through it.
        let values =
            unsafe { BinaryViewArray::new_unchecked(ScalarBuffer::from(vec![bad]), vec![], None) };
        let state: ArrayRef = Arc::new(ListArray::new(
            field,
            OffsetBuffer::from_lengths([1]),
            Arc::new(values),
            None,
        ));
        assert!(taken_buffers(&state, 8).is_err());
    }
}
