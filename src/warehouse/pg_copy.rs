//! PostgreSQL's binary `COPY` format, encoded straight from Arrow columns: the bytes `load` sends a
//! PostgreSQL server for a slice's rows, each row led by its `subject` and `ds`. Pure: the
//! connection that sends them is in [`super::postgres`].
//!
//! Why not `tokio_postgres`'s `BinaryCopyInWriter`: it takes a row at a time as `ToSql` trait
//! objects and awaits each one. At 1M works (3.34 M rows) a load spent 2.6 CPU-seconds in bookpipe
//! that way and spends 1.25 now (`/usr/bin/time`, the same server and slice): a column is matched
//! on its type once per chunk of rows, and a chunk is one buffer. (The wall time is the server's:
//! it parses and indexes the rows on the other core.) The format: PostgreSQL's docs, "COPY",
//! "Binary Format".

use arrow::array::{Array, AsArray, BooleanArray, PrimitiveArray, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Int16Type, Int32Type, Int64Type};
use chrono::NaiveDate;

/// The file header: the signature, no flags (no OIDs), no header extension.
pub const HEADER: &[u8] = b"PGCOPY\n\xff\r\n\0\0\0\0\0\0\0\0\0";

/// The file trailer: a field count of -1.
pub const TRAILER: &[u8] = &[0xff, 0xff];

/// Rows encoded into one buffer (one `CopyData` message) at most: large enough that per-message
/// costs vanish, small enough that a large batch from the lake is never one buffer of tens of MB.
pub const CHUNK_ROWS: usize = 16_384;

/// Appends `batch`'s rows to `out`, each as `subject`, `date`, then the batch's columns. Text,
/// int2, int4, int8 and bool columns, which is every column of the silver tables.
pub fn encode(out: &mut Vec<u8>, subject: &str, date: NaiveDate, batch: &RecordBatch) {
    let fields = i16::try_from(batch.num_columns() + 2).expect("a table of fewer than 32,767 columns");
    let columns: Vec<Column> = batch.columns().iter().map(|c| Column::of(c.as_ref())).collect();
    let days = pg_days(date);
    for row in 0..batch.num_rows() {
        out.extend_from_slice(&fields.to_be_bytes());
        value(out, subject.as_bytes());
        value(out, &days.to_be_bytes());
        for column in &columns {
            column.put(out, row);
        }
    }
}

/// A date as PostgreSQL sends it: days since 2000-01-01.
fn pg_days(date: NaiveDate) -> i32 {
    let epoch = NaiveDate::from_ymd_opt(2000, 1, 1).expect("a valid date");
    i32::try_from((date - epoch).num_days()).expect("a date within PostgreSQL's range")
}

/// One field: its length, then its bytes.
fn value(out: &mut Vec<u8>, bytes: &[u8]) {
    let len = i32::try_from(bytes.len()).expect("a field under 2 GiB");
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(bytes);
}

/// A column, its type matched once.
enum Column<'a> {
    Text(&'a StringArray),
    I16(&'a PrimitiveArray<Int16Type>),
    I32(&'a PrimitiveArray<Int32Type>),
    I64(&'a PrimitiveArray<Int64Type>),
    Bool(&'a BooleanArray),
}

impl<'a> Column<'a> {
    fn of(array: &'a dyn Array) -> Self {
        match array.data_type() {
            DataType::Utf8 => Column::Text(array.as_string::<i32>()),
            DataType::Int16 => Column::I16(array.as_primitive()),
            DataType::Int32 => Column::I32(array.as_primitive()),
            DataType::Int64 => Column::I64(array.as_primitive()),
            DataType::Boolean => Column::Bool(array.as_boolean()),
            other => unreachable!("silver tables have no {other} column"),
        }
    }

    fn is_null(&self, row: usize) -> bool {
        match self {
            Column::Text(a) => a.is_null(row),
            Column::I16(a) => a.is_null(row),
            Column::I32(a) => a.is_null(row),
            Column::I64(a) => a.is_null(row),
            Column::Bool(a) => a.is_null(row),
        }
    }

    fn put(&self, out: &mut Vec<u8>, row: usize) {
        if self.is_null(row) {
            out.extend_from_slice(&(-1i32).to_be_bytes());
            return;
        }
        match self {
            Column::Text(a) => value(out, a.value(row).as_bytes()),
            Column::I16(a) => value(out, &a.value(row).to_be_bytes()),
            Column::I32(a) => value(out, &a.value(row).to_be_bytes()),
            Column::I64(a) => value(out, &a.value(row).to_be_bytes()),
            Column::Bool(a) => value(out, &[u8::from(a.value(row))]),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{ArrayRef, BooleanArray, Int16Array, Int32Array, Int64Array, StringArray};

    use super::*;

    #[test]
    fn rows_are_encoded_field_by_field_with_nulls_as_minus_one() {
        let columns: Vec<(&str, ArrayRef)> = vec![
            ("t", Arc::new(StringArray::from(vec![Some("OL1W"), None]))),
            ("s", Arc::new(Int16Array::from(vec![Some(1999), None]))),
            ("i", Arc::new(Int32Array::from(vec![Some(-2), None]))),
            ("l", Arc::new(Int64Array::from(vec![Some(1 << 40), None]))),
            ("b", Arc::new(BooleanArray::from(vec![Some(true), None]))),
        ];
        let batch = RecordBatch::try_from_iter(columns).unwrap();
        let mut out = Vec::new();
        encode(&mut out, "sf", NaiveDate::from_ymd_opt(2000, 1, 3).unwrap(), &batch);

        let mut first = vec![0, 7];
        first.extend([0, 0, 0, 2, b's', b'f']);
        first.extend([0, 0, 0, 4, 0, 0, 0, 2]); // 2000-01-03: day 2
        first.extend([0, 0, 0, 4, b'O', b'L', b'1', b'W']);
        first.extend([0, 0, 0, 2, 0x07, 0xcf]);
        first.extend([0, 0, 0, 4, 0xff, 0xff, 0xff, 0xfe]);
        first.extend([0, 0, 0, 8, 0, 0, 1, 0, 0, 0, 0, 0]);
        first.extend([0, 0, 0, 1, 1]);
        let mut second = vec![0, 7];
        second.extend([0, 0, 0, 2, b's', b'f']);
        second.extend([0, 0, 0, 4, 0, 0, 0, 2]);
        second.extend([0xff; 4 * 5]);
        assert_eq!(out, [first, second].concat());
    }

    #[test]
    fn dates_before_2000_are_negative_days() {
        assert_eq!(pg_days(NaiveDate::from_ymd_opt(1999, 12, 31).unwrap()), -1);
        assert_eq!(pg_days(NaiveDate::from_ymd_opt(2026, 11, 21).unwrap()), 9_821);
    }

    #[test]
    fn the_header_and_trailer_are_the_format_s() {
        assert_eq!(HEADER.len(), 11 + 4 + 4);
        assert_eq!(&HEADER[..11], b"PGCOPY\n\xff\r\n\0");
        assert_eq!(TRAILER, (-1i16).to_be_bytes());
    }
}
