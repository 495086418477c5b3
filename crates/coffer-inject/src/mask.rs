//! Replacing secret values in a child's output with `<redacted>`.
//!
//! The child's stdout and stderr become pipes that coffer copies to its own, so the child no
//! longer sees a terminal: many programs then buffer output in blocks and drop colours. Up to
//! one value's length minus one byte is held back at a time so a value split across two reads
//! is still caught; it is flushed when the stream ends.

use std::io::{Read, Write};

/// The replacement text.
pub const REDACTED: &[u8] = b"<redacted>";

/// Values shorter than this are not masked: replacing every `a` or `42` would garble output
/// without protecting anything.
pub const MIN_MASK_LEN: usize = 4;

/// Finds and replaces secret values in a byte stream.
pub struct Redactor {
    needles: Vec<zeroize::Zeroizing<Vec<u8>>>,
    longest: usize,
}

// === impl Redactor ===

impl Redactor {
    /// A redactor for these values (and each value without surrounding whitespace).
    pub fn new<'a>(values: impl IntoIterator<Item = &'a [u8]>) -> Self {
        let mut needles: Vec<zeroize::Zeroizing<Vec<u8>>> = Vec::new();
        for v in values {
            for cand in [v, v.trim_ascii()] {
                if cand.len() >= MIN_MASK_LEN && !needles.iter().any(|n| n.as_slice() == cand) {
                    needles.push(zeroize::Zeroizing::new(cand.to_vec()));
                }
            }
        }
        // Longest first, so a value that contains another is replaced whole.
        needles.sort_by_key(|n| std::cmp::Reverse(n.len()));
        let longest = needles.first().map_or(0, |n| n.len());
        Self { needles, longest }
    }

    /// Copies `input` to `output`, replacing values, until `input` ends.
    pub fn pump(&self, mut input: impl Read, mut output: impl Write) -> std::io::Result<()> {
        let mut pending: Vec<u8> = Vec::new();
        let mut buf = vec![0u8; 8192];
        loop {
            let n = match input.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            pending.extend_from_slice(&buf[..n]);
            let (out, keep_from) = self.scan(&pending, false);
            output.write_all(&out)?;
            output.flush()?;
            pending.drain(..keep_from);
        }
        let (out, _) = self.scan(&pending, true);
        output.write_all(&out)?;
        output.flush()?;
        buf.iter_mut().for_each(|b| *b = 0);
        Ok(())
    }

    /// Replaces values in `data`. Returns the bytes safe to emit and where the unemitted tail
    /// starts (everything, at the end of the stream).
    fn scan(&self, data: &[u8], end: bool) -> (Vec<u8>, usize) {
        let mut out = Vec::with_capacity(data.len());
        let mut i = 0;
        while i < data.len() {
            if !end && data.len() - i < self.longest {
                // A value may start here and continue in the next read.
                return (out, i);
            }
            if let Some(n) = self.needles.iter().find(|n| data[i..].starts_with(n)) {
                out.extend_from_slice(REDACTED);
                i += n.len();
                continue;
            }
            out.push(data[i]);
            i += 1;
        }
        (out, data.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(values: &[&[u8]], input: &[u8], chunk: usize) -> Vec<u8> {
        struct Chunks<'a>(&'a [u8], usize);
        impl Read for Chunks<'_> {
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                let n = self.0.len().min(self.1).min(buf.len());
                buf[..n].copy_from_slice(&self.0[..n]);
                self.0 = &self.0[n..];
                Ok(n)
            }
        }
        let r = Redactor::new(values.iter().copied());
        let mut out = Vec::new();
        r.pump(Chunks(input, chunk), &mut out).unwrap();
        out
    }

    #[test]
    fn masks_across_chunk_boundaries() {
        for chunk in [1, 2, 3, 5, 8192] {
            assert_eq!(run(&[b"hunter2"], b"pw=hunter2; again hunter2!", chunk), b"pw=<redacted>; again <redacted>!");
        }
        assert_eq!(run(&[b"abc"], b"abc", 1), b"abc", "too short to mask");
        assert_eq!(run(&[b"token\n"], b"x token y", 3), b"x <redacted> y");
        assert_eq!(run(&[b"secret", b"secret-longer"], b"secret-longer secret", 4), b"<redacted> <redacted>");
        assert_eq!(run(&[], b"nothing", 2), b"nothing");
    }

    mod props {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn never_emits_the_value(prefix in "[a-z ]{0,30}", suffix in "[a-z ]{0,30}", chunk in 1usize..16) {
                let secret = b"S3CR3T-VALUE";
                let input = [prefix.as_bytes(), secret, suffix.as_bytes(), secret].concat();
                let out = run(&[secret], &input, chunk);
                prop_assert!(!out.windows(secret.len()).any(|w| w == secret));
                let expected = [prefix.as_bytes(), REDACTED, suffix.as_bytes(), REDACTED].concat();
                prop_assert_eq!(out, expected);
            }
        }
    }
}
