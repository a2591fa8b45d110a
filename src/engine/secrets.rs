//! Secret values (`secret_env`): masked as `***` wherever task output and errors go:
//! logs, live output, progress, JSON, JUnit, the NATS log stream.

/// Replaces every occurrence of a secret in `text`.
pub fn mask(text: &str, secrets: &[String]) -> String {
    let mut out = text.to_string();
    for s in secrets {
        if !s.is_empty() && out.contains(s.as_str()) {
            out = out.replace(s.as_str(), MASK);
        }
    }
    out
}

/// What a secret is replaced with.
pub const MASK: &str = "***";

/// Masks a stream of output that arrives in arbitrary chunks: only whole lines are
/// released, so a secret split between two chunks is still found. A line longer
/// than [`Masker::MAX_CARRY`] is released in pieces.
#[derive(Debug, Default)]
pub struct Masker {
    secrets: Vec<String>,
    carry: Vec<u8>,
}

impl Masker {
    /// The longest unfinished line held back.
    pub const MAX_CARRY: usize = 256 * 1024;

    /// A masker for `secrets` (empty ones are ignored).
    pub fn new(secrets: Vec<String>) -> Masker {
        Masker {
            secrets: secrets.into_iter().filter(|s| !s.is_empty()).collect(),
            carry: Vec::new(),
        }
    }

    /// Whether there is anything to mask at all.
    pub fn is_active(&self) -> bool {
        !self.secrets.is_empty()
    }

    /// Takes a chunk; returns what can be written now.
    pub fn push(&mut self, chunk: &[u8]) -> Vec<u8> {
        if !self.is_active() {
            return chunk.to_vec();
        }
        self.carry.extend_from_slice(chunk);
        let cut = match self.carry.iter().rposition(|&b| b == b'\n') {
            Some(i) => i + 1,
            None if self.carry.len() > Self::MAX_CARRY => self.carry.len(),
            None => return Vec::new(),
        };
        let ready: Vec<u8> = self.carry.drain(..cut).collect();
        self.mask_bytes(&ready)
    }

    /// Everything still held back.
    pub fn finish(&mut self) -> Vec<u8> {
        let rest = std::mem::take(&mut self.carry);
        self.mask_bytes(&rest)
    }

    fn mask_bytes(&self, bytes: &[u8]) -> Vec<u8> {
        let mut out = bytes.to_vec();
        for s in &self.secrets {
            let s = s.as_bytes();
            let mut masked = Vec::with_capacity(out.len());
            let mut i = 0;
            while i < out.len() {
                if out[i..].starts_with(s) {
                    masked.extend_from_slice(MASK.as_bytes());
                    i += s.len();
                } else {
                    masked.push(out[i]);
                    i += 1;
                }
            }
            out = masked;
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_split_between_chunks_are_masked() {
        let mut m = Masker::new(vec!["hunter2".into()]);
        let mut out = m.push(b"pass=hun");
        out.extend(m.push(b"ter2 ok\nnext hunter"));
        out.extend(m.push(b"2"));
        out.extend(m.finish());
        assert_eq!(String::from_utf8(out).unwrap(), "pass=*** ok\nnext ***");
        assert_eq!(mask("a hunter2 b", &["hunter2".into()]), "a *** b");
        let mut none = Masker::new(vec![String::new()]);
        assert_eq!(none.push(b"abc"), b"abc");
    }
}
