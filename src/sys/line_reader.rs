//! Reading a child's output line by line in bounded memory, whatever it prints.

use std::io::{self, BufRead};

/// Reads the next line into `line` (without its newline), keeping at most `limit` bytes of it
/// and skipping the rest. Returns `Ok(None)` at end of input, else how many bytes were dropped.
pub fn read_capped_line(
    reader: &mut impl BufRead,
    line: &mut Vec<u8>,
    limit: usize,
) -> io::Result<Option<usize>> {
    line.clear();
    let mut dropped = 0;
    let mut read_any = false;
    loop {
        let available = match reader.fill_buf() {
            Ok(buf) => buf,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
            Err(err) => return Err(err),
        };
        if available.is_empty() {
            return Ok(read_any.then_some(dropped));
        }
        read_any = true;
        let (chunk, found_newline) = match available.iter().position(|&b| b == b'\n') {
            Some(end) => (&available[..end], true),
            None => (available, false),
        };
        let room = limit.saturating_sub(line.len());
        let kept = chunk.len().min(room);
        line.extend_from_slice(&chunk[..kept]);
        dropped += chunk.len() - kept;
        let consumed = chunk.len() + usize::from(found_newline);
        reader.consume(consumed);
        if found_newline {
            return Ok(Some(dropped));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_long_lines_and_keeps_the_next() {
        let input = format!("{}\nshort\nlast-no-newline", "y".repeat(100));
        let mut reader = io::BufReader::with_capacity(7, input.as_bytes());
        let mut line = Vec::new();
        assert_eq!(
            read_capped_line(&mut reader, &mut line, 10).unwrap(),
            Some(90)
        );
        assert_eq!(line, b"yyyyyyyyyy");
        assert_eq!(
            read_capped_line(&mut reader, &mut line, 10).unwrap(),
            Some(0)
        );
        assert_eq!(line, b"short");
        assert_eq!(
            read_capped_line(&mut reader, &mut line, 100).unwrap(),
            Some(0)
        );
        assert_eq!(line, b"last-no-newline");
        assert_eq!(read_capped_line(&mut reader, &mut line, 100).unwrap(), None);
    }

    #[test]
    fn empty_lines_are_lines() {
        let mut reader = io::BufReader::new(&b"\n\n"[..]);
        let mut line = Vec::new();
        assert_eq!(
            read_capped_line(&mut reader, &mut line, 10).unwrap(),
            Some(0)
        );
        assert_eq!(
            read_capped_line(&mut reader, &mut line, 10).unwrap(),
            Some(0)
        );
        assert_eq!(read_capped_line(&mut reader, &mut line, 10).unwrap(), None);
    }
}
